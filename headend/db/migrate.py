"""Versioned migrations (Alembic, shipped in ``migrations/``) applied once when the database is
opened: nothing to do when it is at head; a database made before migrations is adopted (brought
to the first revision's shape and stamped) and then upgraded. One process migrates at a time:
``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL, both released at commit."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from headend.db.engine import transaction

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FIRST = "0001"
_LOCK_KEY = 0x79756A69  # "yuji": the advisory lock id migrations take on PostgreSQL
_OURS = {"courses", "renditions", "stations", "published_files", "publications", "jobs", "loudness"}


def _config(conn: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


@cache
def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine) -> None:
    """Bring the database to head (blocking). DatabaseError if the database fails."""
    with transaction(engine) as conn:  # the cheap check every open makes
        if current(conn) == head():
            return
    with transaction(engine, write=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        rev = current(conn)
        if rev == head():
            return  # another process did it while we waited
        cfg = _config(conn)
        if rev is None and _OURS & set(sa.inspect(conn).get_table_names()):
            first = ScriptDirectory.from_config(cfg).get_revision(FIRST).module
            changes = first.adopt(conn)
            command.stamp(cfg, FIRST)
            log.warning("adopted a headend database made before migrations (%s); now at revision %s",
                        ", ".join(changes) or "nothing to change", FIRST)
        command.upgrade(cfg, "head")
