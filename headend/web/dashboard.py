"""The county dashboard (issue 12): ``/county`` (a region and its parts, with counts, charts and
"data as of"), ``/county/stations`` (the station list: filters, sorting, CSV) and
``/api/v1/stations`` (the same as JSON). Everything is limited to the account's region; the
period (day … year, China time) and the region are query parameters::

    ?region=广东省/肇庆市/高要市&period=2026-12   or   &kind=quarter (the current quarter)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import quote, urlencode

from aiohttp import web

from catalogue.clocks import CHINA
from catalogue.periods import KIND_LABELS, KINDS, Period, PeriodError, parse_period, period_of
from headend.db.records import User
from headend.errors import NotFound
from headend.service import alerts, dashboard, live, questions
from headend.service.dashboard import FILTERS, SORTS, RegionNode, StationView
from headend.service.exports import csv_text
from headend.service.root import Headend
from headend.web import charts
from headend.web.auth import current_user, visible_stations
from headend.web.keys import HEADEND
from headend.web.render import render

TOWNSHIP_DEPTH = 4  # 省 / 市 / 县 / 镇: the level "top and bottom townships" ranks
TREND_MONTHS = 12
LEVELS = ("省", "市", "县", "乡镇", "村")


def china_today() -> date:
    return datetime.now(CHINA).date()


def period_from(request: web.Request) -> Period:
    """``period=2026-12`` or ``kind=month`` (the current one); the current month by default."""
    q = request.query
    if q.get("period"):
        try:
            return parse_period(q["period"][:20])
        except PeriodError as exc:
            raise web.HTTPBadRequest(text=f"时段无法识别（{exc}）") from None
    kind = q.get("kind", "month")
    return period_of(kind if kind in KINDS else "month", china_today())


def region_from(request: web.Request) -> tuple[str, ...]:
    """The region asked for, within the account's own (its own by default); outside it: 404."""
    user = current_user(request)
    text = request.query.get("region", "")
    asked = tuple(p for p in text.split("/") if p)[:8] if text else user.region
    if not user.sees(asked) or len(asked) < len(user.region):
        raise NotFound(f"没有这个地区（no region {text[:80]}）")
    return asked


async def _views(request: web.Request, period: Period, region: tuple[str, ...]) -> tuple[list[StationView], bool]:
    """The views of the stations in ``region`` the account may see, and whether they are every
    registered station (then no query needs to name them)."""
    h: Headend = request.app[HEADEND]
    registered = await asyncio.to_thread(h.db.stations)
    stations = [s for s in visible_stations(request, registered) if tuple(s.region[: len(region)]) == region]
    everyone = len(stations) == len(registered)
    return await asyncio.to_thread(dashboard.station_views, h, stations, period, None, everyone), everyone


@dataclass(frozen=True)
class Nav:
    """Links that keep the other query parameters: the period bar and the region trail."""

    path: str
    region: tuple[str, ...]
    period: Period
    extra: tuple[tuple[str, str], ...] = ()

    def url(self, **change: str | None) -> str:
        params = {"region": "/".join(self.region), "period": self.period.name, **dict(self.extra)}
        params.update(change)
        query = urlencode({k: v for k, v in params.items() if v}, quote_via=quote)
        return f"{self.path}?{query}" if query else self.path

    def kinds(self) -> list[tuple[str, str, bool]]:
        today = china_today()
        return [(KIND_LABELS[k], self.url(period=period_of(k, today).name), k == self.period.kind) for k in KINDS]

    def trail(self, user_region: tuple[str, ...]) -> list[tuple[str, str | None]]:
        """(name, link) from the account's own region down to this one (the last has no link)."""
        out = []
        for depth in range(len(user_region), len(self.region) + 1):
            part = self.region[:depth]
            name = part[-1] if part else "全部地区"
            out.append((name, None if depth == len(self.region) else self.url(region="/".join(part) or None)))
        return out


def _month_labels(end: Period) -> list[Period]:
    months = [period_of("month", end.last)]
    while len(months) < TREND_MONTHS:
        months.insert(0, months[0].previous())
    return months


