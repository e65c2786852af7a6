"""Figures as tables: the per-day columns ``headend report`` prints and the county pages export,
and CSV as Excel opens it with the Chinese intact (UTF-8 with a BOM, CRLF). A day a station sent
nothing about says 未上报 (not reported), never zeros."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence

from headend.service.reports import Day

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
    ("live_plays", "直播观看次数"),
    ("live_hours", "直播观看时长(小时)"),
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
        str(r.live_plays),
        f"{r.live_watched_s / 3600:.1f}",
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


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV for Excel: a BOM first so it reads UTF-8, CRLF line ends."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(header)
    for row in rows:
        w.writerow(row)
    return "\ufeff" + out.getvalue()


def as_csv(days: list[Day]) -> str:
    return csv_text([h for _, h in COLUMNS], (cells(d) for d in days))
