"""``/county/stations/{id}``: one station as the county sees it — who it is, its health now and
over the period, a calendar of days (active / idle / unknown), its figures per day (the same
roll-up ``headend report`` prints; ``?format=csv`` for Excel), recent study sessions with
headcount and courses, logbook entries, notices shown and the five-ones self-check with its date.
A station outside the account's region is a 404, as for one that does not exist."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from catalogue.clocks import CHINA
from catalogue.figures import FIVES
from catalogue.periods import Period
from headend.service import dashboard
from headend.service.alert_rules import FIVES_LABELS, KIND_LABELS
from headend.service.alerts import station_alerts
from headend.service.exports import COLUMNS, cells, csv_text
from headend.service.reports import Day, report_days
from headend.service.root import Headend
from headend.web import charts
from headend.web.auth import current_user, visible_station
from headend.web.dashboard import Nav, period_from, silent_words
from headend.web.keys import HEADEND
from headend.web.render import render
from players import ProfileError, profile

FIVES_LOOKBACK_DAYS = 400
SESSION_KINDS = ("session_end",)
RECENT = 20  # sessions and logbook entries shown (the newest of the period)


@dataclass(frozen=True)
class CalendarDay:
    day: date
    state: str  # active, idle, unknown, future
    title: str


def calendar(period: Period, days: list[Day], today: date) -> list[CalendarDay | None]:
    """The period's days laid out Monday first (None: blank cells before the first day)."""
    rows = {d.day: d.row for d in days}
    cells_: list[CalendarDay | None] = [None] * period.first.weekday()
    for d in period.each_day():
        row = rows.get(d)
        if d > today:
            cells_.append(CalendarDay(d, "future", f"{d.month}月{d.day}日"))
        elif row is None:
            cells_.append(CalendarDay(d, "unknown", f"{d.month}月{d.day}日：未上报"))
        elif row.plays or row.sessions:
            cells_.append(
                CalendarDay(
                    d, "active", f"{d.month}月{d.day}日：{row.person_times} 人次，{row.sessions} 场，{row.plays} 次播放"
                )
            )
        else:
            cells_.append(CalendarDay(d, "idle", f"{d.month}月{d.day}日：有上报，无学习活动"))
    return cells_


def offset_words(offset_s: float | None) -> str:
    """The box's clock against the headend's, in words."""
    if offset_s is None:
        return "尚未测量"
    s = abs(offset_s)
    if s < 60:
        return "准确（相差不到 1 分钟）"
    amount = f"{s / 3600:.1f} 小时" if s >= 3600 else f"{s / 60:.0f} 分钟"
    return f"{'慢' if offset_s > 0 else '快'} {amount}"  # offset_s: headend time − box clock


def _health_history(samples: list[dict], period: Period) -> tuple[list[str], list[float | None]]:
    """Per day of the period, the free-disk share (%) at the day's last health sample; None
    where no sample came."""
    share: dict[str, float] = {}
    for e in samples:
        data = e["event"]
        if data.get("disk_total_mb"):
            share[e["day"]] = 100 * data.get("disk_free_mb", 0) / data["disk_total_mb"]
    labels = [f"{d.month}/{d.day}" for d in period.each_day()]
    return labels, [share.get(d.isoformat()) for d in period.each_day()]


async def station_page(request: web.Request) -> web.Response:
    station = await visible_station(request, request.match_info["id"])
    h: Headend = request.app[HEADEND]
    period = period_from(request)
    today = datetime.now(CHINA).date()
    last = min(period.last, today) if period.first <= today else period.last
    (view,) = await asyncio.to_thread(dashboard.station_views, h, [station], period)
    days = await asyncio.to_thread(report_days, h, period.first, last, station.id)
    if request.query.get("format") == "csv":
        body = csv_text([head for _, head in COLUMNS], (cells(d) for d in days))
        return web.Response(
            body=body.encode("utf-8"),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{station.id}-{period.name}.csv"'},
        )
    db = h.db.dashboard
    sessions, logbook, fives, health = await asyncio.gather(
        asyncio.to_thread(db.events, station.id, SESSION_KINDS, period.first, period.last, RECENT),
        asyncio.to_thread(db.events, station.id, ("logbook",), period.first, period.last, RECENT),
        asyncio.to_thread(db.events, station.id, ("fives",), today - timedelta(days=FIVES_LOOKBACK_DAYS), today, 1),
        asyncio.to_thread(db.daily_last, station.id, "health", period.first, period.last),
    )
    alerts = await asyncio.to_thread(station_alerts, h, station.id)
    notices = Counter()
    for d in days:
        if d.row is not None:
            notices.update(d.row.notice_views)
    labels, disk = _health_history(health, period)
    try:
        player = f"{profile(station.player).label}（{station.player}）"
    except ProfileError:
        player = station.player
    nav = Nav(f"/county/stations/{station.id}", tuple(station.region), period)
    return render(
        request,
        "station.html",
        v=view,
        station=station,
        player=player,
        period=period,
        nav=nav,
        trail=[("站点列表", "/county/stations"), (station.name, None)],
        days=days,
        calendar=calendar(period, days, today),
        sessions=sessions,
        logbook=logbook,
        fives=fives[0] if fives else None,
        fives_keys=FIVES,
        fives_labels=FIVES_LABELS,
        notices=sorted(notices.items(), key=lambda kv: -kv[1]),
        disk_chart=charts.line(f"剩余磁盘（%，每天最后一次心跳）：{period.label}", labels, disk, "剩余磁盘 %")
        if any(x is not None for x in disk)
        else None,
        offset_words=offset_words,
        recent=RECENT,
        silent_words=silent_words,
        now=datetime.now(UTC),
        user_region=current_user(request).region,
        alerts=alerts,
        alert_labels=KIND_LABELS,
    )


def setup_stations(app: web.Application) -> None:
    app.router.add_get("/county/stations/{id}", station_page)
