"""A real database outage for tests, on either engine: SQLite's write lock held by another
connection (``BEGIN EXCLUSIVE``; every write the headend makes meanwhile is refused as busy once
its busy timeout, shortened by ``short_busy_timeout``, runs out), or PostgreSQL's database closed
to connections and the headend's sessions ended (``pg_terminate_backend``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from headend.config import load_config


def short_busy_timeout(monkeypatch) -> None:
    """SQLite: give up on a held lock after 0.3 s instead of 30 s (set before the engine opens)."""
    from headend.db import engine

    monkeypatch.setattr(engine, "BUSY_TIMEOUT_MS", 300)


@contextmanager
def database_outage(root: Path, headend_db) -> Iterator[None]:
    if headend_db.name != "postgresql":
        holder = sqlite3.connect(root / "headend.db", isolation_level=None, timeout=30)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            yield
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        return
    import psycopg

    name = load_config(root).database_url.rsplit("/", 1)[1]
    with psycopg.connect(headend_db.server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        try:
            yield
        finally:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
