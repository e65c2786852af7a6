"""The job worker: ``concurrency`` lanes, each claiming the oldest queued job and running it
(``headend.service.courseware.run_job``), until cancelled. ``wake()`` after queueing; each lane
also looks at the queue every ``poll_s`` (another process may have queued something). Each lane
has its own ``LoopStatus`` (one lane's success never hides another's failure): a pass that fails
(the database is down, anything unexpected) is recorded there, logged once per new kind of
failure, and tried again after a back-off. A job the database failed under (``JobNotRecorded``)
is queued again at the start of a later pass, once the database answers."""

from __future__ import annotations

import asyncio

from headend.errors import JobNotRecorded
from headend.loops.status import LoopStatus
from headend.service import Headend
from headend.service.courseware import claim_next, recover, requeue, run_job

NAME, LABEL = "jobs", "转码队列"


class Worker:
    def __init__(self, h: Headend, concurrency: int = 1, poll_s: float = 2.0) -> None:
        self.h = h
        self.concurrency = max(1, concurrency)
        self.poll_s = poll_s
        self._wake = asyncio.Event()
        self.recovered = asyncio.Event()  # what a stop left has been put back
        if self.concurrency == 1:
            self.statuses = [LoopStatus(NAME, LABEL)]
        else:
            self.statuses = [LoopStatus(f"{NAME}-{n}", f"{LABEL} {n}") for n in range(1, self.concurrency + 1)]
        self.unrecorded: set[int] = set()  # jobs to queue again once the database answers

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        first = self.statuses[0]
        while True:  # recover what a stop left before running anything
            try:
                await asyncio.to_thread(recover, self.h)
                first.ok()
                self.recovered.set()
                break
            except Exception as exc:
                first.failed(exc)
                await asyncio.sleep(first.backoff_s())
        await asyncio.gather(*(self._lane(status) for status in self.statuses))

    async def _idle(self, seconds: float) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _lane(self, status: LoopStatus) -> None:
        while True:
            try:
                if self.unrecorded:
                    await asyncio.to_thread(requeue, self.h, self.unrecorded)
                job = await asyncio.to_thread(claim_next, self.h)
                if job is not None:
                    await run_job(self.h, job)
                status.ok()
            except Exception as exc:
                if isinstance(exc, JobNotRecorded):
                    self.unrecorded.add(exc.job_id)
                status.failed(exc)
                await asyncio.sleep(status.backoff_s())
                continue
            if job is None:
                await self._idle(self.poll_s)
