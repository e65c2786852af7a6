"""The full-screen player and the small JSON API its script reports to.

Routes::

    GET  /play/{id}[?from=0][&channel=KEY]   video, or audio with the course poster; resumes from
                                             the saved position unless ``from=0``; ``channel`` is a
                                             scheduled programme (plays, then goes home)
    POST /api/plays                 {"course", "channel"} -> {"id"}: a play starts
    POST /api/plays/{id}            {"position_s", "watched_s"} -> {"installed"}: heartbeat
                                    (saves the resume point; ``installed`` false once the course
                                    was removed by a sync, so the player goes home at the end)
    POST /api/plays/{id}/end        {"position_s", "watched_s", "ended"}: the play is recorded
                                    (also sent with ``fetch(..., {keepalive: true})`` as the
                                    page unloads)
    POST /api/live-plays            {"live"} -> {"id", "session"}: watching a live class starts
                                    (404: not a live class of the installed schedule; 409: not
                                    on air by the station's clock, from 5 minutes before its
                                    start to 5 minutes after its end)
    POST /api/live-plays/{id}       {"watched_s"} -> {"ok"}: heartbeat of the live page
    POST /api/live-plays/{id}/end   {"watched_s"} -> {"ok"}: recorded as a ``live`` line (also
                                    sent with keepalive as the page unloads)

Every POST carries the TV page's token and passes ``station.web.forms`` (Origin, JSON only, rate).
A ``channel`` key is remembered only when it names a programme of the installed schedule that
is still due or just started, and the memory is pruned to those each time: it cannot grow.

``watched_s`` is measured by the player: seconds of playback actually advanced, excluding pauses
and seeks. The server keeps only what a real TV could produce (``station.records.rules``): capped by
the wall-clock time of the play and the lesson's length, one play at a time per client (a new one
closes the last), at most ``[station] screens`` clients playing (409 beyond), no plays at the journal's
budget (409); a disk that cannot take the record is a 503. Watching a live class is a play of its
own kind under the same rules (one thing at a time per client, a screen, the budget), its seconds
capped by the class's length; the play API and the live API each know only their own ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from typing import NamedTuple

from aiohttp import web

from catalogue.display import china_hhmm, clock
from playlists.errors import FormatError
from playlists.models import load_json
from station.errors import InputError, StoreError
from station.records import rules
from station.records.attendance import Attendance
from station.web import tv_view
from station.web.keys import ATTENDANCE, STORE, TV_SEEN
from station.web.responses import render, translator
from station.web.views import course_or_404, media_missing, programme_key, tv_context

log = logging.getLogger(__name__)

MAX_BODY = 4096

routes = web.RouteTableDef()


@routes.get("/play/{id}", name="play")
async def play(request: web.Request) -> web.Response:
    request.app[TV_SEEN].touch()
    c = course_or_404(request)
    att = request.app[ATTENDANCE]
    ctx = tv_context(request, channel=False)
    channel = programme_key(request, request.query.get("channel", ""))
    ctx.update({"course": c, "channel": channel})
    if media_missing(request, c):
        return render(request, "missing.html", ctx)
    resume_s = 0.0 if request.query.get("from") == "0" or channel else att.resume_at(c.id, c.duration_s)
    courses = request.app[STORE].installed_set().courses
    ctx.update(
        {
            "length": clock(c.duration_s),
            "resume_s": round(resume_s, 1),
            "resume_at": clock(resume_s),
            "next": None if channel else tv_view.next_episode(courses, c.id),
            "episode": tv_view.episode_of(courses, c.id),
        }
    )
    return render(request, "player.html", ctx)


async def _body(request: web.Request) -> dict:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(raw))
    try:
        return load_json(raw or b"{}", "body", MAX_BODY)
    except FormatError as exc:  # not JSON, not an object, nested 2,000 deep…
        raise web.HTTPBadRequest(text=str(exc)) from None


def _seconds(data: dict, key: str) -> float:
    v = data.get(key, 0)
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer of 400 digits
        raise web.HTTPBadRequest(text=f"{key} must be a number of seconds") from None
    if not math.isfinite(f) or f < 0:
        raise web.HTTPBadRequest(text=f"{key} must be a number of seconds")
    return f


@routes.post("/api/plays", name="play_start")
async def play_start(request: web.Request) -> web.Response:
    data = await _body(request)
    c = course_or_404(request, str(data.get("course", "")))
    ep = tv_view.episode_of(request.app[STORE].installed_set().courses, c.id)
    att = request.app[ATTENDANCE]
    async with _recording(request):
        play_id = await asyncio.to_thread(
            att.start_play,
            c.id,
            c.title,
            c.duration_s,
            episode=ep.episode if ep else None,
            channel=bool(data.get("channel")),
            client=request.remote or "",
        )
    session = att.current_session()
    return web.json_response({"id": play_id, "session": session.id if session else None})


@contextlib.asynccontextmanager
async def _recording(request: web.Request) -> AsyncIterator[None]:
    """A play refused by the rules is its 4xx with the reason; a disk that cannot take the record
    is a 503 (the play stays open in memory and is written once there is room)."""
    _ = translator(request)
    try:
        yield
    except InputError as exc:
        raise _status(exc, _) from None
    except StoreError as exc:
        log.warning("play not recorded yet: %s", exc)
        raise web.HTTPServiceUnavailable(
            text=_("The station's disk is full, so this play is not recorded yet. The lesson still plays.")
        ) from None


def _status(exc: InputError, _) -> web.HTTPException:
    cls = web.HTTPConflict if exc.status == 409 else web.HTTPBadRequest
    return cls(text=_(exc.message, **exc.params))


class _Report(NamedTuple):
    """What a heartbeat and an end of a play share, checked."""

    att: Attendance
    play_id: str
    position_s: float
    watched_s: float
    ended: bool
    installed: bool  # the play's course is still installed (false once a sync removed it)


async def _report(request: web.Request) -> _Report:
    data = await _body(request)
    att = request.app[ATTENDANCE]
    play_id = request.match_info["id"]
    p = next((p for p in att.open_plays() if p.id == play_id), None)
    installed = p is None or request.app[STORE].course(p.course) is not None
    position_s, watched_s = _seconds(data, "position_s"), _seconds(data, "watched_s")
    ended = data.get("ended", False)
    if not isinstance(ended, bool):  # "no" must not count as a finished lesson
        raise web.HTTPBadRequest(text="ended must be true or false")
    return _Report(att, play_id, position_s, watched_s, ended, installed)


@routes.post("/api/plays/{id}", name="play_progress")
async def play_progress(request: web.Request) -> web.Response:
    request.app[TV_SEEN].touch()
    r = await _report(request)
    async with _recording(request):
        known = await asyncio.to_thread(r.att.progress, r.play_id, r.position_s, r.watched_s)
    if not known:
        raise web.HTTPNotFound(text="no such play")
    return web.json_response({"ok": True, "installed": r.installed})


@routes.post("/api/plays/{id}/end", name="play_end")
async def play_end(request: web.Request) -> web.Response:
    r = await _report(request)
    async with _recording(request):
        rec = await asyncio.to_thread(r.att.end_play, r.play_id, r.position_s, r.watched_s, r.ended)
    if rec is None:
        raise web.HTTPNotFound(text="no such play")
    return web.json_response({"ok": True, "installed": r.installed, "completed": rec.completed})


# ---- live classes (网络党课) ----------------------------------------------------------------------


@routes.post("/api/live-plays", name="live_start")
async def live_start(request: web.Request) -> web.Response:
    data = await _body(request)
    live_id = data.get("live")
    if not isinstance(live_id, str) or not live_id:
        raise web.HTTPBadRequest(text="live must be the id of a live class")
    _ = translator(request)
    x = tv_view.live_class(request.app[STORE].installed_set(), live_id)
    if x is None:
        raise web.HTTPNotFound(text=_("This live class is not in the schedule of this station."))
    att = request.app[ATTENDANCE]
    where = rules.live_window(att.clock(), x.start.timestamp(), x.end.timestamp())
    if where < 0:
        raise web.HTTPConflict(
            text=_("The live class has not started yet: it starts at %(hhmm)s.", hhmm=china_hhmm(x.start))
        )
    if where > 0:
        raise web.HTTPConflict(text=_("The live class has ended."))
    async with _recording(request):
        play_id, session = await asyncio.to_thread(
            att.start_live, x.id, x.title, x.duration_s, client=request.remote or ""
        )
    return web.json_response({"id": play_id, "session": session})


async def _live_report(request: web.Request) -> tuple[Attendance, str, float]:
    data = await _body(request)
    return request.app[ATTENDANCE], request.match_info["id"], _seconds(data, "watched_s")


def _no_live_play(request: web.Request) -> web.HTTPNotFound:
    _ = translator(request)
    return web.HTTPNotFound(text=_("This live watching is not open: it has ended, or the station restarted."))


@routes.post("/api/live-plays/{id}", name="live_progress")
async def live_progress(request: web.Request) -> web.Response:
    request.app[TV_SEEN].touch()
    att, play_id, watched_s = await _live_report(request)
    async with _recording(request):
        known = await asyncio.to_thread(att.live_progress, play_id, watched_s)
    if not known:
        raise _no_live_play(request)
    return web.json_response({"ok": True})


@routes.post("/api/live-plays/{id}/end", name="live_end")
async def live_end(request: web.Request) -> web.Response:
    att, play_id, watched_s = await _live_report(request)
    async with _recording(request):
        rec = await asyncio.to_thread(att.end_live, play_id, watched_s)
    if rec is None:
        raise _no_live_play(request)
    return web.json_response({"ok": True})
