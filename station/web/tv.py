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
    GET  /answers               问答: the county's answers to this station's questions and the FAQ
                                entries for it, the newest answer first (a link on home once any)
    GET  /answers/{station}/{number}   one answer in full
    GET  /watch/{id}[?channel=KEY]      a live class (网络党课): a countdown before it starts, then
                                the stream as this station relays it (``/live/<id>/<player>/``),
                                a message and a retry while it stalls, the replay link after it ends

The player and its API are in ``station.web.player``; the TV's study-session pages in
``station.web.study``. Server-rendered and usable as plain links; ``static/tv.js`` adds the
remote-control focus, key map, channel-mode countdown and the player. What the pages compute
from the installed set is in ``station.web.tv_view``.
"""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import timedelta

from aiohttp import web

from catalogue.display import china_day, china_hhmm, china_time, clock, minutes
from catalogue.questions import TOPICS
from players import profile
from station.i18n import N_
from station.web import tv_view
from station.web.keys import ATTENDANCE, CONFIG, PIN, STORE, TV_SEEN
from station.web.responses import render, see_other, translator
from station.web.views import course_or_404, media_missing, now_china, programme_key, tv_context

CONTINUE_TILES = 4
HOME_PROGRAMMES = 3  # today's programmes on the home page; the blue key shows them all

routes = web.RouteTableDef()


def _programme_rows(programmes: list[tv_view.Programme], now) -> list[dict]:
    """Rows of a programme list: a lesson opens its course page; a live class opens its stream
    until it ends, then its replay (回看) once that is on the box."""
    rows = []
    for p in programmes:
        row = {"hhmm": p.hhmm, "title": p.title, "installed": p.installed, "badge": "", "href": f"/course/{p.course}"}
        row["past"] = (p.end or p.start + timedelta(minutes=1)) < now
        if p.live is not None:
            ended = p.live.end <= now
            row["badge"] = N_("Replay") if ended else N_("Live")
            row["href"] = f"/watch/{p.live.id}" if not ended else (f"/course/{p.course}" if p.course else "")
            row["installed"] = bool(row["href"])
        rows.append(row)
    return rows


@routes.get("/", name="home")
async def home(request: web.Request) -> web.Response:
    request.app[TV_SEEN].touch()
    installed, att = request.app[STORE].installed_set(), request.app[ATTENDANCE]
    now = now_china()
    points = att.resume_points()
    recent = sorted((p for p in points.items() if installed.course(p[0])), key=lambda p: p[1].updated, reverse=True)
    resume = []
    for cid, p in recent[:CONTINUE_TILES]:
        c = installed.course(cid)
        pos = p.position_s
        pct = int(100 * pos / c.duration_s) if c.duration_s else 0
        resume.append({"course": c, "pct": max(1, min(99, pct)), "at": clock(pos)})
    notices = installed.notices_in_force(now)
    for n in notices:
        await asyncio.to_thread(att.notice_view, n.id, "ticker", request.remote or "")
    todays = tv_view.today(installed, now)
    upcoming = [p for p in todays if p.start >= now - timedelta(minutes=1) or (p.end and p.end > now)]
    programmes = upcoming[:HOME_PROGRAMMES] or todays[-HOME_PROGRAMMES:]
    ctx = tv_context(request)
    ctx.update(
        {
            "shelves": tv_view.shelves(installed.courses),
            "resume": resume,
            "notices": notices,
            "programmes": _programme_rows(programmes, now),
            "has_courses": bool(installed.courses),
            "answers": len(installed.answered()),
            "setup_code": _setup_code(request),
        }
    )
    return render(request, "home.html", ctx)


def _setup_code(request: web.Request) -> str | None:
    """The admin PIN's set-up code while there is no PIN, on the box's own TV only (loopback)."""
    pin = request.app[PIN]
    try:
        on_the_box = ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        on_the_box = False
    return pin.setup_code if on_the_box and pin.needs_setup() else None


@routes.get("/go/{n}", name="go_category")
async def go_category(request: web.Request) -> web.StreamResponse:
    try:
        n = int(request.match_info["n"])
    except ValueError:
        n = 0
    order = tv_view.category_order(request.app[STORE].installed_set().courses)
    if not 1 <= n <= len(order):
        _ = translator(request)
        raise web.HTTPNotFound(
            text=_("There is no category %(n)d. The numbers are shown beside each category on the home page.", n=n)
        )
    return see_other(f"/category/{order[n - 1]}")


@routes.get("/continue", name="continue_watching")
async def continue_watching(request: web.Request) -> web.StreamResponse:
    """Yellow key: the lesson watched most recently, from where it stopped (home if none)."""
    installed = request.app[STORE].installed_set()
    points = request.app[ATTENDANCE].resume_points()
    recent = sorted((cid for cid in points if installed.course(cid)), key=lambda cid: points[cid].updated)
    return see_other(f"/play/{recent[-1]}" if recent else "/")


@routes.get("/category/{id}", name="category")
async def category(request: web.Request) -> web.Response:
    cid = request.match_info["id"]
    try:
        number = int(request.query.get("page", "1"))
    except ValueError:
        number = 1
    page = tv_view.category_page(request.app[STORE].installed_set().courses, cid, number)
    if not page.shelf.total and cid not in tv_view.KNOWN:
        _ = translator(request)
        raise web.HTTPNotFound(text=_("There is no such category."))
    ctx = tv_context(request)
    ctx["shelf"], ctx["page"] = page.shelf, page
    return render(request, "category.html", ctx)


@routes.get("/course/{id}", name="course")
async def course(request: web.Request) -> web.Response:
    c = course_or_404(request)
    resume_s = request.app[ATTENDANCE].resume_at(c.id, c.duration_s)
    ctx = tv_context(request)
    ctx.update(
        {
            "course": c,
            "minutes": minutes(c.duration_s),
            "resume": clock(resume_s) if resume_s else "",
            "episodes": tv_view.episodes(request.app[STORE].installed_set().courses, c.id),
            "missing": media_missing(request, c),
        }
    )
    return render(request, "course.html", ctx)


@routes.get("/schedule", name="schedule")
async def schedule(request: web.Request) -> web.Response:
    installed = request.app[STORE].installed_set()
    now = now_china()
    day0 = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = []
    for i in range(7):
        start = day0 + timedelta(days=i)
        items = tv_view.programmes(installed, start, start + timedelta(days=1))
        if items:
            days.append(
                {
                    "day": china_day(translator(request), start),
                    "offset": i,
                    "first": not days,
                    "programmes": _programme_rows(items, now),
                }
            )
    ctx = tv_context(request)
    ctx["days"] = days
    return render(request, "schedule.html", ctx)


@routes.get("/watch/{id}", name="watch")
async def watch(request: web.Request) -> web.Response:
    request.app[TV_SEEN].touch()
    installed = request.app[STORE].installed_set()
    live = tv_view.live_class(installed, request.match_info["id"])
    if live is None:
        _ = translator(request)
        raise web.HTTPNotFound(text=_("This live class is not in the schedule of this station."))
    programme_key(request, request.query.get("channel", ""))  # channel mode: not counted down again
    player = request.app[CONFIG].player
    replay = installed.course(live.replay) if live.replay else None
    ctx = tv_context(request, channel=False)
    ctx.update(
        {
            "live": live,
            "audio": profile(player).kind == "audio",
            "src": f"/live/{live.id}/{player}/index.m3u8",
            "start_ms": int(live.start.timestamp() * 1000),
            "end_ms": int(live.end.timestamp() * 1000),
            "hhmm": china_hhmm(live.start),
            "end_hhmm": china_hhmm(live.end),
            "replay": replay,
        }
    )
    return render(request, "watch.html", ctx)


@routes.get("/notice/{id}", name="notice")
async def notice(request: web.Request) -> web.Response:
    nid = request.match_info["id"]
    found = [n for n in request.app[STORE].installed_set().notices_in_force(now_china()) if n.id == nid]
    if not found:
        _ = translator(request)
        raise web.HTTPNotFound(text=_("This notice is no longer shown."))
    await asyncio.to_thread(request.app[ATTENDANCE].notice_view, nid, "page", request.remote or "")
    ctx = tv_context(request)
    ctx["notice"] = found[0]
    return render(request, "notice.html", ctx)


def _answer_row(a) -> dict:
    return {
        "href": f"/answers/{a.station}/{a.number}",
        "topic": TOPICS.get(a.topic, a.topic),
        "question": a.question,
        "answer": a.answer,
        "day": china_time(a.answered, seconds=False)[:10] if a.answered else "",
    }


@routes.get("/answers", name="answers")
async def answers(request: web.Request) -> web.Response:
    ctx = tv_context(request)
    ctx["answers"] = [_answer_row(a) for a in request.app[STORE].installed_set().answered()]
    return render(request, "answers.html", ctx)


@routes.get("/answers/{station}/{number}", name="answer")
async def answer(request: web.Request) -> web.Response:
    a = request.app[STORE].installed_set().answer(request.match_info["station"], request.match_info["number"])
    if a is None:
        _ = translator(request)
        raise web.HTTPNotFound(text=_("This answer is no longer shown."))
    ctx = tv_context(request)
    ctx["a"] = _answer_row(a)
    return render(request, "answer.html", ctx)
