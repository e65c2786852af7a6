"""The monthly bulletin (月通报, issue 13): what a county office circulates about its stations for a
rated period and a region, gathered in one frozen ``Bulletin``:

- the stations by stars (5★ … 1★, 未达星级, 数据不全, 本期未开通), from the ratings table;
- the top ten and bottom ten ranked stations (rank in the county, township, total, stars);
- person-times and study hours by township (the next level below the region, at least the
  township), as the county dashboard counts them: the figures stations reported, a township
  whose stations reported nothing about the period being "未上报", not 0;
- the alerts opened in the period under the region, counted per kind, the newest listed;
- whether the ratings are provisional or frozen, and under which rubric.

``make_bulletin`` is blocking (the web layer calls it in a thread); the caller chooses the
stations the account may see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from catalogue.clocks import CHINA
from catalogue.periods import Period
from headend.db.records import Alert, Station
from headend.service import dashboard
from headend.service.alert_rules import KIND_LABELS
from headend.service.alerts import iso
from headend.service.dashboard import RegionNode, moment
from headend.service.rating_exports import stars_text
from headend.service.ratings import TOWNSHIP_DEPTH, Entry, ratings_table
from headend.service.root import Headend

SHOWN = 10  # stations at the top and at the bottom
ALERTS_LISTED = 15  # the newest alerts of the period listed one by one
LEVELS = ("省", "市", "县", "乡镇", "村")


@dataclass(frozen=True)
class StarCount:
    key: str  # "5" … "1", "0" (ranked, no star), "incomplete", "unexpected"
    label: str  # ★★★★★ … 未达星级, 数据不全, 本期未开通
    count: int
    share: float  # of the rated stations (0–1)


@dataclass(frozen=True)
class Line:
    """One ranked station as the bulletin lists it."""

    county_rank: int | None
    station_id: str
    name: str
    township: str
    total: float
    stars: str


@dataclass(frozen=True)
class Part:
    """A township (or the next level of the region) and what its stations reported."""

    name: str
    path: tuple[str, ...]
    stations: int
    reported: int  # stations with figures for the period; 0: the part is "未上报"
    person_times: int
    sessions: int
    hours: float


@dataclass(frozen=True)
class AlertCount:
    kind: str
    label: str
    count: int


@dataclass(frozen=True)
class AlertLine:
    station_id: str
    station_name: str
    township: str
    label: str
    words: str
    opened_at: datetime
    cleared_at: datetime | None  # None: still open


@dataclass(frozen=True)
class Bulletin:
    region: tuple[str, ...]
    period: Period
    made_at: datetime
    state: str  # provisional, frozen
    state_words: str
    rubric_title: str
    rubric_version: int
    rated: int  # stations with a rating for the period
    stars: tuple[StarCount, ...]
    ranked: int
    top: tuple[Line, ...]
    bottom: tuple[Line, ...]  # the lowest ranked, not already among the top (lowest last)
    level: str  # what the parts are: 乡镇, 村 …
    parts: tuple[Part, ...]
    total: Part  # the whole region
    alert_counts: tuple[AlertCount, ...]  # every kind, in the rules' order
    alerts_opened: int
    alerts: tuple[AlertLine, ...]  # the newest ALERTS_LISTED of them

    @property
    def region_name(self) -> str:
        return self.region[-1] if self.region else "全部地区"

    @property
    def title(self) -> str:
        return f"{self.region_name}远程教育站点 {self.period.label} 通报"


def township_of(region: Sequence[str]) -> str:
    return region[TOWNSHIP_DEPTH - 1] if len(region) >= TOWNSHIP_DEPTH else ""


def _line(e: Entry) -> Line:
    r = e.rating
    return Line(
        e.county_rank, e.station.id, e.station.name, township_of(e.station.region), r.total, stars_text(r.stars)
    )


def _star_counts(entries: Sequence[Entry]) -> tuple[StarCount, ...]:
    rated = len(entries)
    counts: dict[str, int] = dict.fromkeys(("5", "4", "3", "2", "1", "0", "incomplete", "unexpected"), 0)
    for e in entries:
        r = e.rating
        counts[str(r.stars) if r.status == "ranked" else r.status] += 1
    labels = {str(n): stars_text(n) for n in range(6)} | {"incomplete": "数据不全", "unexpected": "本期未开通"}
    return tuple(StarCount(k, labels[k], n, n / rated if rated else 0.0) for k, n in counts.items())


def _part(node: RegionNode) -> Part:
    return Part(node.name, node.path, node.stations, node.reported, node.person_times, node.sessions, node.hours)


def _period_bounds(period: Period) -> tuple[str, str]:
    """The period's first moment and the moment after its last day, in UTC as the database keeps them."""
    start = datetime.combine(period.first, time.min, CHINA)
    end = datetime.combine(period.last + timedelta(days=1), time.min, CHINA)
    return iso(start), iso(end)


