"""``/county/live``: live classes (网络党课, issue 16) on the county pages — not ``/live/<id>/``,
the public HLS the stations play (``headend.web.live``).

The list shows the classes of the account's region (``?region=`` narrows it; a class is listed
when it may reach a station there, ``service.live_scope.touches``): the coming and running ones
first, then the past — China time, audience and state in words, what the encoder says (segments
per player, restarts, its last error and, for a failed class or one waiting for its signal,
ffmpeg's last lines), whether the stations' schedules carry it, and the replay course.
``/api/v1/live`` gives the same as JSON.

Editors and admins schedule a class with the form (``POST /county/live``: a 400 shows the
message beside its field with the typed values kept; "保存并立即发布" starts the dashboard's
publish after saving) and cancel one (``POST /county/live/{id}/cancel``); both go through
``headend.service.live`` (audit-logged). A class outside the account's region is a 404, a
viewer's POST a 403 (``@role``)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, urlencode

from aiohttp import web

from catalogue import CATEGORIES, category_label
from catalogue.clocks import CHINA
from catalogue.display import china_hhmm, people_time
from catalogue.ids import is_id
from headend.db.records import User
from headend.errors import BadRequest
from headend.repository.live import audience_of, end_of, start_of
from headend.service import live
from headend.service.live import Item
from headend.service.live_scope import within
from headend.service.root import Headend
from headend.web.auth import actor_of, current_user, for_account, role
from headend.web.dashboard import LIVE_STATE_CLASS, region_from
from headend.web.forms import read_form
from headend.web.keys import HEADEND, PUBLISHER
from headend.web.render import render
from playlists import Audience

PAGE = "/county/live"
FIELDS = ("id", "title", "date", "time", "duration", "regions", "stations", "tags", "category", "description")
ID_PREFIX = "dangke"  # the suggested id: dangke-20261207 (党课 and the China date)
DEFAULT_TIME = "19:30"  # evenings suit the villages' organised study
DEFAULT_MINUTES = "60"
_SPLIT = re.compile(r"[\s,，;；、]+")
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_TIME = re.compile(r"(\d{1,2})[:：](\d{2})")
_MINUTES = re.compile(r"\d{1,6}(\.\d{1,3})?")


@dataclass(frozen=True)
class Row:
    """A class as the page shows it."""

    it: Item
    when: str  # "12月7日 19:30–20:30" (China time)
    length: str  # "60 分钟"
    audience: str  # in words, stations by name
    category: str
    segments: tuple[tuple[str, int], ...]  # (profile, whole segments)
    last_error: str
    last_lines: str  # ffmpeg's last lines, for a failed class or one waiting for its signal
    on_stations: bool  # the published index carries its playlist
    replay_link: str | None  # the replay course's page, once that course exists
    can_cancel: bool

    @property
    def state_class(self) -> str:
        return LIVE_STATE_CLASS[self.it.state]


def span_words(x) -> str:
    """A class's time as people read it: "12月7日 19:30–20:30" (the end's day too when it differs)."""
    start, end = start_of(x), end_of(x)
    same_day = start.astimezone(CHINA).date() == end.astimezone(CHINA).date()
    return f"{people_time(start)}–{china_hhmm(end) if same_day else people_time(end)}"


def audience_words(aud: Audience | None, names: dict[str, str]) -> str:
    if aud is None:
        return "（面向无法读取）"
    if aud.everyone:
        return "所有站点"
    parts = ["/".join(r) for r in aud.regions]
    parts += [names.get(s) or s for s in aud.stations]
    parts += [f"标签“{t}”" for t in aud.tags]
    return "、".join(parts)


def _row(request: web.Request, it: Item, ctx: dict) -> Row:
    x, enc, user = it.live, it.encoder, current_user(request)
    try:
        aud = audience_of(x)
    except ValueError:
        aud = None
    lines = ""
    if enc is not None and it.state in ("failed", "waiting"):
        lines = "\n".join(for_account(request, line) or "" for line in enc.last_lines)
    return Row(
        it=it,
        when=span_words(x),
        length=f"{x.duration_s / 60:g} 分钟",
        audience=audience_words(aud, ctx["names"]),
        category=category_label(x.category),
        segments=tuple(enc.segments.items()) if enc else (),
        last_error=(for_account(request, enc.last_error) or "") if enc else "",
        last_lines=lines,
        on_stations=x.id in ctx["published"],
        replay_link=f"/county/courses/{quote(x.replay_course, safe='')}" if x.replay_course in ctx["courses"] else None,
        can_cancel=user.can("editor") and not it.over and within(x, user, ctx["regions"]),
    )


def _read(h: Headend, region: tuple[str, ...]) -> tuple[list[Item], dict]:
    now = datetime.now(UTC)
    items = live.classes(h, now, region)
    stations = h.db.stations()
    replays = {i.live.replay_course for i in items if i.live.replay_course}
    ctx = {
        "names": {s.id: s.name for s in stations},
        "regions": {s.id: s.region for s in stations},
        "published": live.published_classes(h),
        "courses": {c for c in replays if h.db.course(c) is not None},
        "taken": {x.id for x in h.db.live.all()},
    }
    return items, ctx


def suggest_id(day: date, taken: set[str]) -> str:
    """``dangke-20261207``, or ``dangke-20261207-2`` … when that one is taken."""
    base = f"{ID_PREFIX}-{day:%Y%m%d}"
    n = 1
    while (base if n == 1 else f"{base}-{n}") in taken:
        n += 1
    return base if n == 1 else f"{base}-{n}"


def _blank_form(user: User, taken: set[str]) -> dict[str, str]:
    tomorrow = datetime.now(CHINA).date() + timedelta(days=1)
    return {
        **dict.fromkeys(FIELDS, ""),
        "id": suggest_id(tomorrow, taken),
        "date": tomorrow.isoformat(),
        "time": DEFAULT_TIME,
        "duration": DEFAULT_MINUTES,
        "regions": "/".join(user.region),
        "category": "party",
    }


def _done(request: web.Request) -> tuple[str, str, str]:
    """What ``?done=`` says was just done (add, cancel), of which class, and the publish's start."""
    q = request.query
    done = q.get("done", "")
    live_id = q.get("id", "")
    publish = q.get("publish", "")
    return (
        done if done in ("add", "cancel") else "",
        live_id if is_id(live_id) else "",
        publish if publish in ("started", "busy") else "",
    )


