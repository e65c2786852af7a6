"""``headend live``: live classes (网络党课, issue 16). ``live run`` encodes a live source into HLS
for every player profile in use, under ``<root>/live/<ID>/`` (``headend serve`` serves it at
``/live/<ID>/``), until ``--until`` (China time) or ``--duration-min``, or until the source ends
when neither is given. Ctrl-C ends the class at once, cleanly; a second Ctrl-C abandons it.

Exit codes as in ``headend.cli``: 0 the class ended, 1 it failed (the message says why), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import UTC, datetime, timedelta

from catalogue.display import china_time
from headend.config import load_config
from headend.courseware.live import LiveStatus, live_dir, run_live
from headend.courseware.live_recipe import MASTER, SEGMENT_S_CHOICES, LiveSource, parse_source
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


def add_commands(sub, root: argparse.ArgumentParser) -> None:
    live = sub.add_parser("live", help="live classes (网络党课): encode a live source to HLS for every player")
    live_sub = live.add_subparsers(dest="live_command", required=True)
    s = live_sub.add_parser(
        "run", parents=[root], help="encode a live class now, into <root>/live/ID/ (served at /live/ID/)"
    )
    s.add_argument("id", help="the class's id (a-z, 0-9, '-'), e.g. dangke-2026-12")
    s.add_argument(
        "--input",
        required=True,
        metavar="URL|FILE",
        help="rtmp://HOST:PORT/live/KEY or srt://HOST:PORT (listened on: the studio's OBS publishes to it), "
        "or a file (read at its own pace)",
    )
    s.add_argument("--segment-s", type=int, default=2, choices=SEGMENT_S_CHOICES, help="segment length (default 2)")
    end = s.add_mutually_exclusive_group()
    end.add_argument("--until", metavar='"YYYY-MM-DD HH:MM"', help="when the class ends (China time)")
    end.add_argument("--duration-min", type=float, metavar="N", help="the class ends N minutes from now")
    s.set_defaults(func=cmd_live_run)
