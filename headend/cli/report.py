"""``headend report``: each chosen station's figures per China day, from the daily roll-up — in
words (an aligned table), ``--json``, or ``--csv`` (UTF-8 with a BOM and Chinese headers, so
Excel opens it with the Chinese intact). Days a station sent nothing about say so; they are not
zeros. Bad dates, ``--from`` after ``--to`` or an unknown station: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import sys

from headend.cli.table import table
from headend.errors import NotFound, ReportRefused
from headend.service import open_root
from headend.service.exports import COLUMNS, as_csv, as_json, cells
from headend.service.reports import day_range, parse_day, report_days


def cmd_report(args: argparse.Namespace) -> int:
    try:
        first, last = day_range(parse_day(args.from_, "--from"), parse_day(args.to, "--to"))
        with open_root(args.root) as h:
            days = report_days(h, first, last, args.station, args.region)
    except (ReportRefused, NotFound) as exc:
        print(f"headend report: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(as_json(days, first, last))
    elif args.csv:
        sys.stdout.buffer.write(as_csv(days).encode("utf-8"))
        sys.stdout.flush()
    elif not days:
        print(f"no stations{' under ' + args.region if args.region else ''}; add one with `headend station add`")
    else:
        print(f"{first} – {last}（中国时间 China time）")
        print(table([h for _, h in COLUMNS], [cells(d) for d in days], right=set(range(3, len(COLUMNS)))))
    return 0


def add_commands(sub, root: argparse.ArgumentParser) -> None:
    s = sub.add_parser("report", parents=[root], help="stations' figures per China day (words, --json, --csv)")
    s.add_argument("--station", help="one station's id")
    s.add_argument("--region", help="the stations under a region prefix, e.g. 广东省/肇庆市")
    s.add_argument("--from", dest="from_", metavar="YYYY-MM-DD", help="first day (default: today, China time)")
    s.add_argument("--to", metavar="YYYY-MM-DD", help="last day (default: --from)")
    fmt = s.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON")
    fmt.add_argument("--csv", action="store_true", help="CSV for Excel (UTF-8 with BOM, Chinese headers)")
    s.set_defaults(func=cmd_report)
