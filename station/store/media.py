"""The store's files: verified media named by their sha256, downloads in progress, and the
verified copy of the repository's small files (for this station as a mirror and ``station
export``)::

    media/ab/<sha256>.mp4   verified renditions and posters (a file enters only after its sha256 matched)
    partial/<sha256>.part   downloads in progress (never listed, never served)
    repo/index.json, repo/playlists/…, repo/answers/…, repo/keys/…   exactly as verified, with their signatures
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from playlists import FileRef, is_repository_path
from playlists.atomic import atomic_move, atomic_write
from station.errors import StoreError
from station.model import DiskUsage

PARTIAL_MAX_AGE_S = 7 * 86400  # a partial download untouched this long is given up


class MediaFiles:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.partial_dir = self.data_dir / "partial"
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.partial_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.data_dir}: cannot create the data folder ({exc.strerror})") from exc

    # ---- media -----------------------------------------------------------------------------

    def blob_path(self, repo_path: str) -> Path:
        """Where a repository media path lives in the store (paths are validated by playlists)."""
        if not repo_path.startswith("media/") or ".." in repo_path.split("/"):
            raise StoreError(f"{repo_path!r} is not a media path")
        return self.data_dir / repo_path

    def has_file(self, repo_path: str) -> bool:
        """The store holds this media file (a malformed path is as good as missing)."""
        try:
            return self.blob_path(repo_path).is_file()
        except StoreError:
            return False

    def has_blob(self, ref: FileRef) -> bool:
        """A verified file is already in the store (files enter only after their sha256 matched)."""
        try:
            return self.blob_path(ref.path).stat().st_size == ref.size
        except FileNotFoundError:
            return False

    def partial_path(self, ref: FileRef) -> Path:
        return self.partial_dir / f"{ref.sha256}.part"

    def add_blob(self, verified_tmp: Path, ref: FileRef) -> None:
        try:
            atomic_move(verified_tmp, self.blob_path(ref.path))
        except OSError as exc:
            raise StoreError(f"cannot install {ref.path} ({exc.strerror})") from exc

    def _media_files(self) -> list[Path]:
        media = self.data_dir / "media"
        return [p for p in media.glob("*/*") if p.is_file()] if media.is_dir() else []

    def present(self) -> dict[str, int]:
        """sha256 → size of every media file in the store (named by their sha256)."""
        return {p.name.split(".")[0]: p.stat().st_size for p in self._media_files()}

    def disk_usage(self) -> DiskUsage:
        sizes = [p.stat().st_size for p in self._media_files()]
        st = os.statvfs(self.data_dir)
        return DiskUsage(media_bytes=sum(sizes), media_files=len(sizes), free_bytes=st.f_bavail * st.f_frsize)

    def sweep(self, keep: set[str], grace_s: float, since: dict[str, float]) -> tuple[int, int, dict[str, float]]:
        """Delete media files not in ``keep`` (repository paths) that have been unneeded for
        ``grace_s`` (``since``: when each was first seen unneeded), and partial files untouched
        for a week. Returns (files, bytes) deleted and the new ``since``."""
        now = time.time()
        since = dict(since)
        files = freed = 0
        seen = set()
        for p in self._media_files():
            rel = f"media/{p.parent.name}/{p.name}"
            if rel in keep:
                continue
            seen.add(rel)
            if now - since.setdefault(rel, now) >= grace_s:
                size = p.stat().st_size
                p.unlink(missing_ok=True)
                since.pop(rel, None)
                files, freed = files + 1, freed + size
        for p in self.partial_dir.glob("*"):
            if now - p.stat().st_mtime > PARTIAL_MAX_AGE_S:
                p.unlink(missing_ok=True)
        return files, freed, {k: v for k, v in since.items() if k in seen}

    # ---- the verified repository copy (this station as a mirror, `station export`) ---------

    @property
    def repo_dir(self) -> Path:
        """index.json, playlists, answers documents and rotation files exactly as verified, with
        their signatures."""
        return self.data_dir / "repo"

    def save_repo_files(self, files: dict[str, bytes], held: set[str] | frozenset[str] = frozenset()) -> None:
        """Write verified repository files (index last, so a reader of this copy sees the old
        index or a new one whose playlists are already there); ``held``: the files verified as this
        copy holds them, which stay as they are."""
        try:
            for rel in sorted(files, key=lambda r: r.startswith("index.json")):
                if ".." in rel.split("/"):
                    raise StoreError(f"{rel!r} is not a repository path")
                atomic_write(self.repo_dir / rel, files[rel])
            if "index.json" in files:  # playlists and answers the new index no longer names go
                for folder in ("playlists", "answers"):
                    for old in (self.repo_dir / folder).glob("*"):
                        if f"{folder}/{old.name}" not in files and f"{folder}/{old.name}" not in held:
                            old.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot save the verified index copy ({exc.strerror})") from exc

    def repo_file(self, rel: str) -> Path | None:
        """A file of the verified copy, or a verified media file, to serve; None if not here. Only a
        repository path (``playlists.is_repository_path``) and only a regular file inside
        ``media/`` or the copy: a symlink planted in the data dir is never followed out of it."""
        if not is_repository_path(rel):
            return None
        if rel.startswith("media/"):
            base, path = self.data_dir / "media", self.data_dir / rel
        else:
            base, path = self.repo_dir, self.repo_dir / rel
        try:
            base, path = base.resolve(strict=True), path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        return path if path.is_relative_to(base) and path.is_file() else None
