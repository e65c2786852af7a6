"""Database upkeep for ``headend db``: bring the schema to this headend's revision
(``migrate_root``) and copy the database while the headend runs (``backup_root``): SQLite
through its online backup API, PostgreSQL through ``pg_dump -Fc`` (``headend.db.backup``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from headend.config import database_url, load_config
from headend.db import Database, migrate
from headend.db.backup import Backup, backup_postgresql, backup_sqlite, revision
from headend.db.engine import describe
from headend.errors import ConfigError


@dataclass(frozen=True)
class Migrated:
    where: str  # the database, for a message (never a password)
    before: str | None  # None: a new, empty database
    after: str


def migrate_root(root: str | Path) -> Migrated:
    """Apply the migrations the data root's database lacks (none when it is at head)."""
    cfg = load_config(root)
    db = Database(database_url(cfg.database_url, cfg.db_path))  # not Database.open: it would migrate first
    try:
        before = revision(db.engine)
        migrate.upgrade(db.engine)
        return Migrated(_where(db), before, revision(db.engine) or "")
    finally:
        db.close()


def backup_root(root: str | Path, dest: str | Path) -> Backup:
    """A checked copy of the data root's database at ``dest`` (a new file)."""
    cfg = load_config(root)
    dest = Path(dest).resolve()
    if dest.exists():
        raise ConfigError(f"{dest} exists; give a new file name (a backup never overwrites one)")
    if not dest.parent.is_dir():
        raise ConfigError(f"{dest.parent}: no such folder; create it or give another --to")
    url = database_url(cfg.database_url, cfg.db_path)
    if url.get_backend_name() == "sqlite":
        source = Path(url.database)
        if not source.exists():
            raise ConfigError(f"{source}: no headend database yet; `headend init --root {cfg.root}` creates it")
        if source.resolve() == dest:
            raise ConfigError(f"{dest} is the database itself; give another file")
        return backup_sqlite(source, dest)
    db = Database(url)
    try:
        return backup_postgresql(db.engine, dest)
    finally:
        db.close()


def _where(db: Database) -> str:
    return str(db.url.database) if db.url.get_backend_name() == "sqlite" else describe(db.url)
