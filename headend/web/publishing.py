"""``/county/publishing``: the published version, the "立即发布" button and the progress of the
publish it starts (``/api/v1/publish``), playlists and notices, and how the background loops are
doing; ``/api/v1/health`` (public: ok and each loop's state; the errors only to a logged-in
account)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from headend.errors import DatabaseError, HeadendError
from headend.repository.programming import PlaylistDef
from headend.repository.review import NoticeState
from headend.service import Headend
from headend.service.notices import states
from headend.service.repository import programming
from headend.web.auth import actor_of, for_account, loops_for_account, public, role, signed_in
from headend.web.keys import HEADEND, LOOPS, PUBLISHER
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


def _programming(h: Headend) -> tuple[list[PlaylistDef], list[NoticeState]]:
    """The playlists, and every notice with its review state (drafts too: the page says which go out)."""
    playlists, _ = programming(h.cfg, h.db)
    return playlists, states(h)


async def publishing(request: web.Request) -> web.Response:
    db = request.app[HEADEND].db
    courses, last = await asyncio.gather(asyncio.to_thread(db.courses), asyncio.to_thread(db.last_publication))
    programming_error = None
    try:
        playlists, notices = await asyncio.to_thread(_programming, request.app[HEADEND])
    except HeadendError as exc:  # a broken file: show it, the rest of the page still works
        playlists, notices, programming_error = [], [], for_account(request, str(exc))
    return render(
        request,
        "publishing.html",
        courses=courses,
        last=last,
        loops=loops_for_account(request),
        playlists=playlists,
        notices=notices,
        programming_error=programming_error,
        run=request.app[PUBLISHER],
        busy=request.query.get("busy") == "1",
        for_account=lambda text: for_account(request, text),
    )


@role("editor")
async def publish_now(request: web.Request) -> web.Response:
    """Start a publish in the background and come back to the page, which shows its progress."""
    run = request.app[PUBLISHER]
    if not run.start(request.app[HEADEND], actor_of(request)):
        raise web.HTTPSeeOther("/county/publishing?busy=1")
    raise web.HTTPSeeOther("/county/publishing")


async def api_publish(request: web.Request) -> web.Response:
    """How the dashboard's publish is going (the page polls this while it runs)."""
    doc = request.app[PUBLISHER].to_dict()
    doc["error"] = for_account(request, doc["error"])
    doc["notes"] = [for_account(request, n) for n in doc["notes"]]
    return web.json_response(doc)


@public
async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/county")


def setup_publishing(app: web.Application) -> None:
    app.router.add_get("/", root)
    app.router.add_get("/county/publishing", publishing)
    app.router.add_post("/county/publishing/publish", publish_now)
    app.router.add_get("/api/v1/publish", api_publish)
    app.router.add_get("/api/v1/health", api_health)
