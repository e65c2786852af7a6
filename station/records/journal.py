"""The station's event journal: append-only JSON lines, one file per day, fsync'd on every append.

High-volume events (plays, notice views, logins, logbook entries, finished study sessions) go here
and never into TinyDB, which rewrites its whole file on each write (DESIGN.md "Storage")::

    <data_dir>/journal/2026-11-22.jsonl     one event per line, China date of the event

Every event carries ``seq`` (strictly increasing across files and restarts, so the headend can
order events and correct the box's clock by the offset it measures at upload), ``ts`` (ISO 8601,
China time) and ``kind``. A power cut can leave at most a torn last line: readers skip lines that
do not parse, and the next append starts on a fresh line. Appends block (write + fsync): call them
from a thread (``asyncio.to_thread``) in the event loop.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from playlists.schedule import CHINA
from station.errors import StoreError

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"


def china_date(ts: float) -> date:
    return datetime.fromtimestamp(ts, CHINA).date()


class Journal:
    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self.clock = clock
        self._lock = threading.Lock()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot create the journal folder ({exc.strerror})") from exc
        self._seq = self._last_seq()

    # ---- writing -----------------------------------------------------------------------------

    def _last_seq(self) -> int:
        """The highest ``seq`` on disk: the newest file's last good line (files are per day, in order)."""
        for path in sorted(self.root.glob(f"*{SUFFIX}"), reverse=True):
            for event in reversed(list(_parse(path))):
                if isinstance(event.get("seq"), int):
                    return event["seq"]
        return 0

    def append(self, kind: str, **fields: Any) -> dict:
        """Write one event durably (the file and, for a new day's file, its folder are fsync'd)."""
        with self._lock:
            now = self.clock()
            self._seq += 1
            event = {
                "seq": self._seq,
                "ts": datetime.fromtimestamp(now, CHINA).isoformat(timespec="seconds"),
                "kind": kind,
                **fields,
            }
            line = json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
            path = self.root / f"{china_date(now).isoformat()}{SUFFIX}"
            new = not path.exists()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    if not new and os.fstat(fd).st_size and not _ends_with_newline(path):
                        os.write(fd, b"\n")  # a torn line from a power cut stays alone on its line
                    os.write(fd, line + b"\n")
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if new:
                    dfd = os.open(self.root, os.O_RDONLY)
                    try:
                        os.fsync(dfd)
                    finally:
                        os.close(dfd)
            except OSError as exc:
                self._seq -= 1
                raise StoreError(f"{path}: cannot record {kind} ({exc.strerror})") from exc
            return event

    # ---- reading -----------------------------------------------------------------------------

    def days(self, first: date, last: date) -> Iterator[dict]:
        """Events from ``first`` to ``last`` (inclusive China dates), oldest first."""
        day = first
        while day <= last:
            yield from _parse(self.root / f"{day.isoformat()}{SUFFIX}")
            day += timedelta(days=1)

    def recent(self, kind: str, limit: int, max_days: int = 92) -> list[dict]:
        """The newest ``limit`` events of one kind within ``max_days``, newest first."""
        out: list[dict] = []
        day = china_date(self.clock())
        for _ in range(max_days):
            events = [e for e in _parse(self.root / f"{day.isoformat()}{SUFFIX}") if e.get("kind") == kind]
            out.extend(reversed(events))
            if len(out) >= limit:
                break
            day -= timedelta(days=1)
        return out[:limit]


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _parse(path: Path) -> Iterator[dict]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        log.warning("journal %s unreadable: %s", path, exc)
        return
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a torn line from a power cut
        if isinstance(event, dict):
            yield event
