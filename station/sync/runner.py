"""One recorded sync pass, as ``station sync --once`` and the daemon's loop run it: mark the status
running, run the engine, record how it went (ok, partial, or failed with the reason)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp

from playlists import RepositoryError
from station.config import StationConfig
from station.errors import StationError
from station.model import SyncStatus
from station.store import Store
from station.sync.engine import Syncer
from station.sync.fetcher import Fetcher
from station.sync.report import status_after


def now_utc() -> datetime:
    return datetime.now(UTC)


async def sync_pass(cfg: StationConfig, store: Store, session: aiohttp.ClientSession) -> SyncStatus:
    """Run one pass and record how it went; returns the status recorded. A refused index, a dead
    mirror or a full disk is a ``failed`` status; what else goes wrong (recording the status
    itself on a full disk, a bug) raises, for the caller to record and log (``station.daemon``)."""
    previous = store.sync_status()
    await asyncio.to_thread(store.record_sync, previous.started())
    fetcher = Fetcher(session, cfg.sync_timeout_s, cfg.max_rate_bytes_per_s)
    try:
        report = await Syncer(cfg, store, fetcher, on_progress=store.record_progress).run()
    except (StationError, RepositoryError) as exc:
        status = previous.failed(str(exc), now_utc())
    else:
        status = status_after(report, previous, now_utc())
    await asyncio.to_thread(store.record_sync, status)
    return status
