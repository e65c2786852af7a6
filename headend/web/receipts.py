"""Notice read receipts (通知回执, issue 14): ``/county/notices/receipts`` lists every notice in
force (and those ended in the last 30 days) with how many of its targeted stations in the
account's region displayed it, the share and the first display; ``/county/notices/receipts/{id}``
shows each targeted station — displayed (when first, how often, where) or not, and then its
connectivity in words so "未看到" (online, not shown) and "站点失联" are told apart — with a CSV
export (``?format=csv``). ``?region=`` narrows both, within the account's region; a notice that
does not exist is a 404, a station outside the region is never listed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from aiohttp import web

from catalogue.clocks import CHINA
from headend.errors import NotFound
from headend.service import receipts
from headend.service.exports import csv_text
from headend.service.receipts import STATE_WORDS, NoticeReceipt, StationReceipt, via_words
from headend.service.root import Headend
from headend.web.auth import current_user, visible_stations
from headend.web.dashboard import region_from, silent_words
from headend.web.keys import HEADEND
from headend.web.render import render


async def _stations(request: web.Request, region: tuple[str, ...]):
    h: Headend = request.app[HEADEND]
    registered = await asyncio.to_thread(h.db.stations)
    return [s for s in visible_stations(request, registered) if tuple(s.region[: len(region)]) == region]


def situation(r: StationReceipt, now: datetime) -> str:
    """已显示 / 未看到（站点在线） / 站点失联 3 天 4 小时 / 从未连接."""
    if r.displayed:
        return "已显示"
    state = r.view.connectivity.state
    if state == "online":
        return "未看到（站点在线）"
    if state == "silent":
        return f"站点{silent_words(r.view, now)}，回执可能尚未上报"
    return "从未连接"


def _china(at: datetime | None) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if at else ""


CSV_COLUMNS = [
    "站点编号",
    "站点名称",
    "地区",
    "情况",
    "首次显示（北京时间）",
    "首次显示时间存疑",
    "显示次数",
    "显示位置",
    "连接",
    "最近上报（北京时间）",
]


def _csv_row(r: StationReceipt, now: datetime) -> list[object]:
    c = r.view.connectivity
    return [
        r.station.id,
        r.station.name,
        "/".join(r.station.region),
        situation(r, now),
        _china(r.first_at),
        "是" if r.first_uncertain else "",
        r.views,
        "、".join(via_words(v) for v in r.vias),
        silent_words(r.view, now),
        _china(c.last_contact),
    ]


async def receipts_page(request: web.Request) -> web.Response:
    region, h = region_from(request), request.app[HEADEND]
    now = datetime.now(UTC)
    stations = await _stations(request, region)

    def read() -> tuple[receipts.Notices, list[NoticeReceipt]]:
        found = receipts.known_notices(h)
        return found, receipts.receipts(h, found, receipts.listed(found, now), stations, now)

    found, items = await asyncio.to_thread(read)
    return render(
        request,
        "receipts.html",
        items=items,
        found=found,
        region=region,
        states=STATE_WORDS,
        shown_days=receipts.EXPIRED_SHOWN_DAYS,
        region_query=_region_query(request, region),
    )


def _region_query(request: web.Request, region: tuple[str, ...]) -> str:
    """``?region=…`` to keep on links, when the page was narrowed below the account's own region."""
    if tuple(region) == tuple(current_user(request).region):
        return ""
    return "?" + urlencode({"region": "/".join(region)}, quote_via=quote)


async def receipt_page(request: web.Request) -> web.Response:
    notice_id = request.match_info["id"]
    if len(notice_id) > 64:
        raise NotFound(f"没有这条通知（no notice {notice_id[:80]}）")
    region, h = region_from(request), request.app[HEADEND]
    now = datetime.now(UTC)
    stations = await _stations(request, region)

    def read() -> tuple[receipts.Notices, NoticeReceipt]:
        found = receipts.known_notices(h)
        notice = receipts.find(found, notice_id)
        return found, receipts.receipts(h, found, [notice], stations, now, every_day=True)[0]

    found, item = await asyncio.to_thread(read)
    if request.query.get("format") == "csv":
        body = csv_text(CSV_COLUMNS, (_csv_row(r, now) for r in item.stations))
        return web.Response(
            body=body.encode("utf-8"),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="notice-{item.notice.id}-receipts.csv"'},
        )
    return render(
        request,
        "receipt.html",
        item=item,
        found=found,
        region=region,
        states=STATE_WORDS,
        now=now,
        situation=situation,
        silent_words=silent_words,
        via_words=via_words,
        region_query=_region_query(request, region),
    )


def setup_receipts(app: web.Application) -> None:
    app.router.add_get("/county/notices/receipts", receipts_page)
    app.router.add_get("/county/notices/receipts/{id}", receipt_page)