async def _page(
    request: web.Request, *, form: dict | None = None, error: tuple[str, str] = ("", ""), status: int = 200
) -> web.Response:
    h: Headend = request.app[HEADEND]
    user, region = current_user(request), region_from(request)
    items, ctx = await asyncio.to_thread(_read, h, region)
    rows = [_row(request, it, ctx) for it in items]
    done, done_id, publish = _done(request)
    return render(
        request,
        "live.html",
        status=status,
        coming=[r for r in rows if not r.it.over],
        past=[r for r in rows if r.it.over],
        region=region,
        form=form or _blank_form(user, ctx["taken"]),
        error_field=error[0],
        error=error[1],
        categories=CATEGORIES,
        done=done,
        done_id=done_id,
        publish=publish,
        settings=h.cfg.live,
        run=request.app[PUBLISHER],
    )


async def live_page(request: web.Request) -> web.Response:
    return await _page(request)


async def api_live(request: web.Request) -> web.Response:
    """The same classes as JSON (the encoder's errors as this account may read them)."""
    h: Headend = request.app[HEADEND]
    region = region_from(request)
    items, ctx = await asyncio.to_thread(_read, h, region)
    out = []
    for it in items:
        doc = live.item_json(it)
        if doc["encoder"]:
            enc = doc["encoder"]
            enc["last_error"] = for_account(request, enc["last_error"])
            enc["last_lines"] = [for_account(request, line) for line in enc["last_lines"]]
            # a source may carry the studio's stream key: admins only
            enc["source"] = enc["source"] if current_user(request).can("admin") else "…"
        doc["on_stations"] = it.live.id in ctx["published"]
        out.append(doc)
    return web.json_response({"region": list(region), "classes": out})


