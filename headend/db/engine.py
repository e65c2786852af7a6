"""Opening the database engine and turning database failures into the headend's own errors.

SQLite (the embedded default, ``<root>/headend.db``) is opened in WAL mode with
``synchronous=FULL``, a 30 s ``busy_timeout`` and foreign keys on; its transactions are begun by
us (``BEGIN``, or ``BEGIN IMMEDIATE`` for a write, so a read-then-write never fails half way on a
lock upgrade). PostgreSQL is reached through psycopg 3 (``postgresql://user@host:port/db``).
"""

from __future__ import annotations

import functools
import re
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from headend.errors import DatabaseError

BUSY_TIMEOUT_MS = 30_000
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
                f"busy_timeout={BUSY_TIMEOUT_MS}",
                "foreign_keys=ON",
            ):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.pop(_WRITE, False) else "BEGIN")

        _WRITERS[engine] = threading.RLock()
        return engine
    return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})


# SQLite writers of this process queue on a lock, each woken as the one before it commits.
# SQLite's busy handler (still what other processes meet) polls in sleeps growing to 100 ms and
# keeps no order: with dozens of stations uploading at once a writer could keep losing the race
# until its 30 s ran out and the station got a 503.
_WRITERS: weakref.WeakKeyDictionary[sa.Engine, threading.RLock] = weakref.WeakKeyDictionary()


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
