"""The journal's stream ids (docs/reporting.md "Event identity"), kept in ``journal/stream.json``::

    {"streams": [{"id": "9f2c…", "from": 1, "ino": 1234567, "machine": "3b1d…"}, …]}

An event belongs to the last stream whose ``from`` ≤ its ``seq``. A new stream (``from`` = the
last seq on disk + 1) starts when the file is missing (the first stream of a journal that has
never been acknowledged starts at 1, so a journal from before streams existed is all of it), when
the file is not the one this journal wrote (its inode differs from the last entry's ``ino``: the
data dir was copied or restored), when the machine id differs (copied to another box), and on
``renew`` (the headend has seen more of the current stream than the journal holds).

The file records its own inode: it is written to a temporary file whose inode is read first, then
fsync'd and renamed over ``stream.json`` (a power cut leaves the old file or the new). Writers in
two processes (``serve`` and ``report --once``) take ``stream.lock`` first.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from playlists.atomic import fsync_dir
from station.errors import StoreError

log = logging.getLogger(__name__)

STREAM_FILE = "stream.json"
LOCK_FILE = "stream.lock"
MACHINE_ID = Path("/etc/machine-id")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class Stream:
    id: str  # 16 lowercase hex
    start: int  # ``from``: its first seq
    ino: int
    machine: str


def read_id(path: Path) -> str:
    """A machine or boot id without dashes, lowercase; "" when unreadable."""
    try:
        return path.read_text(encoding="ascii", errors="replace").strip().replace("-", "").lower()[:64]
    except OSError:
        return ""


def _load(path: Path) -> tuple[list[Stream], int | None]:
    """The streams recorded and the file's inode (None: missing or unreadable)."""
    try:
        ino = os.stat(path).st_ino
        data = json.loads(path.read_bytes())
        out = []
        for s in data["streams"]:
            sid, start = s["id"], s["from"]
            if not (isinstance(sid, str) and len(sid) == 16 and isinstance(start, int) and start >= 1):
                raise ValueError(f"bad stream entry {s!r}")
            out.append(Stream(sid, start, int(s.get("ino") or 0), str(s.get("machine") or "")))
        if not out or any(b.start <= a.start for a, b in itertools.pairwise(out)):
            raise ValueError("no streams, or their starts do not increase")
        return out, ino
    except FileNotFoundError:
        return [], None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s unreadable (%s): a new stream starts", path, exc)
        return [], None


def current_id(root: Path) -> str:
    """The current stream's id as recorded, read without any check or write ("" if none)."""
    streams, _ = _load(Path(root) / STREAM_FILE)
    return streams[-1].id if streams else ""


class Streams:
    """The stream ids of one journal folder; ``last_seq`` says the highest seq on disk now."""

    def __init__(self, root: Path, last_seq: Callable[[], int], acked: Callable[[], int], machine_id: Path) -> None:
        self.root, self.path = Path(root), Path(root) / STREAM_FILE
        self._last_seq, self._acked = last_seq, acked
        self.machine = read_id(machine_id)
        self._cache: tuple[int, int, list[Stream]] | None = None  # (ino, mtime_ns, streams)

    def current(self) -> list[Stream]:
        """The streams, after the checks above (a new one is written when one fails)."""
        try:
            st = os.stat(self.path)
            if self._cache and self._cache[:2] == (st.st_ino, st.st_mtime_ns):
                return self._cache[2]
        except OSError:
            pass
        with self._locked():
            streams, ino = _load(self.path)
            why = None
            if not streams:
                why = "no stream yet"
            elif streams[-1].ino != ino:
                why = f"{self.path} is not the file this journal wrote (copied or restored)"
            elif self.machine and streams[-1].machine and streams[-1].machine != self.machine:
                why = "the machine id differs (the journal was copied to another box)"
            if why:
                streams = self._start(streams, why)
            st = os.stat(self.path)
            self._cache = (st.st_ino, st.st_mtime_ns, streams)
            return streams

    def renew(self, why: str, start: int | None = None) -> Stream:
        """A new stream from the next seq (the headend has seen more than the journal holds), or
        from ``start`` on: the seqs from there belong to the new stream, and a stream that would
        begin at or after ``start`` is replaced by it."""
        with self._locked():
            streams, _ = _load(self.path)
            if start is not None:
                streams = [s for s in streams if s.start < start]
            streams = self._start(streams, why, start)
            st = os.stat(self.path)
            self._cache = (st.st_ino, st.st_mtime_ns, streams)
            return streams[-1]

    def stream_of(self, seq: int) -> Stream | None:
        found = None
        for s in self.current():
            if s.start <= seq:
                found = s
        return found

    def _start(self, streams: list[Stream], why: str, at: int | None = None) -> list[Stream]:
        if at is not None:
            start = at  # where the headend's events and this journal's part (a conflict)
        elif not streams and self._acked() == 0:
            start = 1  # a journal never acknowledged: all of it is the first stream
        elif not streams:
            start = self._acked() + 1  # stream.json lost: what is acknowledged is never sent again
        else:
            start = self._last_seq() + 1
        start = max([start, *(s.start + 1 for s in streams)])
        new = Stream(secrets.token_hex(8), start, 0, self.machine)
        streams = [*streams, new]
        ino = self._write(streams)
        streams[-1] = Stream(new.id, new.start, ino, new.machine)
        (log.warning if len(streams) > 1 else log.info)("journal stream %s starts at seq %d: %s", new.id, start, why)
        return streams

    def _write(self, streams: list[Stream]) -> int:
        """Atomically replace stream.json with ``streams``, the last one recording the new file's
        inode; returns it."""
        tmp = self.root / f".{STREAM_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                ino = os.fstat(fd).st_ino
                body = [{"id": s.id, "from": s.start, "ino": s.ino, "machine": s.machine} for s in streams]
                body[-1]["ino"] = ino
                os.write(fd, json.dumps({"streams": body}, separators=(",", ":")).encode() + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            fsync_dir(self.root)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"{self.path}: cannot write the journal's stream id ({exc.strerror})") from exc
        return ino

    def _locked(self):
        return _FileLock(self.root / LOCK_FILE)


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open the journal's lock ({exc.strerror})") from exc
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # closing releases the lock
