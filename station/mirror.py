"""This station as a mirror: its verified copy of the repository under ``/repo/`` (so a township
station can feed its villages over the LAN), and ``station export`` to a folder or USB stick.

Only what this station verified is offered: the index and playlists it accepted, with their
signatures, and the media of its own player profile. A neighbour verifies everything again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from aiohttp import web

from playlists.atomic import fsync_dir
from station.errors import StoreError
from station.store import Store

STORE_KEY = web.AppKey("mirror_store", Store)


async def repo_file(request: web.Request) -> web.StreamResponse:
    rel = request.match_info["path"]
    path = request.app[STORE_KEY].repo_file(rel)
    if path is None:
        raise web.HTTPNotFound(text=f"{rel}: not on this station")
    immutable = rel.startswith(("media/", "playlists/", "keys/"))
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache"})


def add_mirror_routes(app: web.Application, store: Store) -> None:
    app[STORE_KEY] = store
    app.router.add_get("/repo/{path:.+}", repo_file)


def export(store: Store, dest: Path) -> tuple[int, int]:
    """Write the verified repository (index last) into ``dest``; returns (files, bytes)."""
    installed = store.installed()
    if not installed or not store.repo_file("index.json"):
        raise StoreError("nothing verified to export yet; sync first")
    media = sorted({p for c in installed.get("courses", []) for p in (c["media"], c.get("poster")) if p})
    meta = sorted(str(p.relative_to(store.repo_dir)) for p in store.repo_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    order = media + [m for m in meta if not m.startswith("index.json")] + ["index.json.minisig", "index.json"]
    files = size = 0
    try:
        for rel in order:
            src = store.repo_file(rel)
            if src is None:
                raise StoreError(f"{rel} is missing from this station's store; sync again before exporting")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() and target.stat().st_size == src.stat().st_size and not rel.startswith("index.json"):
                continue  # immutable files already on the stick
            tmp = target.with_name(f".{target.name}.tmp")
            shutil.copyfile(src, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            files, size = files + 1, size + src.stat().st_size
        for d in {(dest / rel).parent for rel in order}:
            fsync_dir(d)
    except OSError as exc:
        raise StoreError(f"cannot write to {dest} ({exc.strerror or exc}); is the stick full or read-only?") from exc
    return files, size
