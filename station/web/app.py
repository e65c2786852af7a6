r"""``create_app(config, store)``: the station's web server — the TV pages (``tv``, ``player``,
``study``), the admin page (``admin``), this station as a mirror (``repo``), media files,
``/api/status`` and the one error middleware (``responses``). State lives under the
``web.AppKey``\s of ``station.web.keys``; open plays are closed into the journal when the app
shuts down.

Routes::

    GET  /media/{path}          verified files from the store (Range, ETag)
    GET  /static/{file}         tv.js, tv.css (only the files of station/static/)
    GET  /lang/{tag}            switch the UI language (cookie), back to where the viewer was
    GET  /api/status            JSON: what ``station status --json`` prints
    TV pages and the player's API: see ``station.web.tv``, ``.player`` and ``.study``; the admin
    page: ``station.web.admin``; ``/repo/``: ``station.web.repo``; ``/live/``: ``station.web.live``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from station import i18n
from station.config import StationConfig
from station.errors import StoreError
from station.records.attendance import Attendance
from station.status import collect_status
from station.store import Store
from station.web import admin, live, player, repo, study, tv
from station.web.forms import forms_middleware
from station.web.guard import AdminGuard, PageTokens, RateLimit
from station.web.keys import (
    ADMIN,
    ATTENDANCE,
    CHANNEL_PLAYED,
    CONFIG,
    PIN,
    RATE,
    SETUP_LOCK,
    STORE,
    SYNC_NOW,
    TEMPLATES,
    TOKENS,
    TV_SEEN,
    Contact,
)
from station.web.pin import AdminPin
from station.web.responses import LANG_COOKIE, error_middleware, http_log, local_target, see_other, translator
from station.web.views import media_url

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parent.parent  # templates, static and locale stay beside the package
TEMPLATE_DIR = PACKAGE / "templates"
STATIC_DIR = PACKAGE / "static"


# ---- media and API ---------------------------------------------------------------------------


async def media(request: web.Request) -> web.StreamResponse:
    """A verified file from the store: only regular files under data_dir/media/ (``Store.repo_file``,
    the same rule as this station's ``/repo/``)."""
    path = request.app[STORE].repo_file("media/" + request.match_info["path"])
    if path is None:
        _ = translator(request)
        raise web.HTTPNotFound(text=_("There is no such media file."))
    # Blobs are named by their sha256, so a given URL never changes content.
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=31536000, immutable"})


async def api_status(request: web.Request) -> web.Response:
    """The same status ``station status --json`` prints (station.status.collect_status)."""
    status = await asyncio.to_thread(
        collect_status, request.app[CONFIG], request.app[STORE], request.app[ATTENDANCE].journal_usage()
    )
    return web.json_response(status.to_json(), dumps=_dumps)


async def set_language(request: web.Request) -> web.StreamResponse:
    """``/lang/en?next=/admin``: remember the language in a cookie and go back."""
    tag = i18n.normalise(request.match_info["tag"], "")
    if tag not in i18n.LANGUAGES:
        raise web.HTTPNotFound()
    resp = see_other(local_target(request.query.get("next", "/")))
    resp.set_cookie(LANG_COOKIE, tag, path="/", max_age=10 * 365 * 86400, samesite="Lax")
    return resp


def static_file(versions: dict[str, str]) -> Callable[[web.Request], Any]:
    """``/static/{file}``: one of the files shipped in station/static/, by its exact name (no
    path of the viewer's ever reaches the disk: a 300-character name is a 404, not an OSError)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info["file"]
        if name not in versions:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC_DIR / name)

    return handler


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
                ts = store.trust().newest_timestamp
                cache["floor"] = ts.timestamp() if ts else 0.0
            except StoreError as exc:  # an unreadable store must not stop the TV
                log.warning("cannot read the newest signed timestamp (%s); using the box clock", exc)
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
    guard: AdminGuard | None = None,
    rate: RateLimit | None = None,
) -> web.Application:
    """The station's web app; ``station.daemon`` adds the sync loop for ``station serve``.
    Every state-changing request passes ``forms_middleware`` (token, Origin, type, ``rate``)."""
    app = web.Application(
        middlewares=[error_middleware, forms_middleware], client_max_size=64 * 1024, handler_args={"logger": http_log}
    )
    app[CONFIG] = config
    app[STORE] = store
    app[SYNC_NOW] = asyncio.Event()
    app[ATTENDANCE] = attendance or Attendance(
        store.data_dir,
        clock=box_clock(store),
        capacity=config.capacity,
        screens=config.screens,
        budget_bytes=config.journal_budget_bytes,
    )
    app[ADMIN] = guard or AdminGuard(failure_delay_s=admin_failure_delay_s)
    app[PIN] = AdminPin(config.admin_pin, store.data_dir)
    app[TOKENS] = PageTokens()
    app[RATE] = rate or RateLimit()
    app[SETUP_LOCK] = asyncio.Lock()
    app[TV_SEEN] = Contact()
    app[CHANNEL_PLAYED] = set()
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
    env.globals["static_url"] = lambda name: f"/static/{name}?v={versions.get(name, '0')}"
    app[TEMPLATES] = env

    for module in (tv, player, study, admin):
        app.router.add_routes(module.routes)
    repo.setup(app)
    live.setup(app)
    app.router.add_get("/media/{path:.+}", media, name="media")
    app.router.add_get("/api/status", api_status, name="api_status")
    app.router.add_get("/lang/{tag}", set_language, name="set_language")
    app.router.add_get("/static/{file}", static_file(versions), name="static")
    return app
