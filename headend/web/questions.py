"""Questions from the villages (群众提问, issue 14) on the county pages.

``/county/questions``: the queue of the account's region (``?region=`` narrows it, ``?status=``
filters it: new, assigned, answered, closed or overdue) — the most urgent open question first,
each with its deadline and where it stands (overdue red, due soon amber) — and at the top the
region's figures for a period (this month by default, China days; ``?period=`` / ``?kind=`` as on
the dashboard). ``/county/questions.csv``: the same queue for Excel.

``/county/questions/{station}/{number}``: one question in full; editors and admins assign it,
answer it (optionally as an FAQ entry, and "答复并立即发布" starts the dashboard's publish) and
close it, each a POST that comes back to the page with what was done (``?done=``). Every step is
``headend.service.questions`` (audit-logged); a question outside the account's region is a 404,
a viewer's POST a 403 (``@role``), a bad answer a 400 shown beside the form with the text kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from aiohttp import web

from catalogue.clocks import CHINA
from catalogue.display import NONE
from catalogue.questions import ANSWERED, ASSIGNED, CLOSED, NEW
from headend.db.records import Question, User
from headend.errors import BadRequest
from headend.service import questions
from headend.service.dashboard import moment
from headend.service.exports import csv_text
from headend.service.questions import STATUS_LABELS, TOPIC_LABELS, Figures, Item
from headend.service.root import Headend
from headend.web.auth import actor_of, current_user, role
from headend.web.dashboard import Nav, period_from, region_from
from headend.web.forms import read_form
from headend.web.keys import HEADEND, PUBLISHER
from headend.web.render import render

PAGE = "/county/questions"
FILTERS = {"": "全部", NEW: "新提问", ASSIGNED: "已分派", ANSWERED: "已答复", CLOSED: "已办结", "overdue": "逾期"}
TIMING_STATE = {"overdue": "bad", "due_soon": "warn", "waiting": "none", "on_time": "ok", "late": "warn"}
DONE = ("assign", "answer", "faq", "close")  # what ``?done=`` may say was just done (question.html words it)


def hours_words(hours: float | None) -> str:
    """A time to answer as people say it: "40 分钟", "5.5 小时", "2 天 3 小时"; "—" for none."""
    if hours is None:
        return NONE
    if hours < 1:
        return f"{max(1, round(hours * 60))} 分钟"
    if hours < 24:
        return f"{hours:.1f}".removesuffix(".0") + " 小时"
    days, rest = divmod(round(hours), 24)
    return f"{days} 天 {rest} 小时" if rest else f"{days} 天"


def rate_words(share: float | None) -> str:
    return f"{share * 100:.0f}%" if share is not None else NONE


def _status_from(request: web.Request) -> str:
    status = request.query.get("status", "")
    return status if status in FILTERS else ""


def _subregions(items: list[Item], region: tuple[str, ...]) -> list[str]:
    """The parts of ``region`` one level down that have questions in the queue (for the filter)."""
    depth = len(region)
    return sorted({i.question.region[depth] for i in items if len(i.question.region) > depth})


async def queue_page(request: web.Request) -> web.Response:
    h: Headend = request.app[HEADEND]
    user, region, period, status = (
        current_user(request),
        region_from(request),
        period_from(request),
        _status_from(request),
    )
    now = datetime.now(UTC)
    days = int(h.cfg.questions.keep_days)

    def read() -> tuple[list[Item], list[Item], Figures]:
        every = questions.queue(h, user, region, "", now, days)
        shown = questions.queue(h, user, region, status, now, days) if status else every
        return every, shown, questions.figures(h, user, region, period.first, period.last, now)

    every, shown, figures = await asyncio.to_thread(read)
    nav = Nav(PAGE, region, period, (("status", status),))
    return render(
        request,
        "questions.html",
        items=shown,
        total=len(every),
        open_count=sum(i.open for i in every),
        figures=figures,
        nav=nav,
        trail=nav.trail(user.region),
        period=period,
        region=region,
        current=status,
        filters=FILTERS,
        subregions=_subregions(every, region),
        settings=h.cfg.questions,
        keep_days=days,
        statuses=STATUS_LABELS,
        topics=TOPIC_LABELS,
        timing_state=TIMING_STATE,
        hours_words=hours_words,
        rate_words=rate_words,
        csv_url=Nav(PAGE + ".csv", region, period, (("status", status),)).url(period=None),
        link=question_link,
    )


def question_link(q: Question) -> str:
    return f"{PAGE}/{quote(q.station, safe='')}/{quote(q.number, safe='')}"


def _china(text: str | None) -> str:
    at = moment(text)
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if at else ""


CSV_COLUMNS = [
    "编号",
    "站点编号",
    "站点名称",
    "地区",
    "类别",
    "问题",
    "提问人",
    "同意公开",
    "收到（北京时间）",
    "答复期限（北京时间）",
    "时限",
    "状态",
    "分派给",
    "答复",
    "答复人",
    "答复时间（北京时间）",
    "常见问答",
]


def _csv_row(i: Item) -> list[object]:
    q = i.question
    return [
        q.number,
        q.station,
        q.station_name,
        "/".join(q.region),
        TOPIC_LABELS.get(q.topic, q.topic),
        q.text,
        q.asker,
        "是" if q.publishable else "否",
        _china(q.received_at),
        i.due.astimezone(CHINA).strftime("%Y-%m-%d %H:%M"),
        i.words,
        STATUS_LABELS.get(q.status, q.status),
        q.assignee or "",
        q.answer,
        q.answered_by or "",
        _china(q.answered_at),
        "是" if q.faq else "",
    ]


async def queue_csv(request: web.Request) -> web.Response:
    h: Headend = request.app[HEADEND]
    user, region, status = current_user(request), region_from(request), _status_from(request)
    now = datetime.now(UTC)
    items = await asyncio.to_thread(questions.queue, h, user, region, status, now, int(h.cfg.questions.keep_days))
    body = csv_text(CSV_COLUMNS, (_csv_row(i) for i in items))
    return web.Response(
        body=body.encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="questions-{now.astimezone(CHINA):%Y-%m-%d}.csv"'},
    )


def _key(request: web.Request) -> str:
    return f"{request.match_info['station']}/{request.match_info['number']}"


def _assignees(h: Headend, q: Question) -> list[User]:
    """The accounts a question may go to: editors and admins whose region covers its station."""
    return sorted((u for u in h.db.users.all() if u.can("editor") and u.sees(q.region)), key=lambda u: u.name)


async def _question_page(
    request: web.Request, *, status: int = 200, error: str = "", text: str | None = None, faq: bool = False
) -> web.Response:
    h: Headend = request.app[HEADEND]
    user = current_user(request)

    def read() -> tuple[Item, list[User]]:
        it = questions.get(h, user, _key(request))
        return it, _assignees(h, it.question) if user.can("editor") else []

    it, assignees = await asyncio.to_thread(read)
    q = it.question
    done = request.query.get("done", "")
    return render(
        request,
        "question.html",
        status=status,
        it=it,
        q=q,
        assignees=assignees,
        statuses=STATUS_LABELS,
        topics=TOPIC_LABELS,
        timing_state=TIMING_STATE,
        settings=h.cfg.questions,
        done=done if done in DONE else "",
        busy=request.query.get("busy") == "1",
        error=error,
        text=q.answer if text is None else text,
        faq=q.faq if text is None else faq,
        link=question_link(q),
        region_words="/".join(q.region),
    )


async def question_page(request: web.Request) -> web.Response:
    return await _question_page(request)


def _back(request: web.Request, done: str, **more: str) -> web.HTTPSeeOther:
    it_link = f"{PAGE}/{quote(request.match_info['station'], safe='')}/{quote(request.match_info['number'], safe='')}"
    return web.HTTPSeeOther(f"{it_link}?{urlencode({'done': done, **more})}")


@role("editor")
async def assign(request: web.Request) -> web.Response:
    form = await read_form(request)
    h, user = request.app[HEADEND], current_user(request)
    assignee = str(form.get("assignee", "")).strip()
    await asyncio.to_thread(questions.assign, h, actor_of(request), user, _key(request), assignee)
    raise _back(request, "assign")


@role("editor")
async def answer(request: web.Request) -> web.Response:
    """Save the answer; with ``then=publish`` also start the dashboard's publish ("答复并立即发布")
    and go to its page (or say one is already running)."""
    form = await read_form(request)
    h, user = request.app[HEADEND], current_user(request)
    text, faq = str(form.get("text", "")), form.get("faq") == "1"
    try:
        await asyncio.to_thread(questions.answer, h, actor_of(request), user, _key(request), text, faq)
    except BadRequest as exc:  # shown beside the form, the text kept
        return await _question_page(request, status=exc.status, error=str(exc), text=text[:4000], faq=faq)
    done = "faq" if faq else "answer"
    if form.get("then") == "publish":
        if request.app[PUBLISHER].start(h, actor_of(request)):
            raise web.HTTPSeeOther("/county/publishing")
        raise _back(request, done, busy="1")
    raise _back(request, done)


@role("editor")
async def close(request: web.Request) -> web.Response:
    await read_form(request)
    await asyncio.to_thread(
        questions.close, request.app[HEADEND], actor_of(request), current_user(request), _key(request)
    )
    raise _back(request, "close")


def setup_questions(app: web.Application) -> None:
    app.router.add_get(PAGE, queue_page)
    app.router.add_get(PAGE + ".csv", queue_csv)
    app.router.add_get(PAGE + "/{station}/{number}", question_page)
    app.router.add_post(PAGE + "/{station}/{number}/assign", assign)
    app.router.add_post(PAGE + "/{station}/{number}/answer", answer)
    app.router.add_post(PAGE + "/{station}/{number}/close", close)
