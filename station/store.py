"""The station's local store: verified media files on disk and TinyDB documents beside them.

Layout under ``data_dir``::

    station.json        TinyDB (written atomically: temp file, fsync, rename)
    media/ab/<sha256>.mp4   verified renditions and posters, named by sha256
    partial/            downloads in progress (never listed, never served)

The TV lists only what the ``installed`` document names, and that document is written only after
every file it names is verified on disk, in one atomic write.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

from playlists import FileRef, TrustState
from playlists.atomic import atomic_move, atomic_write
from station.errors import StoreError


class AtomicJSONStorage(Storage):
    """TinyDB storage that replaces its file atomically and durably on every write."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def read(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        if not text.strip():
            return None
        return json.loads(text)

    def write(self, data: dict[str, Any]) -> None:
        try:
            atomic_write(self.path, json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot save station data ({exc.strerror})") from exc

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class InstalledCourse:
    id: str
    title: str
    category: str
    description: str
    duration_s: float
    kind: str  # "video" or "audio": what the local rendition holds
    mime: str
    media: str  # repository path of the rendition, e.g. media/ab/<sha>.mp4
    poster: str | None  # repository path of the poster JPEG
    playlists: tuple[str, ...]

    @classmethod
    def from_doc(cls, d: dict) -> "InstalledCourse":
        return cls(
            id=d["id"],
            title=d["title"],
            category=d["category"],
            description=d.get("description", ""),
            duration_s=float(d["duration_s"]),
            kind=d["kind"],
            mime=d["mime"],
            media=d["media"],
            poster=d.get("poster"),
            playlists=tuple(d.get("playlists", ())),
        )


class Store:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.partial_dir = self.data_dir / "partial"
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.partial_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.data_dir}: cannot create the data folder ({exc.strerror})") from exc
        self.db = TinyDB(self.data_dir / "station.json", storage=AtomicJSONStorage)
        self._state = self.db.table("state")
        # TinyDB rewrites the whole file on each write: serialise writers (the loop and threads).
        self._write_lock = threading.Lock()

    # ---- documents -------------------------------------------------------------------------

    def _doc(self, doc_id: int) -> dict:
        doc = self._state.get(doc_id=doc_id)
        return dict(doc) if doc else {}

    def _put(self, doc_id: int, doc: dict) -> None:
        with self._write_lock:
            self._state.upsert(Document(doc, doc_id=doc_id))

    _INSTALLED, _SYNC, _TRUST, _MIRRORS = 1, 2, 3, 4

    def installed(self) -> dict:
        """The installed set: index version and sha256, newest signed timestamp, playlists, courses."""
        return self._doc(self._INSTALLED)

    def trust(self) -> dict:
        """What the trust rules remember (written, fsync'd, as soon as an index is verified):
        highest index version and its sha256, newest signed timestamp, keys added by rotation
        (base64) and keys retired by rotation (ids). Falls back to the installed set for stores
        written before this document existed."""
        doc = self._doc(self._TRUST)
        if doc:
            return doc
        inst = self.installed()
        return {
            "highest_version": int(inst.get("index_version", 0)),
            "highest_sha256": inst.get("index_sha256", ""),
            "newest_timestamp": inst.get("newest_timestamp"),
        }

    def trust_state(self) -> TrustState:
        doc = self.trust()
        ts = doc.get("newest_timestamp")
        return TrustState(
            highest_version=int(doc.get("highest_version", 0)),
            highest_sha256=doc.get("highest_sha256", ""),
            newest_timestamp=datetime.fromisoformat(ts) if ts else None,
        )

    def record_trust(self, doc: dict) -> None:
        self._put(self._TRUST, doc)

    def install(self, doc: dict) -> None:
        """Replace the installed set in one atomic write (call only once every file is verified)."""
        for c in doc.get("courses", []):
            for path in (c["media"], c.get("poster")):
                if path and not self.blob_path(path).is_file():
                    raise StoreError(f"refusing to list {c['id']}: {path} is not in the store")
        self._put(self._INSTALLED, doc)

    def courses(self) -> list[InstalledCourse]:
        return [InstalledCourse.from_doc(c) for c in self.installed().get("courses", [])]

    def course(self, course_id: str) -> InstalledCourse | None:
        for c in self.courses():
            if c.id == course_id:
                return c
        return None

    def sync_status(self) -> dict:
        """The last sync pass as the loop recorded it (see station.sync); while a pass runs, with
        its ``progress`` (bytes done and total, rate, ETA, current course)."""
        doc = self._doc(self._SYNC)
        if doc.get("state") == "running":
            try:
                doc["progress"] = json.loads((self.data_dir / "progress.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pass
        return doc

    def record_progress(self, progress: dict) -> None:
        """Progress of the running pass, every few seconds: a small file of its own (replaced by
        rename, not fsync'd — it is worthless after a power cut), so the TinyDB file holding the
        installed list is not rewritten each time."""
        tmp = self.data_dir / ".progress.json.tmp"
        try:
            tmp.write_text(json.dumps(progress, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.data_dir / "progress.json")
        except OSError:
            pass

    def record_sync(self, status: dict) -> None:
        self._put(self._SYNC, status)

    # ---- files -----------------------------------------------------------------------------

    def blob_path(self, repo_path: str) -> Path:
        """Where a repository media path lives in the store (paths are validated by playlists)."""
        if not repo_path.startswith("media/") or ".." in repo_path.split("/"):
            raise StoreError(f"{repo_path!r} is not a media path")
        return self.data_dir / repo_path

    def has_blob(self, ref: FileRef) -> bool:
        """A verified file is already in the store (files enter only after their sha256 matched)."""
        try:
            return self.blob_path(ref.path).stat().st_size == ref.size
        except FileNotFoundError:
            return False

    def mirrors(self) -> dict:
        """Per mirror: validators of its index.json (for conditional polls) and its health."""
        return self._doc(self._MIRRORS)

    def record_mirrors(self, doc: dict) -> None:
        self._put(self._MIRRORS, doc)

    # ---- the verified repository copy (this station as a mirror, `station export`) ---------

    @property
    def repo_dir(self) -> Path:
        """index.json, playlists and rotation files exactly as verified, with their signatures."""
        return self.data_dir / "repo"

    def save_repo_files(self, files: dict[str, bytes]) -> None:
        """Write verified repository files (index last, so a reader of this copy sees the old
        index or a new one whose playlists are already there)."""
        try:
            for rel in sorted(files, key=lambda r: r.startswith("index.json")):
                if ".." in rel.split("/"):
                    raise StoreError(f"{rel!r} is not a repository path")
                atomic_write(self.repo_dir / rel, files[rel])
            if "index.json" in files:  # playlists the new index no longer names go
                for old in (self.repo_dir / "playlists").glob("*"):
                    if f"playlists/{old.name}" not in files:
                        old.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot save the verified index copy ({exc.strerror})") from exc

    def repo_file(self, rel: str) -> Path | None:
        """A file of the verified copy, or a verified media file; None if not here."""
        if ".." in rel.split("/") or rel.startswith("/"):
            return None
        path = self.data_dir / rel if rel.startswith("media/") else self.repo_dir / rel
        return path if path.is_file() else None

    def present(self) -> dict[str, int]:
        """sha256 → size of every media file in the store (named by their sha256)."""
        out = {}
        media = self.data_dir / "media"
        if media.is_dir():
            for p in media.glob("*/*"):
                if p.is_file():
                    out[p.name.split(".")[0]] = p.stat().st_size
        return out

    _UNREFERENCED = 5

    def collect(self, keep: set[str], grace_s: float) -> tuple[int, int]:
        """Delete media files no installed course needs (``keep``: repository paths) once they
        have been unneeded for ``grace_s`` (a course playing now finishes), and partial files
        untouched for a week. Returns (files, bytes) deleted."""
        now = time.time()
        since: dict[str, float] = dict(self._doc(self._UNREFERENCED).get("since", {}))
        files = freed = 0
        media = self.data_dir / "media"
        seen = set()
        for p in list(media.glob("*/*")) if media.is_dir() else []:
            rel = f"media/{p.parent.name}/{p.name}"
            if rel in keep:
                continue
            seen.add(rel)
            first = since.setdefault(rel, now)
            if now - first >= grace_s:
                size = p.stat().st_size
                p.unlink(missing_ok=True)
                since.pop(rel, None)
                files, freed = files + 1, freed + size
        since = {k: v for k, v in since.items() if k in seen}
        if since != self._doc(self._UNREFERENCED).get("since", {}):
            self._put(self._UNREFERENCED, {"since": since})
        for p in self.partial_dir.glob("*"):
            if now - p.stat().st_mtime > 7 * 86400:
                p.unlink(missing_ok=True)
        return files, freed

    def partial_path(self, ref: FileRef) -> Path:
        return self.partial_dir / f"{ref.sha256}.part"

    def add_blob(self, verified_tmp: Path, ref: FileRef) -> None:
        try:
            atomic_move(verified_tmp, self.blob_path(ref.path))
        except OSError as exc:
            raise StoreError(f"cannot install {ref.path} ({exc.strerror})") from exc

    def disk_usage(self) -> dict:
        total = 0
        files = 0
        for p in (self.data_dir / "media").rglob("*"):
            if p.is_file():
                files += 1
                total += p.stat().st_size
        st = os.statvfs(self.data_dir)
        return {"media_bytes": total, "media_files": files, "free_bytes": st.f_bavail * st.f_frsize}
