"""Getting a pass's planned files into the store: each from the mirrors in order (the one that
gave the index first, those that failed a file this pass last), resumed after a cut with real
progress, checked against its pinned sha256 before it enters, within the disk's reserve; and
each mirror's health as the pass finds it. ``MediaDownloads`` is the part of the ``Syncer``
(``station.sync.engine``) that does this; it uses the engine's ``cfg``, ``store``, ``fetcher``,
``mirrors``, ``failing``, ``progress`` and ``on_progress``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from catalogue.display import size
from playlists import FileRef
from station.config import StationConfig
from station.errors import DownloadError, SlowRetrievalError, StoreError, SyncError
from station.model import MirrorHealth, Progress
from station.store import Store
from station.sync.fetcher import Fetcher, join
from station.sync.plan import Wanted
from station.sync.report import SyncReport

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 2.0
# A download cut after some progress resumes from the same mirror at once (a keep-alive connection
# may be cut just after it started a file), as long as the cuts average at least this many new
# bytes; a mirror that stalls resumes only after this much (else the next mirror is tried).
MIN_RESUME_PROGRESS = 64 * 1024


class MediaDownloads:
    cfg: StationConfig
    store: Store
    fetcher: Fetcher
    mirrors: dict[str, MirrorHealth]
    failing: set[str]
    progress: Progress
    on_progress: Callable[[Progress], None]
    _started: float
    _last_flush: float

    def _health(self, mirror: str, error: str | None = None) -> None:
        h, now = self.mirrors.get(mirror, MirrorHealth()), datetime.now(UTC)
        self.mirrors[mirror] = h.succeeded(now) if error is None else h.failed(error, now)

    def _ordered(self, first: str) -> list[str]:
        """``first`` (the mirror that gave the index), then the others in configured order; a
        mirror that already failed a file this pass (stalled, refused, altered) goes last, so a
        dead mirror costs one timeout per pass, not one per file."""
        order = [first, *[m for m in self.cfg.mirrors if m != first]]
        return [m for m in order if m not in self.failing] + [m for m in order if m in self.failing]

    def _bytes(self, n: int) -> None:
        p = self.progress = replace(self.progress, bytes_done=self.progress.bytes_done + n)
        now = time.monotonic()
        if now - self._last_flush >= PROGRESS_EVERY_S:
            rate = int(p.bytes_done / max(now - self._started, 1e-3))
            self.progress = replace(
                p, rate_bytes_per_s=rate, eta_s=int((p.bytes_total - p.bytes_done) / rate) if rate else None
            )
            self._last_flush = now
            self.on_progress(self.progress)

    def _check_space(self, ref: FileRef) -> None:
        st = os.statvfs(self.store.data_dir)
        free = st.f_bavail * st.f_frsize
        if free - ref.size < self.cfg.reserve_free_bytes:
            need = ref.size + self.cfg.reserve_free_bytes - free
            raise StoreError(
                f"the disk has {size(free)} free and must keep {size(self.cfg.reserve_free_bytes)} "
                f"([sync] reserve_free_mb); {ref.path} needs {size(need)} more; free space or lower [sync] quota_mb"
            )

    async def _ensure_file(self, first: str, ref: FileRef, report: SyncReport) -> None:
        if self.store.has_blob(ref):
            return
        self._check_space(ref)
        partial = self.store.partial_path(ref)
        errors = []
        for mirror in self._ordered(first):
            try:
                url = join(mirror, ref.path)
            except DownloadError as exc:
                errors.append(str(exc))
                self.failing.add(mirror)
                continue
            restarted = False
            resumes = 0
            while True:
                resumed = partial.exists()
                have = partial.stat().st_size if resumed else 0
                before = self.fetcher.bytes_received
                try:
                    digest = await self.fetcher.download(url, partial, ref, self._bytes)
                except DownloadError as exc:
                    self._health(mirror, str(exc))
                    grown = (partial.stat().st_size if partial.exists() else 0) - have
                    resumes += 1
                    stalled = isinstance(exc.__cause__, asyncio.TimeoutError)
                    if (
                        not isinstance(exc, SlowRetrievalError)  # a slow mirror stays slow: the next one
                        and (grown >= MIN_RESUME_PROGRESS or (grown > 0 and not stalled))
                        and resumes <= 2 + ref.size // MIN_RESUME_PROGRESS
                    ):
                        # The connection dropped after real progress (a flaky link): resume
                        # from the same mirror rather than leave the file for the next pass.
                        log.info("%s: connection lost after %d more bytes; resuming", url, grown)
                        continue
                    errors.append(str(exc))
                    self.failing.add(mirror)
                    break
                finally:
                    report.bytes_downloaded += self.fetcher.bytes_received - before
                if digest == ref.sha256:
                    await asyncio.to_thread(self.store.add_blob, partial, ref)
                    partial.with_name(partial.name + ".json").unlink(missing_ok=True)
                    self._health(mirror)
                    report.files_downloaded += 1
                    return
                partial.unlink(missing_ok=True)
                partial.with_name(partial.name + ".json").unlink(missing_ok=True)
                if resumed and not restarted:
                    restarted = True
                    continue  # the partial file was bad; once more from the start
                errors.append(f"{url}: sha256 differs from the signed playlist (altered or damaged); discarded")
                self._health(mirror, errors[-1])
                self.failing.add(mirror)
                break
        raise SyncError("; ".join(errors))

    async def _fetch_planned(self, mirror: str, fetch: list[Wanted], report: SyncReport, ok: set[str]) -> None:
        """Download what the plan says, in its order; a full disk stops the rest cleanly."""
        disk_full = None
        for w in fetch:
            if disk_full:
                report.course_failed(w.course_id, disk_full)
                continue
            report.course(w.course_id, w.title, "downloading")
            self.progress = replace(self.progress, current=w.title)
            try:
                for f in w.files:
                    await self._ensure_file(mirror, f, report)
            except StoreError as exc:
                disk_full = str(exc)
                report.failures.append(disk_full)
                report.course_failed(w.course_id, disk_full)
                continue
            except SyncError as exc:
                report.failures.append(f"{w.course_id} 《{w.title}》: {exc}")
                report.course_failed(w.course_id, str(exc))
                continue
            report.course(w.course_id, w.title, "have")
            ok.add(w.course_id)
