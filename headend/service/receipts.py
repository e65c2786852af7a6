"""Read receipts of notices (issue 14): for each notice, which of its targeted stations displayed
it (on the TV's ticker or notice page, or the admin page), when first and how often — and, for
those that did not, whether the station is online (so it has not shown it: 未看到) or silent or
never connected (so nobody can know yet: 站点失联), the dashboard's connectivity signal.

- The notices are those of the index published now, as the stations have them (a notice file
  edited or deleted since still counts as published until the next publish), then the notices
  signed off (``headend.service.notices``) but not published yet, which say so and are listed
  last. Drafts have no receipts: no station has them.
- A notice targets the registered stations its audience matches, exactly as the publisher
  decides (station id and region; stations carry no tags on the headend).
- Displays come from the stations' ``notice_view`` events (``db.receipts``): the roll-up finds the
  days a station showed the notice, from the notice's ``valid_from`` (or the headend's first
  publication) to today; the events of those days give the first corrected time and the via.

Blocking: the web layer calls these in a thread."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from catalogue.clocks import CHINA
from catalogue.periods import period_of
from headend.db.receipts import ViewEvent
from headend.db.records import Station
from headend.errors import NotFound, PublishError
from headend.service import dashboard
from headend.service.dashboard import StationView, moment
from headend.service.repository import programming
from headend.service.root import Headend
from playlists import INDEX_NAME, Index, Notice, RepositoryError, StationIdentity

log = logging.getLogger(__name__)

EXPIRED_SHOWN_DAYS = 30  # the list keeps a notice this many days after it ended
VIA_WORDS = {"ticker": "电视滚动字幕", "page": "电视通知页", "admin": "管理页"}
STATE_WORDS = {"in_force": "生效中", "upcoming": "尚未开始", "expired": "已结束"}


def via_words(via: str) -> str:
    return VIA_WORDS.get(via, via or "—")


@dataclass(frozen=True)
class StationReceipt:
    """One targeted station and what it reported of one notice."""

    view: StationView  # the station and its connectivity
    views: int  # displays counted (once per place and TV a day, as the station records them)
    first_at: datetime | None  # the corrected time of its first display (None: not displayed)
    first_uncertain: bool  # that time could not be corrected (the box's clock was not measured)
    first_via: str
    vias: tuple[str, ...]  # every place it was seen, first seen first (the list: the first day's only)

    @property
    def station(self) -> Station:
        return self.view.station

    @property
    def displayed(self) -> bool:
        return self.views > 0


@dataclass(frozen=True)
class NoticeReceipt:
    notice: Notice
    state: str  # in_force, upcoming, expired
    published: bool  # in the index published now
    stations: tuple[StationReceipt, ...]

    @property
    def targeted(self) -> int:
        return len(self.stations)

    @property
    def displayed(self) -> int:
        return sum(r.displayed for r in self.stations)

    @property
    def share(self) -> float | None:
        return self.displayed / self.targeted if self.stations else None

    @property
    def first_at(self) -> datetime | None:
        times = [r.first_at for r in self.stations if r.first_at is not None]
        return min(times) if times else None

    def not_seen(self, state: str) -> int:
        """Targeted stations that did not display it and whose connectivity is ``state``."""
        return sum(not r.displayed and r.view.connectivity.state == state for r in self.stations)


@dataclass(frozen=True)
class Notices:
    """The notices known, and why the data root's files could not be read (None: they could)."""

    notices: tuple[Notice, ...]
    published: frozenset[str]  # ids in the index published now
    problem: str | None = None


def state_of(notice: Notice, now: datetime) -> str:
    if notice.valid_from is not None and now < notice.valid_from:
        return "upcoming"
    if notice.valid_until is not None and now >= notice.valid_until:
        return "expired"
    return "in_force"


def _published_notices(h: Headend) -> tuple[Notice, ...]:
    try:
        return Index.from_bytes((h.cfg.repo_dir / INDEX_NAME).read_bytes()).notices
    except FileNotFoundError:
        return ()
    except (OSError, RepositoryError) as exc:
        log.warning("read receipts: cannot read the published index: %s", exc)
        return ()


def known_notices(h: Headend) -> Notices:
    """The notices of the index published now (as the stations have them, whatever their files
    say since), then those signed off and not published yet (what the next publish sends)."""
    published = _published_notices(h)
    problem = None
    try:
        _, defined = programming(h.cfg, h.db)
    except PublishError as exc:  # a broken file: the published notices still have receipts
        defined, problem = [], str(exc)
    ids = {n.id for n in published}
    notices = (*published, *(n for n in defined if n.id not in ids))
    return Notices(tuple(notices), frozenset(ids), problem)


