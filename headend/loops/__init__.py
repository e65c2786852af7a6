"""The headend's background loops: the job ``worker``, the inbox ``watcher`` and (in ``headend
serve``) the ``alerts`` checks and webhook deliveries, each catching everything per pass and
remembering how it is doing (``status``), started and stopped together by ``background``
(``headend serve``'s cleanup_ctx, ``headend watch``); ``watch_once`` is
``headend watch --once``. They call the service layer, never the command line or the pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from headend.courseware.inbox import make_dirs
from headend.loops.alerts import AlertLoops
from headend.loops.status import LoopStatus, watch_task
from headend.loops.watcher import RESCAN_S, InboxWatcher
from headend.loops.worker import Worker
from headend.service import Headend
from headend.service.courseware import Outcome, recover, run_queue

__all__ = ["LoopStatus", "background", "watch_once"]


@asynccontextmanager
async def background(h: Headend, watch: bool = True, alerts: bool = False) -> AsyncIterator[list[LoopStatus]]:
    """The job worker, (optionally) the inbox watcher and the alert loops (the webhook's only when
    ``[alerts] webhook_url`` is set) as tasks; yields their statuses (one per worker lane, then the
    watcher's, then the alerts'); on exit all are cancelled and awaited."""
    worker = Worker(h, h.cfg.concurrent_jobs)
    loops = [("jobs", worker.run(), worker.statuses)]
    if watch:
        watcher = InboxWatcher(h, on_queued=worker.wake, after=worker.recovered)
        loops.append(("inbox", watcher.run(), [watcher.status]))
    if alerts:
        alert_loops = AlertLoops(h)
        loops.append(("alerts", alert_loops.checks(), [alert_loops.checks_status]))
        if h.cfg.alerts.webhook_url:
            loops.append(("webhook", alert_loops.deliveries(), [alert_loops.deliveries_status]))
    tasks = []
    for name, coro, statuses in loops:
        task = asyncio.create_task(coro, name=f"headend-{name}")
        watch_task(task, *statuses)
        tasks.append(task)
    try:
        yield [status for _, _, statuses in loops for status in statuses]
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
            except Exception:
                pass


async def watch_once(h: Headend, progress_for=None) -> AsyncIterator[Outcome]:
    """``headend watch --once``: take what is in the inbox until nothing is left settling, then
    run every queued job, yielding each outcome."""
    await asyncio.to_thread(make_dirs, h.cfg)
    await asyncio.to_thread(recover, h)
    watcher = InboxWatcher(h)
    while True:
        taken, settling = await watcher.scan()
        if not settling and not taken:
            break
        await asyncio.sleep(min(RESCAN_S, max(h.cfg.watch_settle_s / 4, 0.05)))
    async for outcome in run_queue(h, progress_for):
        yield outcome
