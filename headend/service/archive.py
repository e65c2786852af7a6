"""``headend db archive --before YYYY-MM``: raw report events of whole China months before that
one leave the database for compressed files under ``<root>/archive/``; the daily roll-ups keep
every figure the dashboard and ratings read. For a province (5 billion events a year,
docs/scaling.md) this is what keeps ``report_events`` to the months still looked at.

Each month goes in three steps, and a power cut or a full disk at any point loses nothing:
1. its events (those held without a gap) are written to ``report_events-YYYY-MM.<n>.jsonl.gz``
   — a temporary file, fsync'd, renamed, the folder fsync'd; a failure removes the temporary
   file and stops with the database untouched;
2. the file is read back: every line parses and the keys are exactly the ones read;
3. those rows are deleted, a few thousand a transaction, each stream's archived mark raised in
   the same transaction (``db.archive``).
Only runs of keys are kept in memory (a province's month is hundreds of millions of events, but
as many runs as streams and gaps).
A run cut short between 2 and 3 leaves rows that the next run writes again into a new file
``….<n+1>.jsonl.gz``: a reader of the archive keeps one line per (station, stream, seq).

The current and the previous China month always stay (the station page's event lists and the
notice read receipts read them)."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from catalogue.clocks import CHINA
from headend.db.archive import Run, add_to_runs
from headend.errors import ArchiveError, ConfigError
from headend.service.root import Headend
from playlists.atomic import fsync_dir

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
DELETE_BATCH = 5000  # rows a transaction: short locks while stations keep reporting


@dataclass(frozen=True)
class Archived:
    month: str
    path: Path
    events: int
    size: int  # bytes of the file
    sha256: str


def newest_allowed(now: datetime) -> str:
    """The latest ``--before`` month: the previous China month (it and the current one stay)."""
    today = now.astimezone(CHINA).date()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def check_before(before: str, now: datetime) -> str:
    """``before`` ("YYYY-MM"), checked; ConfigError saying what to give."""
    if not _MONTH.match(before):
        raise ConfigError(f"--before {before!r}: give a month as YYYY-MM, e.g. 2026-01 (events before it go)")
    latest = newest_allowed(now)
    if before > latest:
        raise ConfigError(
            f"--before {before}: the current and the previous month stay in the database (the station "
            f"pages' event lists and the notice read receipts read them); give {latest} or earlier"
        )
    return before


def archive_events(h: Headend, before: str, now: datetime | None = None, dry_run: bool = False) -> list[Archived]:
    """Archive every month before ``before``; what each month's file holds (with ``dry_run``,
    the months and counts that would go, no file written, nothing deleted)."""
    before = check_before(before, now or datetime.now(UTC))
    folder = h.cfg.root / "archive"
    out = []
    for month in h.db.archive.months_before(f"{before}-01"):
        if dry_run:
            n = sum(1 for _ in h.db.archive.events_of_month(month))
            out.append(Archived(month, folder / f"report_events-{month}.jsonl.gz", n, 0, ""))
            continue
        out.append(_archive_month(h, folder, month))
    return out


def _archive_month(h: Headend, folder: Path, month: str) -> Archived:
    folder.mkdir(parents=True, exist_ok=True)
    path = _new_name(folder, month)
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    runs: list[Run] = []
    events = 0
    try:
        with open(tmp, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
                for row in h.db.archive.events_of_month(month):
                    gz.write(orjson.dumps(row) + b"\n")
                    add_to_runs(runs, row["station"], row["stream"], row["seq"])
                    events += 1
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
        fsync_dir(folder)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ArchiveError(
            f"{path}: cannot write the archive of {month} ({exc.strerror or exc}); nothing was deleted. "
            "Free space on that disk (or move <root>/archive to a bigger one and link it) and run again"
        ) from exc
    size, digest = _read_back(path, runs, events, month)
    for batch in _batches(runs, DELETE_BATCH):
        h.db.archive.delete(batch)
    return Archived(month, path, events, size, digest)


def _batches(runs: list[Run], rows: int) -> Iterator[list[Run]]:
    """``runs`` in groups of about ``rows`` events (a long run split): short transactions."""
    batch: list[Run] = []
    n = 0
    for station, stream, first, last in runs:
        while first <= last:
            upto = min(last, first + rows - n - 1)
            batch.append((station, stream, first, upto))
            n += upto - first + 1
            first = upto + 1
            if n >= rows:
                yield batch
                batch, n = [], 0
    if batch:
        yield batch


def _new_name(folder: Path, month: str) -> Path:
    """``report_events-YYYY-MM.<n>.jsonl.gz`` with the next free n: a file is never overwritten."""
    taken = [
        int(m.group(1))
        for p in folder.glob(f"report_events-{month}.*.jsonl.gz")
        if (m := re.search(r"\.(\d+)\.jsonl\.gz$", p.name))
    ]
    return folder / f"report_events-{month}.{max(taken, default=0) + 1}.jsonl.gz"


def _read_back(path: Path, runs: list[Run], events: int, month: str) -> tuple[int, str]:
    """The file's size and sha256, after checking it holds exactly the keys written (the same runs
    and count); ArchiveError, and the file removed, when not: then nothing is deleted."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    found: list[Run] = []
    count = 0
    try:
        with gzip.open(path, "rb") as gz:
            for line in gz:
                r = orjson.loads(line)
                add_to_runs(found, r["station"], r["stream"], r["seq"])
                count += 1
    except (OSError, EOFError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        found, problem = None, str(exc)
    else:
        problem = f"{count} events read back of {events} written"
    if found != runs or count != events:
        path.unlink(missing_ok=True)
        raise ArchiveError(f"{path}: the archive of {month} did not read back ({problem}); nothing was deleted")
    return path.stat().st_size, digest.hexdigest()
