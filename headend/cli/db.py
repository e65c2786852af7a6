"""``headend db`` commands: migrate (bring the schema to this headend's revision), backup
(a checked copy while the headend runs) and archive (old raw report events to files)."""

from __future__ import annotations

import argparse

from headend.service import open_root
from headend.service.archive import archive_events
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


def cmd_archive(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        done = archive_events(h, args.before, dry_run=args.dry_run)
    if not done:
        print(f"no report events before {args.before}: nothing to archive")
    for a in done:
        if args.dry_run:
            print(f"{a.month}: {a.events:,} events would be written to {a.path.parent}/ and deleted")
        else:
            print(
                f"{a.month}: {a.events:,} events → {a.path} ({a.size / 1e6:,.1f} MB, sha256 {a.sha256[:16]}…); deleted"
            )
    if done and not args.dry_run:
        print("the daily figures stay; keep the files with the backups (one JSON event a line, gzip)")
    return 0


def add_commands(sub, root: argparse.ArgumentParser) -> None:
    db = sub.add_parser("db", help="the headend database: migrate, backup, archive").add_subparsers(
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

    s = db.add_parser(
        "archive",
        parents=[root],
        help="move raw report events of months before --before to <root>/archive/ (the daily figures stay)",
    )
    s.add_argument("--before", required=True, metavar="YYYY-MM", help="archive every month before this one")
    s.add_argument("--dry-run", action="store_true", help="say what would go; write and delete nothing")
    s.set_defaults(func=cmd_archive)
