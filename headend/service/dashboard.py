"""What the county sees of its stations, three signals kept apart (issue 12):

- **connectivity**: when the station last uploaded anything (a heartbeat counts): online within
  ``[dashboard] online_minutes``, silent since then, or never connected;
- **content**: the repository version its newest health sample says is installed against the
  version published now — up to date, behind (with courses and megabytes still missing and the
  last sync error in words), or unknown (no health sample yet);
- **activity** over a period (China days): 人次, 场次, study hours, plays and active days, summed
  from the daily roll-up; a station that reported nothing about the period is *unknown*, not 0,
  and each figure says up to which day it is known.

``station_views`` builds a ``StationView`` for each station an account may see; ``region_tree``
adds them up by the next level of the region under a prefix; ``filtered`` and ``sort_views``
are the station list's filters and orders. Blocking: the web layer calls these in a thread."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from catalogue.clocks import CHINA
from catalogue.periods import Period
from headend.db.records import Activity, Health, Station
from headend.service.root import Headend

SYNC_WORDS = {
    "ok": "同步正常",
    "partial": "部分课程未下载",
    "failed": "同步失败",
    "running": "正在同步",
    "never": "从未同步",
    "": "从未同步",
}


def moment(text: str | None) -> datetime | None:
    """An ISO 8601 time from the database or a health sample (naive: UTC)."""
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Connectivity:
    state: str  # online, silent, never
    last_contact: datetime | None

    def silent_s(self, now: datetime) -> float | None:
        if self.last_contact is None or self.state == "online":
            return None
        return max(0.0, (now - self.last_contact).total_seconds())


@dataclass(frozen=True)
class Content:
    state: str  # current, behind, unknown (no health sample), unpublished (nothing published yet)
    installed: int | None
    published: int | None
    courses_missing: int | None
    missing_mb: float | None
    sync_state: str
    sync_words: str  # the sync state and last error, in words
    sync_ok_at: datetime | None
    failing_since: datetime | None


@dataclass(frozen=True)
class StationView:
    station: Station
    connectivity: Connectivity
    content: Content
    activity: Activity | None  # None: nothing reported about any day of the period
    days_begun: int  # days of the period up to today
    health: Health | None
    offset: tuple[float, datetime] | None  # the clock offset measured at its last upload, and when

    @property
    def idle(self) -> bool:
        """Reported on the period, and neither a play nor a study session in it."""
        return self.activity is not None and self.activity.active_days == 0

    @property
    def as_of(self) -> str | None:
        """The newest day its figures cover (ISO date), None when it reported nothing."""
        return self.activity.last_day if self.activity else None

    @property
    def region_path(self) -> str:
        return "/".join(self.station.region)


def _connectivity(station: Station, now: datetime, online_minutes: float) -> Connectivity:
    last = moment(station.last_report_at)
    if last is None:
        return Connectivity("never", None)
    fresh = (now - last).total_seconds() <= online_minutes * 60
    return Connectivity("online" if fresh else "silent", last)


def _content(health: Health | None, published: int | None) -> Content:
    if health is None:
        return Content("unknown", None, published, None, None, "", "尚未收到心跳，不知道装了哪一版", None, None)
    installed = health.installed_version
    missing = None
    if health.courses_total is not None and health.courses_installed is not None:
        missing = max(0, health.courses_total - health.courses_installed)
    if not published:
        state = "unpublished"
    elif installed is None or installed < published:
        state = "behind"
    else:
        state = "current"
    words = SYNC_WORDS.get(health.sync_state, health.sync_state)
    if health.sync_error:
        words = f"{words}：{health.sync_error}"
    return Content(
        state,
        installed,
        published,
        missing,
        health.missing_mb,
        health.sync_state,
        words,
        moment(health.sync_ok_at),
        moment(health.sync_failing_since),
    )


def station_views(
    h: Headend,
    stations: Sequence[Station],
    period: Period,
    now: datetime | None = None,
    everyone: bool = False,
) -> list[StationView]:
    """A view of each station (the caller has chosen the ones the account may see;
    ``everyone``: they are every registered station, so no query needs their ids)."""
    now = now or datetime.now(UTC)
    ids = None if everyone else [s.id for s in stations]
    db = h.db
    published = db.last_publication()
    version = published.version if published else None
    health = db.dashboard.health(ids)
    offsets = db.dashboard.offsets(ids)
    activity = db.dashboard.activity(ids, period.first, period.last)
    begun = period.days_begun(now.astimezone(CHINA).date())
    views = []
    for s in stations:
        off = offsets.get(s.id)
        views.append(
            StationView(
                station=s,
                connectivity=_connectivity(s, now, h.cfg.online_minutes),
                content=_content(health.get(s.id), version),
                activity=activity.get(s.id),
                days_begun=begun,
                health=health.get(s.id),
                offset=(off[0], moment(off[1])) if off else None,
            )
        )
    return views


# ---- adding up by region ----------------------------------------------------------------------


@dataclass
class RegionNode:
    """One region (a prefix) and what its stations add up to."""

    path: tuple[str, ...]
    stations: int = 0
    online: int = 0
    silent: int = 0
    never: int = 0
    current: int = 0
    behind: int = 0
    content_unknown: int = 0
    reported: int = 0  # stations with figures for the period
    idle: int = 0
    person_times: int = 0
    sessions: int = 0
    watched_s: float = 0.0
    plays: int = 0
    active_days: int = 0
    last_contact: datetime | None = None  # the newest upload among its stations: "data as of"
    children: list[RegionNode] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path[-1] if self.path else "全部"

    @property
    def hours(self) -> float:
        return self.watched_s / 3600

    @property
    def unreported(self) -> int:
        return self.stations - self.reported

    def add(self, v: StationView) -> None:
        self.stations += 1
        c = v.connectivity
        if c.state == "online":
            self.online += 1
        elif c.state == "silent":
            self.silent += 1
        else:
            self.never += 1
        if c.last_contact and (self.last_contact is None or c.last_contact > self.last_contact):
            self.last_contact = c.last_contact
        if v.content.state == "current":
            self.current += 1
        elif v.content.state == "behind":
            self.behind += 1
        else:
            self.content_unknown += 1
        a = v.activity
        if a is not None:
            self.reported += 1
            self.idle += a.active_days == 0
            self.person_times += a.person_times
            self.sessions += a.sessions
            self.watched_s += a.watched_s
            self.plays += a.plays
            self.active_days += a.active_days


def region_tree(views: Iterable[StationView], prefix: Sequence[str]) -> RegionNode:
    """The node for ``prefix`` with one child per next level of the region (stations registered
    with no deeper region than the prefix count in the node only, under "（未细分）")."""
    prefix = tuple(prefix)
    node = RegionNode(prefix)
    children: dict[str, RegionNode] = {}
    for v in views:
        region = tuple(v.station.region)
        if region[: len(prefix)] != prefix:
            continue
        node.add(v)
        name = region[len(prefix)] if len(region) > len(prefix) else "（未细分）"
        child = children.get(name)
        if child is None:
            child = children[name] = RegionNode((*prefix, name))
        child.add(v)
    node.children = sorted(children.values(), key=lambda n: natural(n.name))
    return node


def natural(text: str) -> tuple:
    """A sort key that puts 第2镇 before 第10镇 (numbers by value, the rest as written)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def common_prefix(views: Sequence[StationView]) -> tuple[str, ...]:
    """The region every one of these stations lies under (the list shows the rest)."""
    return common_region([v.station.region for v in views])


