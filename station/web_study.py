"""Organised study sessions (集中学习) on the TV: the red key opens ``/session``.

Routes::

    GET  /session                  no session: pick a topic, enter the headcount with the digits;
                                   a session in progress: what it is so far, and "end"
    POST /session/start            topic, headcount (1-9999; refused with the range otherwise)
    POST /session/end              ends it, then shows the summary
    GET  /session/summary/{id}     duration, courses watched, headcount

The admin page starts and ends sessions too (``station.web_admin``), with a roll of names.
Every play that starts while a session is open belongs to it (``station.attendance``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiohttp import web

from catalogue.categories import CATEGORIES
from station.attendance import MAX_HEADCOUNT, MIN_HEADCOUNT, N_, InputError
from station.tv_model import clock
from station.web import ATTENDANCE, render, translator
from station.web_tv import category_name, tv_context

GENERAL_TOPIC = N_("General study")


def duration_text(_, seconds: float) -> str:
    minutes = max(0, round(seconds / 60))
    h, m = divmod(minutes, 60)
    return _("%(h)d h %(m)d min", h=h, m=m) if h else _("%(m)d min", m=m)


def summary_view(_, s: dict) -> dict:
    """A finished (or running) session as the summary page and the admin list show it."""
    started = datetime.fromisoformat(s["started"]) if s.get("started") else None
    ended = datetime.fromisoformat(s["ended"]) if s.get("ended") else None
    return {
        "id": s.get("id", ""),
        "topic": s.get("topic", ""),
        "facilitator": s.get("facilitator") or _("the station administrator"),
        "headcount": s.get("headcount", 0),
        "names": s.get("names") or [],
        "date": started.strftime("%Y-%m-%d") if started else "",
        "started": started.strftime("%H:%M") if started else "",
        "ended": ended.strftime("%H:%M") if ended else "",
        "duration": duration_text(_, float(s.get("duration_s") or 0)),
        "courses": [{"title": c.get("title", c.get("id")), "watched": clock(c.get("watched_s", 0))}
                    for c in s.get("courses") or []],
    }


def topics(request: web.Request) -> list[str]:
    _ = translator(request)
    return [_(GENERAL_TOPIC)] + [category_name(request, c.id) for c in CATEGORIES]


def _page(request: web.Request, *, error: str = "", headcount: str = "", status: int = 200) -> web.Response:
    att = request.app[ATTENDANCE]
    ctx = tv_context(request)
    current = att.current_session()
    ctx.update({
        "current": summary_view(translator(request), current) if current else None,
        "topics": topics(request),
        "error": error,
        "headcount": headcount,
        "range": {"min": MIN_HEADCOUNT, "max": MAX_HEADCOUNT},
    })
    return render(request, "session.html", ctx, status=status)


async def session_page(request: web.Request) -> web.Response:
    return _page(request)


async def session_start(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    att = request.app[ATTENDANCE]
    facilitator = str(att.fives().get("administrator", {}).get("note") or "")
    try:
        await asyncio.to_thread(att.start_session, str(form.get("topic", "")), facilitator,
                                str(form.get("headcount", "")), "", "tv")
    except InputError as exc:
        _ = translator(request)
        return _page(request, error=_(exc.message, **exc.params), headcount=str(form.get("headcount", ""))[:6], status=400)
    return web.Response(status=303, headers={"Location": "/"})


async def session_end(request: web.Request) -> web.StreamResponse:
    att = request.app[ATTENDANCE]
    try:
        summary = await asyncio.to_thread(att.end_session)
    except InputError:
        return web.Response(status=303, headers={"Location": "/session"})
    return web.Response(status=303, headers={"Location": f"/session/summary/{summary['id']}"})


async def session_summary(request: web.Request) -> web.Response:
    s = await asyncio.to_thread(request.app[ATTENDANCE].session, request.match_info["id"])
    if s is None:
        _ = translator(request)
        raise web.HTTPNotFound(text=_("This study session was not found."))
    ctx = tv_context(request)
    ctx["summary"] = summary_view(translator(request), s)
    return render(request, "session_summary.html", ctx)


def setup(app: web.Application) -> None:
    app.router.add_get("/session", session_page, name="session")
    app.router.add_post("/session/start", session_start, name="session_start")
    app.router.add_post("/session/end", session_end, name="session_end")
    app.router.add_get("/session/summary/{id}", session_summary, name="session_summary")
