"""How a request becomes a response: the viewer's language, ``render`` (jinja2, autoescaped, in
that language) and the one error middleware (JSON under ``/api/``, a page elsewhere; an
unexpected exception is logged with its traceback and becomes a 500 page, never a blank).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from station import i18n
from station.errors import DamagedFileError
from station.i18n import N_
from station.web.guard import ADMIN_COOKIE
from station.web.keys import ADMIN, CONFIG, TEMPLATES, TOKENS

log = logging.getLogger(__name__)
http_log = logging.getLogger("station.web.http")  # aiohttp's own server messages (``create_app``)

LANG_COOKIE = "yj_lang"

# Titles for the error page, by HTTP status (msgids); anything else gets the generic one.
_ERROR_TITLES = {
    400: N_("That request was not right"),
    401: N_("Please log in"),
    403: N_("Not allowed"),
    404: N_("This page cannot be found"),
    405: N_("That is not possible here"),
    413: N_("That is too large"),
    429: N_("Too many attempts"),
}
_ERROR_HINTS = {
    404: N_("This page or course does not exist. It may have been removed, or it has not finished syncing yet."),
    429: N_("Please try again in a few minutes."),
}
_DAMAGED = N_("The station's data is damaged")
_DAMAGED_HINT = N_(
    "The station rebuilds its damaged data by itself at the next sync; the courses already on the box are kept. "
    "If this page is still here in a while, please tell the station administrator."
)
_DAMAGED_ADMIN_HINT = N_(
    "The next sync sets the damaged file aside and rebuilds it from the verified files on the box and the "
    "mirrors, or run “station sync --once” on the box. If it says the trust state is damaged, follow what it "
    "says or ask county staff. Details:"
)
_GENERIC_ERROR = N_("Something went wrong")
_GENERIC_HINT = N_("Please try again later. If this keeps happening, tell the station administrator.")


def language(request: web.Request) -> str:
    """The viewer's language: the ``yj_lang`` cookie, else ``[ui] language`` from station.toml."""
    default = i18n.normalise(request.app[CONFIG].language)
    cookie = request.cookies.get(LANG_COOKIE)
    return i18n.normalise(cookie, default) if cookie else default


def translator(request: web.Request) -> i18n.Translator:
    """``_`` for this request (catalogues are compiled once per language and cached)."""
    return i18n.Translator(language(request))


def session_of(request: web.Request) -> str | None:
    """The admin session cookie when it is a valid session, else None."""
    cookie = request.cookies.get(ADMIN_COOKIE)
    return cookie if request.app[ADMIN].valid(cookie) else None


def page_token(request: web.Request) -> str:
    """The token the page answering ``request`` stamps into its forms and its ``yj-token`` meta
    (checked by ``station.web.forms`` on every state-changing request)."""
    return request.app[TOKENS].for_path(request.path, session_of(request))


def render(
    request: web.Request, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    """Render a jinja2 template (autoescaped) to an HTML response, in the viewer's language."""
    env = request.app[TEMPLATES]
    _ = translator(request)
    ctx: dict[str, Any] = {
        "station": request.app[CONFIG],
        "_": _,
        "lang": _.tag,
        "path": request.path_qs,
        "csrf_token": page_token(request),
    }
    ctx.update(context or {})
    html = env.get_template(template).render(ctx)
    # Pages change as the viewer watches (continue watching, resume buttons, sessions): Back must
    # fetch them again rather than show a cached copy.
    return web.Response(
        text=html, status=status, content_type="text/html", charset="utf-8", headers={"Cache-Control": "no-store"}
    )


def _detail(exc: web.HTTPException) -> str:
    """The message a handler put in the exception (``text=``), not aiohttp's default ``"404: Not Found"``."""
    text = exc.text or ""
    if not text or text.startswith(f"{exc.status}:"):
        return ""
    return text


def error_response(
    request: web.Request,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    *,
    title: str | None = None,
) -> web.StreamResponse:
    """The error page (or JSON under /api/); ``title`` (a msgid) instead of the status's own."""
    keep = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-type", "content-length")}
    _ = translator(request)
    title = _(title or _ERROR_TITLES.get(status, _GENERIC_ERROR))
    if request.path.startswith("/api/"):
        body = {"error": detail or title, "status": status}
        return web.json_response(body, status=status, headers=keep)
    hint = detail or _(_ERROR_HINTS.get(status) or _GENERIC_HINT)
    if request.path.startswith("/admin"):
        home, home_label = "/admin", _("Back to the admin page")
    else:
        home, home_label = "/", _("Back to the home page")
    ctx = {"status": status, "title": title, "hint": hint, "home": home, "home_label": home_label}
    resp = render(request, "error.html", ctx, status=status)
    resp.headers.update(keep)
    return resp


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The one place errors become responses: JSON under /api/, a page in the viewer's language elsewhere."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and 304s are not errors
            raise
        return error_response(request, exc.status, _detail(exc), exc.headers)
    except DamagedFileError as exc:  # the station's own file: a page that says so, not a 500
        log.error("%s %s: %s", request.method, request.path_qs, exc)
        return _damaged(request, exc)
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.path_qs)
        return error_response(request, 500, "")


def _damaged(request: web.Request, exc: DamagedFileError) -> web.StreamResponse:
    """503: the villager is told the station mends itself and whom to tell; the administrator
    also gets what the file is and what to do; the API the message itself."""
    if request.path.startswith("/api/"):
        return error_response(request, 503, str(exc), title=_DAMAGED)
    _ = translator(request)
    hint = f"{_(_DAMAGED_ADMIN_HINT)} {exc}" if request.path.startswith("/admin") else _(_DAMAGED_HINT)
    return error_response(request, 503, hint, title=_DAMAGED)


def see_other(location: str) -> web.Response:
    """303 to ``location`` (after a POST, or a key that opens another page)."""
    return web.Response(status=303, headers={"Location": location})


def local_target(value: str) -> str:
    """A page of this station to go back to, or ``/``: never another site. Browsers read ``//host``,
    ``/\\host`` and ``/<tab>/host`` as another host, so a path must start with one ``/`` followed by
    neither slash nor backslash, hold no control characters, and parse with no scheme or host."""
    if not value.startswith("/") or value[1:2] in ("/", "\\") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "/"
    parts = urlsplit(value.replace("\\", "/"))
    return "/" if parts.scheme or parts.netloc else value


class ClientMistakes(logging.Filter):
    """aiohttp answers a request it cannot parse (a URL over 8 KB, a broken header line) with a 400
    itself, but logs it as an ERROR with a traceback: any LAN client could fill the log with them.
    Such a record becomes one WARNING line saying what was wrong; a real error stays an ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and exc.code < 500:
            first = (exc.message or "").strip().splitlines()
            record.msg = f"{record.getMessage()}: {exc.code} {first[0] if first else type(exc).__name__}"
            record.args, record.exc_info, record.exc_text = (), None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


http_log.addFilter(ClientMistakes())
