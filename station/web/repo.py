"""This station as a mirror: its verified copy of the repository under ``/repo/``, so a township
station can feed its villages over the LAN. Only what this station verified is offered (the index
and playlists it accepted, the answers documents it fetched, with their signatures, and its own
player's media); a neighbour
verifies everything again.

Routes::

    GET  /repo/{path}           index.json, playlists/, answers/, keys/, media/ as verified here
"""

from __future__ import annotations

from aiohttp import web

from station.web.keys import STORE


async def repo_file(request: web.Request) -> web.StreamResponse:
    rel = request.match_info["path"]
    path = request.app[STORE].repo_file(rel)
    if path is None:
        raise web.HTTPNotFound(text=f"{rel}: not on this station")
    immutable = rel.startswith(("media/", "playlists/", "answers/", "keys/"))
    return web.FileResponse(
        path, headers={"Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache"}
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/repo/{path:.+}", repo_file)
