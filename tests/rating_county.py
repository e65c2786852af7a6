"""A generated county for star-rating tests and the ratings benchmark: stations in townships,
``days`` of daily roll-ups each (written straight into ``station_days`` as the collector's fold
would leave them), clock readings and publications, with known patterns:

- ``busy``: open every day, 3 study sessions a month of 20 people (40 seats, 30 members), plays
  every day, a logbook entry twice a week, notices viewed, a complete five-ones check every
  fortnight, always on the published version;
- ``idle``: heartbeats every day, nothing else;
(every station reaches the headend on each day it reports: ``station_contacts``)
- ``silent``: reported only the first 10 days (数据不全 for later months);
- ``crowded``: busy, but one day a session of 500 people in its 30-seat room;
- ``marathon``: busy, but one day 25 hours of plays;
- ``lagging``: busy, but its box stayed on version 1 while 2 was published.

``fill_county(db, ...)`` returns pattern → station ids."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

from headend.db.schema import publications, report_clocks, station_contacts, station_days, stations

COUNTY = ("广东省", "肇庆市", "高要市")
PATTERNS = ("busy", "idle", "silent", "crowded", "marathon", "lagging")


def _row(sid: str, day: date, stamp: str, **kw) -> dict:
    row = {
        "station": sid,
        "day": day.isoformat(),
        "plays": 0,
        "watched_s": 0.0,
        "completed": 0,
        "individual_plays": 0,
        "sessions": 0,
        "session_person_times": 0,
        "short_sessions": 0,
        "logbook": 0,
        "notice_views": "{}",
        "failed_logins": 0,
        "online_minutes": 600.0,
        "fives": None,
        "courses": 0,
        "events": 96,
        "time_uncertain": 0,
        "state": "",
        "updated_at": stamp,
        "notice_view_total": 0,
        "max_headcount": 0,
        "overlapping_sessions": 0,
        "overlong_plays": 0,
        "identical_events": 0,
        "clients": 0,
        "installed_version": 2,
        "fives_met": None,
        "live_plays": 0,
        "live_watched_s": 0.0,
    }
    row.update(kw)
    return row


def _busy_day(rnd: random.Random, sid: str, day: date, stamp: str) -> dict:
    plays = rnd.randint(2, 6)
    session = day.day in (5, 15, 25)
    kw = {
        "plays": plays,
        "watched_s": plays * 1200.0,
        "completed": plays // 2,
        "individual_plays": plays,
        "clients": 1,
        "courses": min(plays, 3),
        "events": 96 + plays,
        "logbook": int(day.weekday() in (0, 3)),
        "notice_view_total": 1,
        "notice_views": json.dumps({"tongzhi-1": 1}),
    }
    if session:
        kw.update(sessions=1, session_person_times=20, max_headcount=20)
    if day.day in (1, 15):
        kw.update(
            fives_met=5,
            fives=json.dumps(dict.fromkeys(("place", "equipment", "administrator", "rules", "assessment"), True)),
        )
    return _row(sid, day, stamp, **kw)


def station_ids(n: int) -> dict[str, list[str]]:
    """pattern → ids for a county of ``n`` stations (the last five patterns one each, the rest
    busy, idle and silent in turn)."""
    out: dict[str, list[str]] = {p: [] for p in PATTERNS}
    for p in PATTERNS[3:]:
        out[p].append(f"{p}-0")
    for i in range(n - len(PATTERNS[3:])):
        p = PATTERNS[i % 3]
        out[p].append(f"{p}-{i}")
    return out


def fill_county(
    db, n: int = 200, days: int = 90, last_day: date = date(2026, 12, 6), townships: int = 10
) -> dict[str, list[str]]:
    """Write the county into ``db`` (a ``headend.db.Database``) and return pattern → ids."""
    rnd = random.Random(13)
    now = datetime.combine(last_day, datetime.min.time(), UTC) + timedelta(hours=12)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    first = last_day - timedelta(days=days - 1)
    ids = station_ids(n)
    station_rows, clock_rows, day_rows = [], [], []
    for k, (pattern, sid) in enumerate((p, s) for p, ss in ids.items() for s in ss):
        township = f"第{k % townships + 1}镇"
        station_rows.append(
            {
                "id": sid,
                "name": f"{township}{k}村站点",
                "region": json.dumps([*COUNTY, township, f"{township}{k}村"], ensure_ascii=False),
                "player": "stb-sd",
                "token_sha256": f"{k:064x}",
                "created_at": "2026-01-01T00:00:00Z",
                "capacity": 30 if pattern == "crowded" else 40,
                "members": 30,
                "opening_hours": "08:00-21:00",
            }
        )
        clock_rows.append({"station": sid, "boot": "b0" * 16, "received_at": stamp, "mono": 1.0, "offset_s": 0.5})
        for d in range(days):
            day = first + timedelta(days=d)
            if pattern == "idle":
                day_rows.append(_row(sid, day, stamp))
                continue
            if pattern == "silent":
                if d < 10:
                    day_rows.append(_row(sid, day, stamp))
                continue
            row = _busy_day(rnd, sid, day, stamp)
            if pattern == "crowded" and day.day == 15:
                row.update(max_headcount=500, session_person_times=500)
            if pattern == "marathon" and day.day == 20:
                row.update(watched_s=25 * 3600.0, plays=30, individual_plays=30)
            if pattern == "lagging":
                row.update(installed_version=1)
            day_rows.append(row)
    published = [
        {
            "version": 1,
            "published_at": "2026-01-01T00:00:00Z",
            "expires_at": stamp,
            "index_sha256": "a" * 64,
            "courses": 10,
        },
        {
            "version": 2,
            "published_at": f"{first.isoformat()}T00:00:00Z",
            "expires_at": stamp,
            "index_sha256": "b" * 64,
            "courses": 12,
        },
    ]
    with db.engine.begin() as conn:
        conn.execute(stations.insert(), station_rows)
        conn.execute(report_clocks.insert(), clock_rows)
        conn.execute(publications.insert(), published)
        for i in range(0, len(day_rows), 5000):
            conn.execute(station_days.insert(), day_rows[i : i + 5000])
            # each day it reported, it reached the headend that day
            contacts = [{"station": r["station"], "day": r["day"]} for r in day_rows[i : i + 5000]]
            conn.execute(station_contacts.insert(), contacts)
    return ids
