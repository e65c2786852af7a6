"""The admin page (信息管理员, usually from a phone on the village LAN).

Routes::

    GET  /admin                  PIN login, then: today's and this month's figures, sync status with
                                 progress, failures and their reasons, storage, per-course
                                 availability, study sessions, logbook, five-ones self-check, notices
    POST /admin/login, /admin/logout, /admin/sync
    POST /admin/session/start    topic, facilitator, headcount (1-9999) and an optional roll of names
    POST /admin/session/end
    POST /admin/logbook          one logbook entry
    POST /admin/fives            the five-ones self-check

Logins (right or wrong) are recorded in the journal; a wrong PIN never says what was wrong.

Sessions are random tokens kept in memory (a restart logs everyone out) and sent back as an
HttpOnly, SameSite=Strict cookie. A wrong PIN costs ``failure_delay_s`` and counts against the
client's address; ``max_failures`` within ``window_s`` locks that address out (429) until the
oldest failure leaves the window.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import secrets
import time
from typing import Callable

from aiohttp import web

from station import i18n, tv_model
from station.admin_view import FIVES_HINTS, FIVES_LABELS, figures_view, fmt_bytes, fmt_time, player_label, sync_view
from station.attendance import FIVES, MAX_HEADCOUNT, MIN_HEADCOUNT, InputError
from station.web import ATTENDANCE, CONFIG, STORE, SYNC_NOW, render, translator
from station.web_study import summary_view
from station.web_tv import category_name, media_missing, now_china

COOKIE = "yj_admin"


class AdminGuard:
    """Admin sessions and PIN-guessing limits per client address."""

    def __init__(
        self,
        pin: str,
        *,
        failure_delay_s: float = 1.0,
        max_failures: int = 5,
        window_s: float = 300.0,
        session_ttl_s: float = 12 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pin = pin
        self.failure_delay_s = failure_delay_s
        self.max_failures = max_failures
        self.window_s = window_s
        self.session_ttl_s = session_ttl_s
        self.clock = clock
        self._sessions: dict[str, float] = {}  # token -> expiry (clock)
        self._failures: dict[str, list[float]] = {}  # client address -> failure times (clock)

    # ---- PIN guessing ------------------------------------------------------------------------

    def _recent(self, client: str) -> list[float]:
        cutoff = self.clock() - self.window_s
        recent = [t for t in self._failures.get(client, ()) if t > cutoff]
        if recent:
            self._failures[client] = recent
        else:
            self._failures.pop(client, None)
        return recent

    def locked_for_s(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: not locked)."""
        recent = self._recent(client)
        if len(recent) < self.max_failures:
            return 0.0
        return max(0.0, recent[-self.max_failures] + self.window_s - self.clock())

    def tries_left(self, client: str) -> int:
        return max(0, self.max_failures - len(self._recent(client)))

    def record_failure(self, client: str) -> None:
        if len(self._failures) > 10_000:  # bound memory under a flood of addresses
            for key in list(self._failures):
                self._recent(key)
        self._failures.setdefault(client, []).append(self.clock())

    def check_pin(self, pin: str) -> bool:
        return bool(self.pin) and hmac.compare_digest(pin.encode("utf-8"), self.pin.encode("utf-8"))

    # ---- sessions ----------------------------------------------------------------------------

    def new_session(self, client: str) -> str:
        now = self.clock()
        self._sessions = {t: exp for t, exp in self._sessions.items() if exp > now}
        token = secrets.token_urlsafe(32)
        self._sessions[token] = now + self.session_ttl_s
        self._failures.pop(client, None)
        return token

    def valid(self, token: str | None) -> bool:
        if not token:
            return False
        expiry = self._sessions.get(token)
        return expiry is not None and expiry > self.clock()

    def end(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)


ADMIN = web.AppKey("admin", AdminGuard)


# ---- handlers ----------------------------------------------------------------------------------


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _client(request: web.Request) -> str:
    return request.remote or "unknown"


def _logged_in(request: web.Request) -> bool:
    return request.app[ADMIN].valid(request.cookies.get(COOKIE))


