"""``/county``: publication state, playlists and notices, stations, courses, and how the
background loops are doing; ``/api/v1/health`` and ``/api/v1/stations``."""

from __future__ import annotations

import asyncio

from aiohttp import web

from catalogue import CATEGORIES, category_label
from headend.errors import DatabaseError, HeadendError
from headend.service.repository import programming
from headend.web.keys import CONFIG, HEADEND, LOOPS
from headend.web.render import render


async def api_health(request: web.Request) -> web.Response:
    """ok only when every loop is starting or running and the database answers (503 if not)."""
    loops = [s.to_dict() for s in request.app[LOOPS]]
    try:
        last = await asyncio.to_thread(request.app[HEADEND].db.last_publication)
    except DatabaseError as exc:  # still say how each loop is doing
        body = {"ok": False, "published_version": None, "loops": loops, "error": str(exc), "status": exc.status}
        return web.json_response(body, status=exc.status)
    return web.json_response(
        {
            "ok": all(s["state"] in ("starting", "running") for s in loops),
            "published_version": last.version if last else 0,
            "loops": loops,
        }
    )


async def api_stations(request: web.Request) -> web.Response:
    stations = await asyncio.to_thread(request.app[HEADEND].db.stations)
    return web.json_response({"stations": [s.to_dict() for s in stations]})


async def county(request: web.Request) -> web.Response:
    db = request.app[HEADEND].db
    courses, stations, last = await asyncio.gather(
        asyncio.to_thread(db.courses), asyncio.to_thread(db.stations), asyncio.to_thread(db.last_publication)
    )
    programming_error = None
    try:
        playlists, notices = await asyncio.to_thread(programming, request.app[CONFIG])
    except HeadendError as exc:  # a broken file: show it, the rest of the page still works
        playlists, notices, programming_error = [], [], str(exc)
    return render(
        request,
        "county.html",
        courses=courses,
        stations=stations,
        last=last,
        loops=request.app[LOOPS],
        category_label=category_label,
        categories=CATEGORIES,
        playlists=playlists,
        notices=notices,
        programming_error=programming_error,
    )


async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/county")


def setup_county(app: web.Application) -> None:
    app.router.add_get("/", root)
    app.router.add_get("/county", county)
    app.router.add_get("/api/v1/health", api_health)
    app.router.add_get("/api/v1/stations", api_stations)