async def _charts(
    request: web.Request, views: list[StationView], everyone: bool, node: RegionNode, period: Period
) -> dict:
    h: Headend = request.app[HEADEND]
    ids = None if everyone else [v.station.id for v in views]
    months = _month_labels(period)
    share_days = period if period.days >= 7 else period_of("month", period.last)
    first = min(months[0].first, share_days.first)
    last = max(months[-1].last, share_days.last)
    daily = await asyncio.to_thread(h.db.dashboard.daily, ids, first, last)
    labels = [f"{m.first.month}月" if m.first.month != 1 else f"{m.first.year}年1月" for m in months]
    per_month: dict[str, list[float]] = {}
    for day, a in daily.items():
        totals = per_month.setdefault(day[:7], [0, 0.0])
        totals[0] += a.person_times
        totals[1] += a.watched_s / 3600
    known = [per_month.get(m.name) for m in months]  # None: no station reported that month
    trend = charts.trend(
        f"{node.name}：每月人次与学习时长",
        labels,
        [t[0] if t else None for t in known],
        [t[1] if t else None for t in known],
    )
    today = china_today()
    registered = len(views)
    share_labels, shares = [], []
    for d in share_days.each_day():
        share_labels.append(f"{d.month}/{d.day}")
        day = daily.get(d.isoformat())
        online = day.online_minutes if day else 0
        shares.append(online / registered if registered and d <= today else None)
    share = charts.share(f"{node.name}：每天有心跳的站点占比（{share_days.label}）", share_labels, shares)
    depth = max(TOWNSHIP_DEPTH, len(node.path) + 1)
    parts = [p for p in dashboard.regions_at_depth(views, node.path, depth - len(node.path)) if p.reported]
    per_station = sorted(parts, key=lambda p: p.person_times / p.stations, reverse=True)
    level = LEVELS[depth - 1] if depth <= len(LEVELS) else "地区"
    ranking = None
    if len(per_station) >= 2:
        top, bottom = per_station[:5], per_station[-5:] if len(per_station) > 5 else []
        shown = top + [p for p in bottom if p not in top]
        ranking = charts.ranking(
            f"{period.label}各{level}每站平均人次：前{len(top)}名" + (f"与后{len(bottom)}名" if bottom else ""),
            ["/".join(p.path[len(node.path) :]) for p in shown],
            [p.person_times / p.stations for p in shown],
            "人次/站",
        )
    return {"trend": trend, "share": share, "ranking": ranking}


def _open_questions(h: Headend, user: User, region: tuple[str, ...]) -> tuple[int, int]:
    """The villages' questions of the region not answered yet, and how many of them are overdue."""
    waiting = [i for i in questions.queue(h, user, region) if i.open]
    return len(waiting), sum(i.timing == "overdue" for i in waiting)


def _live_headline(h: Headend, region: tuple[str, ...]) -> dict:
    """The live-class card: the next class of the region, and those on air, waiting or failed."""
    upcoming, current = live.headline(live.classes(h, datetime.now(UTC), region))
    return {"next": upcoming, "current": current, "state_class": LIVE_STATE_CLASS}


LIVE_STATE_CLASS = {  # a live class's state as the pages colour it
    "scheduled": "none",
    "soon": "warn",
    "on_air": "ok",
    "waiting": "warn",
    "ended": "none",
    "failed": "bad",
    "cancelled": "none",
}


async def overview(request: web.Request) -> web.Response:
    period, region = period_from(request), region_from(request)
    views, everyone = await _views(request, period, region)
    node = dashboard.region_tree(views, region)
    nav = Nav("/county", region, period)
    open_alerts = await asyncio.to_thread(alerts.open_counts, request.app[HEADEND], current_user(request), region)
    open_questions = await asyncio.to_thread(_open_questions, request.app[HEADEND], current_user(request), region)
    live_card = await asyncio.to_thread(_live_headline, request.app[HEADEND], region)
    return render(
        request,
        "overview.html",
        node=node,
        nav=nav,
        trail=nav.trail(current_user(request).region),
        period=period,
        charts=await _charts(request, views, everyone, node, period) if views else {},
        level=LEVELS[len(region)] if len(region) < len(LEVELS) else "",
        online_minutes=request.app[HEADEND].cfg.online_minutes,
        stations_url=Nav("/county/stations", region, period).url,
        open_alerts=open_alerts,
        open_questions=open_questions,
        live_card=live_card,
    )


def _sort_from(request: web.Request) -> tuple[str, bool]:
    key = request.query.get("sort", "region")
    return (key if key in SORTS else "region"), request.query.get("desc") == "1"


def _filter_from(request: web.Request) -> str:
    name = request.query.get("filter", "")
    return name if name in FILTERS else ""


