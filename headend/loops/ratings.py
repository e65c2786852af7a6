"""The star-rating loop of ``headend serve``: every ``[alerts] check_interval_s`` it freezes the
rating periods that have closed (``service.ratings.freeze_closed``) and rebuilds every station's
rating summary (``service.rating_summary``), both in a thread, and keeps the summaries in memory
for the report collector, which hands each station its own in the answer to an upload
(docs/reporting.md). A failed pass keeps the summaries of the last good one; like every loop it
catches everything per pass and shows its state (``LoopStatus`` "星级评定") on /county/publishing
and /api/v1/health."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from headend.loops.status import LoopStatus, as_task
from headend.service import Headend
from headend.service.rating_summary import rating_summaries
from headend.service.ratings import freeze_closed


class RatingLoop:
    def __init__(self, h: Headend) -> None:
        self.h = h
        self.status = LoopStatus("ratings", "星级评定")
        self._summaries: dict[str, dict] = {}

    def summary(self, station_id: str) -> dict | None:
        """The station's summary from the last good pass (None: none yet, or not rated)."""
        return self._summaries.get(station_id)

    def _pass(self, now: datetime) -> dict[str, dict]:
        freeze_closed(self.h, now)
        return rating_summaries(self.h, now)

    async def refresh(self, now: datetime | None = None) -> None:
        """One pass (raises what it meets; ``run`` records it)."""
        self._summaries = await asyncio.to_thread(self._pass, now or datetime.now(UTC))

    async def run(self) -> None:
        status, interval = self.status, self.h.cfg.alerts.check_interval_s
        while True:
            try:
                await self.refresh()
                status.ok()
            except Exception as exc:
                status.failed(exc)
                await asyncio.sleep(min(interval, status.backoff_s(5.0, 300.0)))
                continue
            await asyncio.sleep(interval)

    def running(self):
        """``run`` as a task while the block lasts (cancelled and awaited at its end)."""
        return as_task("headend-ratings", self.run(), self.status)
