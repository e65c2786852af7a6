"""``read_form``: the posted form as the pages' handlers read it, or a 400 that says what to do."""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy


async def read_form(request: web.Request) -> MultiDictProxy[str]:
    """A body aiohttp cannot parse (an unknown charset, a multipart body without its boundary or
    with a broken part) or one carrying a file (no page here sends one) is a 400, never a 500."""
    try:
        form = await request.post()
    except (ValueError, LookupError, RuntimeError, AssertionError, HttpProcessingError):  # aiohttp's parsers
        form = None
    if form is None or any(not isinstance(v, str) for v in form.values()):
        raise web.HTTPBadRequest(text="表单无法读取（the form could not be read）。请返回，刷新页面后再试。")
    return form  # type: ignore[return-value]
