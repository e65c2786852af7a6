"""Carriers besides a mirror: ``station export`` writes this station's verified repository to a
folder or USB stick, ``station import`` syncs from one (the same verification as from a mirror).

Only what this station verified is exported: the index and playlists it accepted, with their
signatures, and the media of its own player profile. A neighbour verifies everything again.
(Serving the same copy over HTTP, ``/repo/``, is ``station.web.repo``.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playlists.atomic import fsync_dir
from station.errors import StoreError
from station.store import Store


def import_mirrors(path: Path) -> tuple[str, ...]:
    """The mirror list for ``station import PATH``: the folder as a ``file://`` mirror."""
    path = path.resolve()
    if not (path / "index.json").is_file():
        raise StoreError(
            f"{path} holds no index.json; point at the folder with index.json, playlists/ and "
            "media/ (what `station export` or a copy of the headend's repo/ writes)"
        )
    return (path.as_uri() + "/",)


def export(store: Store, dest: Path) -> tuple[int, int]:
    """Write the verified repository (index last) into ``dest``; returns (files, bytes)."""
    installed = store.installed_set()
    if not installed.index_version or not store.repo_file("index.json"):
        raise StoreError("nothing verified to export yet; sync first")
    media = sorted(installed.files())
    meta = sorted(
        str(p.relative_to(store.repo_dir))
        for p in store.repo_dir.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
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
