"""The ``headend`` command: it parses arguments, calls the service layer (``headend.service``)
and prints what happened; the commands live in ``root`` (init, serve), ``stations`` (station add, edit, token, revoke, list), ``users`` (user add, passwd, edit, disable,
enable, list), ``report``, ``ratings``, ``alerts``, ``questions`` (the queue; assign, answer, close),
``courseware`` (ingest, watch, course, jobs), ``repository`` (publish, playlist, notice, key),
``db`` (migrate, backup) and ``live`` (run: a live class's HLS).

Exit codes: 0 done, 1 refused (bad input; the message says why and what to do), 2 usage.
"""

from __future__ import annotations

import argparse
import logging
import sys

from headend.cli import alerts, courseware, db, live, questions, ratings, report, repository, root, stations, users
from headend.errors import HeadendError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="headend", description="yuanjiao headend: ingest, publish, serve")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="command", required=True)
    root_arg = argparse.ArgumentParser(add_help=False)
    root_arg.add_argument("--root", required=True, help="the headend's data root")
    root.add_commands(sub, root_arg)  # init, serve
    stations.add_commands(sub, root_arg)  # station add/edit/token/revoke/list
    users.add_commands(sub, root_arg)  # user add/passwd/edit/disable/enable/list
    report.add_commands(sub, root_arg)  # report
    ratings.add_commands(sub, root_arg)  # ratings
    alerts.add_commands(sub, root_arg)  # alerts [--check]
    questions.add_commands(sub, root_arg)  # questions [assign|answer|close]
    courseware.add_commands(sub, root_arg)  # ingest, watch, course list/edit, jobs
    repository.add_commands(sub, root_arg)  # publish, playlist, notice, key
    db.add_commands(sub, root_arg)  # db migrate, db backup
    live.add_commands(sub, root_arg)  # live run
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except HeadendError as exc:
        print(f"headend: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the last line of defence: the services convert what they foresee
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"headend: {where}{exc.strerror or exc}; check the path and its permissions", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
