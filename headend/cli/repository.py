"""``headend`` commands for the repository: publish, playlist add/list, notice add/list/review/sign,
key rotate."""

from __future__ import annotations

import argparse
import sys

from catalogue.display import china_time
from headend.service import open_root
from headend.service.audit import Actor
from headend.service.notices import review_notice, sign_notice, states
from headend.service.repository import add_notice, add_playlist, programming, publish, rotate


def cmd_publish(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        res = publish(h, refresh=args.refresh)
        cfg = h.cfg
    for line in res.skipped:
        print(f"left out of '全部课程': {line}", file=sys.stderr)
    for line in res.warnings:
        print(f"warning: {line}", file=sys.stderr)
    what = "re-signed the index as" if args.refresh else "published"
    print(
        f"{what} version {res.version}: {res.playlists} playlists, {res.courses} courses, "
        f"index expires {china_time(res.expires, seconds=False)} China time; {res.collected} old files collected\n"
        f"tree: {cfg.repo_dir}  (check by hand: minisign -V -p {cfg.public_key_path} -m {res.index_path})"
    )
    return 0


def cmd_definition_add(args: argparse.Namespace) -> int:
    """`playlist add` and `notice add`: write the TOML file, check it loads, or take it back."""
    audience = {"stations": args.station, "regions": args.region, "tags": args.tag}
    common = {
        "title": args.title,
        "valid_from": args.valid_from,
        "valid_until": args.valid_until,
        "audience": {k: v for k, v in audience.items() if v},
    }
    with open_root(args.root) as h:
        if args.kind == "playlist":
            path = add_playlist(h, args.name, {**common, "items": args.course, "priority": args.priority or None})
        else:
            path = add_notice(h, args.id, {**common, "body": args.body})
    if args.kind == "notice":
        print(
            f"wrote {path}: a draft (草稿). A reviewer reviews it (`headend notice review {args.id} --as ACCOUNT`), "
            f"an admin signs it off (`headend notice sign {args.id} --as ACCOUNT`), or both on /county/notices; "
            "the next publish after sign-off sends it to stations"
        )
    else:
        print(f"wrote {path}; run `headend publish --root {args.root}` to send it to stations")
    return 0


def cmd_programming_list(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        if args.kind == "playlist":
            playlists, _ = programming(h.cfg, h.db)
        else:
            found = states(h)
    if args.kind == "playlist":
        for p in playlists:
            sched = "\tscheduled" if p.schedule else ""
            print(f"{p.name}\t{p.title}\t{len(p.items)} items\tpriority {p.priority}\t{p.audience.describe()}{sched}")
    else:
        for st in found:
            n = st.notice
            until = f"until {n.valid_until:%Y-%m-%d}" if n.valid_until else "no end"
            print(f"{n.id}\t{n.title}\t{until}\t{n.audience.describe()}\t{st.words} {st.state}\t{st.steps()}")
    return 0


def _notice_step(step):
    """`notice review` and `notice sign`: the operator acts for a county account (``--as``)."""

    def cmd(args: argparse.Namespace) -> int:
        with open_root(args.root) as h:
            st = step(h, args.id, args.account, Actor.cli())
        then = (
            f"run `headend publish --root {args.root}` (or 立即发布 on /county/publishing) to send it"
            if st.state == "signed"
            else f"an admin signs it off: `headend notice sign {args.id} --as ACCOUNT --root {args.root}`"
        )
        print(f"notice {args.id}: {st.words} {st.state} ({st.steps()}); {then}")
        return 0

    return cmd


def cmd_key_rotate(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        old, new, rot = rotate(h)
        cfg = h.cfg
    print(
        f"signing key {new.public_key.id_hex} replaces {old.public_key.id_hex} (old key kept in "
        f"{cfg.keys_dir / 'retired'}).\nStations learn it from {rot.name}, signed by the old key, at the next "
        f"publish; give new stations {cfg.public_key_path}."
    )
    return 0


def _audience_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--station", action="append", default=[], help="a station id (repeatable)")
    s.add_argument(
        "--region", action="append", default=[], help="a region prefix like 广东省/肇庆市/高要市 (repeatable)"
    )
    s.add_argument("--tag", action="append", default=[], help="a station tag (repeatable)")
    s.add_argument("--valid-from", help="first day, e.g. 2026-12-01 (China time)")
    s.add_argument("--valid-until", help="end day, e.g. 2027-01-01 (China time)")


def add_commands(sub, root: argparse.ArgumentParser) -> None:
    s = sub.add_parser("publish", parents=[root], help="write a new signed repository version")
    s.add_argument("--refresh", action="store_true", help="only re-sign the index with a new expiry (for cron)")
    s.set_defaults(func=cmd_publish)

    for kind, folder, what in (("playlist", "playlists", "playlists"), ("notice", "notices", "notices 活动通知")):
        group = sub.add_parser(kind, help=f"{what} (<root>/{folder}/*.toml)").add_subparsers(dest="sub", required=True)
        s = group.add_parser("add", parents=[root], help=f"write a {kind} file")
        s.add_argument("name" if kind == "playlist" else "id")
        s.add_argument("--title", required=True)
        if kind == "playlist":
            s.add_argument(
                "--course",
                action="append",
                default=[],
                required=True,
                help="course id or series:NAME, in order (repeatable)",
            )
            s.add_argument("--priority", type=int, default=0)
        else:
            s.add_argument("--body", required=True)
        _audience_args(s)
        s.set_defaults(func=cmd_definition_add, kind=kind)
        group.add_parser(
            "list", parents=[root], help=f"list {kind} files" + (" with their review state" if kind == "notice" else "")
        ).set_defaults(func=cmd_programming_list, kind=kind)
        if kind == "notice":
            for name, step, what in (
                ("review", review_notice, "review (审核) a draft for an account with the reviewer right"),
                ("sign", sign_notice, "sign off (签发) a reviewed notice for an admin account"),
            ):
                s = group.add_parser(name, parents=[root], help=what)
                s.add_argument("id")
                s.add_argument(
                    "--as",
                    dest="account",
                    required=True,
                    metavar="ACCOUNT",
                    help="the county account that takes this step (not the notice's drafter)",
                )
                s.set_defaults(func=_notice_step(step))

    ky = sub.add_parser("key", help="the signing key").add_subparsers(dest="sub", required=True)
    ky.add_parser(
        "rotate", parents=[root], help="make a new signing key, announced under the current one"
    ).set_defaults(func=cmd_key_rotate)
