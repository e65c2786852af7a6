"""The admin page (信息管理员, usually from a phone on the village LAN).

Routes::

    GET  /admin                  PIN login, then: today's and this month's figures, sync status with
                                 progress, failures and their reasons, storage, per-course
                                 availability, study sessions, logbook, five-ones self-check, notices,
                                 the star rating the county sent back (``station.store.ratingfile``)
    GET  /admin (no PIN anywhere)  the first-run page: choose the PIN (twice, 6-12 digits)
    POST /admin/setup            only while no PIN exists: stores its hash, logs the administrator in
    POST /admin/login, /admin/logout, /admin/sync
    POST /admin/session/start    topic, facilitator, headcount (1-9999) and an optional roll of names
    POST /admin/session/end
    POST /admin/logbook          one logbook entry
    POST /admin/fives            the five-ones self-check
    POST /admin/questions        a villager's question (topic, text, asker, publish): journaled with its number

Logins (right or wrong) are recorded in the journal; a wrong PIN never says what was wrong.

Sessions (``station.web.guard``) are random tokens kept in memory (a restart logs everyone out)
and sent back as an HttpOnly, SameSite=Strict cookie. Each login reserves a try before it reads
the body, so concurrent guesses cannot slip past the lockout; a wrong PIN costs
``failure_delay_s``. Where the PIN lives: ``station.web.pin``. Every POST here also passes
``station.web.forms`` (token bound to the session, Origin, rate).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from catalogue.display import china_time, minutes, size
from catalogue.questions import MAX_ASKER_CHARS, MAX_QUESTION_CHARS, TOPICS, is_number
from station import i18n
from station.errors import InputError, StoreError
from station.i18n import N_
from station.model import FiveAnswer, MirrorHealth
from station.records.attendance import FIVES, MIN_HEADCOUNT
from station.store.ratingfile import read_rating
from station.store.reportfile import read_upload_state
from station.web.admin_view import (
    FIVES_HINTS,
    FIVES_LABELS,
    figures_view,
    journal_view,
    mirrors_view,
    player_label,
    questions_view,
    rating_view,
    reporting_view,
    sync_view,
)
from station.web.forms import read_form
from station.web.guard import ADMIN_COOKIE
from station.web.keys import ADMIN, ATTENDANCE, CONFIG, PIN, SETUP_LOCK, STORE, SYNC_NOW
from station.web.pin import weakness
from station.web.reasons import Reason
from station.web.responses import render, see_other, session_of, translator
from station.web.views import category_name, media_missing, now_china, summary_view

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


# ---- handlers ----------------------------------------------------------------------------------


def _client(request: web.Request) -> str:
    return request.remote or "unknown"


def _logged_in(request: web.Request) -> bool:
    return session_of(request) is not None


def _admin_only(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """A POST that needs a logged-in administrator (anyone else goes to the PIN page)."""

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        if not _logged_in(request):
            return see_other("/admin")
        return await handler(request)

    return checked


async def _refused(request: web.Request, section: str, exc: InputError, form: dict | None = None) -> web.Response:
    """The admin page again, with what was wrong beside the form that said it (400)."""
    _ = translator(request)
    return await _admin_page(request, {section: _(exc.message, **exc.params)}, form, status=exc.status)


async def _journal(record, *args) -> None:
    """Journal a login or close silent plays — but a full disk must not lock the administrator
    out of the page that says the disk is full: the failure is logged and the page goes on."""
    try:
        await asyncio.to_thread(record, *args)
    except StoreError as exc:
        log.warning("admin page: %s", exc)


def _login_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    return render(request, "admin_login.html", {"error": error, "languages": _languages(request)}, status=status)


def _languages(request: web.Request) -> list[dict]:
    here = translator(request).tag
    return [{"tag": t, "label": label, "current": t == here} for t, label in i18n.LABELS.items()]


async def _admin_page(
    request: web.Request, errors: dict[str, str] | None = None, form: dict | None = None, status: int = 200
) -> web.Response:
    _ = translator(request)
    config, store, att = request.app[CONFIG], request.app[STORE], request.app[ATTENDANCE]
    disk = await asyncio.to_thread(store.disk_usage)
    await _journal(att.sweep)  # plays whose TV went silent count in the figures
    today, month = await asyncio.to_thread(att.figures)
    sessions = await asyncio.to_thread(att.month_sessions)
    logbook = await asyncio.to_thread(att.logbook, 20)
    asked = await asyncio.to_thread(att.questions)
    installed = store.installed_set()
    mirrors = store.mirrors()
    now = now_china()
    first = now.date().replace(day=1)
    views = await asyncio.to_thread(att.notice_views, first, now.date())
    courses, missing = [], []
    for c in installed.courses:
        gone = media_missing(request, c)
        courses.append(
            {
                "id": c.id,
                "title": c.title,
                "label": category_name(request, c.category),
                "minutes": minutes(c.duration_s),
                "kind": _("audio") if c.kind == "audio" else _("video"),
                "missing": gone,
            }
        )
        if gone:
            missing.append(c.title)
    sync = sync_view(_, store.sync_status())
    for title in missing:
        sync["failures"].append(
            Reason(
                _(
                    '%(title)s: the media file is missing from this box. Press "Sync now" to download it again.',
                    title=title,
                ),
                "",
            )
        )
    fives = att.fives()
    current = att.current_session()
    upload = await asyncio.to_thread(read_upload_state, config.data_dir)
    rating = await asyncio.to_thread(read_rating, config.data_dir)
    return render(
        request,
        "admin.html",
        {
            "player_label": player_label(config.player),
            "sync": sync,
            "sync_requested": request.app[SYNC_NOW].is_set() or request.query.get("sync") == "requested",
            "courses": courses,
            "missing": len(missing),
            "mirrors": mirrors_view(_, [(m, mirrors.get(m, MirrorHealth())) for m in config.mirrors]),
            "disk": {"media": size(disk.media_bytes), "files": disk.media_files, "free": size(disk.free_bytes)},
            "today": figures_view(_, today),
            "journal": journal_view(_, att.journal_usage()),
            "reporting": reporting_view(
                _, upload, att.journal_usage().unreported, config.report_url, att.journal.write_error
            ),
            "month": figures_view(_, month),
            "rating": rating_view(_, rating),
            "current": summary_view(_, current) if current else None,
            "sessions": [summary_view(_, s) for s in sessions],
            "logbook": [{"when": china_time(e.at), "text": e.text, "author": e.author} for e in logbook],
            "fives": [
                {
                    "key": k,
                    "label": _(FIVES_LABELS[k]),
                    "hint": _(FIVES_HINTS[k]),
                    "ok": fives.answer(k).ok,
                    "note": fives.answer(k).note,
                }
                for k in FIVES
            ],
            "fives_checked": china_time(fives.checked) if fives.checked else "",
            "notices": [
                {
                    "title": n.title,
                    "body": n.body,
                    "until": china_time(n.valid_until) if n.valid_until else "",
                    "views": views.get(n.id, 0),
                }
                for n in installed.notices_in_force(now)
            ],
            "errors": errors or {},
            "form": form or {},
            "range": {"min": MIN_HEADCOUNT, "max": att.max_headcount},
            "facilitator": fives.answer("administrator").note,
            "languages": _languages(request),
            "saved": request.query.get("saved", ""),
            "topics": list(TOPICS.items()),
            "limits": {"question": MAX_QUESTION_CHARS, "asker": MAX_ASKER_CHARS},
            "questions": questions_view(_, asked, installed, config.station_id),
            "faq_count": installed.faq_count(),
            "asked_number": request.query.get("number", "") if is_number(request.query.get("number")) else "",
        },
        status=status,
    )


@routes.get("/admin", name="admin")
async def admin(request: web.Request) -> web.Response:
    if request.app[PIN].needs_setup():
        return _setup_page(request)
    if not _logged_in(request):
        return _login_page(request)
    return await _admin_page(request)


def _logged_in_response(request: web.Request, client: str) -> web.StreamResponse:
    guard = request.app[ADMIN]
    resp = see_other("/admin")
    resp.set_cookie(
        ADMIN_COOKIE,
        guard.new_session(client),
        path="/admin",
        httponly=True,
        samesite="Strict",
        max_age=int(guard.session_ttl_s),
    )
    return resp


async def _check_pin(request: web.Request, pin: str) -> bool:
    try:
        return await asyncio.to_thread(request.app[PIN].check, pin)
    except StoreError as exc:
        log.error("admin login: %s", exc)
        _ = translator(request)
        raise web.HTTPServiceUnavailable(
            text=_("The stored admin PIN cannot be read. On the box, set it again with: station pin set")
        ) from None


def _reserve_try(request: web.Request, client: str) -> float:
    """One PIN (or set-up code) try for ``client``, taken before anything is awaited: counted
    now, forgiven if right (``AdminGuard.reserve``); 429 while the address or the LAN is locked."""
    guard, _ = request.app[ADMIN], translator(request)
    stamp = guard.reserve(client)
    if stamp is None:
        wait_s = guard.locked_for_s(client)
        raise web.HTTPTooManyRequests(
            text=_("Too many wrong PINs. Please try again in %(m)d minutes.", m=math.ceil(wait_s / 60)),
            headers={"Retry-After": str(math.ceil(wait_s))},
        )
    return stamp


@routes.post("/admin/login", name="admin_login")
async def login(request: web.Request) -> web.StreamResponse:
    guard, client = request.app[ADMIN], _client(request)
    _ = translator(request)
    att = request.app[ATTENDANCE]
    if request.app[PIN].needs_setup():
        return see_other("/admin")
    stamp = _reserve_try(request, client)
    form = await read_form(request)
    pin = str(form.get("pin", "")).strip()
    if await _check_pin(request, pin):
        guard.forgive(client, stamp)
        await _journal(att.admin_login, True, client)
        return _logged_in_response(request, client)
    await _journal(att.admin_login, False, client)
    await asyncio.sleep(guard.failure_delay_s)
    left = guard.tries_left(client)
    if left:
        error = _("The PIN is not right. %(n)d more tries.", n=left)
    else:
        error = _("The PIN is not right. Please try again in a few minutes.")
    return _login_page(request, error, status=403)


def _setup_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    return render(request, "admin_setup.html", {"error": error, "languages": _languages(request)}, status=status)


@routes.post("/admin/setup", name="admin_setup")
async def setup(request: web.Request) -> web.StreamResponse:
    """The first-run page's form: only while no PIN exists anywhere (then it is the login page's)."""
    guard, client = request.app[ADMIN], _client(request)
    _ = translator(request)
    if not request.app[PIN].needs_setup():
        return see_other("/admin")
    stamp = _reserve_try(request, client)  # a wrong set-up code counts like a wrong PIN
    form = await read_form(request)
    pin, again = str(form.get("pin", "")).strip(), str(form.get("pin2", "")).strip()
    if not request.app[PIN].setup_code_ok(str(form.get("code", "")).strip()):
        await asyncio.sleep(guard.failure_delay_s)
        return _setup_page(
            request,
            _("The set-up code is not right. It is shown on the box's own TV (its home page) and by station serve."),
            status=403,
        )
    guard.forgive(client, stamp)
    problem = weakness(pin)
    if problem is None and pin != again:
        problem = N_("The two PINs are not the same. Please type the same PIN twice.")
    if problem:
        if not request.app[PIN].needs_setup():
            return see_other("/admin")
        return _setup_page(request, _(problem), status=400)
    async with request.app[SETUP_LOCK]:  # two phones at once: the first one sets it, the other logs in
        if not request.app[PIN].needs_setup():
            return see_other("/admin")
        await asyncio.to_thread(request.app[PIN].store, pin)
    log.warning("the admin PIN was set on the first-run page from %s", _client(request))
    await _journal(request.app[ATTENDANCE].admin_login, True, _client(request))
    return _logged_in_response(request, _client(request))


@routes.post("/admin/logout", name="admin_logout")
async def logout(request: web.Request) -> web.StreamResponse:
    request.app[ADMIN].end(request.cookies.get(ADMIN_COOKIE))
    resp = see_other("/admin")
    resp.del_cookie(ADMIN_COOKIE, path="/admin")
    return resp


@routes.post("/admin/sync", name="admin_sync")
@_admin_only
async def sync_now(request: web.Request) -> web.StreamResponse:
    request.app[SYNC_NOW].set()
    return see_other("/admin?sync=requested")


@routes.post("/admin/session/start", name="admin_session_start")
@_admin_only
async def start_session(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    fields = {k: str(form.get(k, "")) for k in ("topic", "facilitator", "headcount", "names")}
    try:
        await asyncio.to_thread(
            request.app[ATTENDANCE].start_session,
            fields["topic"],
            fields["facilitator"],
            fields["headcount"],
            fields["names"],
            "admin",
        )
    except InputError as exc:
        return await _refused(request, "session", exc, fields)
    return see_other("/admin?saved=session#sessions")


@routes.post("/admin/session/end", name="admin_session_end")
@_admin_only
async def end_session(request: web.Request) -> web.StreamResponse:
    try:
        s = await asyncio.to_thread(request.app[ATTENDANCE].end_session)
    except InputError as exc:
        return await _refused(request, "session", exc)
    return see_other(f"/admin?saved=ended&session={s.id}#sessions")


@routes.post("/admin/logbook", name="admin_logbook")
@_admin_only
async def logbook(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    att = request.app[ATTENDANCE]
    author = att.administrator()
    try:
        await asyncio.to_thread(att.write_log, str(form.get("text", "")), author)
    except InputError as exc:
        return await _refused(request, "logbook", exc, {"text": str(form.get("text", ""))})
    return see_other("/admin?saved=logbook#logbook")


@routes.post("/admin/fives", name="admin_fives")
@_admin_only
async def fives(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    answers = {k: FiveAnswer(form.get(f"{k}_ok") == "on", str(form.get(f"{k}_note", ""))) for k in FIVES}
    await asyncio.to_thread(request.app[ATTENDANCE].save_fives, answers)
    return see_other("/admin?saved=fives#fives")


@routes.post("/admin/questions", name="admin_questions")
@_admin_only
async def ask_question(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    fields = {k: str(form.get(k, "")) for k in ("topic", "question", "asker")}
    publish = form.get("publish") == "on"
    try:
        q = await asyncio.to_thread(
            request.app[ATTENDANCE].ask_question, fields["topic"], fields["question"], fields["asker"], publish
        )
    except InputError as exc:
        return await _refused(request, "questions", exc, {**fields, "publish": publish})
    return see_other(f"/admin?saved=question&number={q.number}#questions")
