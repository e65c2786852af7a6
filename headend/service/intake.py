"""Taking a report batch as sent (``take``): inflate gzip with a cap, decode strict UTF-8 JSON,
then check and store it (``reports.store_batch``) — and the processes that do it beside the
server (``IntakePool``).

Checking, clock correction and the transaction are Python that holds the interpreter's lock for
about 15 ms a batch of 500; in the server process that left the box's other core idle while
stations queued. ``IntakePool`` runs ``take`` in ``[serve] intake_workers`` processes, each with
its own database engine (SQLite writers of every process queue on one file lock, ``db.engine``;
PostgreSQL locks the station's row), while the server keeps HTTP, the token check and the rate
limit. The processes start from a fork server (none inherits the server's threads) at the first
batch. A worker that dies mid-batch (killed, out of memory) loses nothing: its transaction never
committed; the station is told to send again (503) and the pool is started afresh.

Blocking, except ``IntakePool.take``."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import zlib
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from headend.config import database_url
from headend.db.engine import create_engine
from headend.db.records import Stored
from headend.db.reports import ReportStore
from headend.errors import DatabaseError, ReportRefused, TooLarge
from headend.service.reports import store_batch

MAX_JSON = 8 * 1024 * 1024  # inflated


def inflate(data: bytes) -> bytes:
    """gunzip ``data`` in steps, refusing at ``MAX_JSON`` bytes (nothing more is inflated)."""
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out, size, rest = [], 0, data
    try:
        while not d.eof:
            piece = d.decompress(rest, 256 * 1024)
            rest = d.unconsumed_tail
            if not piece and not rest:
                break  # all input taken and nothing more comes out: cut short
            size += len(piece)
            if size > MAX_JSON:
                raise TooLarge(f"the body inflates to over {MAX_JSON} bytes; send fewer events a batch")
            out.append(piece)
        if not d.eof:
            raise ReportRefused("the gzip body is cut short; send the whole batch again", "")
    except zlib.error as exc:
        raise ReportRefused(f"the body is not valid gzip ({exc}); send gzip or plain JSON", "") from exc
    if d.unused_data.strip(b"\0"):
        raise ReportRefused("there are bytes after the gzip stream; send one gzip member", "")
    return b"".join(out)


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def decode(raw: bytes) -> object:
    try:
        return orjson.loads(raw)  # about four times as fast as json.loads
    except orjson.JSONDecodeError:
        pass  # refused, or one of the few documents only the standard library reads: which?
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReportRefused(f"the body is not UTF-8 (byte {exc.start}); send UTF-8 JSON", "") from exc
    try:
        doc = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise ReportRefused(f"the body is not JSON ({str(exc)[:120]}); see docs/reporting.md", "") from exc
    # Numbers past a float's range (1e400) read here and are refused by the checks, naming the
    # field; a lone surrogate escape (\ud800) reads too but is no text: it cannot be stored.
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ReportRefused(
            f"the body has a lone UTF-16 surrogate ({exc.object[exc.start]!a}) in a string; send UTF-8 text", ""
        ) from exc
    except RecursionError as exc:
        raise ReportRefused("the body nests too deep to be a batch; see docs/reporting.md", "") from exc
    return doc


def take(store: ReportStore, station: str, enrolled: str, gzipped: bool, body: bytes, received: datetime) -> Stored:
    """Decode, check and store one batch sent with ``station``'s token (enrolled at ``enrolled``,
    ISO 8601); HeadendError says what was wrong."""
    doc: Any = decode(inflate(body) if gzipped else body)
    return store_batch(store, station, enrolled, doc, received)


# ---- in worker processes ------------------------------------------------------------------------

_STORE: ReportStore | None = None


def _start_worker(url: str, sqlite_path: str) -> None:
    global _STORE
    _STORE = ReportStore(create_engine(database_url(url, Path(sqlite_path))))


def _take_in_worker(station: str, enrolled: str, gzipped: bool, body: bytes, received: datetime) -> Stored:
    assert _STORE is not None, "the intake worker was not started"
    return take(_STORE, station, enrolled, gzipped, body, received)


class IntakePool:
    """``workers`` processes that ``take`` batches; 0 takes them in a thread of this process."""

    def __init__(self, store: ReportStore, url: str, sqlite_path: Path, workers: int) -> None:
        self.store, self.url, self.sqlite_path, self.workers = store, url, sqlite_path, workers
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload([__name__])  # each worker forks with this module imported
            self._pool = ProcessPoolExecutor(
                self.workers, ctx, initializer=_start_worker, initargs=(self.url, str(self.sqlite_path))
            )
        return self._pool

    async def take(self, station: str, enrolled: str, gzipped: bool, body: bytes, received: datetime) -> Stored:
        if self.workers == 0:
            return await asyncio.to_thread(take, self.store, station, enrolled, gzipped, body, received)
        pool = self._executor()
        try:
            future = pool.submit(_take_in_worker, station, enrolled, gzipped, body, received)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            if self._pool is pool:  # the first request to find it broken starts a new one
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise DatabaseError(
                "the process taking this batch stopped before it was stored (nothing of it was kept); send it again"
            ) from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
