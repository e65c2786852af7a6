"""The one gate every state-changing request passes (``forms_middleware``): TV plays, study
sessions, and every admin POST accept only this station's own pages.

In order, for every method but GET/HEAD/OPTIONS:

1. **Rate** (``guard.RateLimit``): a token bucket per client address; 429 with Retry-After.
2. **Origin**: ``Origin`` (or ``Referer`` when a browser sent no Origin) must name this server's
   own host:port (the ``Host`` the request came to); ``Origin: null`` is refused. A request with
   neither from a browser (``Sec-Fetch-*`` or a ``Mozilla/`` user agent) is refused; a non-browser
   client without either still needs the token. The ``Host`` itself must be an IP address,
   localhost, a one-word or .local/.lan/.home.arpa name, or one of ``[ui] hostnames``: a page
   whose own name was re-pointed at the box (DNS rebinding) is same-origin, but not that.
3. **Type**: ``application/json`` under ``/api/`` (415 otherwise, so a cross-site "simple"
   request — text/plain — never reaches a handler); a form type for the pages' forms.
4. **Token** (``guard.PageTokens``): the page's token, as the ``X-YJ-Token`` header (tv.js) or the
   ``_token`` form field (hidden in each form), checked for the path and the admin session.

A refusal is a 4xx through the error middleware (JSON under /api/) and nothing is recorded.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from station.web.keys import CONFIG, RATE, TOKENS
from station.web.responses import session_of, translator

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_HEADER = "X-YJ-Token"
TOKEN_FIELD = "_token"
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _netloc(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return parts.netloc.lower()


LOCAL_SUFFIXES = (".local", ".lan", ".home.arpa", ".localhost")


def _known_host(host: str, extra: tuple[str, ...]) -> bool:
    """Is ``host`` (a Host header) a name this box may be reached by on the LAN?"""
    name = host.lower()
    if name.startswith("["):  # [v6]:port
        name = name[1 : name.find("]")] if "]" in name else ""
    elif name.count(":") == 1:
        name = name.split(":")[0]
    name = name.rstrip(".")
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return bool(name) and (name == "localhost" or "." not in name or name.endswith(LOCAL_SUFFIXES) or name in extra)


def _same_origin(request: web.Request) -> bool:
    own = (request.host or "").lower()
    if not _known_host(own, request.app[CONFIG].ui_hostnames):
        return False
    origin = request.headers.get("Origin")
    if origin is not None:
        return bool(own) and _netloc(origin) == own
    referer = request.headers.get("Referer")
    if referer is not None:
        return bool(own) and _netloc(referer) == own
    browser = "Sec-Fetch-Site" in request.headers or request.headers.get("User-Agent", "").startswith("Mozilla/")
    return not browser


async def read_form(request: web.Request) -> MultiDictProxy[str]:
    """The posted form, as every handler reads it: a body aiohttp cannot parse (an unknown charset,
    a multipart body without its boundary or with a broken part) or one carrying a file (no page
    of this station sends one) is a 400 that says to reload the page, never a 500."""
    try:
        form = await request.post()
    except (ValueError, LookupError, RuntimeError, AssertionError, HttpProcessingError):  # aiohttp's parsers
        form = None
    if form is None or any(not isinstance(v, str) for v in form.values()):
        _ = translator(request)
        raise web.HTTPBadRequest(text=_("This form could not be read. Go back, reload the page and try again."))
    return form  # type: ignore[return-value]


async def _given_token(request: web.Request) -> str:
    header = request.headers.get(TOKEN_HEADER)
    if header is not None:
        return header
    if request.content_type in FORM_TYPES:
        return (await read_form(request)).get(TOKEN_FIELD, "")
    return ""


@web.middleware
async def forms_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.method in SAFE_METHODS:
        return await handler(request)
    _ = translator(request)
    wait_s = request.app[RATE].take(request.remote or "unknown")
    if wait_s > 0:
        raise web.HTTPTooManyRequests(
            text=_("Too many requests from this device. Please wait a moment and try again."),
            headers={"Retry-After": str(math.ceil(wait_s))},
        )
    if not _same_origin(request):
        raise web.HTTPForbidden(text=_("This request did not come from a page of this station, so it was refused."))
    has_body = request.content_length != 0 and request.body_exists
    if request.path.startswith("/api/"):
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text=_("This needs a JSON body (Content-Type: application/json)."))
    elif has_body and request.content_type not in FORM_TYPES:
        raise web.HTTPUnsupportedMediaType(text=_("This needs a form sent by a page of this station."))
    if not request.app[TOKENS].check(request.path, session_of(request), await _given_token(request)):
        raise web.HTTPForbidden(
            text=_(
                "This page is out of date or did not come from this station. Go back, reload the page and try again."
            )
        )
    return await handler(request)