def common_region(regions: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The longest prefix every one of these regions starts with."""
    if not regions:
        return ()
    first = tuple(regions[0])
    n = len(first)
    for r in regions[1:]:
        region = tuple(r)
        n = min(n, len(region))
        while n and region[:n] != first[:n]:
            n -= 1
    return first[:n]


def regions_at_depth(views: Iterable[StationView], prefix: Sequence[str], depth: int) -> list[RegionNode]:
    """Every region ``depth`` levels below ``prefix`` (e.g. the townships of a county), added up."""
    prefix = tuple(prefix)
    nodes: dict[tuple[str, ...], RegionNode] = {}
    for v in views:
        region = tuple(v.station.region)
        if region[: len(prefix)] != prefix or len(region) < len(prefix) + depth:
            continue
        key = region[: len(prefix) + depth]
        node = nodes.get(key)
        if node is None:
            node = nodes[key] = RegionNode(key)
        node.add(v)
    return list(nodes.values())


# ---- the station list: filters and orders --------------------------------------------------------

FILTERS: dict[str, str] = {
    "": "全部站点",
    "online": "在线",
    "silent": "失联",
    "silent3": "失联超过 3 天",
    "never": "从未连接",
    "behind": "内容落后",
    "idle": "本期无学习活动",
    "unreported": "本期未上报",
}


def _silent_over(days: float) -> Callable[[StationView, datetime], bool]:
    def test(v: StationView, now: datetime) -> bool:
        s = v.connectivity.silent_s(now)
        return s is not None and s > days * 86400

    return test


_TESTS: dict[str, Callable[[StationView, datetime], bool]] = {
    "online": lambda v, now: v.connectivity.state == "online",
    "silent": lambda v, now: v.connectivity.state == "silent",
    "silent3": _silent_over(3),
    "never": lambda v, now: v.connectivity.state == "never",
    "behind": lambda v, now: v.content.state == "behind",
    "idle": lambda v, now: v.idle,
    "unreported": lambda v, now: v.activity is None,
}


def filtered(views: Iterable[StationView], name: str, now: datetime | None = None) -> list[StationView]:
    """The views a filter keeps (an unknown name keeps all)."""
    test = _TESTS.get(name)
    if test is None:
        return list(views)
    now = now or datetime.now(UTC)
    return [v for v in views if test(v, now)]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _figure(get: Callable[[Activity], float]) -> Callable[[StationView], tuple]:
    # unknown (nothing reported) sorts after every known figure, whichever way the list is sorted
    return lambda v: (v.activity is not None, get(v.activity) if v.activity else 0)


SORTS: dict[str, tuple[str, Callable[[StationView], object]]] = {
    "region": ("地区", lambda v: (tuple(natural(r) for r in v.station.region), v.station.id)),
    "name": ("名称", lambda v: natural(v.station.name)),
    "contact": ("最近上报", lambda v: v.connectivity.last_contact or _EPOCH),
    "version": ("已装版本", lambda v: v.content.installed or -1),
    "person_times": ("人次", _figure(lambda a: a.person_times)),
    "sessions": ("场次", _figure(lambda a: a.sessions)),
    "hours": ("学习时长", _figure(lambda a: a.watched_s)),
    "plays": ("播放", _figure(lambda a: a.plays)),
    "active_days": ("活跃天数", _figure(lambda a: a.active_days)),
}


def sort_views(views: Iterable[StationView], key: str, descending: bool) -> list[StationView]:
    """Sorted by ``key`` (unknown keys: by region); stations that reported nothing stay last."""
    _, get = SORTS.get(key, SORTS["region"])
    out = sorted(views, key=get, reverse=descending)  # type: ignore[arg-type]
    if key in ("person_times", "sessions", "hours", "plays", "active_days") and not descending:
        out = [v for v in out if v.activity is not None] + [v for v in out if v.activity is None]
    return out


def today_china(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(CHINA).date()
