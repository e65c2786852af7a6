"""The one error middleware: an ``HTTPException`` or a ``HeadendError`` (which carries its status:
503 when the database is unavailable, 404, 400…) becomes JSON under ``/api/``, plain text under
``/repo/`` and a page elsewhere; anything unexpected is logged and answered 500."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from headend.errors import HeadendError
from headend.web.render import render

log = logging.getLogger(__name__)


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
