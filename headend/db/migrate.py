"""Versioned migrations (Alembic, shipped in ``migrations/``) applied once when the database is
opened: nothing to do when it is at head; a database made before migrations is adopted (brought
to the first revision's shape and stamped) and then upgraded. One process migrates at a time:
``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL, both released at commit."""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa

from headend.db.engine import describe, transaction
from headend.errors import DatabaseError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FIRST = "0001"
HEAD = "0012"  # the newest revision in migrations/versions (a test checks); at head no alembic is imported
_LOCK_KEY = 0x79756A69  # "yuji": the advisory lock id migrations take on PostgreSQL
_OURS = {"courses", "renditions", "stations", "published_files", "publications", "jobs", "loudness"}


def _config(conn: sa.Connection | None = None):
    from alembic.config import Config  # alembic only when there is something to migrate (~0.1 s per command)

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    """The newest revision, as alembic reads it from migrations/versions."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current(conn: sa.Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    version = sa.table("alembic_version", sa.column("version_num"))
    return conn.execute(sa.select(version.c.version_num)).scalar()


def upgrade(engine: sa.Engine) -> None:
    """Bring the database to head (blocking). DatabaseError if the database fails, is newer than
    this headend, or a migration cannot run."""
    with transaction(engine) as conn:  # the cheap check every open makes
        if current(conn) == HEAD:
            return
    from alembic.util import CommandError

    try:
        _upgrade(engine)
    except CommandError as exc:
        raise DatabaseError(
            f"{_where(engine)}: cannot bring the headend database to revision {HEAD} ({exc}); "
            "see the headend log, or restore the database from a backup"
        ) from exc


def _where(engine: sa.Engine) -> str:
    return str(engine.url.database) if engine.url.get_backend_name() == "sqlite" else describe(engine.url)


def _upgrade(engine: sa.Engine) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    with transaction(engine, write=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
        rev = current(conn)
        if rev == HEAD:
            return  # another process did it while we waited
        cfg = _config(conn)
        script = ScriptDirectory.from_config(cfg)
        if rev is not None and rev not in {r.revision for r in script.walk_revisions()}:
            raise DatabaseError(
                f"{_where(engine)}: the headend database is at revision {rev}, newer than this headend knows "
                f"(it knows up to {HEAD}); a newer headend migrated it: run that version, or restore a backup"
            )
        if rev is None and _OURS & set(sa.inspect(conn).get_table_names()):
            first = script.get_revision(FIRST).module
            changes = first.adopt(conn)
            command.stamp(cfg, FIRST)
            log.warning(
                "adopted a headend database made before migrations (%s); now at revision %s",
                ", ".join(changes) or "nothing to change",
                FIRST,
            )
        command.upgrade(cfg, "head")
