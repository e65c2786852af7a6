"""``headend live``: live classes (网络党课, issue 16). ``live add`` schedules one for an audience
(published with the next ``headend publish``; ``headend serve`` encodes it at its time), ``live
list`` shows the schedule with what the encoder says, ``live cancel`` withdraws one. ``live run``
encodes a live source into HLS for every player profile in use, under ``<root>/live/<ID>/``
(``headend serve`` serves it at ``/live/<ID>/``), until ``--until`` (China time) or
``--duration-min``; for a scheduled class, by default from its source until its end; otherwise
until the source ends. Ctrl-C ends the class at once, cleanly; a second Ctrl-C abandons it.

Exit codes as in ``headend.cli``: 0 the class ended, 1 it failed (the message says why), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from datetime import UTC, datetime, timedelta

from catalogue.display import china_time
from catalogue.ids import is_id
from headend.cli.table import table
from headend.config import load_config
from headend.courseware.live import LiveStatus, live_dir, run_live
from headend.courseware.live_recipe import MASTER, SEGMENT_S_CHOICES, LiveSource, parse_source
from headend.repository.live import end_of, start_of
from headend.service import live as live_service
from headend.service import open_headend, open_root
from headend.service.audit import Actor
from playlists import Audience
from playlists.errors import FormatError
from playlists.schedule import parse_local_datetime


def _until(args: argparse.Namespace) -> datetime | None:
    if args.duration_min is not None:
        if args.duration_min <= 0:
            raise FormatError(f"--duration-min {args.duration_min:g}: give a number of minutes above 0")
        return datetime.now(UTC) + timedelta(minutes=args.duration_min)
    if args.until is None:
        return None
    until = parse_local_datetime(args.until, "--until")
    if until <= datetime.now(UTC):
        raise FormatError(f"--until {args.until}: that time (China time) has already passed")
    return until


def _say(status: LiveStatus, shown: list[str]) -> None:
    """Each change of state, as it happens, on stderr."""
    if (shown and shown[-1] == status.state) or status.state in ("ended", "failed"):  # the summary says those
        return
    shown.append(status.state)
    why = f": {status.last_error}" if status.state == "waiting" and status.last_error else ""
    print(f"live {status.id}: {status.state}{why}", file=sys.stderr, flush=True)


async def _run(args: argparse.Namespace, cfg, source: LiveSource, until: datetime | None) -> LiveStatus:
    stop = asyncio.Event()
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        if stop.is_set():
            task.cancel()
            return
        print("ending the class now (Ctrl-C again to abandon it)", file=sys.stderr, flush=True)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt)
    shown: list[str] = []
    return await run_live(
        cfg,
        args.id,
        source,
        until,
        segment_s=args.segment_s,
        stop=stop,
        on_status=lambda s: _say(s, shown),
    )


def cmd_live_run(args: argparse.Namespace) -> int:
    cfg = load_config(args.root)
    try:
        until = _until(args)
    except FormatError as exc:
        print(f"headend live run: {exc}", file=sys.stderr)
        return 2
    with open_headend(cfg) as h:
        scheduled = h.db.live.get(args.id) if is_id(args.id) else None
        if scheduled is not None and not scheduled.cancelled_at:  # a class of the schedule: its source, its end
            until = until or end_of(scheduled)
            args.input = args.input or live_service.source_of(h, scheduled)
    if not args.input:
        print(f"headend live run: {args.id} is not a scheduled class; give --input URL|FILE", file=sys.stderr)
        return 2
    folder, source = live_dir(cfg, args.id), parse_source(args.input)
    # The states are printed as they change (below); the encoder's own log only with --verbose.
    logging.getLogger(run_live.__module__).setLevel(logging.INFO if args.verbose else logging.ERROR)
    end = f"until {china_time(until, seconds=False)} China time" if until else "until the source ends"
    print(f"live {args.id}: HLS in {folder}/ ({MASTER}; headend serve: /live/{args.id}/{MASTER}), {end}", flush=True)
    try:
        status = asyncio.run(_run(args, cfg, source, until))
    except asyncio.CancelledError:
        print(f"live {args.id}: abandoned; ffmpeg stopped", file=sys.stderr)
        return 130
    made = ", ".join(f"{name} {n}" for name, n in status.segments.items())
    print(f"live {args.id}: {status.state}; segments: {made}; restarts: {status.restarts}")
    if status.recording:
        print(f"recording: {folder / status.recording}")
    if status.state != "ended":
        print(f"headend live run: {status.last_error}", file=sys.stderr)
        if status.last_lines:
            print("ffmpeg said:\n" + "\n".join(status.last_lines), file=sys.stderr)
        return 1
    if status.last_error:
        print(f"note: {status.last_error}")
    return 0


def cmd_live_add(args: argparse.Namespace) -> int:
    try:
        start = parse_local_datetime(args.start, "--start")
        audience = Audience.from_dict(
            {"stations": args.station or [], "regions": args.region or [], "tags": args.tag or []},
            "--station/--region/--tag",
        )
    except FormatError as exc:
        print(f"headend live add: {exc}", file=sys.stderr)
        return 2
    with open_root(args.root) as h:
        x = live_service.add_live(
            h,
            Actor.cli(),
            args.id,
            args.title,
            start,
            args.duration_min,
            audience,
            category=args.category,
            description=args.description,
            source=args.input or "",
        )
        source = live_service.source_of(h, x)
    print(
        f"live class {x.id} 《{x.title}》 scheduled: {china_time(start_of(x), seconds=False)}–"
        f"{china_time(end_of(x), seconds=False)} China time, for {audience.describe()}; source {source}.\n"
        f"Run `headend publish --root {args.root}` to send it to the stations' schedules; `headend serve` "
        "encodes it at its time."
    )
    return 0


def cmd_live_list(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        items = live_service.classes(h)
    if args.json:
        print(json.dumps([live_service.item_json(i) for i in items], ensure_ascii=False, indent=1))
        return 0
    if not items:
        print("no live classes scheduled; `headend live add` schedules one")
        return 0
    rows = [
        (
            i.live.id,
            i.live.title,
            china_time(start_of(i.live), seconds=False),
            f"{i.live.duration_s / 60:g} 分钟",
            i.words,
            i.live.replay_course or "",
        )
        for i in items
    ]
    print(table(("id", "title", "start (China time)", "length", "state", "replay"), rows))
    return 0


def cmd_live_cancel(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        x = live_service.cancel_live(h, Actor.cli(), args.id)
    print(f"live class {x.id} 《{x.title}》 cancelled; `headend publish` takes it off the stations' schedules")
    return 0


def add_commands(sub, root: argparse.ArgumentParser) -> None:
    live = sub.add_parser("live", help="live classes (网络党课): schedule, list, cancel; encode one to HLS")
    live_sub = live.add_subparsers(dest="live_command", required=True)
    s = live_sub.add_parser(
        "run", parents=[root], help="encode a live class now, into <root>/live/ID/ (served at /live/ID/)"
    )
    s.add_argument("id", help="the class's id (a-z, 0-9, '-'), e.g. dangke-2026-12")
    s.add_argument(
        "--input",
        metavar="URL|FILE",
        help="rtmp://HOST:PORT/live/KEY or srt://HOST:PORT (listened on: the studio's OBS publishes to it), "
        "or a file (read at its own pace); default for a scheduled class: its source",
    )
    s.add_argument("--segment-s", type=int, default=2, choices=SEGMENT_S_CHOICES, help="segment length (default 2)")
    end = s.add_mutually_exclusive_group()
    end.add_argument("--until", metavar='"YYYY-MM-DD HH:MM"', help="when the class ends (China time)")
    end.add_argument("--duration-min", type=float, metavar="N", help="the class ends N minutes from now")
    s.set_defaults(func=cmd_live_run)

    s = live_sub.add_parser("add", parents=[root], help="schedule a live class for an audience")
    s.add_argument("id", help="the class's id (a-z, 0-9, '-'), e.g. dangke-2026-12")
    s.add_argument("--title", required=True)
    s.add_argument("--start", required=True, metavar='"YYYY-MM-DD HH:MM"', help="China time")
    s.add_argument("--duration-min", type=float, required=True, metavar="N")
    s.add_argument("--region", action="append", metavar="R", help="e.g. 广东省/肇庆市/高要市 (repeatable)")
    s.add_argument("--station", action="append", metavar="ID", help="a station id (repeatable)")
    s.add_argument("--tag", action="append", metavar="T", help="a station tag (repeatable)")
    s.add_argument("--category", default="party", help="the replay course's category (default party)")
    s.add_argument("--description", default="")
    s.add_argument("--input", metavar="URL|FILE", help="the source (default [live] input in headend.toml)")
    s.set_defaults(func=cmd_live_add)

    s = live_sub.add_parser("list", parents=[root], help="the live classes, coming first, with the encoder's state")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_live_list)

    s = live_sub.add_parser("cancel", parents=[root], help="withdraw a live class (at the next publish)")
    s.add_argument("id")
    s.set_defaults(func=cmd_live_cancel)
