"""``station serve``: the web app plus the background sync loop, opened and closed in
``cleanup_ctx`` (the loop is always cancelled and awaited on shutdown)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from playlists import RepositoryError
from station.config import StationConfig
from station.errors import StationError
from station.fetcher import Fetcher
from station.mirror import add_mirror_routes
from station.store import Store
from station.sync import Syncer, status_record
from station.web import CONFIG, STORE, SYNC_NOW, create_app

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 3600.0


async def sync_pass(cfg: StationConfig, store: Store, session: aiohttp.ClientSession) -> dict:
    """Run one pass and record how it went; returns the status record."""
    previous = store.sync_status()
    store.record_sync({**previous, "state": "running"})

    def progress(p: dict) -> None:
        store.record_progress({k: v for k, v in p.items() if k != "started"})

    fetcher = Fetcher(session, cfg.sync_timeout_s, cfg.max_rate_bytes_per_s)
    try:
        report = await Syncer(cfg, store, fetcher, on_progress=progress).run()
    except (StationError, RepositoryError) as exc:
        rec = status_record(None, str(exc), previous)
    else:
        rec = status_record(report, None, previous)
    await asyncio.to_thread(store.record_sync, rec)
    return rec


async def _loop(app: web.Application) -> None:
    cfg, store, wake = app[CONFIG], app[STORE], app[SYNC_NOW]
    failures = 0
    async with aiohttp.ClientSession() as session:
        while True:
            was_failing = failures > 0
            wake.clear()  # a "sync now" pressed during this pass wakes the next wait
            rec = await sync_pass(cfg, store, session)
            if rec["state"] == "failed":
                failures += 1
                if not was_failing:
                    log.warning("sync failed: %s", rec.get("last_error"))
                delay = min(cfg.sync_interval_s * 2 ** min(failures - 1, 10) / 4, MAX_BACKOFF_S)
            else:
                if was_failing:
                    log.warning("sync recovered: version %s from %s", rec.get("index_version"), rec.get("mirror"))
                failures = 0
                delay = cfg.sync_interval_s
            # Jitter, so ten thousand boxes do not all call at the same second.
            delay *= random.uniform(0.8, 1.2)
            try:
                await asyncio.wait_for(wake.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass


async def _sync_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_loop(app), name="station-sync")
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def build_app(cfg: StationConfig, store: Store | None = None, *, sync: bool = True) -> web.Application:
    store = store or Store(cfg.data_dir)
    app = create_app(cfg, store)
    add_mirror_routes(app, store)
    if sync:
        app.cleanup_ctx.append(_sync_ctx)
    return app
