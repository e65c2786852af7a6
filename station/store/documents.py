"""``Store``: the station's documents and files under ``data_dir``::

    station.json        TinyDB: 1 installed set (written atomically: temp file, fsync, rename;
                        at most once a pass, never by a pass that finds nothing new); 3, the
                        trust state, and 4 and 5, of stores written before their own files, are
                        moved there at the first read or write
    trust.json, .bak    the trust state (``station.store.trustfile``)
    mirrors.json        mirror health and index validators, when they changed (every pass)
    unneeded.json       since when each unneeded media file has been unneeded (grace periods)
    sync-status.json    how the last sync pass went (its own file, written once a pass, at its end)
    progress.json       the running pass's downloads (replaced every few seconds, not fsync'd;
                        newer than sync-status.json while a pass runs)
    media/, partial/, repo/   see ``station.store.media``

The TV lists only what the installed set names, and that set is written only after every file
it names is verified on disk, in one atomic write. The store keeps it in memory as an
``InstalledSet`` snapshot, swapped by ``install``: a page render costs one ``stat``, no read.

Everything in station.json can be derived again: when it no longer reads back, every reader
raises ``DamagedFileError`` (the CLI prints it, the TV shows a 503 page) and ``repair`` — which
each sync pass calls first — sets it aside as ``station.json.damaged`` so that the pass rebuilds
the installed set from the verified media on disk and the mirrors. The trust state cannot be
derived, which is why it lives in a file of its own that nothing repairs by itself.

The sync status is what the admin page shows when things go wrong, so it must get out when the
disk is full: it lives in a small file of its own, and when the atomic replacement fails the
record is written over the old one in place (that needs no new disk block). Either way the
newest status stays in memory for the pages of this process, and the caller is told.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path

from playlists import RepositoryError, TrustState
from playlists.atomic import atomic_write, fsync_dir
from station.errors import DamagedFileError, StoreError
from station.model import InstalledCourse, InstalledSet, MirrorHealth, Progress, SyncStatus
from station.store.jsonfile import (
    Documents,
    Signature,
    SmallDocument,
    dump_json,
    overwrite_in_place,
    read_json,
    signature,
)
from station.store.media import MediaFiles
from station.store.trustfile import TrustFile

log = logging.getLogger(__name__)

_UNSAVED = "unsaved"  # the in-memory sync status is newer than any file
MAX_IN_PLACE_BYTES = 4000  # what fits in the one block a small file already has


class Store(MediaFiles):
    _INSTALLED, _LEGACY_SYNC, _TRUST, _MIRRORS, _UNREFERENCED = 1, 2, 3, 4, 5

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.docs = Documents(self.data_dir / "station.json", "state")
        self.trust_file = TrustFile(self.data_dir)
        self.status_path = self.data_dir / "sync-status.json"
        self.mirrors_doc = SmallDocument(self.data_dir / "mirrors.json")
        self.unneeded_doc = SmallDocument(self.data_dir / "unneeded.json")
        self.progress_path = self.data_dir / "progress.json"
        self._snapshot: tuple[dict | None, InstalledSet] | None = None
        self._sync: tuple[Signature | str, SyncStatus] | None = None
        self._progress: Progress | None = None

    def load(self) -> None:
        """Read what the pages show into memory now (``serve`` does this before it listens)."""
        self.installed_set()
        self.sync_status()

    # ---- the installed set -----------------------------------------------------------------

    def installed_set(self) -> InstalledSet:
        """What the TV lists: the snapshot swapped by the last install (or another process's)."""
        raw = self.docs.peek(self._INSTALLED)
        snap = self._snapshot
        if snap is not None and snap[0] is raw:
            return snap[1]
        if snap is not None and snap[0] == raw:  # the file was read again, the set did not change
            self._snapshot = (raw, snap[1])
            return snap[1]
        installed = InstalledSet.from_dict(raw)
        self._snapshot = (raw, installed)
        return installed

    def install(self, installed: InstalledSet) -> None:
        """Replace the installed set in one atomic write (call only once every file is verified)."""
        for c in installed.courses:
            for path in c.files():
                if not self.has_file(path):
                    raise StoreError(f"refusing to list {c.id}: {path} is not in the store")
        stored = self.docs.put(self._INSTALLED, installed.to_dict(), handed_over=True)
        self._snapshot = (stored, installed)

    def courses(self) -> list[InstalledCourse]:
        return list(self.installed_set().courses)

    def course(self, course_id: str) -> InstalledCourse | None:
        return self.installed_set().course(course_id)

    # ---- trust state (what playlists.trust remembers between runs) ---------------------------

    def trust(self) -> TrustState:
        """What the trust rules remember (written, fsync'd, as soon as an index is verified):
        highest index version and its sha256, newest signed timestamp, keys added and retired by
        rotation. A damaged trust.json is a DamagedFileError saying what to do, never a reset.
        A store written before trust.json keeps it in station.json (or, older still, only in
        the installed set): it is moved to trust.json at this first read."""
        state = self.trust_file.read()
        if state is not None:
            return state
        doc = self.docs.get(self._TRUST)
        if not doc:
            inst = self.docs.peek(self._INSTALLED) or {}
            doc = {
                "highest_version": inst.get("index_version"),
                "highest_sha256": inst.get("index_sha256"),
                "newest_timestamp": inst.get("newest_timestamp"),
            }
        try:
            state = TrustState.from_dict(doc)
        except RepositoryError as exc:
            raise DamagedFileError(
                self.docs.path,
                str(exc),
                "it holds the trust state, which the station does not rebuild by itself: restore station.json "
                "from a backup, or make sure [sync] trusted_keys holds the headend's key from county staff, "
                "delete station.json and sync again to start over from those keys",
            ) from exc
        if state.highest_version or self.docs.peek(self._TRUST) is not None:
            try:
                self.record_trust(state)
            except StoreError as exc:  # a full disk: read again from station.json next time
                log.warning("trust state not moved to trust.json: %s", exc)
        return state

    def record_trust(self, state: TrustState) -> None:
        self.trust_file.write(state)
        if self.docs.peek(self._TRUST) is not None:
            self.docs.remove(self._TRUST)  # once: trust.json holds it now

    def repair(self) -> str | None:
        """Set a damaged station.json aside (as station.json.damaged) so that this pass rebuilds
        it; returns what was done, or None when it reads back. StoreError when it cannot be set
        aside: it may hold the only copy of the trust state (a store written before trust.json
        that has verified an index), or the disk refuses the rename."""
        try:
            self.docs.peek(self._INSTALLED)
            return None
        except DamagedFileError as exc:
            damage = exc
        if not self.trust_file.exists() and (self.repo_dir / "index.json").exists():
            raise DamagedFileError(
                self.docs.path,
                damage.why,
                "it also holds the trust state (this store has no trust.json yet), which the station does not "
                "rebuild by itself: restore station.json from a backup, or make sure [sync] trusted_keys holds "
                "the headend's key from county staff, delete station.json and sync again to start over",
            )
        aside = self.docs.path.with_name(self.docs.path.name + ".damaged")
        try:
            os.replace(self.docs.path, aside)
            fsync_dir(self.data_dir)
        except OSError as exc:
            raise StoreError(f"{self.docs.path}: damaged, and cannot be set aside ({exc.strerror or exc})") from exc
        self._snapshot = None
        kept = " (the trust state, in trust.json, is kept)" if self.trust_file.exists() else ""
        return (
            f"{self.docs.path.name} was damaged ({damage.why}); set aside as {aside.name}; this sync rebuilds "
            f"it from the verified files on disk and the mirrors{kept}"
        )

    # ---- mirrors and unneeded files ----------------------------------------------------------

    def _moved(self, doc: SmallDocument, legacy_id: int) -> dict:
        """A small document from its own file, or from station.json where stores written
        before it had one kept it."""
        found = doc.read() if doc.exists() else self.docs.peek(legacy_id)
        return found if isinstance(found, dict) else {}

    def _move(self, doc: SmallDocument, legacy_id: int, value: dict) -> None:
        doc.write(value)
        if self.docs.peek(legacy_id) is not None:
            self.docs.remove(legacy_id)  # once: the document has its own file now

    def mirrors(self) -> dict[str, MirrorHealth]:
        """Per mirror URL: its health and the validators of its index.json."""
        return {url: MirrorHealth.from_dict(h) for url, h in self._moved(self.mirrors_doc, self._MIRRORS).items()}

    def record_mirrors(self, mirrors: dict[str, MirrorHealth]) -> None:
        self._move(self.mirrors_doc, self._MIRRORS, {url: h.to_dict() for url, h in mirrors.items()})

    def collect(self, keep: set[str], grace_s: float) -> tuple[int, int]:
        """Delete media files no installed course needs (``keep``: repository paths) once they
        have been unneeded for ``grace_s`` (a course playing now finishes), and partial files
        untouched for a week. Returns (files, bytes) deleted."""
        since = self._moved(self.unneeded_doc, self._UNREFERENCED).get("since")
        if not isinstance(since, dict) or not all(isinstance(t, (int, float)) for t in since.values()):
            since = {}  # unreadable: the grace periods start again
        files, freed, new_since = self.sweep(keep, grace_s, since)
        if new_since != since or self.docs.peek(self._UNREFERENCED) is not None:
            self._move(self.unneeded_doc, self._UNREFERENCED, {"since": new_since})
        return files, freed

    # ---- sync status and progress ------------------------------------------------------------

    def sync_status(self) -> SyncStatus:
        """The last sync pass as the loop recorded it (``station.sync.runner``); while a pass
        runs, with its progress. Another process's running pass shows as a progress file newer
        than the status file (``mark_running``)."""
        status = self._saved_status()
        if not status.running and self._sync is not None and self._sync[0] is not _UNSAVED and self._running_on_disk():
            status = status.started()
        if status.running and status.progress is None:
            progress = self._progress or self._progress_file()
            if progress is not None:
                status = replace(status, progress=progress)
        return status

    def _saved_status(self) -> SyncStatus:
        sig = signature(self.status_path)
        cached = self._sync
        if cached is not None and cached[0] in (_UNSAVED, sig):
            return cached[1]
        try:
            doc = read_json(self.status_path) if sig is not None else self.docs.peek(self._LEGACY_SYNC)
        except StoreError as exc:  # torn by a power cut during an in-place write: the next pass rewrites it
            log.warning("%s", exc)
            doc = None
        status = SyncStatus.from_dict(doc if isinstance(doc, dict) else None)
        self._sync = (sig, status)
        return status

    def mark_running(self, status: SyncStatus) -> None:
        """A pass starts (``status``: the last one, marked running): in memory, and on disk as a
        fresh progress file, newer than the status file, which ``station status`` in another
        process reads as "running". The status file itself (per-course states: large on a big
        station) is written once a pass, when it ends. StoreError when the disk refused it."""
        self._sync, self._progress = (_UNSAVED, status), None
        tmp = self.data_dir / ".progress.json.tmp"
        try:
            tmp.write_text(json.dumps(Progress().to_dict()), encoding="utf-8")
            os.replace(tmp, self.progress_path)
        except OSError as exc:
            raise StoreError(f"{self.progress_path}: cannot mark the pass running ({exc.strerror or exc})") from exc

    def _running_on_disk(self) -> bool:
        try:
            progress = self.progress_path.stat().st_mtime_ns
        except OSError:
            return False
        try:
            return progress > self.status_path.stat().st_mtime_ns
        except OSError:
            return True  # a first pass: nothing recorded yet

    def record_sync(self, status: SyncStatus) -> None:
        """Keep ``status`` (in memory at once, so this process's pages show it whatever the disk
        says) and save it. StoreError when the disk refused the normal write; on a full disk the
        record has then been written over the old one in place, short, so ``station status``
        still shows it."""
        self._sync, self._progress = (_UNSAVED, status), None
        data = dump_json(status.to_dict())
        try:
            atomic_write(self.status_path, data)
        except OSError as exc:
            saved = self._save_in_place(status)
            raise StoreError(
                f"{self.status_path}: cannot save the sync status ({exc.strerror or exc}); "
                f"free space on the disk{' (a short record was kept)' if saved else ''}"
            ) from exc
        self._sync = (signature(self.status_path), status)
        try:
            if self.docs.peek(self._LEGACY_SYNC) is not None:
                self.docs.remove(self._LEGACY_SYNC)  # once: the status has its own file now
        except StoreError as exc:  # a full disk, or a damaged station.json the next pass sets aside
            log.warning("old sync status left in station.json: %s", exc)

    def _save_in_place(self, status: SyncStatus) -> bool:
        short = replace(
            status,
            failures=status.failures[:3],
            courses=(),
            progress=None,
            last_error=(status.last_error or "")[:1000] or None,
        )
        data = json.dumps(short.to_dict(with_courses=False), ensure_ascii=False, sort_keys=True).encode("utf-8")
        if len(data) > MAX_IN_PLACE_BYTES:
            return False
        try:
            overwrite_in_place(self.status_path, data)
        except OSError:
            return False
        return True

    def record_progress(self, progress: Progress) -> None:
        """Progress of the running pass, every few seconds: in memory, and in a small file of
        its own for ``station status`` (replaced by rename, not fsync'd — it is worthless after
        a power cut — so neither station.json nor the status file is rewritten each time)."""
        self._progress = progress
        tmp = self.data_dir / ".progress.json.tmp"
        try:
            tmp.write_text(json.dumps(progress.to_dict(), ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.progress_path)
        except OSError:
            pass

    def _progress_file(self) -> Progress | None:
        try:
            doc = read_json(self.progress_path)
        except StoreError:
            return None
        return Progress.from_dict(doc) if isinstance(doc, dict) else None
