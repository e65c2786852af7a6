"""Who is asking, and may they: staff sessions, roles, CSRF and Origin, region scope.

Sessions live in an encrypted, HttpOnly, SameSite=Lax cookie (aiohttp-session's
``EncryptedCookieStorage``, Fernet; the key in ``keys/session.key``) holding the account name, when
the login began and was last used, the account's ``password_set_at`` (a new password, or a disabled
account, ends every login) and the CSRF token. ``auth_middleware`` runs for every request:

- routes need a login unless their handler is marked ``@public`` (``/repo/``, ``/live/``, ``/login``, static
  files, the station's ``POST /api/v1/reports`` which has its own token, a minimal health);
  anonymous pages get a 303 to ``/login?next=…``, anonymous ``/api/`` a 401;
- a handler's ``@role(...)`` is the least role it needs; undecorated, GET/HEAD need viewer and any
  other method admin;
- every state-changing request (not GET/HEAD/OPTIONS) must come from this site (``Origin``, else
  ``Referer``, naming this host) and carry the session's CSRF token (form field ``_csrf`` or header
  ``X-CSRF-Token``) — 403 before the handler runs; handlers marked ``@token_auth`` (the station
  report API, no cookie involved) are exempt;
- an account that must replace its one-time password is sent to ``/county/account/password``.

Region scope: ``visible_station`` answers 404 for a station outside the account's region prefix,
exactly as for one that does not exist."""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import secrets
import time
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp_session import get_session, new_session
from aiohttp_session import setup as setup_sessions
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from headend.config import HeadendConfig
from headend.db import Station
from headend.db.records import User
from headend.errors import AccessDenied, DatabaseError, NotFound
from headend.loops import LoopStatus
from headend.service.accounts import session_key
from headend.service.audit import Actor
from headend.web.keys import CSRF, HEADEND, LOOPS, SESSION_NAME, USER

COOKIE = "yj_session"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
PASSWORD_PAGE = "/county/account/password"
_SEEN_EVERY_S = 30  # refresh the session's last-use time at most this often (each refresh re-sends the cookie)


def public(handler):
    """The route needs no login."""
    handler.yj_public = True
    return handler


def token_auth(handler):
    """The route authenticates by its own bearer token (no cookie): public, and no CSRF check."""
    handler.yj_public = True
    handler.yj_token_auth = True
    return handler


def role(name: str):
    """The least role the route needs (viewer, editor, admin)."""

    def mark(handler):
        handler.yj_role = name
        return handler

    return mark


def current_user(request: web.Request) -> User:
    user = request.get(USER)
    if user is None:
        raise web.HTTPUnauthorized(text="请先登录（log in first）")
    return user


def actor_of(request: web.Request) -> Actor:
    user = request.get(USER)
    return Actor(user.name if user else "anonymous", request.remote or "")


def for_account(request: web.Request, text: str | None) -> str | None:
    """``text`` as this account may read it: server paths (the data root, and so everything under
    it) only for admins; others read "…" in their place."""
    user = request.get(USER)
    if not text or (user is not None and user.can("admin")):
        return text
    return text.replace(str(request.app[HEADEND].cfg.root), "…")


def loops_for_account(request: web.Request) -> list[LoopStatus]:
    """The background loops' status with their errors as this account may read them."""
    return [dataclasses.replace(s, last_error=for_account(request, s.last_error)) for s in request.app[LOOPS]]


def signed_in(request: web.Request) -> bool:
    """A logged-in account, or (while the database cannot confirm it) a session cookie this headend
    issued naming one: enough to show a public page's details, never to act."""
    return request.get(USER) is not None or bool(request.get(SESSION_NAME))


def csrf_token(request: web.Request) -> str:
    """The session's CSRF token (made on first use; set by ``auth_middleware`` on every request)."""
    return request.get(CSRF, "")


def visible_stations(request: web.Request, stations: Iterable[Station]) -> list[Station]:
    user = current_user(request)
    return [s for s in stations if user.sees(s.region)]


async def visible_station(request: web.Request, station_id: str) -> Station:
    """The station, if it exists and lies in the account's region; NotFound either way otherwise."""
    station = await asyncio.to_thread(request.app[HEADEND].db.station, station_id)
    if station is None or not current_user(request).sees(station.region):
        raise NotFound(f"没有这个站点（no station {station_id[:80]}）")
    return station


