"""How a background loop is doing, remembered for the county page (Home Assistant's update
coordinator is the model): ``state``, when it last succeeded, its last error and when. A loop
reports each pass with ``ok()`` or ``failed(exc)``; the log gets the traceback once per new kind
of failure and one line when the loop recovers, never a line per tick. ``watch_task`` logs a
task that ends anyway (it should run until cancelled) and marks the loop stopped; ``as_task``
runs a loop as such a task while a block lasts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field

from headend.db import now_iso

log = logging.getLogger(__name__)


@dataclass
class LoopStatus:
    name: str  # "jobs", "inbox"
    label: str  # what the county page calls it
    state: str = "starting"  # starting, running, failed, stopped
    since: str = field(default_factory=now_iso)
    last_success: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    failures: int = 0  # in a row
    _kind: tuple | None = field(default=None, repr=False)

    def ok(self) -> None:
        if self.state == "failed":
            log.warning(
                "%s: working again after %d failed passes (last: %s)", self.name, self.failures, self.last_error
            )
        if self.state != "running":
            self.state, self.since = "running", now_iso()
        self.last_success = now_iso()
        self.failures = 0

    def failed(self, exc: BaseException) -> None:
        kind = (type(exc), str(exc))
        if self.state != "failed" or kind != self._kind:
            log.error(
                "%s: a pass failed; it will be tried again", self.name, exc_info=(type(exc), exc, exc.__traceback__)
            )
        if self.state != "failed":
            self.state, self.since = "failed", now_iso()
        self._kind = kind
        self.last_error = f"{exc}" if str(exc) else type(exc).__name__
        self.last_error_at = now_iso()
        self.failures += 1

    def backoff_s(self, base_s: float = 1.0, max_s: float = 60.0) -> float:
        return min(max_s, base_s * 2 ** max(0, self.failures - 1))

    def stopped(self, reason: str | None = None) -> None:
        self.state, self.since = "stopped", now_iso()
        if reason:
            self.last_error, self.last_error_at = reason, now_iso()

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "state": self.state,
            "since": self.since,
            "last_success": self.last_success,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "failures": self.failures,
        }


def watch_task(task: asyncio.Task, *statuses: LoopStatus) -> None:
    """Log (with its traceback) a loop task that ends by itself; a cancelled one is just stopped.
    ``statuses``: the loop's (a worker has one per lane), all marked stopped."""
    name = statuses[0].name

    def done(t: asyncio.Task) -> None:
        if t.cancelled():
            for status in statuses:
                status.stopped()
            return
        exc = t.exception()
        if exc is None:
            log.error("%s: the loop ended by itself; restart the headend", name)
            reason = "the loop ended by itself; restart the headend"
        else:
            log.error("%s: the loop died; restart the headend\n%s", name, "".join(traceback.format_exception(exc)))
            reason = f"the loop died ({exc}); restart the headend"
        for status in statuses:
            status.stopped(reason)

    task.add_done_callback(done)


@contextlib.asynccontextmanager
async def as_task(name: str, coro: Coroutine, status: LoopStatus) -> AsyncIterator[LoopStatus]:
    """``coro`` (a loop's ``run()``) as a watched task while the block lasts; cancelled and
    awaited at its end (what it raised was logged by ``watch_task``)."""
    task = asyncio.create_task(coro, name=name)
    watch_task(task, status)
    try:
        yield status
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
