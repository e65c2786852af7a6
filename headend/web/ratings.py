"""The county's star-rating pages (issue 13), limited to the account's region like the dashboard:

- ``/county/ratings?period=2026-11&region=…&sort=<total|indicator id>&desc=1``: the ranking —
  county and township rank, total, stars, change, flags, every indicator's points; the stations
  without enough data (数据不全) listed apart; ``/county/ratings.csv`` and ``.xlsx`` the same for
  Excel, ``/api/v1/ratings`` as JSON. The period defaults to the month before this one.
- ``/county/stations/{id}/rating?period=…``: one station's rating explained — each indicator's
  reason, its flags (an admin overrides one with a written reason), the stars of earlier periods
  and the county's inspections (an editor adds one, with a photo).
- ``/county/evidence/{sha256}.jpg|png``: an inspection's photo.

Checks, storage and the audit log live in ``headend.service.inspections``; this reads forms."""

from __future__ import annotations

import asyncio
import functools
import json
from urllib.parse import quote

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from catalogue.periods import KIND_LABELS, Period, parse_period, period_of
from catalogue.rating import STATUS_WORDS, competition_ranks
from headend.db.records import Station
from headend.errors import NotFound
from headend.service import inspections
from headend.service.dashboard import common_region
from headend.service.rating_exports import as_csv, as_xlsx, flag_state_words, stars_text
from headend.service.ratings import RATED_KINDS, Entry, RatingTable, rated_period, ratings_table
from headend.service.root import Headend
from headend.web.auth import actor_of, auth_middleware, current_user, role, visible_station, visible_stations
from headend.web.dashboard import Nav, region_from
from headend.web.keys import HEADEND
from headend.web.periods import china_today, last_month, neighbours, period_from
from headend.web.render import render

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_INSPECTION_BODY = inspections.MAX_PHOTO_BYTES + 256 * 1024  # the photo and the form's other fields
INSPECTION_POST = "/inspections"


def period_bar(nav: Nav, period: Period) -> dict:
    """The kinds a rating covers (each the one holding last month) and the periods either side."""
    last = last_month().last
    kinds = [(KIND_LABELS[k], nav.url(period=period_of(k, last).name), k == period.kind) for k in RATED_KINDS]
    return {"kinds": kinds, **neighbours(nav, period)}


async def _table(request: web.Request, period: Period, region: tuple[str, ...]) -> RatingTable:
    h: Headend = request.app[HEADEND]
    registered = await asyncio.to_thread(h.db.stations)
    stations = visible_stations(request, registered)
    return await asyncio.to_thread(ratings_table, h, period, stations, region)


def _points(e: Entry, key: str) -> float:
    if key == "total":
        return e.rating.total
    return next((s.points for s in e.rating.scores if s.indicator == key), 0.0)


def sort_entries(entries: list[Entry], key: str, desc: bool) -> list[Entry]:
    """By ``key`` (the total or an indicator's points), then the total, highest first."""
    sign = -1 if desc else 1
    return sorted(entries, key=lambda e: (sign * _points(e, key), -e.rating.total, e.station.id))


def _sort_from(request: web.Request, t: RatingTable) -> tuple[str, bool]:
    key = request.query.get("sort", "")
    if key != "total" and all(i.id != key for i in t.rubric.indicators):
        return "total", True  # the ranking: highest total first
    return key, request.query.get("desc") == "1"


async def ranking_page(request: web.Request) -> web.Response:
    period, region = period_from(request), region_from(request)
    t = await _table(request, period, region)
    key, desc = _sort_from(request, t)
    ranked = [e for e in t.entries if e.rating.status == "ranked"]
    apart = [e for e in t.entries if e.rating.status != "ranked"]
    places = competition_ranks({e.station.id: e.rating.total for e in ranked})
    order = () if (key, desc) == ("total", True) else (("sort", key), ("desc", "1" if desc else ""))
    nav = Nav("/county/ratings", region, period, order)
    plain = Nav("/county/ratings", region, period)

    def sort_link(column: str) -> str:
        """The same column again flips the order; a new one starts high-to-low."""
        flip = (not desc) if column == key else True
        return nav.url(sort=column, desc="1" if flip else None)

    def export(ext: str) -> str:
        return Nav(f"/county/ratings.{ext}", region, period).url()

    return render(
        request,
        "ratings.html",
        t=t,
        period=period,
        region=region,
        ranked=sort_entries(ranked, key, desc),
        apart=apart,
        top={k for k, place in places.items() if place <= 3},
        sort_key=key,
        desc=desc,
        sort_link=sort_link,
        trail=plain.trail(current_user(request).region),
        bar=period_bar(nav, period),
        csv_url=export("csv"),
        xlsx_url=export("xlsx"),
        json_url=Nav("/api/v1/ratings", region, period).url(),
        stars_text=stars_text,
        shown_from=_shared_depth([e.station.region for e in t.entries], len(region)),
        min_coverage=t.rubric.min_coverage,
    )


