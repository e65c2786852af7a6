"""The job worker: ``concurrency`` lanes, each claiming the oldest queued job and running it
(``headend.service.courseware.run_job``), until cancelled. ``wake()`` after queueing; each lane
also looks at the queue every ``poll_s`` (another process may have queued something). A pass
that fails (the database is down, anything unexpected) is recorded in ``status``, logged once per
new kind of failure, and tried again after a back-off."""

from __future__ import annotations

import asyncio

from headend.loops.status import LoopStatus
from headend.service import Headend
from headend.service.courseware import claim_next, recover, run_job


class Worker:
    def __init__(self, h: Headend, concurrency: int = 1, poll_s: float = 2.0) -> None:
        self.h = h
        self.concurrency = max(1, concurrency)
        self.poll_s = poll_s
        self._wake = asyncio.Event()
        self.recovered = asyncio.Event()  # what a stop left has been put back
        self.status = LoopStatus("jobs", "转码队列")

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:  # recover what a stop left before running anything
            try:
                await asyncio.to_thread(recover, self.h)
                self.status.ok()
                self.recovered.set()
                break
            except Exception as exc:
                self.status.failed(exc)
                await asyncio.sleep(self.status.backoff_s())
        await asyncio.gather(*(self._lane() for _ in range(self.concurrency)))

    async def _idle(self, seconds: float) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _lane(self) -> None:
        while True:
            try:
                job = await asyncio.to_thread(claim_next, self.h)
                if job is not None:
                    await run_job(self.h, job)
                self.status.ok()
            except Exception as exc:
                self.status.failed(exc)
                await asyncio.sleep(self.status.backoff_s())
                continue
            if job is None:
                await self._idle(self.poll_s)
