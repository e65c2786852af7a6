"""Logging in and out, replacing one's own password, and for admins the accounts page
(``/county/users``: add, one-time password, role and region, the reviewer right, disable) and the audit log
(``/county/audit``). Every change goes through ``headend.service.accounts`` (audit-logged)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from aiohttp import web

from headend.db.records import ROLES
from headend.errors import AccountError, LoginFailed, LoginThrottled, NotFound
from headend.service import accounts
from headend.web.auth import PASSWORD_PAGE, actor_of, begin_session, current_user, end_session, public, role
from headend.web.forms import read_form
from headend.web.keys import HEADEND, USER
from headend.web.render import render

ROLE_LABELS = {"viewer": "查看（只读）", "editor": "编辑（课程、节目、通知、发布）", "admin": "管理员（账号、站点）"}
HOME = "/county"


def _next(value: str) -> str:
    """Only a path on this site (no //host, no scheme): an open redirect is refused."""
    parts = urlsplit(value or "")
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return HOME
    return value


@public
async def login_page(request: web.Request) -> web.Response:
    if request.get(USER) is not None:
        raise web.HTTPSeeOther(_next(request.query.get("next", HOME)))
    return render(request, "login.html", error="", name="", next=_next(request.query.get("next", HOME)))


@public
async def login_post(request: web.Request) -> web.Response:
    form = await read_form(request)
    name, password = str(form.get("name", ""))[:64], str(form.get("password", ""))
    target = _next(str(form.get("next", HOME)))
    h = request.app[HEADEND]
    try:
        user = await asyncio.to_thread(accounts.login, h, name, password, request.remote or "")
    except (LoginFailed, LoginThrottled) as exc:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, LoginThrottled) else {}
        resp = render(request, "login.html", status=exc.status, error=str(exc), name=name, next=target)
        resp.headers.update(headers)
        return resp
    await begin_session(request, user)
    await asyncio.to_thread(accounts.audit, h, actor_of(request), "login", user.name, {}, user.region)
    raise web.HTTPSeeOther(PASSWORD_PAGE if user.must_change else target)


@public
async def logout(request: web.Request) -> web.Response:
    await end_session(request)
    raise web.HTTPSeeOther("/login")


async def password_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    return render(request, "password.html", status=status, error=error, forced=current_user(request).must_change)


@role("viewer")
async def password_post(request: web.Request) -> web.Response:
    user = current_user(request)
    form = await read_form(request)
    old, new, again = (str(form.get(k, "")) for k in ("old", "new", "again"))
    if new != again:
        return await password_page(request, "两次输入的新密码不一样（the two new passwords differ）", 400)
    try:
        changed = await asyncio.to_thread(
            accounts.change_own_password, request.app[HEADEND], actor_of(request), user.name, old, new
        )
    except AccountError as exc:
        return await password_page(request, str(exc), 400)
    await begin_session(request, changed)  # the old cookie stopped being valid with the old password
    raise web.HTTPSeeOther(f"{HOME}?password=changed")


async def _users_page(request: web.Request, *, created: tuple[str, str] | None = None, error: str = "", status=200):
    users = await asyncio.to_thread(request.app[HEADEND].db.users.all)
    me = current_user(request)
    return render(
        request,
        "users.html",
        status=status,
        users=[u for u in users if me.sees(u.region)],
        roles=ROLES,
        role_labels=ROLE_LABELS,
        created=created,
        error=error,
    )


@role("admin")
async def users_page(request: web.Request) -> web.Response:
    return await _users_page(request)


def _within_scope(request: web.Request, region: str) -> None:
    me = current_user(request)
    if not me.sees(accounts.parse_region(region)):
        raise AccountError(f"地区 {region} 不在您管理的范围 {'/'.join(me.region)} 内（outside your region）")


@role("admin")
async def users_add(request: web.Request) -> web.Response:
    form = await read_form(request)
    name, user_role, region = (str(form.get(k, "")).strip() for k in ("name", "role", "region"))
    reviewer = str(form.get("reviewer", "")) == "1"
    h = request.app[HEADEND]
    try:
        _within_scope(request, region)
        password = await asyncio.to_thread(
            accounts.add_user, h, actor_of(request), name, user_role, region, None, reviewer
        )
    except AccountError as exc:
        return await _users_page(request, error=str(exc), status=400)
    return await _users_page(request, created=(name, password))


async def _their(request: web.Request) -> str:
    """The account named in the path, if this admin's region covers it (404 otherwise)."""
    name = request.match_info["name"]
    user = await asyncio.to_thread(request.app[HEADEND].db.users.get, name)
    if user is None or not current_user(request).sees(user.region):
        raise NotFound(f"没有这个账号（no account {name[:60]}）")
    return name


@role("admin")
async def users_reset(request: web.Request) -> web.Response:
    name = await _their(request)
    password = await asyncio.to_thread(accounts.reset_password, request.app[HEADEND], actor_of(request), name)
    return await _users_page(request, created=(name, password))


@role("admin")
async def users_disable(request: web.Request) -> web.Response:
    name = await _their(request)
    form = await read_form(request)
    disabled = str(form.get("disabled", "1")) == "1"
    try:
        await asyncio.to_thread(accounts.set_disabled, request.app[HEADEND], actor_of(request), name, disabled)
    except AccountError as exc:
        return await _users_page(request, error=str(exc), status=400)
    raise web.HTTPSeeOther("/county/users")


@role("admin")
async def users_reviewer(request: web.Request) -> web.Response:
    """Grant (``reviewer=1``) or take back the right to review notices (审核)."""
    name = await _their(request)
    form = await read_form(request)
    reviewer = str(form.get("reviewer", "1")) == "1"
    await asyncio.to_thread(accounts.edit_user, request.app[HEADEND], actor_of(request), name, None, None, reviewer)
    raise web.HTTPSeeOther("/county/users")


@role("admin")
async def audit_page(request: web.Request) -> web.Response:
    before = request.query.get("before", "")
    before_id = (
        int(before) if before.isascii() and before.isdigit() and len(before) < 12 else None
    )  # "²" is a digit to isdigit()
    entries = await asyncio.to_thread(request.app[HEADEND].db.audit.recent, 200, before_id)
    me = current_user(request)
    shown = [e for e in entries if me.sees(e.region)]
    return render(request, "audit.html", entries=shown, more=entries[-1].id if len(entries) == 200 else None)


def setup_accounts(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_post)
    app.router.add_post("/logout", logout)
    app.router.add_get(PASSWORD_PAGE, role("viewer")(password_page))
    app.router.add_post(PASSWORD_PAGE, password_post)
    app.router.add_get("/county/users", users_page)
    app.router.add_post("/county/users", users_add)
    app.router.add_post("/county/users/{name}/password", users_reset)
    app.router.add_post("/county/users/{name}/disabled", users_disable)
    app.router.add_post("/county/users/{name}/reviewer", users_reviewer)
    app.router.add_get("/county/audit", audit_page)