def same_site(request: web.Request) -> bool:
    """Did the browser send this from a page of this host? (Origin, else Referer.)"""
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    if not source or source == "null":
        return False
    netloc = urlsplit(source).netloc.lower()
    return bool(netloc) and netloc == request.host.lower()


async def _submitted_token(request: web.Request) -> str:
    token = request.headers.get("X-CSRF-Token", "")
    if token:
        return token
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.post()
        except Exception:  # the handler's own form reader reports a broken body
            return ""
        value = form.get("_csrf", "")
        return value if isinstance(value, str) else ""
    return ""


async def _user_of(request: web.Request, session, cfg: HeadendConfig) -> User | None:
    name = session.get("user")
    if not name:
        return None
    now = time.time()
    user = await asyncio.to_thread(request.app[HEADEND].db.users.get, name)
    fresh = (
        user is not None
        and user.disabled_at is None
        and session.get("pw") == user.password_set_at
        and now - float(session.get("seen", 0)) <= cfg.idle_minutes * 60
        and now - float(session.get("t0", 0)) <= cfg.session_hours * 3600
    )
    if not fresh:
        session.invalidate()
        return None
    if now - float(session.get("seen", 0)) > _SEEN_EVERY_S:
        session["seen"] = now
    return user


async def begin_session(request: web.Request, user: User) -> None:
    """A new session for a successful login (a new cookie and CSRF token: no fixation)."""
    session = await new_session(request)
    now = time.time()
    session.update(user=user.name, pw=user.password_set_at, t0=now, seen=now, csrf=secrets.token_urlsafe(24))
    request[USER], request[CSRF] = user, session["csrf"]


async def end_session(request: web.Request) -> None:
    (await get_session(request)).invalidate()


def _refuse_anonymous(request: web.Request):
    if request.path.startswith("/api/"):
        raise web.HTTPUnauthorized(text="请先登录（log in first: POST /login, then send the cookie）")
    target = request.path_qs if request.method in SAFE_METHODS else request.path
    raise web.HTTPSeeOther(f"/login?next={quote(target, safe='/')}")


@web.middleware
async def auth_middleware(request: web.Request, handler):
    route_handler = request.match_info.handler
    if getattr(route_handler, "yj_token_auth", False) or request.path.startswith(("/repo/", "/live/")):
        return await handler(request)
    cfg = request.app[HEADEND].cfg
    session = await get_session(request)
    public_route = getattr(route_handler, "yj_public", False)
    try:
        user = await _user_of(request, session, cfg)
    except DatabaseError:
        if not public_route:
            raise
        user = None  # a public page (the health check) still answers while the database is down
    request[SESSION_NAME] = str(session.get("user") or "")
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    request[USER], request[CSRF] = user, session["csrf"]
    if request.method not in SAFE_METHODS:
        if not same_site(request):
            raise AccessDenied("请求来自别的网站，已拒绝（refused: the request did not come from this site's pages）")
        submitted = (await _submitted_token(request)).encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(submitted, session["csrf"].encode()):  # bytes: str must be ASCII
            raise AccessDenied(
                "页面已过期，请刷新后重试（refused: the form's token is missing or old; reload the page）"
            )
    if request.match_info.http_exception is not None or public_route:
        return await handler(request)
    if user is None:
        _refuse_anonymous(request)
    if user.must_change and request.path not in (PASSWORD_PAGE, "/logout"):
        if request.path.startswith("/api/"):
            raise AccessDenied("先在网页上设置自己的密码（set your own password on the page first）")
        raise web.HTTPSeeOther(PASSWORD_PAGE)
    needed = getattr(route_handler, "yj_role", None) or ("viewer" if request.method in SAFE_METHODS else "admin")
    if not user.can(needed):
        raise AccessDenied(f"您的账号（{user.role}）不能做这件事（this needs the {needed} role）")
    return await handler(request)


def setup_auth(app: web.Application, cfg: HeadendConfig) -> None:
    """Sessions (encrypted cookie) and the access rules, after the error middleware."""
    storage = EncryptedCookieStorage(
        session_key(cfg),
        cookie_name=COOKIE,
        httponly=True,
        samesite="Lax",
        secure=cfg.cookie_secure,
        max_age=int(cfg.session_hours * 3600),
        path="/",
    )
    setup_sessions(app, storage)
    app.middlewares.append(auth_middleware)
