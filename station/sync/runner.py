"""One recorded sync pass, as ``station sync --once`` and the daemon's loop run it: mark the status
running, run the engine, record how it went (ok, partial, or failed with the reason).

A pass always ends in a recorded status, whatever happens inside it. A refused index, a dead
mirror or a full disk is an ordinary ``failed`` pass; anything else (a fault in this program, a
damaged store) goes through ``record_failure``, the one path the daemon's loop uses too: the
status becomes ``failed`` with the reason, the traceback is logged, and "running" never stays on
disk. The writes before the pass's real work ("running") are best effort: on a full disk the
pass still runs, so it can collect the unneeded files that would free it. A damaged station.json
is set aside first (``Store.repair``) and rebuilt by the pass; a damaged trust state fails it
with what to do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp

from playlists import RepositoryError
from station.config import StationConfig
from station.errors import StationError, StoreError
from station.model import SyncStatus
from station.store import Store
from station.sync.engine import Syncer
from station.sync.fetcher import Fetcher
from station.sync.report import status_after

log = logging.getLogger(__name__)

EXPECTED = (StationError, RepositoryError)  # an ordinary failed pass: the message says it all


def now_utc() -> datetime:
    return datetime.now(UTC)


def reason_for(exc: BaseException) -> str:
    """What the status says about a pass that raised ``exc``."""
    if isinstance(exc, EXPECTED):
        return str(exc)
    return (
        f"unexpected {type(exc).__name__}: {exc} (a fault in the station program; the next pass tries "
        "again — if this keeps happening, send county staff the log, where `station serve` and "
        "`station -v sync --once` write its traceback)"
    )


async def save_best_effort(store: Store, status: SyncStatus) -> None:
    """Record ``status`` (in memory at once); a disk that refuses it is logged, and the caller goes on."""
    try:
        await asyncio.to_thread(store.record_sync, status)
    except Exception as exc:
        log.warning("sync status kept in memory only: %s", exc)


async def record_failure(store: Store, exc: BaseException, *, traceback: bool = True) -> SyncStatus:
    """The one path for a pass that raised: ``failed`` with the reason and since when, the
    traceback logged (at ERROR when ``traceback``, else at DEBUG, shown by ``-v``), saved as
    far as the disk allows. Returns the status recorded."""
    reason = reason_for(exc)
    log.log(logging.ERROR if traceback else logging.DEBUG, "sync pass failed: %s", reason, exc_info=exc)
    status = store.sync_status().failed(reason, now_utc())
    await save_best_effort(store, status)
    return status


async def sync_pass(
    cfg: StationConfig,
    store: Store,
    session: aiohttp.ClientSession,
    *,
    loud: Callable[[BaseException], bool] = lambda exc: True,
) -> SyncStatus:
    """Run one pass and record how it went; returns the status recorded. It raises only when
    the final status cannot be saved (``StoreError``: the disk refused it; the status is then
    in memory and, short, written over the old one). ``loud(exc)`` says whether an unexpected
    failure is logged with its traceback at ERROR (the daemon logs each new kind once)."""
    previous = store.sync_status()
    try:
        repaired = await asyncio.to_thread(store.repair)  # a damaged station.json: set aside, rebuilt now
    except StoreError as exc:  # it cannot be: the reason says what a person must do
        status = previous.failed(str(exc), now_utc())
        await asyncio.to_thread(store.record_sync, status)
        return status
    if repaired:
        log.warning("%s", repaired)
        # Rebuilt with the network down too: the verified copy this station keeps (its /repo/) is
        # one more mirror, last; the trust rules judge it like any other, and its media are on disk.
        if (store.repo_dir / "index.json").is_file():
            cfg = dataclasses.replace(cfg, mirrors=(*cfg.mirrors, store.repo_dir.as_uri() + "/"))
    try:  # best effort, like every write before the pass's real work
        await asyncio.to_thread(store.mark_running, previous.started())
    except Exception as exc:
        log.warning("sync status kept in memory only: %s", exc)
    fetcher = Fetcher.for_station(session, cfg)
    try:
        report = await Syncer(cfg, store, fetcher, on_progress=store.record_progress).run()
    except EXPECTED as exc:
        status = previous.failed(str(exc), now_utc())
    except Exception as exc:
        return await record_failure(store, exc, traceback=loud(exc))
    else:
        status = status_after(report, previous, now_utc())
    await asyncio.to_thread(store.record_sync, status)
    return status
