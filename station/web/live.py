"""Live classes on the village LAN: the TVs and phones here play a live lecture from this station,
whose ``LiveRelay`` (station.live) fetches each playlist and segment once from the first mirror
that has it, so they all share one stream over the village's uplink. Only live paths are
answered; anything else is a 404 before any fetch. The relay is made with the app; its
``ClientSession`` opens at the first fetch and closes with the app (``cleanup_ctx``).

Routes::

    GET  /live/{id}/master.m3u8, /live/{id}/{profile}/index.m3u8,
         /live/{id}/{profile}/seg-<n>.ts (.aac, .m4s)      a live class, relayed from the mirrors
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from station.live import LiveError, LiveRelay, parse_path
from station.web.keys import CONFIG, LIVE

NO_SUCH_PATH = "没有这个直播文件（no such live file）"
_STATUS: dict[int, type[web.HTTPException]] = {
    404: web.HTTPNotFound,
    502: web.HTTPBadGateway,
    503: web.HTTPServiceUnavailable,
}


async def live_file(request: web.Request) -> web.StreamResponse:
    path = parse_path(request.match_info["id"], request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound(text=NO_SUCH_PATH)
    try:
        answer = await request.app[LIVE].get(path)
    except LiveError as exc:  # the error middleware renders it, this message as the page's hint
        raise _STATUS.get(exc.status, web.HTTPBadGateway)(text=str(exc)) from exc
    return web.Response(
        body=answer.body, content_type=answer.content_type, headers={"Cache-Control": answer.cache_control}
    )


async def _relay_ctx(app: web.Application) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await app[LIVE].close()


def setup(app: web.Application) -> None:
    app[LIVE] = LiveRelay(app[CONFIG].mirrors)  # its session opens at the first fetch
    app.cleanup_ctx.append(_relay_ctx)
    app.router.add_get("/live/{id}/{path:.+}", live_file, name="live")
