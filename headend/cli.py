"""The ``headend`` command: init, ingest, publish, serve, station add.

Exit codes: 0 done, 1 refused (bad input; the message says why and what to do), 2 usage.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import secrets
import sys
from pathlib import Path

from aiohttp import web

from headend.config import CONFIG_NAME, DEFAULT_CONFIG, load_config
from headend.cli_courses import add_commands as add_courseware_commands
from headend.db import Database
from headend.jobs import JobStore
from headend.errors import HeadendError, StationRegistryError
from playlists import SecretKey
from playlists.atomic import atomic_write, fsync_dir
from players import ProfileError, profile

_STATION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def _install_key(cfg, key: SecretKey) -> None:
    """The secret key (mode 0600 from the start) and its public key, each replaced atomically."""
    tmp = cfg.secret_key_path.with_name(f".{cfg.secret_key_path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.to_text())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, cfg.secret_key_path)
    fsync_dir(cfg.keys_dir)
    atomic_write(cfg.public_key_path, key.public_key.to_text().encode())


def cmd_init(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("keys", "media", "work", "inbox", "playlists", "notices"):
        (root / sub).mkdir(exist_ok=True)
    cfg_path = root / CONFIG_NAME
    if not cfg_path.exists():
        atomic_write(cfg_path, DEFAULT_CONFIG.encode())
    cfg = load_config(root)
    if not cfg.secret_key_path.exists():
        key = SecretKey.generate()
        _install_key(cfg, key)
        print(f"new signing key {key.public_key.id_hex}: {cfg.public_key_path} (give this file to stations)")
    else:
        print(f"signing key kept: {cfg.secret_key_path}")
    Database(cfg.db_path).create()
    JobStore(Database(cfg.db_path)).create()
    print(f"headend data root ready: {root}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from headend.publish import publish, refresh

    cfg = load_config(args.root)
    db = Database(cfg.db_path)
    db.create()
    res = (refresh if args.refresh else publish)(cfg, db)
    for line in res.skipped:
        print(f"left out of '全部课程': {line}", file=sys.stderr)
    for line in res.warnings:
        print(f"warning: {line}", file=sys.stderr)
    what = "re-signed the index as" if args.refresh else "published"
    print(f"{what} version {res.version}: {res.playlists} playlists, {res.courses} courses, "
          f"index expires {res.expires:%Y-%m-%d %H:%M} UTC; {res.collected} old files collected\n"
          f"tree: {cfg.repo_dir}  (check by hand: minisign -V -p {cfg.public_key_path} -m {res.index_path})")
    return 0


def cmd_definition_add(args: argparse.Namespace) -> int:
    """`playlist add` and `notice add`: write the TOML file, check it loads, or take it back."""
    from headend.programming import load_notice, load_playlist, write_definition

    cfg = load_config(args.root)
    audience = {"stations": args.station, "regions": args.region, "tags": args.tag}
    common = {"title": args.title, "valid_from": args.valid_from, "valid_until": args.valid_until,
              "audience": {k: v for k, v in audience.items() if v}}
    if args.kind == "playlist":
        folder, name, loader = "playlists", args.name, load_playlist
        data = {**common, "items": args.course, "priority": args.priority or None}
    else:
        folder, name, loader = "notices", args.id, load_notice
        data = {**common, "body": args.body}
    path = write_definition(cfg.root / folder, name, data)
    try:
        loader(path)
    except HeadendError:
        path.unlink()
        raise
    print(f"wrote {path}; run `headend publish --root {args.root}` to send it to stations")
    return 0


def cmd_programming_list(args: argparse.Namespace) -> int:
    from headend.programming import load_all

    cfg = load_config(args.root)
    playlists, notices = load_all(cfg.root)
    if args.kind == "playlist":
        for p in playlists:
            sched = "\tscheduled" if p.schedule else ""
            print(f"{p.name}\t{p.title}\t{len(p.items)} items\tpriority {p.priority}\t{p.audience.describe()}{sched}")
    else:
        for n in notices:
            until = f"until {n.valid_until:%Y-%m-%d}" if n.valid_until else "no end"
            print(f"{n.id}\t{n.title}\t{until}\t{n.audience.describe()}")
    return 0


def cmd_key_rotate(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from headend.publish import load_secret_key
    from playlists import make_rotation

    cfg = load_config(args.root)
    old = load_secret_key(cfg)
    new = SecretKey.generate()
    data, sig = make_rotation(old, new.public_key, datetime.now(timezone.utc))
    rot = cfg.published_dir / "keys" / f"rotate-{new.public_key.id_hex}.json"
    atomic_write(rot.with_name(rot.name + ".minisig"), sig)
    atomic_write(rot, data)
    retired = cfg.keys_dir / "retired"
    retired.mkdir(exist_ok=True)
    kept = retired / f"{old.public_key.id_hex}.key"
    kept.unlink(missing_ok=True)
    os.link(cfg.secret_key_path, kept)
    _install_key(cfg, new)  # a power cut before this leaves the old key in place: run rotate again
    print(f"signing key {new.public_key.id_hex} replaces {old.public_key.id_hex} (old key kept in {retired}).\n"
          f"Stations learn it from {rot.name}, signed by the old key, at the next publish; "
          f"give new stations {cfg.public_key_path}.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from headend.app import create_app

    cfg = load_config(args.root)
    host = args.host or cfg.host
    port = cfg.port if args.port is None else args.port
    print(f"headend serving {cfg.root} on http://{host}:{port}/ (repository /repo/, dashboard /county)", flush=True)
    web.run_app(create_app(cfg), host=host, port=port, print=None)
    return 0


def cmd_station_add(args: argparse.Namespace) -> int:
    cfg = load_config(args.root)
    if not _STATION_ID.match(args.id):
        raise StationRegistryError(f"station id {args.id!r}: use 1-64 characters a-z, 0-9 and '-'")
    try:
        profile(args.player)
    except ProfileError as exc:
        raise StationRegistryError(str(exc)) from exc
    token = secrets.token_urlsafe(24)
    region = [r for r in args.region.split("/") if r] if args.region else []
    db = Database(cfg.db_path)
    if not db.add_station(args.id, args.name or args.id, region, args.player, hashlib.sha256(token.encode()).hexdigest()):
        raise StationRegistryError(f"station {args.id} is already registered")
    print(f"station {args.id} registered; enrolment token (put it in station.toml [report] token):\n{token}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="headend", description="yuanjiao headend: ingest, publish, serve")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("init", help="create a data root with a signing key")
    s.add_argument("--root", required=True)
    s.set_defaults(func=cmd_init)

    add_courseware_commands(sub)  # ingest, watch, course list/edit, jobs (headend/cli_courses.py)

    s = sub.add_parser("publish", help="write a new signed repository version")
    s.add_argument("--root", required=True)
    s.add_argument("--refresh", action="store_true", help="only re-sign the index with a new expiry (for cron)")
    s.set_defaults(func=cmd_publish)

    def audience_args(s: argparse.ArgumentParser) -> None:
        s.add_argument("--station", action="append", default=[], help="a station id (repeatable)")
        s.add_argument("--region", action="append", default=[], help="a region prefix like 广东省/肇庆市/高要市 (repeatable)")
        s.add_argument("--tag", action="append", default=[], help="a station tag (repeatable)")
        s.add_argument("--valid-from", help="first day, e.g. 2026-12-01 (China time)")
        s.add_argument("--valid-until", help="end day, e.g. 2027-01-01 (China time)")

    pl = sub.add_parser("playlist", help="playlists (<root>/playlists/*.toml)").add_subparsers(dest="sub", required=True)
    s = pl.add_parser("add", help="write a playlist file")
    s.add_argument("--root", required=True)
    s.add_argument("name")
    s.add_argument("--title", required=True)
    s.add_argument("--course", action="append", default=[], required=True, help="course id or series:NAME, in order (repeatable)")
    s.add_argument("--priority", type=int, default=0)
    audience_args(s)
    s.set_defaults(func=cmd_definition_add, kind="playlist")
    s = pl.add_parser("list", help="list playlist files")
    s.add_argument("--root", required=True)
    s.set_defaults(func=cmd_programming_list, kind="playlist")

    nt = sub.add_parser("notice", help="notices 活动通知 (<root>/notices/*.toml)").add_subparsers(dest="sub", required=True)
    s = nt.add_parser("add", help="write a notice file")
    s.add_argument("--root", required=True)
    s.add_argument("id")
    s.add_argument("--title", required=True)
    s.add_argument("--body", required=True)
    audience_args(s)
    s.set_defaults(func=cmd_definition_add, kind="notice")
    s = nt.add_parser("list", help="list notice files")
    s.add_argument("--root", required=True)
    s.set_defaults(func=cmd_programming_list, kind="notice")

    ky = sub.add_parser("key", help="the signing key").add_subparsers(dest="sub", required=True)
    s = ky.add_parser("rotate", help="make a new signing key, announced under the current one")
    s.add_argument("--root", required=True)
    s.set_defaults(func=cmd_key_rotate)

    s = sub.add_parser("serve", help="serve /repo/, /api/v1/ and the county dashboard")
    s.add_argument("--root", required=True)
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.set_defaults(func=cmd_serve)

    st = sub.add_parser("station", help="manage stations").add_subparsers(dest="station_command", required=True)
    s = st.add_parser("add", help="register a station and print its enrolment token")
    s.add_argument("--root", required=True)
    s.add_argument("id")
    s.add_argument("--name")
    s.add_argument("--region", help="province/city/county/township/village")
    s.add_argument("--player", default="stb-sd")
    s.set_defaults(func=cmd_station_add)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except HeadendError as exc:
        print(f"headend: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
