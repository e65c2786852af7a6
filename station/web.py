"""The station's web server: the TV page (``station.web_tv``), the admin page
(``station.web_admin``), media files, ``/api/status`` and the one error middleware.

Routes::

    GET  /media/{path}          verified files from the store (Range, ETag)
    GET  /static/{file}         tv.js, tv.css
    GET  /lang/{tag}            switch the UI language (cookie), back to where the viewer was
    GET  /api/status            JSON: station, sync status, courses, disk usage
    TV pages and the player's API: see ``station.web_tv``; the admin page: ``station.web_admin``.

State lives under the ``web.AppKey``\\s below; ``SYNC_NOW`` is an ``asyncio.Event`` that the sync
loop (started by ``station serve``) waits on and the admin page's "sync now" button sets.
``ATTENDANCE`` holds the local attendance records (``station.attendance``); open plays are closed
into the journal when the app shuts down.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

import jinja2
from aiohttp import web

from station import i18n
from station.attendance import N_, Attendance
from station.config import StationConfig
from station.errors import StoreError
from station.status import collect_status
from station.store import Store

log = logging.getLogger(__name__)

CONFIG = web.AppKey("config", StationConfig)
STORE = web.AppKey("store", Store)
SYNC_NOW = web.AppKey("sync_now", asyncio.Event)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
ATTENDANCE = web.AppKey("attendance", Attendance)
LANG_COOKIE = "yj_lang"

HERE = Path(__file__).parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

# Titles for the error page, by HTTP status (msgids); anything else gets the generic one.
_ERROR_TITLES = {
    400: N_("That request was not right"),
    401: N_("Please log in"),
    403: N_("Not allowed"),
    404: N_("This page cannot be found"),
    405: N_("That is not possible here"),
    413: N_("That is too large"),
    429: N_("Too many attempts"),
}
_ERROR_HINTS = {
    404: N_("This page or course does not exist. It may have been removed, or it has not finished syncing yet."),
    429: N_("Please try again in a few minutes."),
}
_GENERIC_ERROR = N_("Something went wrong")
_GENERIC_HINT = N_("Please try again later. If this keeps happening, tell the station administrator.")


def language(request: web.Request) -> str:
    """The viewer's language: the ``yj_lang`` cookie, else ``[ui] language`` from station.toml."""
    default = i18n.normalise(request.app[CONFIG].language)
    cookie = request.cookies.get(LANG_COOKIE)
    return i18n.normalise(cookie, default) if cookie else default


def translator(request: web.Request) -> i18n.Translator:
    """``_`` for this request (catalogues are compiled once per language and cached)."""
    return i18n.Translator(language(request))


