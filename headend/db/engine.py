"""Opening the database engine and turning database failures into the headend's own errors.

SQLite (the embedded default, ``<root>/headend.db``) is opened in WAL mode with
``synchronous=FULL``, a 30 s ``busy_timeout`` and foreign keys on; its transactions are begun by
us (``BEGIN``, or ``BEGIN IMMEDIATE`` for a write, so a read-then-write never fails half way on a
lock upgrade). PostgreSQL is reached through psycopg 3 (``postgresql://user@host:port/db``).
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from headend.errors import DatabaseError

BUSY_TIMEOUT_MS = 30_000
AUTOCHECKPOINT_PAGES = 10_000  # 40 MB of WAL
CHECKPOINT_EVERY = 100  # write transactions of a process
CONNECT_TIMEOUT_S = 10
_WRITE = "yj_write"


def describe(url: sa.URL) -> str:
    """The URL for a message: never the password."""
    return url.render_as_string(hide_password=True)


def create_engine(url: sa.URL) -> sa.Engine:
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record) -> None:
            dbapi_conn.isolation_level = None  # we say BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            for pragma in (
                "journal_mode=WAL",
                "synchronous=FULL",
                f"wal_autocheckpoint={AUTOCHECKPOINT_PAGES}",  # a backstop: see _Writers.committed
                f"busy_timeout={BUSY_TIMEOUT_MS}",
                "foreign_keys=ON",
            ):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.pop(_WRITE, False) else "BEGIN")

        _WRITERS[engine] = _Writers(Path(url.database) if url.database and url.database != ":memory:" else None)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})


class _Writers:
    """Write transactions on one SQLite file, one at a time: the threads of this process queue
    on a lock, each woken as the one before it commits, and the processes (the server, its
    intake workers, a command) on an flock of ``<file>-writer.lock``. SQLite's busy handler
    (still what a process without this lock meets) polls in sleeps growing to 100 ms and keeps
    no order: with dozens of stations uploading at once a writer could keep losing the race until
    its 30 s ran out and the station got a 503."""

    def __init__(self, path: Path | None) -> None:
        self._threads = threading.RLock()
        self._depth = 0  # nested write transactions of the thread holding ``_threads``
        self._file = path.with_name(path.name + "-writer.lock") if path is not None else None
        self._fd: int | None = None
        self._commits = 0  # write transactions since this process's last checkpoint (a guess: not locked)

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            return False
        if self._depth == 0 and not self._lock_file(deadline):
            self._threads.release()
            return False
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def committed(self, engine: sa.Engine) -> None:
        """After a write transaction, its lock released: every ``CHECKPOINT_EVERY``, copy the WAL
        into the database (PASSIVE: beside the next writer, not in its way). SQLite's own
        checkpoint runs inside the COMMIT that fills the WAL, while every other writer waits:
        with stations uploading at once that cost a third of the intake."""
        self._commits += 1
        if self._commits < CHECKPOINT_EVERY:
            return
        self._commits = 0
        try:
            raw = engine.raw_connection()
            try:
                raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                raw.close()
        except Exception:
            pass

    def __del__(self) -> None:  # the engine was dropped
        if self._fd is not None:
            os.close(self._fd)

    def _lock_file(self, deadline: float) -> bool:
        if self._file is None:
            return True
        if self._fd is None:
            try:
                self._fd = os.open(self._file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:  # a read-only folder: no writer can use the database there either
                self._file = None
                return True
        pause = 0.0002  # short, doubling, at most 5 ms: a waiter starts within 5 ms of its turn
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.005)


_WRITERS: weakref.WeakKeyDictionary[sa.Engine, _Writers] = weakref.WeakKeyDictionary()


@contextmanager
def transaction(engine: sa.Engine, write: bool = False) -> Iterator[sa.Connection]:
    """One transaction, committed on success; database failures become DatabaseError."""
    lock = _WRITERS.get(engine) if write else None
    if lock is not None and not lock.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
        raise _busy(_where(engine.url))
    try:
        with engine.connect() as conn:
            if write:
                conn.info[_WRITE] = True
            with conn.begin():
                yield conn
    except exc.SQLAlchemyError as e:
        raise translate(e, engine.url) from e
    finally:
        if lock is not None:
            lock.release()
    if lock is not None:
        lock.committed(engine)


def _where(url: sa.URL) -> str:
    return describe(url) if url.get_backend_name() != "sqlite" else str(url.database)


def _busy(where: str) -> DatabaseError:
    return DatabaseError(
        f"{where}: the database is busy (another headend process holds it for more than "
        f"{BUSY_TIMEOUT_MS // 1000} s); try again in a minute"
    )


def translate(error: exc.SQLAlchemyError, url: sa.URL) -> DatabaseError:
    """A message that says what happened and what to do, naming the database (not its password)."""
    where = _where(url)
    text = (
        str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        if str(error).strip()
        else type(error).__name__
    )
    if isinstance(error, exc.OperationalError):
        if "database is locked" in text or "database is busy" in text:
            return _busy(where)
        if url.get_backend_name() == "sqlite":
            return DatabaseError(
                f"{where}: cannot use the headend database ({text}); check the file and its folder "
                "are there, writable and the disk is not full"
            )
        if re.search(
            r"connection refused|could not connect|connection to server|timeout expired|Name or service", text, re.I
        ):
            return DatabaseError(
                f"{where}: cannot reach the PostgreSQL server ({text}); start it, or fix [database] url in headend.toml"
            )
        if re.search(r"does not exist|authentication failed|password", text, re.I):
            return DatabaseError(
                f"{where}: PostgreSQL refused the connection ({text}); create the database and user, "
                "or fix [database] url in headend.toml"
            )
        return DatabaseError(f"{where}: the database failed ({text}); see the headend log and try again")
    if isinstance(error, exc.IntegrityError):
        return DatabaseError(
            f"{where}: the database refused a change ({text}); another headend process may have "
            "made the same change at the same moment — try again"
        )
    return DatabaseError(f"{where}: the database failed ({text}); see the headend log and try again")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dialect_insert(dialect: str, table: sa.Table):
    """``INSERT`` with ``ON CONFLICT`` (``on_conflict_do_nothing``/``_do_update``) on the engine
    named ``dialect`` (``conn.dialect.name``)."""
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


@functools.lru_cache(maxsize=64)
def _upsert_statement(
    dialect: str, table: sa.Table, keys: tuple[str, ...], update: tuple[str, ...] | None, returning: bool
) -> sa.Insert:
    # Built once: building an upsert of many columns and its cache key took longer than running it.
    stmt = dialect_insert(dialect, table)
    if update is None:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    else:
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})
    return stmt.returning(table.c[keys[0]]) if returning else stmt


def bulk_insert(conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) that the caller knows are new, through the
    driver: ``COPY … FROM STDIN`` on PostgreSQL, one prepared ``INSERT`` run ``executemany`` on
    SQLite. For the collector's events: SQLAlchemy's per-row parameter handling cost more than
    the database's own work (4× on PostgreSQL, where it sent one INSERT a row)."""
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        sql = f"COPY {table.name} ({names}) FROM STDIN"
        try:
            with conn.connection.driver_connection.cursor() as cur, cur.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except conn.dialect.loaded_dbapi.Error as e:  # not wrapped by SQLAlchemy: wrap it as it would
            raise exc.DBAPIError.instance(sql, None, e, conn.dialect.loaded_dbapi.Error) from e
        return
    marks = ", ".join("?" * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)


def upsert(conn: sa.Connection, table: sa.Table, rows: list[dict], keys: list[str], update: list[str] | None) -> int:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET update (DO NOTHING when ``update`` is None), on
    either engine; the number of rows inserted or changed."""
    if not rows:
        return 0
    one = len(rows) == 1  # rowcount is not reliable for INSERT … ON CONFLICT on every driver: count RETURNING
    stmt = _upsert_statement(conn.dialect.name, table, tuple(keys), tuple(update) if update is not None else None, one)
    if one:
        return len(conn.execute(stmt, rows[0]).all())
    conn.execute(stmt, rows)
    return len(rows)
