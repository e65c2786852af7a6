"""The live-class loop of ``headend serve`` (issue 16): every few seconds it starts the encoder
(``courseware.live.run_live``) for each class due (from ``[live] start_early_s`` before its start
to its end; the class's own source or ``[live] input``), hands each ended class's recording to
the inbox as its replay course (``service.live.hand_over_recordings``), and once that course is
transcoded for every player, publishes (the dashboard's publish-now run), so stations that missed
the class get the replay with their next sync. An encoder that stops before its class ends is
started again after ``RETRY_S``. On shutdown every encoder is cancelled (its ffmpeg killed); a
restarted server picks a class on air up again, its playlists continued. Several ``headend serve``
processes on one data root (behind nginx): the first to start a class's encoder holds its lock,
the others leave it be."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from headend.courseware.live import run_live
from headend.errors import BadRequest
from headend.loops.status import LoopStatus, as_task
from headend.repository.live import end_of
from headend.service import Headend
from headend.service.audit import Actor
from headend.service.live import due, hand_over_recordings, replays_ready, source_of
from headend.service.publish_run import PublishRun

log = logging.getLogger(__name__)

POLL_S = 2.0
RETRY_S = 30.0  # an encoder that gave up (a source that never came) is tried again this much later


class LiveLoop:
    def __init__(self, h: Headend, publisher: PublishRun, poll_s: float = POLL_S, retry_s: float = RETRY_S) -> None:
        self.h, self.publisher, self.poll_s, self.retry_s = h, publisher, poll_s, retry_s
        self.status = LoopStatus("live", "直播")
        self.encoders: dict[str, asyncio.Task] = {}
        self._retry_at: dict[str, float] = {}
        self._publishing: list[str] = []  # classes whose replay the running publish carries
        self._publish_after = 0.0

    async def tick(self, now: datetime | None = None) -> None:
        """One pass (raises what it meets; ``run`` records it)."""
        now = now or datetime.now(UTC)
        loop = asyncio.get_running_loop()
        for live_id, task in list(self.encoders.items()):
            if task.done():
                del self.encoders[live_id]
                self._retry_at[live_id] = loop.time() + self.retry_s
                exc = None if task.cancelled() else task.exception()
                if isinstance(exc, BadRequest) and exc.field == "id":  # another headend process encodes it
                    log.info("live %s: %s", live_id, exc)
                elif exc is not None:
                    log.error("live %s: the encoder stopped: %s", live_id, exc)
        classes = await asyncio.to_thread(due, self.h, now)
        for live_id in set(self.encoders) - {x.id for x in classes}:  # ending (it stops itself), or cancelled
            x = await asyncio.to_thread(self.h.db.live.get, live_id)
            if x is None or x.cancelled_at:  # cancelled while on air: off the air now
                log.warning("live %s: cancelled while on air; stopping its encoder", live_id)
                self.encoders.pop(live_id).cancel()
        for x in classes:
            if x.id in self.encoders or loop.time() < self._retry_at.get(x.id, 0):
                continue
            log.info("live %s: starting the encoder (%s) until %s", x.id, source_of(self.h, x), end_of(x))
            coro = run_live(self.h.cfg, x.id, source_of(self.h, x), end_of(x), segment_s=self.h.cfg.live.segment_s)
            self.encoders[x.id] = asyncio.create_task(coro, name=f"live-{x.id}")
        for live_id in await asyncio.to_thread(hand_over_recordings, self.h, now):
            log.info("live %s: its recording went to the inbox as the replay", live_id)
        await self._publish_replays(now, loop.time())

    async def _publish_replays(self, now: datetime, t: float) -> None:
        """Publish once the replays are transcoded; each is marked published when a publish that
        started after it was ready has succeeded (a failed one is tried again after RETRY_S)."""
        if self.publisher.running:
            return
        if self._publishing:
            ids, self._publishing = self._publishing, []
            if self.publisher.state == "done":
                for live_id in ids:
                    await asyncio.to_thread(
                        self.h.db.live.replay_published, live_id, now.strftime("%Y-%m-%dT%H:%M:%SZ")
                    )
                    log.info("live %s: its replay is published (version %s)", live_id, self.publisher.version)
                return
            log.error("live: publishing the replays of %s failed: %s", ", ".join(ids), self.publisher.error)
            self._publish_after = t + self.retry_s
        if t < self._publish_after:
            return
        ready = await asyncio.to_thread(replays_ready, self.h, now)
        if ready and self.publisher.start(self.h, Actor("system", "live")):
            self._publishing = [x.id for x in ready]

    async def run(self) -> None:
        status = self.status
        try:
            while True:
                try:
                    await self.tick()
                    status.ok()
                except Exception as exc:
                    status.failed(exc)
                    await asyncio.sleep(min(60.0, status.backoff_s(self.poll_s, 60.0)))
                    continue
                await asyncio.sleep(self.poll_s)
        finally:
            for task in self.encoders.values():
                task.cancel()
            await asyncio.gather(*self.encoders.values(), return_exceptions=True)

    def running(self):
        """``run`` as a task while the block lasts (cancelled and awaited at its end)."""
        return as_task("headend-live", self.run(), self.status)
