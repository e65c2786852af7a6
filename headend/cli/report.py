"""``headend report``: each chosen station's figures per China day, from the daily roll-up — in
words (an aligned table), ``--json``, or ``--csv`` (UTF-8 with a BOM and Chinese headers, so
Excel opens it with the Chinese intact). Days a station sent nothing about say so; they are not
zeros. Bad dates, ``--from`` after ``--to`` or an unknown station: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from headend.cli.table import table
from headend.errors import NotFound, ReportRefused
from headend.service import open_root
from headend.service.reports import Day, day_range, parse_day, report_days

# (key, header): the columns of the table and the CSV, in order
COLUMNS = [
    ("station", "站点"),
    ("name", "站点名称"),
    ("day", "日期"),
    ("person_times", "总人次"),
    ("sessions", "集中学习场次"),
    ("session_person_times", "集中学习人次"),
    ("individual_plays", "自学人次"),
    ("plays", "播放次数"),
    ("completed", "完整看完"),
    ("hours", "学习时长(小时)"),
    ("logbook", "日志条数"),
    ("notice_views", "通知查看"),
    ("failed_logins", "管理密码错误"),
    ("online_minutes", "在线分钟"),
    ("fives", "五个一达标"),
    ("events", "事件数"),
    ("time_uncertain", "时间存疑"),
]
NOT_REPORTED = "未上报"


def cells(d: Day) -> list[str]:
    r = d.row
    out = [d.station.id, d.station.name, d.day.isoformat()]
    if r is None:
        return out + [NOT_REPORTED] + [""] * (len(COLUMNS) - 4)
    fives = f"{sum(r.fives.values())}/{len(r.fives)}" if r.fives is not None else "—"
    return [
        *out,
        str(r.person_times),
        str(r.sessions),
        str(r.session_person_times),
        str(r.individual_plays),
        str(r.plays),
        str(r.completed),
        f"{r.watched_s / 3600:.1f}",
        str(r.logbook),
        str(sum(r.notice_views.values())),
        str(r.failed_logins),
        f"{r.online_minutes:.0f}",
        fives,
        str(r.events),
        str(r.time_uncertain),
    ]


def as_json(days: list[Day], first, last) -> str:
    stations: dict[str, dict] = {}
    for d in days:
        s = stations.setdefault(
            d.station.id,
            {"id": d.station.id, "name": d.station.name, "region": list(d.station.region), "days": []},
        )
        s["days"].append(d.to_dict())
    doc = {"from": first.isoformat(), "to": last.isoformat(), "stations": list(stations.values())}
    return json.dumps(doc, ensure_ascii=False, indent=1)


def as_csv(days: list[Day]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([h for _, h in COLUMNS])
    for d in days:
        w.writerow(cells(d))
    return "\ufeff" + out.getvalue()


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
