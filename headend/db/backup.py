"""Copying the headend database while the headend runs, and checking the copy.

- SQLite: the online backup API (``sqlite3.Connection.backup``) in one step, inside one read
  transaction: a consistent snapshot while the server and its intake workers keep writing (WAL:
  readers do not block writers; a step-by-step backup would restart at every write and might
  never finish under a steady stream of reports). The copy is a plain file (journal mode DELETE),
  checked (``PRAGMA integrity_check``, the revision, row counts) before it is renamed into place.
- PostgreSQL: ``pg_dump -Fc`` (the custom format ``pg_restore`` reads, compressed) with the
  URL's credentials (the password through ``PGPASSWORD``, never on the command line), then
  ``pg_restore --list`` must read it back and name every table of the schema.

Blocking. Every failure is a DatabaseError that says what to do.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from headend.db import migrate
from headend.db.engine import describe, transaction
from headend.db.schema import metadata
from headend.errors import DatabaseError
from playlists.atomic import fsync_dir

COUNTED = ("stations", "courses", "report_events", "station_days")  # the tables a backup's summary counts
DUMP_TIMEOUT_S = 6 * 3600


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    revision: str | None
    counts: dict[str, int]  # rows of COUNTED: in the copy (SQLite), in the database when dumped (PostgreSQL)
    tables: int  # tables the copy holds (SQLite) or lists (a PostgreSQL dump)
    engine: str  # "sqlite" (a database file) or "postgresql" (a pg_dump custom-format file)


def revision(engine: sa.Engine) -> str | None:
    """The migration the database is at (None: never migrated, e.g. an empty database)."""
    with transaction(engine) as conn:
        return migrate.current(conn)


def counts(engine: sa.Engine) -> dict[str, int]:
    """Rows of each ``COUNTED`` table (the ones there)."""
    with transaction(engine) as conn:
        present = set(sa.inspect(conn).get_table_names())
        return {
            t: int(conn.execute(sa.select(sa.func.count()).select_from(metadata.tables[t])).scalar() or 0)
            for t in COUNTED
            if t in present
        }


def _partial(dest: Path) -> Path:
    """The file the copy is written to, then checked and renamed: new, mode 0600 (it holds the
    stations' token hashes and the staff's password hashes)."""
    tmp = dest.with_name(f".{dest.name}.partial")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return tmp


def backup_sqlite(source: Path, dest: Path) -> Backup:
    """Copy the SQLite database ``source`` to the new file ``dest``, checked."""
    tmp = _partial(dest)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)  # pages=-1: one step, one snapshot
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            finally:
                dst.close()
        finally:
            src.close()
        found = _check_sqlite(tmp, dest)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except sqlite3.Error as exc:
        raise DatabaseError(
            f"{source}: the backup to {dest} failed ({exc}); check the disk has room and try again"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return Backup(dest, dest.stat().st_size, *found, "sqlite")


def _check_sqlite(copy: Path, dest: Path) -> tuple[str | None, dict[str, int], int]:
    conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise DatabaseError(f"{dest}: the copy fails SQLite's integrity check ({verdict}); nothing was kept")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        rev = (
            conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            if "alembic_version" in tables
            else None
        )
        found = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in COUNTED if t in tables}
        return rev, found, len(tables)
    finally:
        conn.close()


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DatabaseError(
            f"{name} is not installed; install the PostgreSQL client tools (Debian: apt-get install "
            "postgresql-client, of the server's major version or newer) and run the backup again"
        )
    return path


def _libpq(url: sa.URL) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment that carries it."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def backup_postgresql(engine: sa.Engine, dest: Path) -> Backup:
    """``pg_dump -Fc`` the database ``engine`` reaches to the new file ``dest``, checked."""
    pg_dump, pg_restore = _pg_tool("pg_dump"), _pg_tool("pg_restore")
    rev, found = revision(engine), counts(engine)  # also: the database is reachable, in our words if not
    uri, env = _libpq(engine.url)
    where = describe(engine.url)
    tmp = _partial(dest)
    try:
        res = subprocess.run(
            [pg_dump, "--format=custom", "--file", str(tmp), "--dbname", uri],
            capture_output=True,
            text=True,
            env=env,
            timeout=DUMP_TIMEOUT_S,
        )
        if res.returncode != 0:
            raise DatabaseError(f"{where}: pg_dump failed ({_last_line(res.stderr)}); nothing was kept at {dest}")
        listed = subprocess.run([pg_restore, "--list", str(tmp)], capture_output=True, text=True, timeout=600)
        if listed.returncode != 0:
            raise DatabaseError(
                f"{dest}: pg_restore cannot read the dump ({_last_line(listed.stderr)}); nothing was kept"
            )
        tables = set(re.findall(r"TABLE DATA \S+ (\S+) ", listed.stdout))
        missing = sorted(set(metadata.tables) - tables)
        if missing:
            raise DatabaseError(f"{dest}: the dump lacks tables {missing}; nothing was kept — run the backup again")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except subprocess.TimeoutExpired as exc:
        raise DatabaseError(f"{where}: the backup took over {exc.timeout:.0f} s and was stopped") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return Backup(dest, dest.stat().st_size, rev, found, len(tables), "postgresql")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
