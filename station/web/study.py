"""Organised study sessions (集中学习) on the TV: the red key opens ``/session``.

Routes::

    GET  /session                  no session: pick a topic, enter the headcount with the digits;
                                   a session in progress: what it is so far, and "end"
    POST /session/start            topic, headcount (1 to [station] capacity, 100 when not set; refused
                                   with the range otherwise; 409 past the day's session limit)
    POST /session/end              ends it, then shows the summary
    GET  /session/summary/{id}     duration, courses watched, headcount

The admin page starts and ends sessions too (``station.web.admin``), with a roll of names.
Every play that starts while a session is open belongs to it (``station.records.attendance``).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from catalogue.categories import CATEGORIES
from station.errors import InputError
from station.i18n import N_
from station.records.attendance import MIN_HEADCOUNT
from station.web.forms import read_form
from station.web.keys import ATTENDANCE
from station.web.responses import render, see_other, translator
from station.web.views import category_name, summary_view, tv_context

GENERAL_TOPIC = N_("General study")

routes = web.RouteTableDef()


def topics(request: web.Request) -> list[str]:
    _ = translator(request)
    return [_(GENERAL_TOPIC)] + [category_name(request, c.id) for c in CATEGORIES]


def _page(request: web.Request, *, error: str = "", headcount: str = "", status: int = 200) -> web.Response:
    att = request.app[ATTENDANCE]
    ctx = tv_context(request)
    current = att.current_session()
    ctx.update(
        {
            "current": summary_view(translator(request), current) if current else None,
            "topics": topics(request),
            "error": error,
            "headcount": headcount,
            "range": {"min": MIN_HEADCOUNT, "max": att.max_headcount},
        }
    )
    return render(request, "session.html", ctx, status=status)


@routes.get("/session", name="session")
async def session_page(request: web.Request) -> web.Response:
    return _page(request)


@routes.post("/session/start", name="session_start")
async def session_start(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    att = request.app[ATTENDANCE]
    facilitator = att.administrator()
    try:
        await asyncio.to_thread(
            att.start_session, str(form.get("topic", "")), facilitator, str(form.get("headcount", "")), "", "tv"
        )
    except InputError as exc:
        _ = translator(request)
        return _page(
            request, error=_(exc.message, **exc.params), headcount=str(form.get("headcount", ""))[:6], status=exc.status
        )
    return see_other("/")


@routes.post("/session/end", name="session_end")
async def session_end(request: web.Request) -> web.StreamResponse:
    att = request.app[ATTENDANCE]
    try:
        summary = await asyncio.to_thread(att.end_session)
    except InputError:
        return see_other("/session")
    return see_other(f"/session/summary/{summary.id}")


@routes.get("/session/summary/{id}", name="session_summary")
async def session_summary(request: web.Request) -> web.Response:
    s = await asyncio.to_thread(request.app[ATTENDANCE].session, request.match_info["id"])
    if s is None:
        _ = translator(request)
        raise web.HTTPNotFound(text=_("This study session was not found."))
    ctx = tv_context(request)
    ctx["summary"] = summary_view(translator(request), s)
    return render(request, "session_summary.html", ctx)
