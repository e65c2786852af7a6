"""The ``health`` event (docs/reporting.md "Event kinds"): collected with psutil every
``[report] health_interval_s`` and journalled like any other event, so it travels the same
at-least-once path. ``collect`` blocks (psutil, a walk of the media folder): call it in a thread.

Numbers are rounded to what the county reads (whole MB, load to 0.01): smaller on the wire.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from importlib import metadata

import psutil

from playlists.schedule import CHINA
from station.errors import StationError
from station.model.reporting import UploadState
from station.model.status import SyncStatus
from station.records.journal import Journal
from station.store import Store

log = logging.getLogger(__name__)

MB = 1_000_000


def app_version() -> str:
    try:
        return metadata.version("yuanjiao")
    except metadata.PackageNotFoundError:
        return "unknown"


def collect(
    store: Store,
    journal: Journal,
    interval_s: float,
    upload: UploadState,
    tv_seen: float | None,
    backlog: int,
) -> dict:
    """The health fields, from the box as it is now (a part that cannot be read is left at its
    neutral value and logged, never an exception: the heartbeat is what says the box is alive)."""
    vm = psutil.virtual_memory()
    disk = psutil.disk_usage(str(store.data_dir))
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = 0.0
    installed = newest = 0
    stored = 0
    sync_state, sync_error = "", ""
    sync = None
    try:
        installed = store.installed_set().index_version or 0
        newest = max(store.trust().highest_version or 0, installed)
        stored = store.disk_usage().media_bytes
        sync = store.sync_status()
        sync_state, sync_error = sync.state or "never", (sync.last_error or "")[:300]
    except StationError as exc:
        log.warning("health sample: %s", exc)
        sync_error = str(exc)[:300]
    return {
        "interval_s": int(interval_s),
        "uptime_s": int(max(0.0, time.time() - psutil.boot_time())),
        "load1": round(load1, 2),
        "mem_used_mb": round((vm.total - vm.available) / MB),
        "mem_total_mb": round(vm.total / MB),
        "disk_free_mb": round(disk.free / MB),
        "disk_total_mb": round(disk.total / MB),
        "stored_mb": round(stored / MB),
        "installed_version": installed,
        "newest_version": newest,
        "sync_state": sync_state,
        "sync_error": sync_error,
        "backlog": backlog,
        "app_version": app_version(),
        "tv_seen": datetime.fromtimestamp(tv_seen, CHINA).isoformat(timespec="seconds") if tv_seen else None,
        "offset_s": round(upload.offset_s, 1) if upload.offset_s is not None else None,
        **_sync_fields(sync),
    }


def _when(at: datetime | None) -> str | None:
    return at.astimezone(CHINA).isoformat(timespec="seconds") if at else None


def _sync_fields(sync: SyncStatus | None) -> dict:
    """What the county dashboard says about content: when sync last succeeded, since when it has
    been failing, courses installed of those published to this station, and the megabytes the
    running pass still has to fetch (null when no pass runs)."""
    if sync is None:
        return {}
    p = sync.progress
    return {
        "sync_ok_at": _when(sync.last_success),
        "sync_failing_since": _when(sync.error_since) if sync.state == "failed" else None,
        "courses_total": sync.courses_total,
        "courses_installed": sync.courses_installed,
        "missing_mb": round(max(0, p.bytes_total - p.bytes_done) / MB) if p is not None and p.bytes_total else None,
    }


def record_health(
    store: Store,
    journal: Journal,
    interval_s: float,
    upload: UploadState,
    tv_seen: Callable[[], float | None],
    backlog: int,
) -> dict:
    """Collect and journal one health event (sheddable: at the journal's budget it is skipped)."""
    fields = collect(store, journal, interval_s, upload, tv_seen(), backlog)
    return journal.append("health", sheddable=True, **fields)
