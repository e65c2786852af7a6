"""The station's event journal: append-only JSON lines in segments, fsync'd on every append, with a
size budget and an acknowledgement point.

High-volume events (plays, notice views, logins, logbook entries, finished study sessions) go here
and never into TinyDB, which rewrites its whole file on each write (DESIGN.md "Storage")::

    <data_dir>/journal/2026-11-22.jsonl      the day's first segment (China date of the event)
    <data_dir>/journal/2026-11-22.1.jsonl    the next once the first holds SEGMENT_BYTES, and so on
    <data_dir>/journal/acknowledged.json     {"seq": N}: the headend holds every event up to N
    <data_dir>/journal/stream.json           the stream ids (station.store.streams)

Every event carries ``seq`` (strictly increasing across files and restarts, so the headend can
order events and correct the box's clock by the offset it measures at upload), ``ts`` (ISO 8601,
China time), ``boot`` (the kernel's boot id without dashes), ``mono`` (``time.monotonic()`` at
0.1 s: the headend corrects times by them, docs/reporting.md "Clocks") and ``kind``. A clock set back never writes into an older day's segment: the event goes
to the newest segment (its ``ts`` still says the box's time), so ``seq`` grows within and across
files, and at open the journal continues from the highest ``seq`` in any segment's tail. A power cut can leave at most a torn last line: readers skip lines that
do not parse, and the next append starts on a fresh line. Appends block (write + fsync): call them
from a thread (``asyncio.to_thread``) in the event loop.

The budget: the reporter (issue 11) advances the acknowledgement point; whole segments at or below
it are deleted, oldest first, once the journal holds more than ``WARN_AT`` of its budget. What the
headend has not acknowledged is never deleted: at the budget, appends marked ``sheddable`` (what any
TV on the LAN can cause: plays, notice views, wrong PINs) are refused with ``JournalFull``, and the
administrator's own records still go in — the disk, not the budget, is their limit.
Retention (``retire``): segments whose events are all acknowledged and whose day is more than
``[report] keep_days`` old are deleted; never an unacknowledged event.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from playlists.atomic import atomic_write, fsync_dir
from playlists.schedule import CHINA
from station.errors import StoreError
from station.model.attendance import JournalUsage
from station.store.streams import BOOT_ID, MACHINE_ID, Stream, Streams, read_id

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
SEGMENT_BYTES = 4_000_000  # a day's file is cut into segments this big, so old ones go whole
DEFAULT_BUDGET_BYTES = 200_000_000
WARN_AT = JournalUsage.WARN_AT  # pruning brings the journal back below this share of its budget
ACK_FILE = "acknowledged.json"
_SEGMENT = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.(\d{1,6}))?\.jsonl$")


class JournalFull(StoreError):
    """The journal is at its budget and nothing acknowledged is left to delete."""


def china_date(ts: float) -> date:
    return datetime.fromtimestamp(ts, CHINA).date()


def segments(root: Path) -> list[tuple[date, int, Path]]:
    """Every segment in ``root``, oldest first (other files are not the journal's)."""
    out = []
    try:
        names = os.listdir(root)
    except OSError:
        return []
    for name in names:
        m = _SEGMENT.match(name)
        if m:
            try:
                out.append((date.fromisoformat(m[1]), int(m[2] or 0), root / name))
            except ValueError:
                continue
    return sorted(out, key=lambda s: (s[0], s[1]))


def read_acknowledged(root: Path) -> int:
    try:
        data = json.loads((root / ACK_FILE).read_bytes())
    except FileNotFoundError:
        return 0
    except (OSError, ValueError) as exc:
        log.warning("journal acknowledgement point %s unreadable (%s); treating nothing as acknowledged", root, exc)
        return 0
    seq = data.get("seq") if isinstance(data, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else 0


def usage(root: Path, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> JournalUsage:
    """How full the journal in ``root`` is, read without writing (for ``station status``)."""
    segs = segments(root)
    return JournalUsage(
        bytes=sum(_size(p) for _, _, p in segs),
        budget_bytes=budget_bytes,
        segments=len(segs),
        last_seq=_last_seq(segs),
        acknowledged_seq=read_acknowledged(root),
    )


class Journal:
    def __init__(
        self,
        root: Path,
        clock: Callable[[], float] = time.time,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        segment_bytes: int = SEGMENT_BYTES,
        *,
        mono: Callable[[], float] = time.monotonic,
        boot_id: Path = BOOT_ID,
        machine_id: Path = MACHINE_ID,
    ) -> None:
        self.root = Path(root)
        self.clock = clock
        self.mono = mono
        self.boot = read_id(boot_id)
        if len(self.boot) != 32 or any(c not in "0123456789abcdef" for c in self.boot):
            self.boot = secrets.token_hex(16)  # no kernel boot id: this start of the program stands for it
        self.budget_bytes = budget_bytes
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot create the journal folder ({exc.strerror})") from exc
        segs = segments(self.root)
        self._seq = _last_seq(segs)  # over every segment: a journal written before the clamp below
        self._bytes = sum(_size(p) for _, _, p in segs)
        self._acked = read_acknowledged(self.root)
        self._refused_logged = False
        self.write_error: str | None = None  # why the last append could not be written (a full disk)
        self.on_append: Callable[[], None] | None = None  # called after each append (from its thread)
        self._prune()
        self.streams = Streams(self.root, self._disk_seq, lambda: self._acked, machine_id)
        try:
            self.streams.current()  # a new stream now if this journal is new, copied or moved
        except StoreError as exc:  # a full disk must not stop the TV: the uploader checks again
            log.warning("%s", exc)

    # ---- writing -----------------------------------------------------------------------------

    def _target(self, day: date, size: int) -> Path:
        """The segment a line of ``size`` bytes goes to: the day's newest, or a new one once it is
        full; never a segment older than the newest (a clock set back writes on in the newest day)."""
        segs = segments(self.root)
        if segs:
            day = max(day, segs[-1][0])
        todays = [(i, p) for d, i, p in segs if d == day]
        if not todays:
            return self.root / f"{day.isoformat()}{SUFFIX}"
        index, path = todays[-1]
        if _size(path) and _size(path) + size > self.segment_bytes:
            return self.root / f"{day.isoformat()}.{index + 1}{SUFFIX}"
        return path

    def append(self, kind: str, *, sheddable: bool = False, **fields: Any) -> dict:
        """Write one event durably (the file and, for a new segment, its folder are fsync'd).
        ``sheddable``: refused with ``JournalFull`` once the journal is at its budget."""
        with self._lock:
            if sheddable and self._bytes >= self.budget_bytes:
                self._prune()
                if self._bytes >= self.budget_bytes:
                    if not self._refused_logged:
                        log.warning(
                            "journal at its budget (%d of %d bytes, acknowledged up to seq %d): %s records are "
                            "refused until the headend acknowledges older ones",
                            self._bytes,
                            self.budget_bytes,
                            self._acked,
                            kind,
                        )
                        self._refused_logged = True
                    raise JournalFull(f"{self.root}: the journal is full; {kind} not recorded")
            self._refused_logged = False
            now = self.clock()
            event = {
                "seq": self._seq + 1,
                "ts": datetime.fromtimestamp(now, CHINA).isoformat(timespec="seconds"),
                "kind": kind,
                "boot": self.boot,
                "mono": round(self.mono(), 1),
                **fields,
            }
            line = json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8") + b"\n"
            path = self._target(china_date(now), len(line))
            new = not path.exists()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    if not new and os.fstat(fd).st_size and not _ends_with_newline(path):
                        line = b"\n" + line  # a torn line from a power cut stays alone on its line
                    _write_all(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if new:
                    fsync_dir(self.root)
            except OSError as exc:
                self.write_error = exc.strerror or str(exc)
                raise StoreError(f"{path}: cannot record {kind} ({exc.strerror})") from exc
            self.write_error = None
            self._seq += 1
            self._bytes += len(line)
        if self.on_append is not None:
            self.on_append()  # the uploader wakes (outside the lock: it may read the journal)
        return event

    # ---- the acknowledgement point and the budget --------------------------------------------

    def acknowledge(self, seq: int) -> None:
        """The headend holds every event up to ``seq`` (never moves back); persisted atomically,
        then acknowledged segments are deleted if the journal is over ``WARN_AT`` of its budget."""
        with self._lock:
            self._acked = max(self._acked, read_acknowledged(self.root))  # `report --once` in another process
            seq = min(seq, max(self._seq, self._disk_seq()))
            if seq <= self._acked:
                return
            try:
                atomic_write(self.root / ACK_FILE, json.dumps({"seq": seq}).encode())
            except OSError as exc:
                raise StoreError(f"{self.root / ACK_FILE}: cannot save the acknowledgement ({exc.strerror})") from exc
            self._acked = seq
            self._prune()

    def acknowledged(self) -> int:
        with self._lock:
            self._acked = max(self._acked, read_acknowledged(self.root))
            return self._acked

    def last_seq(self) -> int:
        """The highest seq on disk (another process may have appended since this one last did)."""
        with self._lock:
            self._seq = max(self._seq, self._disk_seq())
            return self._seq

    def _disk_seq(self) -> int:
        """The last seq of the newest segment (where every append goes; cheap: its tail only)."""
        segs = segments(self.root)
        return _tail_seq(segs[-1][2]) if segs else 0

    # ---- streams ------------------------------------------------------------------------------

    def stream_of(self, seq: int) -> Stream | None:
        """The stream ``seq`` belongs to (None: before the first stream, acknowledged before
        stream.json was lost)."""
        return self.streams.stream_of(seq)

    def stream_end(self, stream: Stream) -> int | None:
        """The last seq of ``stream``: the next one's start − 1, None while it is the current one."""
        later = [s.start for s in self.streams.current() if s.start > stream.start]
        return min(later) - 1 if later else None

    def renew_stream(
        self, why: str = "the headend has seen more of this stream than the journal holds", start: int | None = None
    ) -> Stream:
        """Start a new stream at the next seq (a restore the inode and machine checks missed), or
        at ``start`` (the first seq whose event the headend holds otherwise)."""
        with self._lock:
            self._seq = max(self._seq, self._disk_seq())
            return self.streams.renew(why, start)

    def retire(self, keep_days: int) -> int:
        """Delete whole segments whose events are all acknowledged and whose day is more than
        ``keep_days`` before today (China date); never the newest segment. Returns how many."""
        with self._lock:
            self._acked = max(self._acked, read_acknowledged(self.root))
            oldest = china_date(self.clock()).toordinal() - keep_days
            deleted = 0
            for day, _, path in segments(self.root)[:-1]:
                if day.toordinal() >= oldest:
                    break
                tail = _tail_seq(path)
                if not tail or tail > self._acked:
                    break  # unacknowledged (or unreadable): kept, and every newer one
                if not self._delete(path, f"acknowledged and older than {keep_days} days"):
                    break
                deleted += 1
            return deleted

    def _prune(self) -> None:
        """Delete whole acknowledged segments, oldest first, until under ``WARN_AT`` of the budget."""
        if self._bytes <= self.budget_bytes * WARN_AT or not self._acked:
            return
        segs = segments(self.root)
        for _, _, path in segs[:-1]:  # never the segment being written
            if self._bytes <= self.budget_bytes * WARN_AT:
                break
            seqs = [e["seq"] for e in _parse(path) if _is_seq(e.get("seq"))]
            if not seqs or max(seqs) > self._acked:
                break  # this one still holds what the headend lacks (or nothing readable): kept, and newer ones
            if not self._delete(path, "acknowledged, the journal over its budget's share"):
                break

    def _delete(self, path: Path, why: str) -> bool:
        """Delete one whole segment (its events all acknowledged); False when it cannot be."""
        size = _size(path)
        try:
            path.unlink()
        except OSError as exc:
            log.warning("cannot delete journal segment %s (%s): %s", path, why, exc)
            return False
        self._bytes -= size
        log.info("deleted journal segment %s (%d bytes): %s", path.name, size, why)
        return True

    def usage(self) -> JournalUsage:
        with self._lock:
            return JournalUsage(self._bytes, self.budget_bytes, len(segments(self.root)), self._seq, self._acked)

    # ---- reading -----------------------------------------------------------------------------

    def days(self, first: date, last: date) -> Iterator[dict]:
        """Events from ``first`` to ``last`` (inclusive China dates), in journal order: the segments
        of those days, and events stamped within them in a later day's segment (a clock set back)."""
        lo, hi = first.isoformat(), last.isoformat()
        for day, _, path in segments(self.root):
            if first <= day <= last:
                yield from _parse(path)
            elif day > last:
                yield from (e for e in _parse(path) if lo <= str(e.get("ts") or "")[:10] <= hi)

    def recent(self, kind: str, limit: int, max_days: int = 92) -> list[dict]:
        """The newest ``limit`` events of one kind within ``max_days``, newest first."""
        out: list[dict] = []
        oldest = china_date(self.clock()).toordinal() - max_days + 1
        for day, _, path in reversed(segments(self.root)):
            if day.toordinal() < oldest or len(out) >= limit:
                break
            out.extend(reversed([e for e in _parse(path) if e.get("kind") == kind]))
        return out[:limit]


def _last_seq(segs: list[tuple[date, int, Path]]) -> int:
    """The highest ``seq`` on disk: the highest of every segment's last good line (a clock set back
    before the newest segment was clamped could have written an older day's file last)."""
    return max((_tail_seq(path) for _, _, path in segs), default=0)


TAIL_BYTES = 65536


def _tail_seq(path: Path) -> int:
    """The ``seq`` of a segment's last good line, reading only its end when that holds one."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read()
    except OSError:
        return 0
    lines = tail.splitlines()
    if size > TAIL_BYTES:
        lines = lines[1:]  # the first may be cut
    for line in reversed(lines):
        try:
            seq = json.loads(line).get("seq")
        except (ValueError, AttributeError):
            continue
        if _is_seq(seq):
            return seq
    if size > TAIL_BYTES:  # a long torn or foreign tail: read the whole segment
        return max((e["seq"] for e in _parse(path) if _is_seq(e.get("seq"))), default=0)
    return 0


def _is_seq(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


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
