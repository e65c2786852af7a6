"""The ``station`` command: sync --once, serve, status, report --once, import, export, pin set.

Exit codes of ``sync --once``: 0 everything installed and verified; 1 refused or failed (no valid
index; nothing changed); 2 usage or configuration error; 3 partly done (some files failed; what is
verified is installed, the next run completes it).

Exit codes of ``report --once``: 0 nothing remains unacknowledged; 1 an upload failed (unreachable,
refused, revoked: the message says what to do); 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import logging
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from catalogue.display import size
from station.config import StationConfig, load_config
from station.errors import ConfigError, StationError
from station.model import SyncStatus
from station.store import Store
from station.web.keys import PIN
from station.web.pin import FILE_NAME as PIN_FILE
from station.web.pin import AdminPin, weakness

log = logging.getLogger("station")


def _print_sync(status: SyncStatus) -> int:
    if status.state == "failed":
        print(f"sync failed: {status.last_error}", file=sys.stderr)
        return 1
    this_pass = status.downloaded_at is not None and status.downloaded_at == status.last_attempt
    files, size = (status.files_downloaded or 0, status.bytes_downloaded or 0) if this_pass else (0, 0)
    print(
        f"index version {status.index_version} from {status.mirror}: "
        f"{status.courses_installed}/{status.courses_total} courses installed, "
        f"{files} files ({size} bytes) downloaded"
    )
    for line in status.failures:
        print(f"  not yet: {line}", file=sys.stderr)
    return 0 if status.state == "ok" else 3


async def _sync_once(cfg: StationConfig) -> int:
    from station.sync.runner import sync_pass

    store = Store(cfg.data_dir)
    async with aiohttp.ClientSession() as session:
        # One line on stderr says what failed; -v logs an unexpected failure's traceback too.
        status = await sync_pass(cfg, store, session, loud=lambda exc: log.isEnabledFor(logging.INFO))
    return _print_sync(status)


def cmd_sync(cfg: StationConfig, args: argparse.Namespace) -> int:
    if not args.once:
        print("station sync: use --once for one pass (station serve keeps syncing)", file=sys.stderr)
        return 2
    return asyncio.run(_sync_once(cfg))


def cmd_serve(cfg: StationConfig, args: argparse.Namespace) -> int:
    from station.daemon import build_app

    host = args.host or cfg.ui_host
    port = cfg.ui_port if args.port is None else args.port
    try:
        app = build_app(cfg)
    except ConfigError as exc:
        print(f"station serve: {exc}", file=sys.stderr)
        return 2
    print(f"station {cfg.station_id} serving the TV page on http://{host}:{port}/ (admin: /admin)", flush=True)
    if cfg.admin_pin is None and AdminPin(None, cfg.data_dir).needs_setup():
        print(
            f"no admin PIN yet: open http://{host}:{port}/admin and choose one with the set-up code "
            f"{app[PIN].setup_code} (also on the box's TV), or: station pin set",
            flush=True,
        )
    web.run_app(app, host=host, port=port, print=None)
    return 0


def _read_pin(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().strip()  # piped: one PIN per line


def cmd_pin(cfg: StationConfig, args: argparse.Namespace) -> int:
    """``station pin set``: choose the admin PIN on the box's console (also when it is forgotten)."""
    pin = _read_pin("new admin PIN (6-12 digits): ").strip()
    problem = weakness(pin)
    if problem is None and _read_pin("the same PIN again: ").strip() != pin:
        problem = "The two PINs are not the same."
    if problem:
        print(f"station pin set: {problem} Nothing was changed.", file=sys.stderr)
        return 1
    AdminPin(cfg.admin_pin, cfg.data_dir).store(pin)
    print(f"the admin PIN is saved (hashed) in {cfg.data_dir / PIN_FILE}; it works at once, no restart needed")
    if cfg.admin_pin is not None:
        print(
            f"note: {cfg.path} sets [ui] admin_pin, which wins over this one; delete that line to use this PIN",
            file=sys.stderr,
        )
    return 0


def cmd_status(cfg: StationConfig, args: argparse.Namespace) -> int:
    from station.records.journal import usage
    from station.status import collect_status, describe

    status = collect_status(cfg, Store(cfg.data_dir), usage(cfg.data_dir / "journal", cfg.journal_budget_bytes))
    if args.json:
        print(json.dumps(status.to_json(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(describe(status)))
    return 0


def cmd_import(cfg: StationConfig, args: argparse.Namespace) -> int:
    """Sync from a repository copy (a USB stick) with the same verification as from a mirror."""
    from station.sync.carriers import import_mirrors

    try:
        mirrors = import_mirrors(Path(args.path))
    except StationError as exc:
        print(f"station import: {exc}", file=sys.stderr)
        return 1
    return asyncio.run(_sync_once(dataclasses.replace(cfg, mirrors=mirrors)))


def cmd_export(cfg: StationConfig, args: argparse.Namespace) -> int:
    from station.sync.carriers import export

    dest = Path(args.path).resolve()
    files, written = export(Store(cfg.data_dir), dest)
    print(f"exported to {dest}: {files} files written ({size(written)}); a neighbour runs `station import {dest}`")
    return 0


async def _report_once(cfg: StationConfig) -> int:
    from station.records.journal import Journal
    from station.upload.run import Uploader

    journal = Journal(cfg.data_dir / "journal", budget_bytes=cfg.journal_budget_bytes)
    uploader = Uploader(cfg, journal)
    async with aiohttp.ClientSession() as session:
        result = await uploader.run(session)
    print(f"sent {result.sent} events; {result.remaining} remain")
    if result.answer is not None:
        print(f"station report: {uploader.state.last_error}", file=sys.stderr)
        return 1
    return 0  # everything journalled when the run began is acknowledged (the daemon may have added more)


def cmd_report(cfg: StationConfig, args: argparse.Namespace) -> int:
    if not args.once:
        print("station report: use --once for one upload (station serve keeps reporting)", file=sys.stderr)
        return 2
    if not cfg.report_url:
        print(f"station report: reporting is off: set [report] url in {cfg.path}", file=sys.stderr)
        return 2
    if not cfg.report_token:
        print(
            f"station report: no token: set [report] token or token_file in {cfg.path} "
            "(`headend station add` prints it)",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(_report_once(cfg))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="station", description="yuanjiao village station daemon")
    p.add_argument("--config", default="station.toml", help="station.toml (default: ./station.toml)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sync", help="sync with the mirrors")
    s.add_argument("--once", action="store_true", help="one pass, then exit (exit code says how it went)")
    s.set_defaults(func=cmd_sync)
    s = sub.add_parser("serve", help="run the daemon: sync loop, TV page, admin page")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.set_defaults(func=cmd_serve)
    s = sub.add_parser("import", help="sync from a repository copy on a USB stick (same verification)")
    s.add_argument("path")
    s.set_defaults(func=cmd_import)
    s = sub.add_parser("export", help="write this station's verified repository to a folder for a neighbour")
    s.add_argument("path")
    s.set_defaults(func=cmd_export)
    s = sub.add_parser("pin", help="set the admin PIN on the box's console (station pin set)")
    s.add_argument("action", choices=["set"])
    s.set_defaults(func=cmd_pin)
    s = sub.add_parser("report", help="upload what the headend has not acknowledged (report --once)")
    s.add_argument("--once", action="store_true", help="upload until all is acknowledged or a failure, then exit")
    s.set_defaults(func=cmd_report)
    s = sub.add_parser("status", help="sync, storage and content state")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"station: {exc}", file=sys.stderr)
        return 2
    try:
        return args.func(cfg, args)
    except StationError as exc:
        print(f"station: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
