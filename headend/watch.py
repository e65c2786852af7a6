"""The watch folder: files dropped into ``<root>/inbox/`` are ingested without anyone typing a
command — by ``headend serve`` (through the app's cleanup_ctx) or ``headend watch`` alone.

::

    inbox/雨季养鹅 第3集.mp4   (+ optional 雨季养鹅 第3集.toml sidecar)
      │  taken once its size and time have not changed for [watch] settle_s (uploads take minutes)
      ▼
    inbox/processing/   checked (headend.ingest.prepare), queued as a job, transcoded
      ├─► inbox/done/        finished: the course is in the catalogue
      └─► inbox/rejected/    refused or failed, with NAME.error.txt: what is wrong, what to do

watchdog tells us something changed; a short timer re-reads the folder anyway (events can be
missed on network shares) and is what notices that a file has stopped growing.
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator

from headend.config import HeadendConfig
from headend.db import Database
from headend.errors import IngestError
from headend.jobs import Job, JobStore, Worker
from playlists.atomic import atomic_write, fsync_dir

log = logging.getLogger(__name__)

SUBDIRS = ("processing", "done", "rejected")
IGNORED_SUFFIXES = (".toml", ".error.txt", ".part", ".tmp", ".crdownload", "~")
RESCAN_S = 1.0


def is_candidate(name: str) -> bool:
    """A file in the inbox that may be courseware (not a sidecar, note, hidden or partial file)."""
    return not name.startswith(".") and not name.lower().endswith(IGNORED_SUFFIXES)


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # when it was first seen with this size and time


class Settler:
    """Decides when a file has stopped growing: the same (size, mtime) for ``settle_s`` seconds.
    Pure: feed it listings and the time."""

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self.seen: dict[str, _Seen] = {}

    def observe(self, listing: dict[str, tuple[int, int]], now: float) -> list[str]:
        ready = []
        for name in list(self.seen):
            if name not in listing:
                del self.seen[name]
        for name, (size, mtime) in sorted(listing.items()):
            prev = self.seen.get(name)
            if prev is None or (prev.size, prev.mtime_ns) != (size, mtime):
                self.seen[name] = _Seen(size, mtime, now)
                if self.settle_s > 0:
                    continue
            if now - self.seen[name].since >= self.settle_s:
                ready.append(name)
        return ready

    def forget(self, name: str) -> None:
        self.seen.pop(name, None)


def list_inbox(inbox: Path) -> dict[str, tuple[int, int]]:
    """Candidate files with (size, mtime); a sidecar's own size and time are folded in, so a file
    whose sidecar is still being written is not taken yet."""
    out = {}
    try:
        entries = list(os.scandir(inbox))
    except FileNotFoundError:
        return out
    stats = {}
    for e in entries:
        try:
            if e.is_file(follow_symlinks=False):
                st = e.stat(follow_symlinks=False)
                stats[e.name] = (st.st_size, st.st_mtime_ns)
        except OSError:
            continue
    for name, (size, mtime) in stats.items():
        if not is_candidate(name):
            continue
        stem = name.rsplit(".", 1)[0]
        for side in (f"{stem}.toml", f"{name}.toml"):
            if side in stats:
                size, mtime = size + stats[side][0], max(mtime, stats[side][1])
        out[name] = (size, mtime)
    return out


def recover_processing(cfg: HeadendConfig, active_paths: set[str]) -> list[str]:
    """Files left in processing/ by a stop, with no queued or running job: back to the inbox, to
    be taken again (a finished course is found again without transcoding)."""
    moved = []
    folder = cfg.inbox_dir / "processing"
    if not folder.is_dir():
        return moved
    for path in sorted(folder.iterdir()):
        if path.is_file() and is_candidate(path.name) and str(path.resolve()) not in active_paths:
            move_with_sidecar(path, cfg.inbox_dir)
            moved.append(path.name)
    if moved:
        log.warning("inbox: %s were left in processing/ by a stop; taken again", moved)
    return moved


def _free_name(folder: Path, name: str) -> Path:
    dest = folder / name
    n = 2
    stem, dot, ext = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
    while dest.exists() or dest.with_name(dest.name + ".error.txt").exists():
        dest = folder / (f"{stem} ({n}).{ext}" if dot else f"{name} ({n})")
        n += 1
    return dest


def _sidecar_of(path: Path) -> Path | None:
    for cand in (path.with_suffix(".toml"), path.with_name(path.name + ".toml")):
        if cand != path and cand.is_file():
            return cand
    return None


def move_with_sidecar(path: Path, folder: Path) -> Path:
    """Move a file (and its sidecar) into ``folder`` under a free name; fsync the folders."""
    folder.mkdir(parents=True, exist_ok=True)
    side = _sidecar_of(path)
    dest = _free_name(folder, path.name)
    os.replace(path, dest)
    if side is not None:
        side_dest = dest.with_suffix(".toml") if side.name == path.with_suffix(".toml").name else dest.with_name(dest.name + ".toml")
        os.replace(side, side_dest)
    fsync_dir(folder)
    fsync_dir(path.parent)
    return dest


def reject(path: Path, rejected: Path, message: str, log_tail: str = "") -> Path:
    """Move a refused file to ``rejected/`` with ``NAME.error.txt`` saying what is wrong and what to do."""
    dest = move_with_sidecar(path, rejected) if path.exists() else _free_name(rejected, path.name)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"{dest.name} was not ingested ({when}).\n\n{message}\n\n"
            "When it is fixed, put the file (and its .toml) back into the inbox folder; it will be taken again.\n")
    if log_tail:
        text += f"\nffmpeg's last lines:\n{log_tail}\n"
    atomic_write(dest.with_name(dest.name + ".error.txt"), text.encode("utf-8"))
    log.warning("inbox: %s refused: %s", path.name, message)
    return dest


def finish_watched(cfg: HeadendConfig, job: Job, error: str | None, log_tail: str = "") -> None:
    """After a watch-folder job: its file goes to done/ or, with the reason, to rejected/."""
    path = Path(job.source_path)
    if not path.exists():
        return
    if error is None:
        move_with_sidecar(path, cfg.inbox_dir / "done")
    else:
        reject(path, cfg.inbox_dir / "rejected", error, log_tail)


class InboxWatcher:
    def __init__(self, cfg: HeadendConfig, ingester, worker: Worker | None) -> None:
        self.cfg = cfg
        self.ingester = ingester
        self.worker = worker
        self.settler = Settler(cfg.watch_settle_s)
        self.changed = asyncio.Event()
        self.last_error: str | None = None

    def _dirs(self) -> None:
        for sub in SUBDIRS:
            (self.cfg.inbox_dir / sub).mkdir(parents=True, exist_ok=True)

    async def scan(self) -> tuple[int, int]:
        """One look at the inbox; take every settled file. (taken, still settling)."""
        loop = asyncio.get_running_loop()
        listing = await asyncio.to_thread(list_inbox, self.cfg.inbox_dir)
        ready = self.settler.observe(listing, loop.time())
        for name in ready:
            self.settler.forget(name)
            await self.take(self.cfg.inbox_dir / name)
        return len(ready), len(listing) - len(ready)

    async def take(self, path: Path) -> None:
        from headend.ingest import prepare

        inbox = self.cfg.inbox_dir
        try:
            moved = await asyncio.to_thread(move_with_sidecar, path, inbox / "processing")
        except OSError as exc:
            log.error("inbox: cannot move %s into processing/ (%s)", path.name, exc)
            return
        try:
            acc = await prepare(self.cfg, moved, default_category=self.cfg.watch_default_category)
            same = await asyncio.to_thread(self.ingester.store.active_for, acc.sha256)
            if same is not None:
                raise IngestError(
                    f"{path.name}: the same file (same content) is already being ingested as job {same.id} "
                    f"({same.source_name}); this copy was not needed — nothing to do"
                )
            job = await self.ingester.submit(acc, "watch")
        except IngestError as exc:
            await asyncio.to_thread(reject, moved, inbox / "rejected", str(exc).replace(moved.name, path.name, 1))
            return
        except Exception as exc:  # noqa: BLE001 - never leave a file stranded in processing/
            log.exception("inbox: %s could not be checked", path.name)
            await asyncio.to_thread(reject, moved, inbox / "rejected",
                                    f"{path.name}: the headend could not check it ({exc}); see the headend log, then drop it again")
            return
        log.info("inbox: %s queued as job %d", path.name, job.id)
        if self.worker is not None:
            self.worker.wake()

    async def run(self) -> None:
        """Watch until cancelled."""
        await asyncio.to_thread(self._dirs)
        active = await asyncio.to_thread(self.ingester.store.active_paths)
        await asyncio.to_thread(recover_processing, self.cfg, active)
        loop = asyncio.get_running_loop()
        observer = await asyncio.to_thread(self._start_observer, loop)
        try:
            while True:
                try:
                    await self.scan()
                    if self.last_error is not None:
                        log.warning("inbox: watching again (%s)", self.cfg.inbox_dir)
                    self.last_error = None
                except Exception as exc:  # noqa: BLE001 - a loop remembers and says how it is doing
                    if self.last_error != str(exc):
                        log.exception("inbox: scan failed")
                    self.last_error = str(exc)
                self.changed.clear()
                try:
                    await asyncio.wait_for(self.changed.wait(), RESCAN_S)
                except asyncio.TimeoutError:
                    pass
        finally:
            if observer is not None:
                observer.stop()
                await asyncio.to_thread(observer.join, 5)

    def _start_observer(self, loop: asyncio.AbstractEventLoop):
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        changed = self.changed

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                loop.call_soon_threadsafe(changed.set)

        try:
            observer = Observer()
            observer.schedule(Handler(), str(self.cfg.inbox_dir), recursive=False)
            observer.start()
            return observer
        except OSError as exc:  # inotify limits, odd filesystems: the timer still rescans
            log.warning("inbox: no change notifications (%s); re-reading the folder every %.0f s", exc, RESCAN_S)
            return None


def make_runner(cfg: HeadendConfig, ingester):
    """What the worker does with a claimed job: run it; watch-folder files go to done/ or rejected/."""

    async def run_job(job: Job) -> None:
        error, tail = None, ""
        try:
            await ingester.run(job)
        except IngestError as exc:
            error, tail = str(exc), getattr(exc, "log_tail", "")
        except Exception as exc:  # noqa: BLE001 - one bad job must not stop the queue
            log.exception("job %d (%s) failed unexpectedly", job.id, job.source_name)
            error = f"{job.source_name}: internal error ({exc}); see the headend log"
            await asyncio.to_thread(ingester.store.fail, job.id, error)
        if job.origin == "watch":
            await asyncio.to_thread(finish_watched, cfg, job, error, tail)

    return run_job


@asynccontextmanager
async def courseware_service(cfg: HeadendConfig, watch: bool = True) -> AsyncIterator[tuple[Worker, InboxWatcher]]:
    """The job worker and (optionally) the inbox watcher as background tasks, cancelled and
    awaited on exit."""
    from headend.ingest import Ingester

    db = Database(cfg.db_path)
    await asyncio.to_thread(db.create)
    await asyncio.to_thread(JobStore(db).create)
    ingester = Ingester(cfg, db)
    worker = Worker(ingester.store, make_runner(cfg, ingester), cfg.concurrent_jobs)
    watcher = InboxWatcher(cfg, ingester, worker)
    tasks = [asyncio.create_task(worker.run(), name="jobs")]
    if watch:
        tasks.append(asyncio.create_task(watcher.run(), name="inbox"))
    try:
        yield worker, watcher
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass


async def run_watch(cfg: HeadendConfig, once: bool = False) -> None:
    """``headend watch``: until Ctrl-C, or with ``once`` until the inbox is empty and every job is done."""
    if not once:
        async with courseware_service(cfg):
            await asyncio.Event().wait()
        return
    from headend.cli_courses import _run_queue

    from headend.ingest import Ingester

    ingester = Ingester(cfg, Database(cfg.db_path))
    watcher = InboxWatcher(cfg, ingester, None)
    await asyncio.to_thread(watcher._dirs)
    await asyncio.to_thread(ingester.store.recover_interrupted)
    await asyncio.to_thread(recover_processing, cfg, await asyncio.to_thread(ingester.store.active_paths))
    while True:
        taken, settling = await watcher.scan()
        if not settling and not taken:
            break
        await asyncio.sleep(min(RESCAN_S, max(cfg.watch_settle_s / 4, 0.05)))
    await _run_queue(str(cfg.root))
