"""``headend`` commands for the data root and the server: init, serve."""

from __future__ import annotations

import argparse

from headend.config import load_config
from headend.service import init_root, open_root
from headend.service.accounts import first_admin


def cmd_init(args: argparse.Namespace) -> int:
    res = init_root(args.root, args.database_url)
    with open_root(res.root) as h:
        admin_password = first_admin(h)
    if res.new_key:
        print(f"new signing key {res.key_id}: {res.public_key_path} (give this file to stations)")
    else:
        print(f"signing key kept: {res.secret_key_path}")
    print(f"headend data root ready: {res.root}")
    if admin_password:
        print(
            f"first county account: admin  one-time password: {admin_password}\n"
            "(shown only now; log in at /login and choose your own. Lost? `headend user passwd --root DIR admin`)"
        )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web  # aiohttp and jinja2 only for the server (~0.1 s less for every other command)

    from headend.web.app import create_app

    cfg = load_config(args.root)
    host = args.host or cfg.host
    port = cfg.port if args.port is None else args.port
    print(f"headend serving {cfg.root} on http://{host}:{port}/ (repository /repo/, dashboard /county)", flush=True)
    web.run_app(create_app(cfg), host=host, port=port, print=None)
    return 0


def add_commands(sub, root: argparse.ArgumentParser) -> None:
    s = sub.add_parser("init", parents=[root], help="create a data root with a signing key")
    s.add_argument(
        "--database-url",
        help="PostgreSQL database to use, postgresql://user@host:port/dbname "
        "(written to headend.toml [database] url; default: SQLite in the root)",
    )
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("serve", parents=[root], help="serve /repo/, /api/v1/ and the county dashboard")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.set_defaults(func=cmd_serve)