STATION_COLUMNS = [
    "站点编号",
    "站点名称",
    "地区",
    "连接",
    "最近上报（北京时间）",
    "已装版本",
    "发布版本",
    "内容",
    "同步",
    "总人次",
    "集中学习场次",
    "学习时长(小时)",
    "播放次数",
    "活跃天数",
    "已过天数",
    "数据截至",
]
_CONNECTIVITY = {"online": "在线", "silent": "失联", "never": "从未连接"}
_CONTENT = {"current": "最新", "behind": "落后", "unknown": "未知", "unpublished": "尚未发布"}


def _csv_row(v: StationView) -> list[object]:
    c, a = v.connectivity, v.activity
    contact = c.last_contact.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if c.last_contact else ""
    figures: list[object] = (
        [a.person_times, a.sessions, f"{a.hours:.1f}", a.plays, a.active_days] if a else ["未上报", "", "", "", ""]
    )
    return [
        v.station.id,
        v.station.name,
        v.region_path,
        _CONNECTIVITY[c.state],
        contact,
        v.content.installed if v.content.installed is not None else "",
        v.content.published or "",
        _CONTENT[v.content.state],
        v.content.sync_words,
        *figures,
        v.days_begun,
        v.as_of or "",
    ]


def view_json(v: StationView) -> dict:
    c, t, a = v.connectivity, v.content, v.activity
    return {
        **v.station.to_dict(),
        "connectivity": {"state": c.state, "last_contact": c.last_contact.isoformat() if c.last_contact else None},
        "content": {
            "state": t.state,
            "installed": t.installed,
            "published": t.published,
            "courses_missing": t.courses_missing,
            "missing_mb": t.missing_mb,
            "sync": t.sync_words,
        },
        "activity": None
        if a is None
        else {
            "person_times": a.person_times,
            "sessions": a.sessions,
            "session_person_times": a.session_person_times,
            "individual_plays": a.individual_plays,
            "hours": round(a.hours, 2),
            "plays": a.plays,
            "active_days": a.active_days,
            "reported_days": a.reported_days,
            "as_of": a.last_day,
        },
        "days_begun": v.days_begun,
    }


async def station_list(request: web.Request) -> web.Response:
    period, region = period_from(request), region_from(request)
    views, _ = await _views(request, period, region)
    name, (key, desc) = _filter_from(request), _sort_from(request)
    shown = dashboard.sort_views(dashboard.filtered(views, name), key, desc)
    if request.query.get("format") == "csv":
        body = csv_text(STATION_COLUMNS, (_csv_row(v) for v in shown))
        filename = f"stations-{period.name}.csv"
        return web.Response(
            body=body.encode("utf-8"),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    nav = Nav("/county/stations", region, period, (("filter", name), ("sort", key), ("desc", "1" if desc else "")))
    counts = {f: len(dashboard.filtered(views, f)) for f in FILTERS}

    def sort_link(column: str) -> str:
        """The same column again flips the order; a new one starts high-to-low (names: A to Z)."""
        flip = (not desc) if column == key else column not in ("name", "region")
        return nav.url(sort=column, desc="1" if flip else None)

    return render(
        request,
        "stations.html",
        views=shown,
        total=len(views),
        nav=nav,
        trail=nav.trail(current_user(request).region),
        period=period,
        filters=FILTERS,
        counts=counts,
        current_filter=name,
        sorts=SORTS,
        sort_key=key,
        desc=desc,
        now=datetime.now(UTC),
        silent_words=silent_words,
        sort_link=sort_link,
        shown_from=len(dashboard.common_prefix(views)) if len(views) > 1 else len(region),
    )


async def api_stations(request: web.Request) -> web.Response:
    period, region = period_from(request), region_from(request)
    views, _ = await _views(request, period, region)
    return web.json_response(
        {
            "period": {"name": period.name, "from": period.first.isoformat(), "to": period.last.isoformat()},
            "region": list(region),
            "stations": [view_json(v) for v in views],
        }
    )


def silent_words(v: StationView, now: datetime) -> str:
    """ "失联 3 天 4 小时" / "在线" / "从未连接"."""
    c = v.connectivity
    if c.state != "silent":
        return _CONNECTIVITY[c.state]
    s = c.silent_s(now) or 0
    days, rest = divmod(int(s), 86400)
    hours, minutes = rest // 3600, (rest % 3600) // 60
    if days:
        return f"失联 {days} 天 {hours} 小时"
    return f"失联 {hours} 小时 {minutes} 分" if hours else f"失联 {minutes} 分钟"


def setup_dashboard(app: web.Application) -> None:
    app.router.add_get("/county", overview)
    app.router.add_get("/county/stations", station_list)
    app.router.add_get("/api/v1/stations", api_stations)
