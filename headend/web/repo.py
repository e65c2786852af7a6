"""``/repo/``: the published static tree (the ``repo`` symlink), with Range and ETag from
aiohttp's FileResponse; media, playlists and answers documents are immutable, the index is fresh for a minute."""

from __future__ import annotations

from aiohttp import web

from headend.web.auth import public
from headend.web.keys import CONFIG
from playlists import is_repository_path


@public
async def repo_file(request: web.Request) -> web.StreamResponse:
    repo = request.app[CONFIG].repo_dir.resolve()
    rel = request.match_info["path"]
    if not is_repository_path(rel):  # NUL bytes, "..", hidden names: refused before any disk access
        raise web.HTTPNotFound(text="not a repository path")
    target = (repo / rel).resolve()
    if not target.is_relative_to(repo) or not target.is_file():
        raise web.HTTPNotFound(text=f"{rel}: not in the repository")
    return web.FileResponse(target, headers={"Cache-Control": cache_control(rel)})


def cache_control(rel: str) -> str:
    # Media, playlists and answers documents are immutable (named by sha256 / version); the index changes.
    if rel.startswith(("media/", "playlists/", "answers/")):
        return "public, max-age=31536000, immutable"
    return "public, max-age=60"


def setup_repo(app: web.Application) -> None:
    app.router.add_get("/repo/{path:.+}", repo_file)