def render(
    request: web.Request, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    """Render a jinja2 template (autoescaped) to an HTML response, in the viewer's language."""
    env = request.app[TEMPLATES]
    _ = translator(request)
    ctx: dict[str, Any] = {"station": request.app[CONFIG], "_": _, "lang": _.tag, "path": request.path_qs}
    ctx.update(context or {})
    html = env.get_template(template).render(ctx)
    # Pages change as the viewer watches (continue watching, resume buttons, sessions): Back must
    # fetch them again rather than show a cached copy.
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


def clock(seconds: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour."""
    total = max(0, int(seconds or 0))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def media_url(repo_path: str | None) -> str:
    """The URL of a store file: repository path ``media/ab/<sha>.mp4`` is served at ``/media/ab/<sha>.mp4``."""
    if not repo_path:
        return ""
    return "/" + repo_path.lstrip("/")


def _detail(exc: web.HTTPException) -> str:
    """The message a handler put in the exception (``text=``), not aiohttp's default ``"404: Not Found"``."""
    text = exc.text or ""
    if not text or text.startswith(f"{exc.status}:"):
        return ""
    return text


def error_response(
    request: web.Request, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    keep = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-type", "content-length")}
    _ = translator(request)
    title = _(_ERROR_TITLES.get(status, _GENERIC_ERROR))
    if request.path.startswith("/api/"):
        body = {"error": detail or title, "status": status}
        return web.json_response(body, status=status, headers=keep)
    hint = detail or _(_ERROR_HINTS.get(status) or _GENERIC_HINT)
    if request.path.startswith("/admin"):
        home, home_label = "/admin", _("Back to the admin page")
    else:
        home, home_label = "/", _("Back to the home page")
    ctx = {"status": status, "title": title, "hint": hint, "home": home, "home_label": home_label}
    resp = render(request, "error.html", ctx, status=status)
    resp.headers.update(keep)
    return resp


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The one place errors become responses: JSON under /api/, a page in the viewer's language elsewhere."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and 304s are not errors
            raise
        return error_response(request, exc.status, _detail(exc), exc.headers)
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.path_qs)
        return error_response(request, 500, "")


# ---- media and API ---------------------------------------------------------------------------


async def media(request: web.Request) -> web.StreamResponse:
    """A verified file from the store. Only regular files under data_dir/media/ are served."""
    store = request.app[STORE]
    repo_path = "media/" + request.match_info["path"]
    _ = translator(request)
    not_found = web.HTTPNotFound(text=_("There is no such media file."))
    try:
        path = store.blob_path(repo_path)
    except StoreError:
        raise not_found from None
    media_root = (store.data_dir / "media").resolve()
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise not_found from None
    if not resolved.is_relative_to(media_root) or not resolved.is_file():
        raise not_found
    # Blobs are named by their sha256, so a given URL never changes content.
    return web.FileResponse(resolved, headers={"Cache-Control": "public, max-age=31536000, immutable"})


async def api_status(request: web.Request) -> web.Response:
    """The same status ``station status --json`` prints (station.status.collect_status)."""
    status = await asyncio.to_thread(collect_status, request.app[CONFIG], request.app[STORE])
    return web.json_response(status, dumps=_dumps)


async def set_language(request: web.Request) -> web.StreamResponse:
    """``/lang/en?next=/admin``: remember the language in a cookie and go back."""
    tag = i18n.normalise(request.match_info["tag"], "")
    if tag not in i18n.LANGUAGES:
        raise web.HTTPNotFound()
    nxt = request.query.get("next", "/")
    if not nxt.startswith("/") or nxt.startswith("//"):
        nxt = "/"
    resp = web.Response(status=303, headers={"Location": nxt})
    resp.set_cookie(LANG_COOKIE, tag, path="/", max_age=10 * 365 * 86400, samesite="Lax")
    return resp


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


# ---- the factory ---------------------------------------------------------------------------


def _static_versions() -> dict[str, str]:
    """``/static/tv.js?v=<hash>`` so a box never runs an old script after an upgrade."""
    versions = {}
    for p in STATIC_DIR.iterdir():
        if p.is_file():
            versions[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()[:10]
    return versions


def box_clock(store: Store, recheck_s: float = 60.0) -> Callable[[], float]:
    """Epoch seconds for attendance records, never earlier than the newest signed timestamp the
    box has verified (its own clock may have no battery and no NTP; DESIGN.md)."""
    cache = {"checked": float("-inf"), "floor": 0.0}

    def now() -> float:
        t = time.time()
        if abs(t - cache["checked"]) > recheck_s:
            cache["checked"] = t
            try:
                ts = store.trust_state().newest_timestamp
                cache["floor"] = ts.timestamp() if ts else 0.0
            except Exception:  # an unreadable store must not stop the TV
                log.warning("cannot read the newest signed timestamp; using the box clock", exc_info=True)
        return max(t, cache["floor"])

    return now


async def _attendance_ctx(app: web.Application) -> Any:
    yield
    # Plays still open when the station stops become journal lines (the TV may be mid-lesson).
    await asyncio.to_thread(app[ATTENDANCE].close_all)


def create_app(
    config: StationConfig,
    store: Store,
    *,
    admin_failure_delay_s: float = 1.0,
    attendance: Attendance | None = None,
) -> web.Application:
    # Imported here: both modules import the keys and render() from this one.
    from station import web_admin, web_player, web_study, web_tv

    app = web.Application(middlewares=[error_middleware], client_max_size=64 * 1024)
    app[CONFIG] = config
    app[STORE] = store
    app[SYNC_NOW] = asyncio.Event()
    app[ATTENDANCE] = attendance or Attendance(store.data_dir, clock=box_clock(store))
    app.cleanup_ctx.append(_attendance_ctx)

    versions = _static_versions()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["media_url"] = media_url
    env.globals["clock"] = clock
    env.globals["static_url"] = lambda name: f"/static/{name}?v={versions.get(name, '0')}"
    app[TEMPLATES] = env

    web_tv.setup(app)
    web_player.setup(app)
    web_study.setup(app)
    web_admin.setup(app, failure_delay_s=admin_failure_delay_s)
    app.router.add_get("/media/{path:.+}", media, name="media")
    app.router.add_get("/api/status", api_status, name="api_status")
    app.router.add_get("/lang/{tag}", set_language, name="set_language")
    app.router.add_static("/static/", STATIC_DIR, name="static")
    return app
