"""The TV page (10-foot UI, remote control): home, categories, courses, schedule, notices.

Routes::

    GET  /                      home: notices ticker, continue watching, today's programmes,
                                numbered category shelves, sync indicator, study-session banner
    GET  /go/{n}                digit key n: the n-th category on the home page
    GET  /category/{id}         one category's courses
    GET  /course/{id}           a course: poster, description, play / continue, its episodes
    GET  /continue              yellow key: the most recent lesson, from where it stopped
    GET  /schedule              programme schedule, today and the coming week (blue key)
    GET  /notice/{id}           one notice in full (counted as viewed)

The player and its API are in ``station.web_player``; the TV's study-session pages in
``station.web_study``. Server-rendered and usable as plain links; ``static/tv.js`` adds the
remote-control focus, key map, channel-mode countdown and the player. Views here turn store
records into what the templates show, so the templates hold no logic beyond loops.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from catalogue.categories import CATEGORIES, category_label
from playlists.schedule import CHINA
from station import tv_model
from station.store import InstalledCourse
from station.web import ATTENDANCE, STORE, render, translator

CONTINUE_TILES = 4
HOME_PROGRAMMES = 3  # today's programmes on the home page; the blue key shows them all
CHANNEL_PLAYED = web.AppKey("channel_played", set)  # programme keys already started on this box

_EN = {c.id: c.label_en for c in CATEGORIES}


def now_china() -> datetime:
    return datetime.now(CHINA)


def category_name(request: web.Request, cid: str) -> str:
    return _EN.get(cid, cid) if translator(request).tag == "en" else category_label(cid)


def raw_courses(request: web.Request) -> list[dict]:
    """The installed course documents as the sync engine wrote them (with optional keys such as
    ``series`` and ``episode`` that ``InstalledCourse`` does not carry)."""
    return [c for c in request.app[STORE].installed().get("courses", []) if isinstance(c, dict)]


def media_missing(request: web.Request, course: InstalledCourse) -> bool:
    try:
        return not request.app[STORE].blob_path(course.media).is_file()
    except Exception:  # a malformed path is as good as missing
        return True


def tv_context(request: web.Request, *, channel: bool = True) -> dict[str, Any]:
    """What every TV page shows around its content: the sync indicator, the study session in
    progress and, for channel mode, the next scheduled programme (with the server's clock, since
    a set-top box's own clock is not to be trusted)."""
    _ = translator(request)
    store = request.app[STORE]
    installed = store.installed()
    css, msg, params = tv_model.indicator(store.sync_status(), bool(installed.get("courses")))
    ctx: dict[str, Any] = {
        "indicator": {"css": css, "label": _(msg, **params)},
        "session": request.app[ATTENDANCE].current_session(),
        "programme": None,
        "now_ms": int(time.time() * 1000),
        "category_name": lambda cid: category_name(request, cid),
    }
    if channel:
        p = tv_model.next_programme(installed, now_china(), request.app[CHANNEL_PLAYED])
        if p is not None:
            ctx["programme"] = {"course": p.course, "title": p.title, "key": p.key, "hhmm": p.hhmm,
                                "start_ms": int(p.start.timestamp() * 1000)}
    return ctx


def course_or_404(request: web.Request, course_id: str | None = None) -> InstalledCourse:
    course = request.app[STORE].course(course_id or request.match_info["id"])
    if course is None:
        _ = translator(request)
        raise web.HTTPNotFound(text=_("This course was not found. It may have been removed, or it has not finished syncing yet."))
    return course


# ---- pages -------------------------------------------------------------------------------------


async def home(request: web.Request) -> web.Response:
    store, att = request.app[STORE], request.app[ATTENDANCE]
    courses = store.courses()
    installed = store.installed()
    now = now_china()
    by_id = {c.id: c for c in courses}
    points = att.resume_points()
    recent = sorted((p for p in points.items() if p[0] in by_id), key=lambda p: p[1].get("updated", 0), reverse=True)
    resume = []
    for cid, p in recent[:CONTINUE_TILES]:
        c = by_id[cid]
        pos = float(p.get("position_s", 0))
        pct = int(100 * pos / c.duration_s) if c.duration_s else 0
        resume.append({"course": c, "pct": max(1, min(99, pct)), "at": tv_model.clock(pos)})
    notices = tv_model.active_notices(installed.get("notices"), now)
    for n in notices:
        await asyncio.to_thread(att.notice_view, n["id"], "ticker")
    todays = tv_model.today(installed, now)
    upcoming = [p for p in todays if p.start >= now - timedelta(minutes=1)]
    programmes = upcoming[:HOME_PROGRAMMES] or todays[-HOME_PROGRAMMES:]
    ctx = tv_context(request)
    ctx.update({
        "shelves": tv_model.shelves(courses),
        "resume": resume,
        "notices": notices,
        "programmes": [{"hhmm": p.hhmm, "course": p.course, "title": p.title, "installed": p.installed,
                        "past": p.start < now - timedelta(minutes=1)} for p in programmes],
        "more_programmes": len(programmes) > HOME_PROGRAMMES,
        "has_courses": bool(courses),
    })
    return render(request, "home.html", ctx)


async def go_category(request: web.Request) -> web.StreamResponse:
    try:
        n = int(request.match_info["n"])
    except ValueError:
        n = 0
    order = tv_model.category_order(request.app[STORE].courses())
    if not 1 <= n <= len(order):
        _ = translator(request)
        raise web.HTTPNotFound(text=_("There is no category %(n)d. The numbers are shown beside each category on the home page.", n=n))
    return web.Response(status=303, headers={"Location": f"/category/{order[n - 1]}"})


async def continue_watching(request: web.Request) -> web.StreamResponse:
    """Yellow key: the lesson watched most recently, from where it stopped (home if none)."""
    installed = {c.id for c in request.app[STORE].courses()}
    points = request.app[ATTENDANCE].resume_points()
    recent = sorted((cid for cid in points if cid in installed), key=lambda cid: points[cid].get("updated", 0))
    return web.Response(status=303, headers={"Location": f"/play/{recent[-1]}" if recent else "/"})


async def category(request: web.Request) -> web.Response:
    cid = request.match_info["id"]
    found = tv_model.shelves([c for c in request.app[STORE].courses() if c.category == cid], row=None)
    if not found and cid not in tv_model.KNOWN:
        _ = translator(request)
        raise web.HTTPNotFound(text=_("There is no such category."))
    shelf = found[0] if found else tv_model.Shelf(0, cid, (), 0)
    ctx = tv_context(request)
    ctx["shelf"] = shelf
    return render(request, "category.html", ctx)


async def course(request: web.Request) -> web.Response:
    c = course_or_404(request)
    att = request.app[ATTENDANCE]
    resume_s = att.resume_at(c.id, c.duration_s)
    ctx = tv_context(request)
    ctx.update({
        "course": c,
        "minutes": tv_model.minutes(c.duration_s),
        "resume": tv_model.clock(resume_s) if resume_s else "",
        "episodes": tv_model.episodes(raw_courses(request), c.id),
        "missing": media_missing(request, c),
    })
    return render(request, "course.html", ctx)


async def schedule(request: web.Request) -> web.Response:
    installed = request.app[STORE].installed()
    now = now_china()
    day0 = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = []
    for i in range(7):
        start = day0 + timedelta(days=i)
        items = tv_model.programmes(installed, start, start + timedelta(days=1))
        if items:
            days.append({"date": start, "offset": i, "first": not days, "programmes": [
                {"hhmm": p.hhmm, "course": p.course, "title": p.title, "installed": p.installed,
                 "past": p.start < now - timedelta(minutes=1)} for p in items]})
    ctx = tv_context(request)
    ctx["days"] = days
    return render(request, "schedule.html", ctx)


async def notice(request: web.Request) -> web.Response:
    nid = request.match_info["id"]
    found = [n for n in tv_model.active_notices(request.app[STORE].installed().get("notices"), now_china()) if n["id"] == nid]
    if not found:
        _ = translator(request)
        raise web.HTTPNotFound(text=_("This notice is no longer shown."))
    await asyncio.to_thread(request.app[ATTENDANCE].notice_view, nid, "page")
    ctx = tv_context(request)
    ctx["notice"] = found[0]
    return render(request, "notice.html", ctx)


def setup(app: web.Application) -> None:
    app[CHANNEL_PLAYED] = set()
    app.router.add_get("/", home, name="home")
    app.router.add_get("/go/{n}", go_category, name="go_category")
    app.router.add_get("/category/{id}", category, name="category")
    app.router.add_get("/course/{id}", course, name="course")
    app.router.add_get("/schedule", schedule, name="schedule")
    app.router.add_get("/continue", continue_watching, name="continue_watching")
    app.router.add_get("/notice/{id}", notice, name="notice")
