"""One sync pass: verified index → verified playlists that target this station → a plan (what is
due soonest, what fits, what waits for the window) → each file checked against its pinned sha256
before it enters the store → one atomic install → unneeded files collected after a grace period.

The rules live in ``playlists.trust`` and ``station.sync.plan`` (pure), and what the trust rules
remember in ``playlists.trusted_set.TrustedSet``; this module decides what to fetch from which
mirror, does the I/O and persists the trusted set's state; ``station.sync.files`` gets the planned
files into the store. What a pass did is a ``SyncReport`` (``station.sync.report``); what it
installs is an ``InstalledSet`` (``station.model``). Hashing, file reads and walks of the store
run in threads: the TV page shares this loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from catalogue.display import size
from playlists import (
    INDEX_NAME,
    Answer,
    Answers,
    AnswersRef,
    CourseEntry,
    FileRef,
    Index,
    Playlist,
    PlaylistRef,
    RepositoryError,
    SignatureError,
    StationIdentity,
    TrustedSet,
    rotation_path,
)
from playlists.answers import MAX_ANSWERS_BYTES
from playlists.minisign import MAX_SIGNATURE_FILE_BYTES
from playlists.models import MAX_INDEX_BYTES, MAX_PLAYLIST_BYTES
from playlists.trust import MAX_ROTATION_BYTES
from station.config import StationConfig
from station.errors import DownloadError, SlowRetrievalError, StoreError, SyncError
from station.model import InstalledSet, MirrorHealth, Progress
from station.store import Store
from station.sync.fetcher import Fetcher, Validators, join
from station.sync.files import MediaDownloads
from station.sync.install import Listed, next_installed, reinstalled, same_playlists
from station.sync.plan import Wanted, due_times, make_plan, next_window_start
from station.sync.report import SyncReport

log = logging.getLogger(__name__)
T = TypeVar("T")


class Syncer(MediaDownloads):
    def __init__(
        self,
        cfg: StationConfig,
        store: Store,
        fetcher: Fetcher,
        clock: Callable[[], datetime] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.fetcher = fetcher
        self.clock = clock or (lambda: datetime.now(UTC))  # the box's clock, which may be wrong
        self.on_progress = on_progress or (lambda p: None)
        self.mirrors = store.mirrors()
        self.verified: dict[str, bytes] = {}  # repository files as verified, for this station's /repo/
        self.held: set[str] = set()  # files verified as this station's /repo/ copy holds them
        self.progress = Progress()
        self._started = self._last_flush = 0.0
        self.failing: set[str] = set()  # mirrors that failed a file this pass: tried last from now on
        # The trust rules and what they remember (playlists.trusted_set); this engine persists its state.
        self.trusted = TrustedSet(cfg.trusted_keys, store.trust())
        self._saved_trust = self.trusted.state

    # ---- mirrors ----------------------------------------------------------------------------

    async def _fetch_signed(self, mirror: str, path: str, max_bytes: int) -> tuple[bytes, bytes]:
        data, _ = await self.fetcher.fetch(join(mirror, path), max_bytes)
        sig, _ = await self.fetcher.fetch(join(mirror, path + ".minisig"), MAX_SIGNATURE_FILE_BYTES)
        return data, sig

    # ---- trust ------------------------------------------------------------------------------

    async def _save_trust(self) -> None:
        """Persist the trusted set's state (fsync'd by the store) whenever it changed."""
        if self.trusted.state != self._saved_trust:
            await asyncio.to_thread(self.store.record_trust, self.trusted.state)
            self._saved_trust = self.trusted.state

    async def _follow_rotation(self, mirror: str, wanted: str) -> None:
        """Fetch the chain of rotation files leading to key ``wanted``; the trusted set checks it."""
        fetched: dict[str, tuple[bytes, bytes]] = {}  # key id → its rotation file and signature
        while wanted:
            path = rotation_path(wanted)
            try:
                data, sig = await self._fetch_signed(mirror, path, MAX_ROTATION_BYTES)
            except DownloadError as exc:
                raise SignatureError(
                    f"signed by key {wanted}, which is not a trusted key, and no rotation announces it ({exc}); "
                    "if the headend changed its key, copy its new .pub file into [sync] trusted_keys"
                ) from exc
            fetched[wanted] = data, sig
            try:
                applied = self.trusted.update_rotation(data, sig, wanted)
            finally:
                await self._save_trust()
            for rot in applied:
                new_id = rot.new_key.id_hex
                rpath = rotation_path(new_id)
                self.verified[rpath], self.verified[rpath + ".minisig"] = fetched[new_id]
                log.warning(
                    "signing key rotated: %s replaces %s (announced on %s)", new_id, rot.previous_key_id, mirror
                )
            wanted = self.trusted.awaiting  # the chain's next link, or None once it is resolved

    async def _index_from(self, mirror: str) -> tuple[Index, bytes, bytes]:
        """Verified index from one mirror; a conditional request when we hold a verified copy."""
        stored = await asyncio.to_thread(self._stored_index)
        saved = self.mirrors.get(mirror, MirrorHealth())
        # Ask "changed since?" only if the copy we hold is the newest index we verified: a pass
        # stopped after verifying a newer one (daemon restart, failed install) saved that one's
        # validators but not its bytes, and a 304 would hand us our older copy to refuse as a rollback.
        current = stored is not None and stored[2] == self.trusted.state.highest_sha256
        validators = Validators(saved.etag, saved.last_modified) if current else None
        for attempt in (1, 2):
            data, got = await self.fetcher.fetch(join(mirror, INDEX_NAME), MAX_INDEX_BYTES, validators)
            if data is None:  # 304: the copy we verified before is still current
                data, sig, _ = stored
            else:
                sig, _ = await self.fetcher.fetch(join(mirror, INDEX_NAME + ".minisig"), MAX_SIGNATURE_FILE_BYTES)
            wanted = self.trusted.needs_rotation(sig)
            if wanted:
                await self._follow_rotation(mirror, wanted)
            try:
                index = self.trusted.update_index(data, sig, self.clock())
            except SignatureError:
                # The index and its signature are two files; a mirror mid-update (or a cache
                # holding one old, one new) can hand us one of each. Ask once more, unconditionally.
                if attempt == 2:
                    raise
                validators = None
                continue
            self.mirrors[mirror] = replace(
                self.mirrors.get(mirror, MirrorHealth()), etag=got.etag, last_modified=got.last_modified
            )
            return index, data, sig
        raise AssertionError("unreachable")

    def _stored_index(self) -> tuple[bytes, bytes, str] | None:
        """The verified copy of index.json, its signature and its sha256, if this station holds
        both files (reads and hashes: call it from a thread)."""
        index, sig = self.store.repo_file(INDEX_NAME), self.store.repo_file(INDEX_NAME + ".minisig")
        try:
            data = index.read_bytes() if index and sig else None
            return (data, sig.read_bytes(), hashlib.sha256(data).hexdigest()) if data is not None else None
        except OSError:
            return None

    async def _verified_index(self) -> tuple[str, Index, bytes]:
        errors = []
        for mirror in self.cfg.mirrors:
            try:
                index, data, sig = await self._index_from(mirror)
            except (DownloadError, RepositoryError) as exc:
                errors.append(f"{mirror}: {exc}")
                self._health(mirror, str(exc))
                continue
            self._health(mirror)
            await self._save_trust()  # the highest version and newest timestamp, as soon as verified
            self.verified[INDEX_NAME], self.verified[INDEX_NAME + ".minisig"] = data, sig
            return mirror, index, data
        raise SyncError("no mirror gave a valid index; nothing was changed.\n  " + "\n  ".join(errors))

    def _held(self, pin: FileRef) -> tuple[bytes, bytes] | None:
        """This station's verified copy of a pinned file and its signature, when its bytes are
        the pinned ones (reads and hashes: call it from a thread)."""
        f, sig = self.store.repo_file(pin.path), self.store.repo_file(pin.path + ".minisig")
        try:
            data = f.read_bytes() if f and sig and f.stat().st_size == pin.size else None
            if data is None or hashlib.sha256(data).hexdigest() != pin.sha256:
                return None
            return data, sig.read_bytes()
        except OSError:
            return None

    async def _signed(self, first: str, pin: FileRef, max_bytes: int, verify: Callable[[bytes, bytes], T]) -> T:
        """A playlist or answers document, verified by ``verify``: the copy this station holds when
        the new index pins the same bytes (nothing downloaded: a new index leaves most of them as
        they were), else from the mirrors in order. A file is small, and a village link may drop
        one mid-way: each mirror gets a second try before the next is asked."""
        held = await asyncio.to_thread(self._held, pin)
        if held is not None:
            try:
                found = verify(*held)
            except RepositoryError as exc:  # say, signed by a key since retired: fetch it afresh
                log.info("held copy of %s not used: %s", pin.path, exc)
            else:
                self.held |= {pin.path, pin.path + ".minisig"}  # on disk as they are: their bytes not kept
                return found
        errors = []
        for mirror in self._ordered(first):
            for attempt in (1, 2):
                try:
                    data, sig = await self._fetch_signed(mirror, pin.path, max_bytes)
                    found = verify(data, sig)
                except DownloadError as exc:
                    if attempt == 1 and not isinstance(exc, SlowRetrievalError):
                        continue
                    failure = exc
                except RepositoryError as exc:
                    failure = exc
                else:
                    self.verified[pin.path], self.verified[pin.path + ".minisig"] = data, sig
                    return found
                errors.append(f"{mirror}: {failure}")
                self._health(mirror, str(failure))
                self.failing.add(mirror)
                break
        raise SyncError("; ".join(errors))

    async def _playlist(self, first: str, ref: PlaylistRef) -> Playlist:
        """A verified playlist, its entries read and checked for this player only (one that is
        wrong refuses the file; other players' renditions are not read)."""

        def verify(data: bytes, sig: bytes) -> Playlist:
            playlist = self.trusted.update_playlist(data, sig, ref, self.cfg.player)
            playlist.entries()
            return playlist

        return await self._signed(first, ref.file, min(MAX_PLAYLIST_BYTES, ref.file.size), verify)

    async def _held_playlist(self, first: str, ref: PlaylistRef) -> None:
        """A playlist the installed set was made from, pinned again by a new index: its pin and
        signature verified, its thousands of entries not read again (the same sha256)."""
        await self._signed(
            first,
            ref.file,
            min(MAX_PLAYLIST_BYTES, ref.file.size),
            lambda data, sig: self.trusted.confirm_playlist(data, sig, ref),
        )

    async def _answers_doc(self, first: str, ref: AnswersRef) -> Answers:
        """One answers document (the FAQ or this station's shard), verified like a playlist."""
        return await self._signed(
            first,
            ref.file,
            min(MAX_ANSWERS_BYTES, ref.file.size),
            lambda data, sig: self.trusted.update_answers(data, sig, ref),
        )

    async def _answers(
        self, first: str, index: Index, me: StationIdentity, report: SyncReport
    ) -> tuple[Answer, ...] | None:
        """This station's answers (its own questions, then the FAQ entries for it, each once), or
        None when a document could not be verified: the installed answers then stay as they were."""
        found: dict[tuple[str, str], Answer] = {}
        ok = True
        refs = sorted(index.answers_for(self.cfg.station_id), key=lambda r: r.name == "faq")  # the shard first
        for ref in refs:
            try:
                doc = await self._answers_doc(first, ref)
            except SyncError as exc:
                ok = False
                report.failures.append(f"answers {ref.file.path}: {exc}")
                continue
            for a in doc.for_station(me):
                found.setdefault(a.key, a)
        return tuple(found.values()) if ok else None

    # ---- the pass ---------------------------------------------------------------------------

    async def run(self) -> SyncReport:
        try:
            return await self._run()
        finally:
            try:
                await asyncio.to_thread(self.store.record_mirrors, self.mirrors)
            except StoreError as exc:  # a full disk: the pass's own outcome matters more
                log.warning("mirror health not saved: %s", exc)

    async def _run(self) -> SyncReport:
        report = SyncReport()
        mirror, index, index_bytes = await self._verified_index()
        report.index_version, report.mirror = index.version, mirror
        installed = self.store.installed_set()
        index_sha = await asyncio.to_thread(lambda: hashlib.sha256(index_bytes).hexdigest())
        if installed.index_sha256 == index_sha and installed.complete:
            report.up_to_date = True
            report.courses_total = report.courses_installed = len(installed.courses)
            # Grace periods end while nothing new arrives too (and a cut may have come between
            # the last install and its collection): collect here as well; no network involved.
            report.collected, _ = await asyncio.to_thread(
                self.store.collect, installed.files(), self.cfg.keep_unreferenced_days * 86400
            )
            return report

        now = self.clock()
        me = StationIdentity(self.cfg.station_id, self.cfg.region, self.cfg.tags)
        refs = sorted((r for r in index.playlists if r.targets(me, now)), key=lambda r: -r.priority)
        # A new index naming the very playlists installed (a re-signing: new version and expiry):
        # each is still verified (pin, signature by a key trusted now), but neither their
        # thousands of entries need reading again, nor any file planning.
        same = same_playlists(refs, installed)
        playlists: list[tuple[PlaylistRef, Playlist]] = []
        unavailable: set[str] = set()  # targeted playlists no mirror could give this time
        for ref in refs:
            try:
                if same:  # the bytes installed before: pin and signature checked, not read again
                    await self._held_playlist(mirror, ref)
                else:
                    playlists.append((ref, await self._playlist(mirror, ref)))
            except SyncError as exc:
                unavailable.add(ref.name)
                report.failures.append(f"playlist {ref.name}: {exc}")
        answers = await self._answers(mirror, index, me, report)
        if same and not unavailable:
            report.up_to_date = True  # no course changes: the per-course states stay as they were
            new = reinstalled(index, index_sha, installed, answers, me, now, report)
            await self._install(index, new)
            report.collected, _ = await asyncio.to_thread(
                self.store.collect, new.files(), self.cfg.keep_unreferenced_days * 86400
            )
            return report

        due = due_times([pl.schedule for _, pl in playlists], now, timedelta(hours=max(self.cfg.due_ahead_h, 24 * 7)))
        # Every course once, in priority and playlist order, with the files this player needs.
        entries: dict[str, CourseEntry] = {}
        in_playlists: dict[str, list[str]] = {}
        wanted: list[Wanted] = []
        for _, pl in playlists:
            for entry in pl.courses:
                c = entry.course
                in_playlists.setdefault(c.id, []).append(pl.name)
                if c.id in entries:
                    continue
                entries[c.id] = entry
                rendition = entry.renditions.get(self.cfg.player)
                if rendition is None:
                    report.course(
                        c.id, c.title, "failed", f"no rendition for player {self.cfg.player}; ask county staff"
                    )
                    report.failures.append(f"{c.id} 《{c.title}》: no rendition for player {self.cfg.player}")
                    continue
                files = (rendition, *([entry.poster] if entry.poster else []))
                wanted.append(Wanted(c.id, c.title, files, rank=len(wanted), due=due.get(c.id)))
        report.courses_total = len(entries)
        present = await asyncio.to_thread(self.store.present)  # walks media/
        plan = make_plan(
            wanted,
            set(present),
            now,
            self.cfg.window,
            timedelta(hours=self.cfg.due_ahead_h),
            self.cfg.quota_bytes,
        )

        ok: set[str] = {w.course_id for w in plan.ready}
        for w in plan.ready:
            report.course(w.course_id, w.title, "have")
        for w in plan.deferred:
            report.course(w.course_id, w.title, "queued", "waits for the download window")
        for w in plan.no_space:
            report.course(w.course_id, w.title, "failed", "does not fit [sync] quota_mb")
        for w in plan.fetch:
            report.course(w.course_id, w.title, "queued")
        report.deferred = len(plan.deferred)
        if plan.deferred:
            report.next_window = next_window_start(self.cfg.window, now)
        if plan.no_space:
            report.space_needed = plan.space_needed
            report.failures.append(
                f"{len(plan.no_space)} courses do not fit the quota; "
                f"{size(plan.space_needed)} more space would hold them"
            )
        report.bytes_to_fetch = plan.bytes_to_fetch
        self._started = time.monotonic()
        self.progress = Progress(
            bytes_total=plan.bytes_to_fetch,
            files_total=sum(len(w.files) for w in plan.fetch),
            courses_total=len(plan.fetch),
        )
        await self._fetch_planned(mirror, plan.fetch, report, ok)
        listed = Listed(playlists, unavailable, entries, in_playlists, answers)
        new = next_installed(
            index,
            index_sha,
            listed,
            ok,
            installed,
            {w.course_id for w in plan.no_space},
            self.cfg.player,
            self.store.has_file,
            me,
            now,
            report,
        )
        await self._install(index, new)
        report.collected, _ = await asyncio.to_thread(
            self.store.collect, new.files(), self.cfg.keep_unreferenced_days * 86400
        )
        return report

    async def _install(self, index: Index, new: InstalledSet) -> None:
        """The verified repository copy (files this station already held as they are), then the
        installed set, in one atomic write."""
        try:
            await asyncio.to_thread(self.store.save_repo_files, self.verified, self.held)
            await asyncio.to_thread(self.store.install, new)
        except StoreError as exc:
            raise SyncError(f"could not install version {index.version}: {exc}; the previous content stays") from exc
