"""``/county/publishing``: publication state, playlists and notices, stations, courses, and how
the background loops are doing; ``/api/v1/health`` (public: ok and each loop's state; the errors
only to a logged-in account) and ``/api/v1/stations``."""

from __future__ import annotations

import asyncio

from aiohttp import web

from catalogue import CATEGORIES, category_label
from headend.errors import DatabaseError, HeadendError
from headend.service.repository import programming
from headend.web.auth import loops_for_account, public, signed_in, visible_stations
from headend.web.keys import CONFIG, HEADEND, LOOPS
from headend.web.render import render


@public
async def api_health(request: web.Request) -> web.Response:
    """ok only when every loop is starting or running and the database answers (503 if not).
    Anonymous callers (a monitor) see each loop's state; its errors may name server paths."""
    loops = [s.to_dict() for s in request.app[LOOPS]]
    if not signed_in(request):
        loops = [{k: s[k] for k in ("name", "state", "failures")} for s in loops]
    try:
        last = await asyncio.to_thread(request.app[HEADEND].db.last_publication)
    except DatabaseError as exc:  # still say how each loop is doing
        body = {"ok": False, "published_version": None, "loops": loops, "error": "database unavailable"}
        if signed_in(request):
            body.update(error=str(exc), status=exc.status)
        return web.json_response(body, status=exc.status)
    return web.json_response(
        {
            "ok": all(s["state"] in ("starting", "running") for s in loops),
            "published_version": last.version if last else 0,
            "loops": loops,
        }
    )


async def publishing(request: web.Request) -> web.Response:
    db = request.app[HEADEND].db
    courses, stations, last = await asyncio.gather(
        asyncio.to_thread(db.courses), asyncio.to_thread(db.stations), asyncio.to_thread(db.last_publication)
    )
    stations = visible_stations(request, stations)
    programming_error = None
    try:
        playlists, notices = await asyncio.to_thread(programming, request.app[CONFIG])
    except HeadendError as exc:  # a broken file: show it, the rest of the page still works
        playlists, notices, programming_error = [], [], str(exc)
    return render(
        request,
        "publishing.html",
        courses=courses,
        stations=stations,
        last=last,
        loops=loops_for_account(request),
        category_label=category_label,
        categories=CATEGORIES,
        playlists=playlists,
        notices=notices,
        programming_error=programming_error,
    )


@public
async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/county")


def setup_publishing(app: web.Application) -> None:
    app.router.add_get("/", root)
    app.router.add_get("/county/publishing", publishing)
    app.router.add_get("/api/v1/health", api_health)
