"""The upload loop of ``station serve``, guarded like the sync loop (``station.daemon``).

It journals a ``health`` event every ``[report] health_interval_s`` — and at once when sync has
installed a new version (looked at every ``CONTENT_CHECK_S``), so the county's dashboard does not
call an up-to-date station "behind" for an interval — and uploads whenever the
journal holds what the headend has not acknowledged: woken by each append (after a few seconds,
so a study session's events go together), polling every ``POLL_S`` while a backlog remains. An idle
station makes one request per health interval: the heartbeat's own upload.

Every pass catches everything: a failure is recorded in ``report.json`` (``UploadState``), logged
when the state flips (failed, recovered) and backed off with jitter, 30 s doubling up to an hour;
``Retry-After`` is obeyed; a refused, revoked or foreign token waits the longest (an hour) — no
hot loop. Appends during a back-off do not shorten it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp

from station.config import StationConfig
from station.errors import StationError
from station.model.reporting import UploadState
from station.records.journal import Journal
from station.store import Store
from station.upload.client import Answer
from station.upload.health import record_health
from station.upload.run import RunResult, Uploader

log = logging.getLogger(__name__)

POLL_S = 30.0
SETTLE_S = 5.0
FIRST_BACKOFF_S = 30.0
MAX_BACKOFF_S = 3600.0
CONTENT_CHECK_S = 30.0  # how often to look whether sync installed a new version (then a heartbeat goes at once)
LONG_WAIT = ("revoked", "unknown", "forbidden", "refused", "too_large")


class UploadLoop:
    def __init__(
        self,
        cfg: StationConfig,
        store: Store,
        journal: Journal,
        tv_seen: Callable[[], float | None] = lambda: None,
        *,
        settle_s: float = SETTLE_S,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg, self.store, self.journal, self.tv_seen = cfg, store, journal, tv_seen
        self.settle_s, self.mono = settle_s, mono
        self.uploader = Uploader(cfg, journal)
        self.wake = asyncio.Event()
        self.failures = 0
        self.failed_kind: str | None = None
        self.logged: str | None = None

    def _woken(self) -> None:
        """From the thread that appended: wake the loop in its own event loop."""
        self._loop.call_soon_threadsafe(self.wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.journal.on_append = self._woken
        next_health = self.mono()  # a first heartbeat at start: the county sees the box came up
        not_before = 0.0
        reported_version = None  # the installed version the last heartbeat told the county
        try:
            async with aiohttp.ClientSession() as session:
                while True:
                    self.wake.clear()
                    now = self.mono()
                    installed = await asyncio.to_thread(self._installed_version)
                    if now >= next_health or installed != reported_version:
                        # a new version installed is news for the county's dashboard at once
                        next_health = now + self.cfg.health_interval_s
                        await self._health()
                        reported_version = installed
                    backlog = await asyncio.to_thread(self.uploader.backlog)
                    if backlog and self.mono() >= not_before:
                        not_before = self.mono() + await self.one_pass(session)
                        backlog = self.uploader.state.backlog
                    now = self.mono()
                    until = min(next_health, now + CONTENT_CHECK_S)
                    if backlog:
                        until = min(until, max(not_before, now + (0 if self.failures else POLL_S)))
                    try:
                        await asyncio.wait_for(self.wake.wait(), timeout=max(0.0, until - now))
                        await asyncio.sleep(self.settle_s)  # the rest of a burst of appends comes along
                    except TimeoutError:
                        pass
        finally:
            self.journal.on_append = None

    def _installed_version(self) -> int | None:
        try:
            return self.store.installed_set().index_version
        except StationError:  # a damaged station.json: the heartbeat says so in its own time
            return None

    async def _health(self) -> None:
        try:
            backlog = await asyncio.to_thread(self.uploader.backlog)
            await asyncio.to_thread(
                record_health,
                self.store,
                self.journal,
                self.cfg.health_interval_s,
                self.uploader.state,
                self.tv_seen,
                backlog,
            )
        except StationError as exc:  # a full journal or disk: the next interval tries again
            log.warning("health sample not recorded: %s", exc)
        except Exception:
            log.exception("health sample failed")

    async def one_pass(self, session: aiohttp.ClientSession) -> float:
        """One upload run that ends recorded whatever happens inside it; returns the seconds to
        wait before the next may start (0 after a success)."""
        try:
            result = await self.uploader.run(session)
        except Exception as exc:  # a fault in this program or the disk: recorded like a refusal
            kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
            if kind != self.logged:
                self.logged = kind
                log.exception("upload pass failed")
            answer = Answer("unreachable", error=f"the upload stopped: {exc}")
            self.uploader.state = _failed(self.uploader.state, answer)
            result = RunResult(0, self.uploader.state.backlog, answer)
        return self._after(result)

    def _after(self, result: RunResult) -> float:
        if result.ok:
            if self.failures:
                log.warning("upload recovered: %d events sent, %d remain", result.sent, result.remaining)
            self.failures, self.failed_kind, self.logged = 0, None, None
            if self.uploader.state.next_attempt is not None:
                self.uploader.mark(next_attempt=None)
            return 0.0
        answer = result.answer
        self.failures += 1
        if answer.kind != self.failed_kind:
            log.warning("upload failed: %s", self.uploader.state.last_error)
            self.failed_kind = answer.kind
        if answer.kind == "busy" and answer.retry_after_s is not None:
            delay = answer.retry_after_s
        elif answer.kind in LONG_WAIT:
            delay = MAX_BACKOFF_S
        else:
            delay = min(FIRST_BACKOFF_S * 2 ** min(self.failures - 1, 10), MAX_BACKOFF_S)
            delay *= random.uniform(0.8, 1.2)
        self.uploader.mark(next_attempt=_at(delay))
        return delay


def _failed(state: UploadState, answer: Answer) -> UploadState:
    now = datetime.now(UTC)
    return replace(
        state, state="failed", last_attempt=now, last_error=answer.error, error_kind="unreachable", error_since=now
    )


def _at(delay_s: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=delay_s)