def _shared_depth(regions: list[tuple[str, ...]], at_least: int) -> int:
    """How many leading region levels every listed station shares (the column shows the rest:
    a county's ranking says 第1镇/第1镇0村, not the province, city and county on every row)."""
    if len(regions) < 2:
        return at_least
    return max(at_least, min(len(common_region(regions)), len(regions[0]) - 1))


def _download(body: bytes, filename: str, content_type: str) -> web.Response:
    return web.Response(
        body=body,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _filename(t: RatingTable, ext: str) -> str:
    """ratings-2026-11.csv (ASCII: every browser keeps it)."""
    return f"ratings-{t.period.name}.{ext}"


async def ranking_csv(request: web.Request) -> web.Response:
    t = await _table(request, period_from(request), region_from(request))
    response = _download(await asyncio.to_thread(as_csv, t), _filename(t, "csv"), "text/csv")
    response.charset = "utf-8"
    return response


async def ranking_xlsx(request: web.Request) -> web.Response:
    t = await _table(request, period_from(request), region_from(request))
    return _download(await asyncio.to_thread(as_xlsx, t), _filename(t, "xlsx"), XLSX)


async def api_ratings(request: web.Request) -> web.Response:
    t = await _table(request, period_from(request), region_from(request))
    return web.json_response(t.to_dict(), dumps=functools.partial(json.dumps, ensure_ascii=False))


def _history(h: Headend, station_id: str, t: RatingTable, entry: Entry) -> list[dict]:
    """Closed periods' stars (oldest first, by kind) and, while it is open, the period shown."""

    def row(period: Period, total: float, stars: int, status: str, frozen: bool) -> dict:
        words = STATUS_WORDS.get(status, status)
        return {"period": period, "total": total, "stars": stars, "status": status, "words": words, "frozen": frozen}

    rows = []
    for name, total, stars, status in h.db.ratings.history(station_id):
        try:
            p = parse_period(name)
        except ValueError:
            continue
        rows.append(row(p, total, stars, status, True))
    if t.state != "frozen":
        r = entry.rating
        rows.append(row(t.period, r.total, r.stars, r.status, False))
    order = {k: i for i, k in enumerate(RATED_KINDS)}
    rows.sort(key=lambda x: (order.get(x["period"].kind, 9), x["period"].first))
    return rows


def not_rated_words(station: Station, t: RatingTable) -> str:
    """Why a station has no rating in ``t``'s period (a 404 that says what to look at instead)."""
    if t.state == "frozen":  # a closed period keeps the stations rated when it was frozen
        why = "这一时段定稿时它还没有登记（之后才开通），或那时令牌已吊销；请查看它开通以后的时段"
    elif station.revoked_at is not None:
        why = f"它的令牌已吊销，不再参与评定；重新发放令牌（headend station token --rotate {station.id}）后才会参与"
    else:
        why = "这一时段的评定里没有它；请查看其他时段"
    return f"{station.name}在{t.period.label}没有评定：{why}"


async def station_rating(request: web.Request) -> web.Response:
    station = await visible_station(request, request.match_info["id"])
    h: Headend = request.app[HEADEND]
    period = period_from(request)
    t = await asyncio.to_thread(ratings_table, h, period, [station])
    entry = t.entry(station.id)
    if entry is None:
        raise NotFound(not_rated_words(station, t))
    history = await asyncio.to_thread(_history, h, station.id, t, entry)
    visits = await asyncio.to_thread(h.db.ratings.inspections, station.id)
    nav = Nav(f"/county/stations/{station.id}/rating", (), period)
    labels = {i.id: i.label for i in t.rubric.inspections}
    return render(
        request,
        "rating.html",
        station=station,
        t=t,
        e=entry,
        r=entry.rating,
        period=period,
        bar=period_bar(nav, period),
        history=history,
        visits=visits,
        item_labels=labels,
        flag_state_words=flag_state_words,
        stars_text=stars_text,
        today=china_today().isoformat(),
        max_note=inspections.MAX_NOTE_CHARS,
        max_photo_mb=inspections.MAX_PHOTO_BYTES // 1048576,
        min_reason=inspections.MIN_REASON_CHARS,
        max_reason=inspections.MAX_REASON_CHARS,
    )


async def _posted(request: web.Request):
    """The posted form (multipart with a photo, or plain); a body that cannot be read is a 400."""
    try:
        return await request.post()
    except (ValueError, LookupError, RuntimeError, AssertionError, HttpProcessingError):  # aiohttp's parsers
        raise web.HTTPBadRequest(text="表单无法读取（the form could not be read）。请返回，刷新页面后再试。") from None


def _text(form, name: str, cap: int = 2000) -> str:
    value = form.get(name, "")
    return value[:cap] if isinstance(value, str) else ""


def _back(station_id: str, period: str, anchor: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/county/stations/{station_id}/rating?period={quote(period)}#{anchor}")


@role("editor")
async def add_inspection(request: web.Request) -> web.Response:
    station = await visible_station(request, request.match_info["id"])
    form = await _posted(request)
    photo = form.get("photo")
    data = None
    if photo is not None and not isinstance(photo, str) and photo.filename:
        data = await asyncio.to_thread(photo.file.read, inspections.MAX_PHOTO_BYTES + 1)
    posted = inspections.InspectionForm(
        item=_text(form, "item", 40),
        score=_text(form, "score", 40),
        on=_text(form, "on", 40),
        note=_text(form, "note"),
        photo=data or None,
    )
    shown = _text(form, "period", 20)
    back = _back(station.id, rated_period(shown).name if shown else period_from(request).name, "inspections")
    h: Headend = request.app[HEADEND]
    admin = current_user(request).can("admin")  # may date it before the latest visit, or long ago
    await asyncio.to_thread(inspections.record_inspection, h, actor_of(request), station, posted, admin=admin)
    raise back


@role("admin")
async def override(request: web.Request) -> web.Response:
    station = await visible_station(request, request.match_info["id"])
    form = await _posted(request)
    period = rated_period(_text(form, "period", 20))
    day, rule = _text(form, "day", 40), _text(form, "rule", 60)
    h: Headend = request.app[HEADEND]
    await asyncio.to_thread(
        inspections.override_flag, h, actor_of(request), station, period, day, rule, _text(form, "reason")
    )
    raise _back(station.id, period.name, "flags")


async def evidence(request: web.Request) -> web.FileResponse:
    path = await asyncio.to_thread(inspections.evidence_file, request.app[HEADEND], request.match_info["name"])
    kind = inspections.CONTENT_TYPES[path.suffix[1:]]
    return web.FileResponse(
        path,
        headers={
            "Content-Type": kind,
            "Cache-Control": "private, max-age=86400, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


@web.middleware
async def photo_body_limit(request: web.Request, handler):
    """An inspection may carry a photo of up to 5 MB (other forms stay under the app's 1 MB);
    a bigger body is a 413 that says so, before the CSRF check reads it."""
    path = request.path
    if request.method == "POST" and path.startswith("/county/stations/") and path.endswith(INSPECTION_POST):
        if (request.content_length or 0) > MAX_INSPECTION_BODY:
            raise web.HTTPRequestEntityTooLarge(
                max_size=MAX_INSPECTION_BODY,
                actual_size=request.content_length or 0,
                text=f"照片太大：最多 {inspections.MAX_PHOTO_BYTES // 1048576} MB；请缩小后再上传",
            )
        request = request.clone(client_max_size=MAX_INSPECTION_BODY)
    return await handler(request)


def setup_ratings(app: web.Application) -> None:
    app.router.add_get("/county/ratings", ranking_page)
    app.router.add_get("/county/ratings.csv", ranking_csv)
    app.router.add_get("/county/ratings.xlsx", ranking_xlsx)
    app.router.add_get("/api/v1/ratings", api_ratings)
    app.router.add_get("/county/stations/{id}/rating", station_rating)
    app.router.add_post("/county/stations/{id}" + INSPECTION_POST, add_inspection)
    app.router.add_post("/county/stations/{id}/flags/override", override)
    app.router.add_get("/county/evidence/{name}", evidence)
    # before the access rules, which read the form for its CSRF token
    mws = app.middlewares
    mws.insert(mws.index(auth_middleware) if auth_middleware in mws else len(mws), photo_body_limit)
