"""The one error middleware: an ``HTTPException`` or a ``HeadendError`` (which carries its status:
503 when the database is unavailable, 404, 400…) becomes JSON under ``/api/``, plain text under
``/repo/`` and a page elsewhere; anything unexpected is logged and answered 500."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from headend.errors import HeadendError
from headend.web.render import render

log = logging.getLogger(__name__)
http_log = logging.getLogger("headend.web.http")  # aiohttp's own server messages (``create_app``)


def error_response(request: web.Request, status: int, message: str) -> web.Response:
    if request.path.startswith("/api/"):
        return web.json_response({"error": message, "status": status}, status=status)
    if request.path.startswith("/repo/"):
        return web.Response(status=status, text=f"{status} {message}\n")
    return render(request, "error.html", status=status, message=message)


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(request, exc.status, exc.text or exc.reason)
    except asyncio.CancelledError:
        raise
    except HeadendError as exc:
        if exc.status >= 500:
            log.error("%s %s: %s", request.method, request.path, exc)
        return error_response(request, exc.status, str(exc))
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(request, 500, "internal error; see the headend log")


class ClientMistakes(logging.Filter):
    """aiohttp answers a request it cannot parse (a URL over 8 KB, a broken header line) with a 400
    itself, but logs it as an ERROR with a traceback: any client could fill the log with them.
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
