"""``station serve``: the web app plus the background sync and upload loops, opened and closed in
``cleanup_ctx`` (the loop is always cancelled and awaited on shutdown).

The loop cannot die silently (Home Assistant's update coordinator is the model). Every pass
catches everything: a refused index or a dead mirror is an ordinary ``failed`` pass; anything
else — the status write on a full disk, a fault in this program — is logged with its traceback
once per new kind of failure, recorded as ``failed`` with the reason and the time (the admin page
and ``station status`` show it), and the loop backs off and goes on. The log says when the state
flips (failed, recovered), not every tick. Should the task end anyway, a done-callback logs it
and the status says so, instead of "running" forever.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import aiohttp
from aiohttp import web

from station.config import StationConfig
from station.errors import ConfigError, StationError
from station.model import SyncStatus
from station.store import Store
from station.store.reportfile import read_upload_state, write_upload_state
from station.sync.runner import now_utc, record_failure, sync_pass
from station.upload.loop import UploadLoop
from station.web.app import create_app
from station.web.keys import ATTENDANCE, CONFIG, STORE, SYNC_NOW, TV_SEEN
from station.web.pin import serve_refusal

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 3600.0


class SyncLoop:
    """A pass every ``[sync] interval_s`` (±20 %), at once when "sync now" is pressed, sooner
    after a failure and then less and less often (up to an hour)."""

    def __init__(self, cfg: StationConfig, store: Store, wake: asyncio.Event) -> None:
        self.cfg, self.store, self.wake = cfg, store, wake
        self.failures = 0  # passes failed in a row
        self.logged: str | None = None  # the kind of unexpected failure last logged with its traceback

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                self.wake.clear()  # a "sync now" pressed during this pass wakes the next wait
                status = await self.one_pass(session)
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=self.delay_s(status))
                except TimeoutError:
                    pass

    def delay_s(self, status: SyncStatus) -> float:
        delay = self.cfg.sync_interval_s
        if status.state == "failed":
            delay = min(delay * 2 ** min(self.failures - 1, 10) / 4, MAX_BACKOFF_S)
        # Jitter, so ten thousand boxes do not all call at the same second.
        return delay * random.uniform(0.8, 1.2)

    async def one_pass(self, session: aiohttp.ClientSession) -> SyncStatus:
        """One pass that ends in a recorded status whatever happens inside it."""
        try:
            status = await sync_pass(self.cfg, self.store, session, loud=self._first_of_its_kind)
        except Exception as exc:  # the final status write refused (a full disk), or worse
            status = await record_failure(self.store, exc, traceback=self._first_of_its_kind(exc))
        if status.state == "failed":
            self.failures += 1
            if self.failures == 1 and self.logged is None:
                log.warning("sync failed: %s", status.last_error)
        else:
            if self.failures:
                log.warning("sync recovered: version %s from %s", status.index_version, status.mirror)
            self.failures, self.logged = 0, None
        return status

    def _first_of_its_kind(self, exc: BaseException) -> bool:
        """Log the traceback once per new kind of unexpected failure, not every pass."""
        kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
        if kind == self.logged:
            return False
        self.logged = kind
        return True


def _ended(store: Store):
    def callback(task: asyncio.Task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        log.critical("the sync loop stopped: %s", exc or "it returned", exc_info=exc)
        reason = f"the sync loop stopped ({exc or 'it returned'}); restart the station (`station serve`)"
        try:
            store.record_sync(store.sync_status().failed(reason, now_utc()))
        except Exception:
            pass

    return callback


@asynccontextmanager
async def _running(coro, name: str, ended) -> AsyncIterator[None]:
    """A background loop for the app's lifetime: ``ended`` logs it should it stop by itself; on
    shutdown it is cancelled and awaited."""
    task = asyncio.create_task(coro, name=name)
    task.add_done_callback(ended)
    try:
        yield
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


async def _sync_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    try:
        await asyncio.to_thread(store.load)  # the first TV page after boot reads no file
    except StationError as exc:  # a damaged store: the pages and the first pass say so too
        log.error("%s", exc)
    async with _running(SyncLoop(app[CONFIG], store, app[SYNC_NOW]).run(), "station-sync", _ended(store)):
        yield


def _upload_ended(task: asyncio.Task) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    log.critical("the upload loop stopped: %s", exc or "it returned", exc_info=exc)


async def _upload_ctx(app: web.Application) -> AsyncIterator[None]:
    """The upload loop (station.upload.loop), when [report] has a url and a token."""
    cfg = app[CONFIG]
    journal = app[ATTENDANCE].journal
    if not cfg.report_url or not cfg.report_token:
        why = "[report] url is empty" if not cfg.report_url else cfg.no_token_reason
        try:
            write_upload_state(cfg.data_dir, replace(read_upload_state(cfg.data_dir), state="off", last_error=why))
        except StationError as exc:  # a full disk must not stop the TV
            log.warning("%s", exc)
        log.warning("reporting is off: %s", why)
        yield
        return
    contact = app[TV_SEEN]
    loop = UploadLoop(cfg, app[STORE], journal, lambda: contact.at)
    async with _running(loop.run(), "station-upload", _upload_ended):
        yield


def build_app(cfg: StationConfig, store: Store | None = None, *, sync: bool = True) -> web.Application:
    """The app ``station serve`` runs; refuses (ConfigError) an admin_pin too easy to guess."""
    refusal = serve_refusal(cfg.admin_pin, cfg.path)
    if refusal:
        raise ConfigError(refusal)
    store = store or Store(cfg.data_dir)
    app = create_app(cfg, store)
    if sync:
        app.cleanup_ctx.append(_sync_ctx)
        app.cleanup_ctx.append(_upload_ctx)
    return app
