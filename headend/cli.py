"""The ``headend`` command: init, ingest, publish, serve, station add.

Exit codes: 0 done, 1 refused (bad input; the message says why and what to do), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import re
import secrets
import sys
from pathlib import Path

from aiohttp import web

from headend.config import CONFIG_NAME, DEFAULT_CONFIG, load_config
from headend.db import Database
from headend.errors import HeadendError, IngestError, StationRegistryError
from playlists import SecretKey
from playlists.atomic import atomic_write
from players import ProfileError, profile

_STATION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def cmd_init(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("keys", "media", "repo", "work", "inbox"):
        (root / sub).mkdir(exist_ok=True)
    cfg_path = root / CONFIG_NAME
    if not cfg_path.exists():
        atomic_write(cfg_path, DEFAULT_CONFIG.encode())
    cfg = load_config(root)
    if not cfg.secret_key_path.exists():
        key = SecretKey.generate()
        fd = os.open(cfg.secret_key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key.to_text())
            fh.flush()
            os.fsync(fh.fileno())
        atomic_write(cfg.public_key_path, key.public_key.to_text().encode())
        print(f"new signing key {key.public_key.id_hex}: {cfg.public_key_path} (give this file to stations)")
    else:
        print(f"signing key kept: {cfg.secret_key_path}")
    Database(cfg.db_path).create()
    print(f"headend data root ready: {root}")
    return 0


async def _ingest(args: argparse.Namespace) -> int:
    from headend.ingest import Ingester

    cfg = load_config(args.root)
    db = Database(cfg.db_path)
    db.create()
    ing = Ingester(cfg, db)
    failed = 0
    files = [Path(f) for f in args.files]
    for n, path in enumerate(files, 1):
        title = args.title
        if title and len(files) > 1:
            title = f"{title} 第{n}集"
        try:
            res = await ing.ingest(path, title, args.category, args.description or "")
        except HeadendError as exc:
            failed += 1
            print(f"refused: {exc}", file=sys.stderr)
            log_tail = getattr(exc, "log_tail", "")
            if log_tail:
                print("ffmpeg said:\n" + log_tail, file=sys.stderr)
            continue
        made = ", ".join(res.transcoded) or "none (already made)"
        print(f"ingested {path.name}: {res.course.id} 《{res.course.title}》 [{res.course.category}] "
              f"{res.course.duration_s:.0f} s; transcoded: {made}")
    return 1 if failed else 0


def cmd_publish(args: argparse.Namespace) -> int:
    from headend.publish import publish

    cfg = load_config(args.root)
    res = publish(cfg, Database(cfg.db_path))
    for line in res.skipped:
        print(f"left out: {line}", file=sys.stderr)
    print(f"published version {res.version}: {res.courses} courses, index expires {res.expires:%Y-%m-%d %H:%M} UTC\n"
          f"tree: {cfg.repo_dir}  (check by hand: minisign -V -p {cfg.public_key_path} -m {res.index_path})")
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

    s = sub.add_parser("ingest", help="probe, transcode for every player profile, add to the catalogue")
    s.add_argument("--root", required=True)
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--title", help="course title (default: the file name); several files become episodes")
    s.add_argument("--category", required=True, help="category id or zh-CN label, e.g. agriculture or 农业技术")
    s.add_argument("--description", default="")
    s.set_defaults(func=lambda a: asyncio.run(_ingest(a)))

    s = sub.add_parser("publish", help="write a new signed repository version")
    s.add_argument("--root", required=True)
    s.set_defaults(func=cmd_publish)

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
