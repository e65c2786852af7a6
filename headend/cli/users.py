"""``headend user`` commands: add, passwd, edit, disable, enable, list (county staff accounts)."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC

from catalogue.display import china_time
from headend.cli.table import table
from headend.db.records import ROLES
from headend.service import open_root
from headend.service.accounts import add_user, edit_user, reset_password, set_disabled
from headend.service.audit import Actor
from playlists.times import parse_moment

ROLE_LABELS = {"viewer": "查看", "editor": "编辑", "admin": "管理员"}


def _when(value: str | None) -> str:
    return china_time(parse_moment(value, "time", naive=UTC), seconds=False) if value else "—"


def _password(args: argparse.Namespace) -> str | None:
    """--prompt: ask twice on the terminal; otherwise None (the headend makes a one-time one)."""
    if not args.prompt:
        return None
    first = getpass.getpass("new password: ")
    if first != getpass.getpass("again: "):
        print("headend: the two passwords differ; nothing changed", file=sys.stderr)
        raise SystemExit(1)
    return first


def cmd_add(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        password = add_user(h, Actor.cli(), args.name, args.role, args.region, _password(args), args.reviewer)
    where = args.region or "the whole headend"
    print(f"account {args.name} ({args.role}{', reviewer' if args.reviewer else ''}, {where}) created")
    if not args.prompt:
        print(f"one-time password (shown only now; it must be replaced at the first login): {password}")
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        password = reset_password(h, Actor.cli(), args.name, _password(args))
    print(f"account {args.name} has a new password; its open logins end")
    if not args.prompt:
        print(f"one-time password (shown only now; it must be replaced at the first login): {password}")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        u = edit_user(h, Actor.cli(), args.name, args.role, args.region, args.reviewer)
    right = ", reviewer (may review notices)" if u.reviewer else ""
    print(f"account {u.name}: {u.role}{right}, {'/'.join(u.region) or 'the whole headend'}")
    return 0


def _disable(disabled: bool):
    def cmd(args: argparse.Namespace) -> int:
        with open_root(args.root) as h:
            set_disabled(h, Actor.cli(), args.name, disabled)
        print(f"account {args.name} {'disabled: it can no longer log in' if disabled else 'enabled again'}")
        return 0

    return cmd


def cmd_list(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        users = h.db.users.all()
    head = ["账号 name", "角色 role", "审核 reviewer", "地区 region", "停用 disabled", "最近登录 last login"]
    rows = [
        [
            u.name,
            f"{u.role} {ROLE_LABELS[u.role]}",
            "yes 可审核" if u.reviewer else "—",
            "/".join(u.region) or "全部 all",
            _when(u.disabled_at),
            _when(u.last_login_at),
        ]
        for u in users
    ]
    print(table(head, rows))
    return 0


def add_commands(sub, root: argparse.ArgumentParser) -> None:
    us = sub.add_parser("user", help="county staff accounts").add_subparsers(dest="user_command", required=True)
    s = us.add_parser("add", parents=[root], help="create an account and print its one-time password")
    s.add_argument("name")
    s.add_argument("--role", required=True, choices=ROLES)
    s.add_argument("--region", help="the region prefix it may see, e.g. 广东省/肇庆市/高要市 (default: all)")
    s.add_argument("--prompt", action="store_true", help="ask for the password instead of making one up")
    s.add_argument("--reviewer", action="store_true", help="may review notices (审核) drafted by others")
    s.set_defaults(func=cmd_add)

    s = us.add_parser("passwd", parents=[root], help="give an account a new password (its logins end)")
    s.add_argument("name")
    s.add_argument("--prompt", action="store_true", help="ask for the password instead of making one up")
    s.set_defaults(func=cmd_passwd)

    s = us.add_parser("edit", parents=[root], help="change an account's role, region or reviewer right")
    s.add_argument("name")
    s.add_argument("--role", choices=ROLES)
    s.add_argument("--region", help="the region prefix; '' for the whole headend")
    s.add_argument(
        "--reviewer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="grant (--reviewer) or take back (--no-reviewer) the right to review notices (审核)",
    )
    s.set_defaults(func=cmd_edit)

    for name, disabled, what in (("disable", True, "stop an account logging in"), ("enable", False, "let it again")):
        s = us.add_parser(name, parents=[root], help=what)
        s.add_argument("name")
        s.set_defaults(func=_disable(disabled))

    s = us.add_parser("list", parents=[root], help="the accounts, their roles, reviewer rights and regions")
    s.set_defaults(func=cmd_list)
