"""A running job's progress and the transcode slots.

``JobProgress`` turns stage weights into an overall percent and ETA, writes it to the job row at
most once a second and passes it to the caller's callback (the CLI's bar); ``heartbeat_loop``
refreshes the job's heartbeat while it runs. Neither ever fails the job: a write that fails is
logged once and tried again at the next tick. ``transcode_slot`` holds one of ``[ingest]
concurrent_jobs`` slots shared by every process on a data root.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from headend.config import HeadendConfig
from headend.courseware.media import ProgressClock
from headend.db import JobStore
from headend.db.jobs import HEARTBEAT_S

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, float, "float | None"], None]  # stage, percent, eta seconds


class JobProgress:
    """A job's progress: stage weights → overall percent and ETA; written to the job row at most
    once a second (by ``flush_loop``) and passed to the caller's callback."""

    def __init__(
        self, store: JobStore, job_id: int, stages: dict[str, float], callback: ProgressCallback | None
    ) -> None:
        total = sum(stages.values()) or 1.0
        self.weights = {k: v / total for k, v in stages.items()}
        self.store, self.job_id, self.callback = store, job_id, callback
        self.clock = ProgressClock(1.0)
        self.done_before = 0.0
        self.stage = ""
        self.percent, self.eta = 0.0, None
        self.dirty = False

    def enter(self, stage: str) -> None:
        if self.stage in self.weights:
            self.done_before += self.weights[self.stage]
        self.stage = stage
        self.update(0.0)

    def update(self, stage_fraction: float) -> None:
        frac = self.done_before + self.weights.get(self.stage, 0.0) * min(max(stage_fraction, 0.0), 1.0)
        self.percent, self.eta = self.clock.estimate(frac)
        self.dirty = True
        if self.callback:
            self.callback(self.stage, self.percent, self.eta)

    async def flush_loop(self, every_s: float = 1.0) -> None:
        """Until cancelled: write the progress when it has changed. Never raises."""
        failing = _Failing(self.job_id, "its progress")
        while True:
            await asyncio.sleep(every_s)
            if not self.dirty:
                continue
            self.dirty = False
            try:
                await asyncio.to_thread(self.store.progress, self.job_id, self.stage, self.percent, self.eta)
            except Exception as exc:
                self.dirty = True  # written at the next tick
                failing.failed(exc)
            else:
                failing.ok()


class _Failing:
    """A write a job makes on the side (progress, heartbeat) failing: logged once, then once
    when it works again."""

    def __init__(self, job_id: int, what: str) -> None:
        self.job_id, self.what, self.on = job_id, what, False

    def failed(self, exc: Exception) -> None:
        if not self.on:
            log.warning("job %d: cannot record %s (%s); the job goes on, tried again", self.job_id, self.what, exc)
        self.on = True

    def ok(self) -> None:
        if self.on:
            log.info("job %d: recording %s again", self.job_id, self.what)
        self.on = False


async def heartbeat_loop(store: JobStore, job_id: int, every_s: float = HEARTBEAT_S) -> None:
    """Until cancelled: refresh the running job's heartbeat (another host goes by it to tell the
    job's process still runs, see ``headend.db.jobs``). Never raises."""
    failing = _Failing(job_id, "its heartbeat")
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(store.heartbeat, job_id)
        except Exception as exc:
            failing.failed(exc)
        else:
            failing.ok()


@asynccontextmanager
async def transcode_slot(cfg: HeadendConfig) -> AsyncIterator[None]:
    """One of ``[ingest] concurrent_jobs`` slots shared by every process on this root (``headend
    serve``'s queue and any ``headend ingest`` at the command line): lock files in the root (not in
    work/, which holds only half-made output), taken without blocking the event loop."""
    held = None
    while held is None:
        for i in range(cfg.concurrent_jobs):
            fh = open(cfg.root / f".transcode-slot-{i}.lock", "w")  # noqa: SIM115 - held open as the lock
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            held = fh
            break
        else:
            await asyncio.sleep(1.0)
    try:
        yield
    finally:
        held.close()  # closing releases the lock
