"""``headend ratings``: every station's star rating for a period (a month, quarter, half-year or
year, China time) — in words (the ranking, then each station's indicators with their reasons
and its flags), ``--json`` or ``--csv``. The same numbers as the county's ranking page. A bad
period, or a rubric (``ratings.toml``) with a mistake: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import json
import sys

from headend.cli.table import table
from headend.errors import BadRequest, ConfigError
from headend.service import open_root
from headend.service.rating_exports import as_csv, flag_state_words, head, rows
from headend.service.ratings import rated_period, ratings_table


def cmd_ratings(args: argparse.Namespace) -> int:
    try:
        period = rated_period(args.period)
        region = tuple(p for p in (args.region or "").split("/") if p)
        with open_root(args.root) as h:
            t = ratings_table(h, period, region=region)
    except (BadRequest, ConfigError) as exc:
        print(f"headend ratings: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(t.to_dict(), ensure_ascii=False, indent=1))
        return 0
    if args.csv:
        sys.stdout.buffer.write(as_csv(t))
        sys.stdout.flush()
        return 0
    print(f"{t.rubric.title} · {period.label} · {t.state_words} · 评分标准第 {t.rubric_version} 版")
    if not t.entries:
        print(f"no stations{' under ' + args.region if args.region else ''}; add one with `headend station add`")
        return 0
    cells = [[str(c) for c in r[:11]] for r in rows(t)]
    print(table(head(t)[:11], cells, right={0, 1, 5, 8, 9, 10}))
    for e in t.entries:
        print(
            f"\n{e.station.id} {e.station.name}: {e.rating.total:g}/{e.rating.max_total:g} 分，{e.rating.status_words}"
        )
        for s in e.rating.scores:
            print(f"  {s.label}: {s.reason}")
        for f in e.rating.flags:
            print(f"  存疑 {f.day} {f.label}: {f.evidence}（{flag_state_words(f)}）")
    return 0


def add_commands(sub, root: argparse.ArgumentParser) -> None:
    s = sub.add_parser("ratings", parents=[root], help="star ratings of a month, quarter, half-year or year")
    s.add_argument("--period", required=True, help="2026-11, 2026-Q4, 2026-H2 or 2026")
    s.add_argument("--region", help="the stations under a region prefix, e.g. 广东省/肇庆市/高要市")
    fmt = s.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON")
    fmt.add_argument("--csv", action="store_true", help="CSV for Excel (UTF-8 with BOM, Chinese headers)")
    s.set_defaults(func=cmd_ratings)