def _login_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    return render(request, "admin_login.html", {"error": error, "languages": _languages(request)}, status=status)


def _languages(request: web.Request) -> list[dict]:
    here = translator(request).tag
    return [{"tag": t, "label": label, "current": t == here} for t, label in i18n.LABELS.items()]


async def _admin_page(request: web.Request, errors: dict[str, str] | None = None, form: dict | None = None,
                      status: int = 200) -> web.Response:
    _ = translator(request)
    config, store, att = request.app[CONFIG], request.app[STORE], request.app[ATTENDANCE]
    disk = await asyncio.to_thread(store.disk_usage)
    await asyncio.to_thread(att.sweep)  # plays whose TV went silent count in the figures
    today, month = await asyncio.to_thread(att.figures)
    sessions = await asyncio.to_thread(att.month_sessions)
    logbook = await asyncio.to_thread(att.logbook, 20)
    installed = store.installed()
    now = now_china()
    first = now.date().replace(day=1)
    views = await asyncio.to_thread(att.notice_views, first, now.date())
    courses, missing = [], []
    for c in store.courses():
        gone = media_missing(request, c)
        courses.append({"id": c.id, "title": c.title, "label": category_name(request, c.category),
                        "minutes": tv_model.minutes(c.duration_s),
                        "kind": _("audio") if c.kind == "audio" else _("video"), "missing": gone})
        if gone:
            missing.append(c.title)
    sync = sync_view(_, store.sync_status())
    for title in missing:
        sync["failures"].append(_("%(title)s: the media file is missing from this box. Press \"Sync now\" to download it again.", title=title))
    fives = att.fives()
    current = att.current_session()
    return render(
        request,
        "admin.html",
        {
            "player_label": player_label(config.player),
            "sync": sync,
            "sync_requested": request.app[SYNC_NOW].is_set() or request.query.get("sync") == "requested",
            "courses": courses,
            "missing": len(missing),
            "disk": {
                "media": fmt_bytes(disk.get("media_bytes")),
                "files": disk.get("media_files", 0),
                "free": fmt_bytes(disk.get("free_bytes")),
            },
            "today": figures_view(_, today),
            "month": figures_view(_, month),
            "current": summary_view(_, current) if current else None,
            "sessions": [summary_view(_, s) for s in sessions],
            "logbook": [{"when": fmt_time(e.get("ts")), "text": e.get("text", ""), "author": e.get("author", "")}
                        for e in logbook],
            "fives": [{"key": k, "label": _(FIVES_LABELS[k]), "hint": _(FIVES_HINTS[k]),
                       "ok": bool(fives.get(k, {}).get("ok")), "note": fives.get(k, {}).get("note", "")} for k in FIVES],
            "fives_checked": fmt_time(fives.get("checked")) if fives else "",
            "notices": [{"title": n["title"], "body": n["body"], "until": fmt_time(n.get("valid_until")) if n.get("valid_until") else "",
                         "views": views.get(n["id"], 0)}
                        for n in tv_model.active_notices(installed.get("notices"), now)],
            "errors": errors or {},
            "form": form or {},
            "range": {"min": MIN_HEADCOUNT, "max": MAX_HEADCOUNT},
            "facilitator": fives.get("administrator", {}).get("note", ""),
            "languages": _languages(request),
            "saved": request.query.get("saved", ""),
        },
        status=status,
    )


async def admin(request: web.Request) -> web.Response:
    if not _logged_in(request):
        return _login_page(request)
    return await _admin_page(request)