def _alerts(h: Headend, period: Period, ids: set[str]) -> list[Alert]:
    """The alerts of these stations opened in the period, the newest first. One opened in the
    period is open still or cleared after it opened, so ``recent`` from the period's start holds it."""
    start, end = _period_bounds(period)
    return [a for a in h.db.alerts.recent(start) if a.station in ids and start <= a.opened_at < end]


def _alert_line(a: Alert) -> AlertLine:
    return AlertLine(
        a.station,
        a.station_name,
        township_of(a.region),
        KIND_LABELS.get(a.kind, a.kind),
        a.words,
        moment(a.opened_at) or datetime.now(UTC),
        moment(a.cleared_at),
    )


def make_bulletin(
    h: Headend, period: Period, region: Sequence[str], stations: Sequence[Station], now: datetime | None = None
) -> Bulletin:
    """The bulletin of ``period`` for the stations under ``region`` among ``stations`` (those the
    account may see). BadRequest for a period that has not begun; ConfigError for a broken rubric."""
    now = now or datetime.now(UTC)
    region = tuple(region)
    mine = [s for s in stations if tuple(s.region[: len(region)]) == region]
    table = ratings_table(h, period, stations=mine, region=region, now=now)
    ranked = [e for e in table.entries if e.rating.status == "ranked"]
    top = ranked[:SHOWN]
    bottom = ranked[max(SHOWN, len(ranked) - SHOWN) :]

    everyone = len(mine) == len(h.db.stations())
    views = dashboard.station_views(h, mine, period, now, everyone)
    depth = max(TOWNSHIP_DEPTH, len(region) + 1)
    nodes = dashboard.regions_at_depth(views, region, depth - len(region))
    nodes.sort(key=lambda n: dashboard.natural(n.name))
    total = dashboard.region_tree(views, region)

    opened = _alerts(h, period, {s.id for s in mine})
    per_kind: dict[str, int] = dict.fromkeys(KIND_LABELS, 0)
    for a in opened:
        per_kind[a.kind] = per_kind.get(a.kind, 0) + 1

    return Bulletin(
        region=region,
        period=period,
        made_at=now,
        state=table.state,
        state_words=table.state_words,
        rubric_title=table.rubric.title,
        rubric_version=table.rubric_version,
        rated=len(table.entries),
        stars=_star_counts(table.entries),
        ranked=len(ranked),
        top=tuple(_line(e) for e in top),
        bottom=tuple(_line(e) for e in bottom),
        level=LEVELS[depth - 1] if depth <= len(LEVELS) else "地区",
        parts=tuple(_part(n) for n in nodes),
        total=_part(total),
        alert_counts=tuple(AlertCount(k, KIND_LABELS.get(k, k), n) for k, n in per_kind.items()),
        alerts_opened=len(opened),
        alerts=tuple(_alert_line(a) for a in opened[:ALERTS_LISTED]),
    )
