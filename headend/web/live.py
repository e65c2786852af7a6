"""``/live/<ID>/``: a live class's HLS (``headend.courseware.live`` writes it), public like
``/repo/`` so stations fetch it without a login, and shaped for the county caches in between:
segments are immutable (cached for a year), playlists are fresh for one second (a cache asks
upstream at most once a second, however many villages watch). Only ``master.m3u8``,
``<profile>/index.m3u8`` and ``<profile>/seg-NNNNN.ts`` are served; any other path is a 404 before
the disk is touched, and a path that resolves outside the class's folder is a 404 too."""

from __future__ import annotations

import asyncio
import hashlib
from email.utils import formatdate
from pathlib import Path

from aiohttp import web

from catalogue.ids import is_id
from headend.courseware.live_recipe import PLAYLIST_TYPE, served_type
from headend.web.auth import public
from headend.web.keys import CONFIG

SEGMENT_CACHE = "public, max-age=31536000, immutable"
PLAYLIST_CACHE = "public, max-age=1"


def _read(path: Path) -> tuple[bytes, float] | None:
    try:
        with open(path, "rb") as fh:  # ffmpeg renames a new playlist into place: one open, one version
            return fh.read(), path.stat().st_mtime
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


@public
async def live_file(request: web.Request) -> web.StreamResponse:
    live_id, rel = request.match_info["id"], request.match_info["path"]
    kind = served_type(rel)
    if not is_id(live_id) or kind is None:
        raise web.HTTPNotFound(text="not a live class file")
    folder = (request.app[CONFIG].root / "live" / live_id).resolve()
    target = (folder / rel).resolve()
    if not target.is_relative_to(folder):
        raise web.HTTPNotFound(text="not a live class file")
    if kind != PLAYLIST_TYPE:  # a segment: whole once it has its name, never changed
        if not target.is_file():
            raise web.HTTPNotFound(text=f"{live_id}/{rel}: no such segment")
        return web.FileResponse(target, headers={"Cache-Control": SEGMENT_CACHE, "Content-Type": kind})
    found = await asyncio.to_thread(_read, target)
    if found is None:
        raise web.HTTPNotFound(text=f"{live_id}/{rel}: no such playlist (has the class started?)")
    body, mtime = found
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"Cache-Control": PLAYLIST_CACHE, "ETag": etag, "Last-Modified": formatdate(mtime, usegmt=True)}
    if etag in {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type=kind, headers=headers)


def setup_live(app: web.Application) -> None:
    app.router.add_get("/live/{id}/{path:.+}", live_file)