async def login(request: web.Request) -> web.StreamResponse:
    guard, client = request.app[ADMIN], _client(request)
    _ = translator(request)
    att = request.app[ATTENDANCE]
    wait_s = guard.locked_for_s(client)
    if wait_s > 0:
        raise web.HTTPTooManyRequests(
            text=_("Too many wrong PINs. Please try again in %(m)d minutes.", m=math.ceil(wait_s / 60)),
            headers={"Retry-After": str(math.ceil(wait_s))},
        )
    form = await request.post()
    pin = str(form.get("pin", "")).strip()
    if guard.check_pin(pin):
        await asyncio.to_thread(att.admin_login, True, client)
        resp = _see_other("/admin")
        resp.set_cookie(
            COOKIE, guard.new_session(client), path="/admin", httponly=True, samesite="Strict",
            max_age=int(guard.session_ttl_s),
        )
        return resp
    guard.record_failure(client)
    await asyncio.to_thread(att.admin_login, False, client)
    await asyncio.sleep(guard.failure_delay_s)
    left = guard.tries_left(client)
    if left:
        error = _("The PIN is not right. %(n)d more tries.", n=left)
    else:
        error = _("The PIN is not right. Please try again in a few minutes.")
    return _login_page(request, error, status=403)


async def logout(request: web.Request) -> web.StreamResponse:
    request.app[ADMIN].end(request.cookies.get(COOKIE))
    resp = _see_other("/admin")
    resp.del_cookie(COOKIE, path="/admin")
    return resp


async def sync_now(request: web.Request) -> web.StreamResponse:
    if not _logged_in(request):
        return _see_other("/admin")
    request.app[SYNC_NOW].set()
    return _see_other("/admin?sync=requested")


async def start_session(request: web.Request) -> web.StreamResponse:
    if not _logged_in(request):
        return _see_other("/admin")
    form = await request.post()
    fields = {k: str(form.get(k, "")) for k in ("topic", "facilitator", "headcount", "names")}
    try:
        await asyncio.to_thread(request.app[ATTENDANCE].start_session, fields["topic"], fields["facilitator"],
                                fields["headcount"], fields["names"], "admin")
    except InputError as exc:
        _ = translator(request)
        return await _admin_page(request, {"session": _(exc.message, **exc.params)}, fields, status=400)
    return _see_other("/admin?saved=session#sessions")


async def end_session(request: web.Request) -> web.StreamResponse:
    if not _logged_in(request):
        return _see_other("/admin")
    try:
        s = await asyncio.to_thread(request.app[ATTENDANCE].end_session)
    except InputError as exc:
        _ = translator(request)
        return await _admin_page(request, {"session": _(exc.message, **exc.params)}, status=400)
    return _see_other(f"/admin?saved=ended&session={s['id']}#sessions")


async def logbook(request: web.Request) -> web.StreamResponse:
    if not _logged_in(request):
        return _see_other("/admin")
    form = await request.post()
    att = request.app[ATTENDANCE]
    author = str(att.fives().get("administrator", {}).get("note") or "")
    try:
        await asyncio.to_thread(att.write_log, str(form.get("text", "")), author)
    except InputError as exc:
        _ = translator(request)
        return await _admin_page(request, {"logbook": _(exc.message, **exc.params)}, {"text": str(form.get("text", ""))},
                                 status=400)
    return _see_other("/admin?saved=logbook#logbook")


async def fives(request: web.Request) -> web.StreamResponse:
    if not _logged_in(request):
        return _see_other("/admin")
    form = await request.post()
    answers = {k: {"ok": form.get(f"{k}_ok") == "on", "note": str(form.get(f"{k}_note", ""))} for k in FIVES}
    await asyncio.to_thread(request.app[ATTENDANCE].save_fives, answers)
    return _see_other("/admin?saved=fives#fives")


def setup(app: web.Application, *, failure_delay_s: float = 1.0) -> None:
    app[ADMIN] = AdminGuard(app[CONFIG].admin_pin, failure_delay_s=failure_delay_s)
    app.router.add_get("/admin", admin, name="admin")
    app.router.add_post("/admin/login", login, name="admin_login")
    app.router.add_post("/admin/logout", logout, name="admin_logout")
    app.router.add_post("/admin/sync", sync_now, name="admin_sync")
    app.router.add_post("/admin/session/start", start_session, name="admin_session_start")
    app.router.add_post("/admin/session/end", end_session, name="admin_session_end")
    app.router.add_post("/admin/logbook", logbook, name="admin_logbook")
    app.router.add_post("/admin/fives", fives, name="admin_fives")
