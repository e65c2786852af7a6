"""``/county/notices``: the notices with their review state (草稿 / 已审核 / 已签发) and who took
each step, the 审核 and 签发 buttons for the accounts allowed to press them, and the draft form
for editors (a new notice, or ``?edit=ID`` to change one: an edited notice is a draft again).
Every step goes through ``headend.service.notices`` (audit-logged)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from aiohttp import web

from headend.errors import HeadendError, PublishError
from headend.repository.review import NoticeState, check_review, check_sign
from headend.service import notices
from headend.web.auth import actor_of, current_user, for_account, role
from headend.web.forms import read_form
from headend.web.keys import HEADEND
from headend.web.render import render

PAGE = "/county/notices"
FIELDS = ("id", "title", "body", "regions", "stations", "tags", "valid_from", "valid_until")
_SPLIT = re.compile(r"[\s,，;；、]+")


@dataclass(frozen=True)
class Row:
    """A notice as the page shows it, with the buttons this account may press."""

    st: NoticeState
    can_review: bool
    can_sign: bool


def _allowed(check, st: NoticeState, user) -> bool:
    try:
        check(st, user)
    except HeadendError:
        return False
    return True


async def _page(request: web.Request, *, form: dict | None = None, error: str = "", status: int = 200):
    user = current_user(request)
    problem = None
    try:
        found = await asyncio.to_thread(notices.states, request.app[HEADEND])
    except PublishError as exc:  # a broken file: say which, the form still works
        found, problem = [], for_account(request, str(exc))
    rows = [Row(st, _allowed(check_review, st, user), _allowed(check_sign, st, user)) for st in found]
    editing = request.query.get("edit", "")
    if form is None:
        form = dict.fromkeys(FIELDS, "")
        shown = next((r.st.notice for r in rows if r.st.notice.id == editing), None)
        if shown is not None:
            form.update(
                id=shown.id,
                title=shown.title,
                body=shown.body,
                regions="\n".join("/".join(r) for r in shown.audience.regions),
                stations="\n".join(shown.audience.stations),
                tags="\n".join(shown.audience.tags),
                valid_from=f"{shown.valid_from:%Y-%m-%d}" if shown.valid_from else "",
                valid_until=f"{shown.valid_until:%Y-%m-%d}" if shown.valid_until else "",
                replace="1",
            )
    return render(
        request,
        "notices.html",
        status=status,
        rows=rows,
        problem=problem,
        form=form,
        error=error,
        done=request.query.get("done", ""),
    )


async def notices_page(request: web.Request) -> web.Response:
    return await _page(request)


def _words(text: str) -> list[str]:
    return [w for w in _SPLIT.split(text.strip()) if w][:200]


@role("editor")
async def notice_draft(request: web.Request) -> web.Response:
    """A new notice (or, with ``replace``, a changed one) as a draft by this account."""
    form = await read_form(request)
    values = {k: str(form.get(k, "")).strip() for k in FIELDS}
    values["replace"] = "1" if str(form.get("replace", "")) == "1" else ""
    audience = {k: _words(values[k]) for k in ("regions", "stations", "tags")}
    data = {
        "title": values["title"],
        "body": values["body"],
        "valid_from": values["valid_from"] or None,
        "valid_until": values["valid_until"] or None,
        "audience": {k: v for k, v in audience.items() if v},
    }
    try:
        await asyncio.to_thread(
            notices.draft_notice,
            request.app[HEADEND],
            values["id"],
            data,
            actor_of(request),
            bool(values["replace"]),
            current_user(request),
        )
    except PublishError as exc:  # what is wrong with the notice: shown beside the form
        return await _page(request, form=values, error=for_account(request, str(exc)) or "", status=400)
    raise web.HTTPSeeOther(f"{PAGE}?done=draft")


async def _step(request: web.Request, step, done: str) -> web.Response:
    form = await read_form(request)
    seen = str(form.get("sha256", ""))
    await asyncio.to_thread(
        step, request.app[HEADEND], request.match_info["id"], current_user(request).name, actor_of(request), seen
    )
    raise web.HTTPSeeOther(f"{PAGE}?done={done}")


@role("viewer")  # the reviewer right, not the role, decides (a 403 from the service otherwise)
async def notice_review(request: web.Request) -> web.Response:
    return await _step(request, notices.review_notice, "review")


@role("admin")
async def notice_sign(request: web.Request) -> web.Response:
    return await _step(request, notices.sign_notice, "sign")


def setup_notices(app: web.Application) -> None:
    app.router.add_get(PAGE, notices_page)
    app.router.add_post(PAGE, notice_draft)
    app.router.add_post(PAGE + "/{id}/review", notice_review)
    app.router.add_post(PAGE + "/{id}/sign", notice_sign)
