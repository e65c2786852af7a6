"""``headend station`` commands: add, edit, token --rotate, revoke, list."""

from __future__ import annotations

import argparse
from datetime import UTC

from catalogue.display import china_time
from headend.cli.table import table
from headend.service import open_root
from headend.service.stations import add_station, edit_station, revoke_station, rotate_token
from playlists.times import parse_moment


def _when(value: str | None) -> str:
    return china_time(parse_moment(value, "time", naive=UTC), seconds=False) if value else "—"


def cmd_add(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        token = add_station(h, args.id, args.name, args.region, args.player, args.capacity, args.members)
    print(
        f"station {args.id} registered; enrolment token (put it in station.toml [report] token, or alone in its token_file, mode 0600):\n{token}"
    )
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        s = edit_station(
            h, args.id, args.name, args.region, args.player, args.capacity, args.members, args.opening_hours
        )
    print(
        f"station {s.id}: {s.name}, {'/'.join(s.region) or '—'}, {s.player}, "
        f"capacity {s.capacity or '—'}, members {'—' if s.members is None else s.members}, "
        f"open {s.opening_hours or 'all day'}"
    )
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        token = rotate_token(h, args.id)
    print(
        f"station {args.id} has a new token; the old one no longer works. "
        f"Put this one in its station.toml [report] token (or its token_file):\n{token}"
    )
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        revoke_station(h, args.id)
    print(
        f"station {args.id}'s token is revoked: its reports are refused until "
        f"`headend station token --rotate {args.id}` gives it a new one"
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        stations = h.db.stations()
    if not stations:
        print("no stations registered; add one with `headend station add --root DIR ID`")
        return 0
    head = ["站点 id", "名称 name", "地区 region", "登记 enrolled", "吊销 revoked", "最近上报 last report"]
    rows = [
        [s.id, s.name, "/".join(s.region) or "—", _when(s.created_at), _when(s.revoked_at), _when(s.last_report_at)]
        for s in stations
    ]
    print(table(head, rows))
    return 0


def _positive(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def add_commands(sub, root: argparse.ArgumentParser) -> None:
    st = sub.add_parser("station", help="manage stations").add_subparsers(dest="station_command", required=True)
    s = st.add_parser("add", parents=[root], help="register a station and print its enrolment token")
    s.add_argument("id")
    s.add_argument("--name")
    s.add_argument("--region", help="province/city/county/township/village")
    s.add_argument("--player", default="stb-sd")
    s.add_argument("--capacity", type=_positive, help="seats in its study room")
    s.add_argument("--members", type=_positive, help="registered party members")
    s.set_defaults(func=cmd_add)

    s = st.add_parser("edit", parents=[root], help="change a station's name, region, player, capacity or members")
    s.add_argument("id")
    s.add_argument("--name")
    s.add_argument("--region", help="province/city/county/township/village")
    s.add_argument("--player")
    s.add_argument("--capacity", type=_positive, help="seats in its study room")
    s.add_argument("--members", type=_positive, help="registered party members")
    s.add_argument(
        "--opening-hours",
        help="when the station is open, China time, e.g. 08:00-12:00,14:00-21:00 ('' for all day); "
        "silence outside them raises no alert",
    )
    s.set_defaults(func=cmd_edit)

    s = st.add_parser("token", parents=[root], help="give a station a new token (the old one stops working)")
    s.add_argument("--rotate", action="store_true", required=True, help="replace the token")
    s.add_argument("id")
    s.set_defaults(func=cmd_token)

    s = st.add_parser("revoke", parents=[root], help="refuse a station's reports until it gets a new token")
    s.add_argument("id")
    s.set_defaults(func=cmd_revoke)

    s = st.add_parser("list", parents=[root], help="the registered stations and when each last reported")
    s.set_defaults(func=cmd_list)
