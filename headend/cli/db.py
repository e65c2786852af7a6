"""``headend db`` commands: migrate (bring the schema to this headend's revision) and backup
(a checked copy while the headend runs)."""

from __future__ import annotations

import argparse

from headend.service.backup import backup_root, migrate_root


def cmd_migrate(args: argparse.Namespace) -> int:
    m = migrate_root(args.root)
    if m.before == m.after:
        print(f"headend database {m.where}: at revision {m.after}, the newest this headend knows; nothing to do")
    else:
        print(f"headend database {m.where}: migrated from revision {m.before or 'none (empty)'} to {m.after}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    b = backup_root(args.root, args.to)
    rows = ", ".join(f"{n} {c:,}" for n, c in b.counts.items())
    print(
        f"backup written: {b.path} ({b.size / 1e6:,.1f} MB, revision {b.revision or 'none'}, "
        f"{b.tables} tables; {rows}). Restore: "
        + (
            "stop the headend and copy it over headend.db (delete headend.db-wal and headend.db-shm)"
            if b.engine == "sqlite"
            else "pg_restore --no-owner --dbname postgresql://USER@HOST/NEWDB FILE, then point [database] url at NEWDB"
        )
    )
    return 0


def add_commands(sub, root: argparse.ArgumentParser) -> None:
    db = sub.add_parser("db", help="the headend database: migrate, backup").add_subparsers(
        dest="db_command", required=True
    )
    s = db.add_parser("migrate", parents=[root], help="apply the schema migrations the database lacks")
    s.set_defaults(func=cmd_migrate)

    s = db.add_parser(
        "backup",
        parents=[root],
        help="copy the database while the headend runs (SQLite online backup; PostgreSQL pg_dump -Fc)",
    )
    s.add_argument("--to", required=True, metavar="FILE", help="the new file to write (never overwritten)")
    s.set_defaults(func=cmd_backup)