# ---- the form -----------------------------------------------------------------------------------


def _start(values: dict[str, str]) -> datetime:
    """The date and time fields (China time) as a moment; BadRequest naming the field."""
    m = _DATE.fullmatch(values["date"])
    try:
        day = date(int(m[1]), int(m[2]), int(m[3])) if m else None
    except ValueError:
        day = None
    if day is None:
        raise BadRequest(f"开始日期“{values['date'][:40]}”无法识别：请写成 2026-12-07 这样", field="date")
    t = _TIME.fullmatch(values["time"])
    if t is None or int(t[1]) > 23 or int(t[2]) > 59:
        raise BadRequest(f"开始时间“{values['time'][:40]}”无法识别：请写成 19:30 这样（24 小时制）", field="time")
    return datetime(day.year, day.month, day.day, int(t[1]), int(t[2]), tzinfo=CHINA)


def _minutes(text: str) -> float:
    if not _MINUTES.fullmatch(text):
        raise BadRequest(f"时长“{text[:40]}”不是分钟数：请填一个数，如 60", field="duration")
    return float(text)


def _words(text: str) -> list[str]:
    return [w for w in _SPLIT.split(text) if w][:200]


def _audience(values: dict[str, str]) -> Audience:
    stations = _words(values["stations"])
    bad = [s for s in stations if not is_id(s)]
    if bad:
        raise BadRequest(f"站点编号“{bad[0][:64]}”不对：只用小写字母、数字和“-”", field="stations")
    regions = []
    for text in _words(values["regions"]):
        parts = tuple(p.strip() for p in text.split("/") if p.strip())
        if parts:
            regions.append(parts[:8])
    tags = [t[:40] for t in _words(values["tags"])]
    return Audience(stations=tuple(stations), regions=tuple(regions), tags=tuple(tags))


def _error_field(field: str) -> str:
    """Where the form shows a message: the date and time share a line with ``start``."""
    return "start" if field in ("date", "time", "start") else field


@role("editor")
async def add(request: web.Request) -> web.Response:
    """Schedule a class from the form; then, with ``publish=1``, start the dashboard's publish."""
    form = await read_form(request)
    h: Headend = request.app[HEADEND]
    user, actor = current_user(request), actor_of(request)
    values = {k: str(form.get(k, "")).strip()[:4000] for k in FIELDS}
    values["publish"] = "1" if form.get("publish") == "1" else ""
    try:
        start = _start(values)
        minutes = _minutes(values["duration"])
        audience = _audience(values)
        if not values["id"]:  # the suggestion for the day asked for
            taken = await asyncio.to_thread(lambda: {x.id for x in h.db.live.all()})
            values["id"] = suggest_id(start.date(), taken)
        x = await asyncio.to_thread(
            live.add_live,
            h,
            actor,
            values["id"],
            values["title"],
            start,
            minutes,
            audience,
            category=values["category"] or "party",
            description=values["description"],
            account=user,
        )
    except BadRequest as exc:  # shown beside its field, the typed values kept
        return await _page(request, form=values, error=(_error_field(exc.field), str(exc)), status=exc.status)
    query = {"done": "add", "id": x.id}
    if values["publish"]:
        query["publish"] = "started" if request.app[PUBLISHER].start(h, actor) else "busy"
    raise web.HTTPSeeOther(f"{PAGE}?{urlencode(query)}")


@role("editor")
async def cancel(request: web.Request) -> web.Response:
    await read_form(request)
    x = await asyncio.to_thread(
        live.cancel_live,
        request.app[HEADEND],
        actor_of(request),
        request.match_info["id"],
        current_user(request),
    )
    raise web.HTTPSeeOther(f"{PAGE}?{urlencode({'done': 'cancel', 'id': x.id})}")


def setup_live_page(app: web.Application) -> None:
    app.router.add_get(PAGE, live_page)
    app.router.add_post(PAGE, add)
    app.router.add_post(PAGE + "/{id}/cancel", cancel)
    app.router.add_get("/api/v1/live", api_live)