def listed(found: Notices, now: datetime) -> list[Notice]:
    """The notices in force and those that ended in the last ``EXPIRED_SHOWN_DAYS``, the newest
    first (those not published yet after the others)."""
    since = now - timedelta(days=EXPIRED_SHOWN_DAYS)
    shown = [
        n
        for n in found.notices
        if state_of(n, now) == "in_force" or (state_of(n, now) == "expired" and n.valid_until >= since)
    ]
    start = datetime.min.replace(tzinfo=UTC)
    newest = sorted(shown, key=lambda n: (n.valid_from or start, n.id), reverse=True)
    return [n for n in newest if n.id in found.published] + [n for n in newest if n.id not in found.published]


def find(found: Notices, notice_id: str) -> Notice:
    for n in found.notices:
        if n.id == notice_id:
            return n
    raise NotFound(f"没有这条通知（no notice {notice_id[:80]}）")


def targeted(notice: Notice, stations: Sequence[Station]) -> list[Station]:
    """The stations the notice is published for (as ``headend.repository.publish`` matches them)."""
    return [s for s in stations if notice.audience.matches(StationIdentity(s.id, tuple(s.region), ()))]


def _today(now: datetime) -> date:
    return now.astimezone(CHINA).date()


def _first_day(h: Headend, notice: Notice, now: datetime) -> date:
    """The first China day the notice can have been on a TV."""
    if notice.valid_from is not None:
        return notice.valid_from.astimezone(CHINA).date()
    first = moment(h.db.receipts.first_published_at())
    return first.astimezone(CHINA).date() if first else _today(now)


def receipts(
    h: Headend,
    found: Notices,
    notices: Sequence[Notice],
    stations: Sequence[Station],
    now: datetime | None = None,
    every_day: bool = False,
) -> list[NoticeReceipt]:
    """Each notice's receipts from the ``stations`` it targets (the caller has chosen those the
    account may see). ``every_day``: read the events of every day it was shown (each station's
    places), not only the first."""
    now = now or datetime.now(UTC)
    today = _today(now)
    targets = {n.id: targeted(n, stations) for n in notices}
    wanted = {s.id: s for ts in targets.values() for s in ts}
    if not wanted:
        return [NoticeReceipt(n, state_of(n, now), n.id in found.published, ()) for n in notices]
    firsts = {n.id: _first_day(h, n, now) for n in notices}
    rows = h.db.receipts.viewed_days(sorted(wanted), min(firsts.values()), today)
    # (notice, station) → [views, the days it was shown (ISO, sorted)]
    shown: dict[tuple[str, str], tuple[int, list[str]]] = {}
    for row in sorted(rows, key=lambda r: r.day):
        for notice_id, count in row.views.items():
            if notice_id in firsts and count > 0 and row.day >= firsts[notice_id].isoformat():
                views, days = shown.get((notice_id, row.station), (0, []))
                shown[(notice_id, row.station)] = (views + count, [*days, row.day])
    pairs = {(station, day) for (_, station), (_, days) in shown.items() for day in (days if every_day else days[:1])}
    events = h.db.receipts.view_events(pairs)
    first_event: dict[tuple[str, str], ViewEvent] = {}
    vias: dict[tuple[str, str], dict[str, None]] = {}  # in the order first seen
    for e in events:  # oldest first per station
        key = (e.notice, e.station)
        if key not in shown or e.day not in shown[key][1]:
            continue
        first_event.setdefault(key, e)
        vias.setdefault(key, {})[e.via] = None
    views_of = {
        v.station.id: v for v in dashboard.station_views(h, list(wanted.values()), period_of("day", today), now)
    }
    out = []
    for n in notices:
        items = []
        for s in targets[n.id]:
            key = (n.id, s.id)
            e = first_event.get(key)
            items.append(
                StationReceipt(
                    view=views_of[s.id],
                    views=shown.get(key, (0, []))[0],
                    first_at=moment(e.at) if e else None,
                    first_uncertain=bool(e and e.time_uncertain),
                    first_via=e.via if e else "",
                    vias=tuple(vias.get(key, ())),
                )
            )
        out.append(NoticeReceipt(n, state_of(n, now), n.id in found.published, tuple(_ordered(items))))
    return out


def _by_region(r: StationReceipt) -> tuple:
    return tuple(dashboard.natural(p) for p in r.station.region), r.station.id


def _ordered(items: list[StationReceipt]) -> list[StationReceipt]:
    """Not displayed first (by region), then displayed by when first."""
    region = _by_region
    missing = sorted((r for r in items if not r.displayed), key=region)
    seen = sorted(
        (r for r in items if r.displayed),
        key=lambda r: (r.first_at or datetime.max.replace(tzinfo=UTC), region(r)),
    )
    return missing + seen
