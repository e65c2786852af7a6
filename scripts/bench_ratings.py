"""`make bench` (star ratings): how long the headend takes to rate a province-sized headend — 20,000
stations with 90 days of daily roll-ups each (tests/rating_county.py's patterns: busy, idle,
silent, crowded, marathon, lagging) — for a month still provisional, so every look computes it:
``ratings_table`` as the ranking page and ``headend ratings`` call it (the sums in SQL, the
flagged days, every station scored and ranked in its county and township, the month before read
as frozen), best of ``ROUNDS``, on SQLite and on PostgreSQL (tests/pg.py's server). Baseline in
the same run: a bare ``SELECT station, sum(…) … GROUP BY station`` over the same roll-up rows and
days, fetched and nothing else. Machines here are shared and noisy, so the ratio is what means
something.

The roll-ups are written the way the collector's bulk path writes rows (``bulk_insert``: COPY on
PostgreSQL, a prepared INSERT run executemany on SQLite), generated here with the same patterns
as tests/rating_county.py (which builds a dict per row through SQLAlchemy: minutes at this size).
PostgreSQL is ANALYZEd after the load, as its autovacuum would be by the time anyone looks.

Target (printed, not enforced): ``ratings_table`` ≤ 2 s on each engine.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from catalogue.plausibility import Sums  # noqa: E402
from headend.db.engine import bulk_insert, transaction  # noqa: E402
from headend.db.schema import publications, report_clocks, station_contacts, station_days, stations  # noqa: E402
from headend.service import open_root  # noqa: E402
from headend.service.ratings import compute, current_rubric, rated_period, ratings_table  # noqa: E402
from tests.rating_county import COUNTY, _row, station_ids  # noqa: E402

STATIONS = int(os.environ.get("BENCH_STATIONS", "20000"))
DAYS = 90
TOWNSHIPS = 200  # 100 stations a township, all in one county: one ranking of every station
LAST_DAY = date(2026, 12, 6)
NOW = datetime(2026, 12, 7, 4, tzinfo=UTC)  # noon in China, 7 December: November provisional, October frozen
PERIOD = "2026-11"
ROUNDS = 3
TARGET_S = 2.0
BIN = Path(sys.executable).parent
COLUMNS = tuple(c.name for c in station_days.columns)
FIVES = json.dumps(dict.fromkeys(("place", "equipment", "administrator", "rules", "assessment"), True))
NOTICES = json.dumps({"tongzhi-1": 1})


def init(root: Path, url: str) -> None:
    args = [str(BIN / "headend"), "init", "--root", str(root)] + (["--database-url", url] if url else [])
    subprocess.run(args, check=True, capture_output=True)


def day_rows(ids: dict[str, list[str]], first: date, stamp: str) -> Iterator[tuple]:
    """Every station's roll-up rows (tuples in ``COLUMNS`` order), as tests/rating_county.py's
    ``fill_county`` writes them, one station after another."""
    rnd = random.Random(13)
    base = _row("", first, stamp)
    assert set(base) == set(COLUMNS), set(base) ^ set(COLUMNS)
    at = {c: i for i, c in enumerate(COLUMNS)}
    template = [base[c] for c in COLUMNS]
    days = [(first + timedelta(days=d)) for d in range(DAYS)]
    names = [d.isoformat() for d in days]
    for pattern, sids in ids.items():
        for sid in sids:
            for day, name in zip(days, names, strict=True):
                if pattern == "silent" and day >= first + timedelta(days=10):
                    break
                row = template.copy()
                row[at["station"]], row[at["day"]] = sid, name
                if pattern not in ("idle", "silent"):
                    plays = rnd.randint(2, 6)
                    row[at["plays"]] = plays
                    row[at["watched_s"]] = plays * 1200.0
                    row[at["completed"]] = plays // 2
                    row[at["individual_plays"]] = plays
                    row[at["clients"]] = 1
                    row[at["courses"]] = min(plays, 3)
                    row[at["events"]] = 96 + plays
                    row[at["logbook"]] = int(day.weekday() in (0, 3))
                    row[at["notice_view_total"]] = 1
                    row[at["notice_views"]] = NOTICES
                    if day.day in (5, 15, 25):
                        row[at["sessions"]], row[at["session_person_times"]], row[at["max_headcount"]] = 1, 20, 20
                    if day.day in (1, 15):
                        row[at["fives_met"]], row[at["fives"]] = 5, FIVES
                    if pattern == "crowded" and day.day == 15:
                        row[at["max_headcount"]] = row[at["session_person_times"]] = 500
                    if pattern == "marathon" and day.day == 20:
                        row[at["watched_s"]], row[at["plays"]], row[at["individual_plays"]] = 25 * 3600.0, 30, 30
                    if pattern == "lagging":
                        row[at["installed_version"]] = 1
                yield tuple(row)


def fill(h) -> int:
    """Write the county into the root's database the way the collector bulk-writes; rows written."""
    now = datetime.combine(LAST_DAY, datetime.min.time(), UTC) + timedelta(hours=12)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    first = LAST_DAY - timedelta(days=DAYS - 1)
    ids = station_ids(STATIONS)
    station_rows, clock_rows = [], []
    for k, (pattern, sid) in enumerate((p, s) for p, ss in ids.items() for s in ss):
        township = f"第{k % TOWNSHIPS + 1}镇"
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
    published = [
        {"version": 1, "published_at": "2026-01-01T00:00:00Z", "expires_at": stamp, "index_sha256": "a" * 64, "courses": 10},
        {"version": 2, "published_at": f"{first}T00:00:00Z", "expires_at": stamp, "index_sha256": "b" * 64, "courses": 12},
    ]  # fmt: skip
    db = h.db
    with transaction(db.engine, write=True) as conn:
        conn.execute(stations.insert(), station_rows)
        conn.execute(report_clocks.insert(), clock_rows)
        conn.execute(publications.insert(), published)
    written, chunk = 0, []
    station_at, day_at = COLUMNS.index("station"), COLUMNS.index("day")

    def write(rows: list[tuple]) -> None:  # each day it reported, it reached the headend that day
        with transaction(db.engine, write=True) as conn:
            bulk_insert(conn, station_days, COLUMNS, rows)
            bulk_insert(conn, station_contacts, ("station", "day"), [(r[station_at], r[day_at]) for r in rows])

    for row in day_rows(ids, first, stamp):
        chunk.append(row)
        if len(chunk) == 50_000:
            write(chunk)
            written, chunk = written + len(chunk), []
    write(chunk)
    written += len(chunk)
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return written


def bare(h, first: date, last: date) -> dict[str, tuple]:
    """The baseline: the period's sums per station, fetched, nothing else."""
    d = station_days.c
    query = (
        sa.select(
            d.station,
            sa.func.sum(d.sessions),
            sa.func.sum(d.session_person_times),
            sa.func.sum(d.individual_plays),
            sa.func.sum(d.plays),
            sa.func.sum(d.watched_s),
            sa.func.sum(d.online_minutes),
            sa.func.sum(d.logbook),
            sa.func.sum(d.notice_view_total),
            sa.func.count(),
        )
        .where(d.day >= first.isoformat(), d.day <= last.isoformat())
        .group_by(d.station)
    )
    with transaction(h.db.engine) as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(query)}


def best(fn, rounds: int = ROUNDS) -> tuple[float, list[float], object]:
    """The fastest of ``rounds`` calls (seconds), every round's, and the last result."""
    samples, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        samples.append(time.perf_counter() - t0)
    return min(samples), samples, out


def run(name: str, url: str, work: Path) -> None:
    root = work / name
    init(root, url)
    period = rated_period(PERIOD)
    with open_root(root) as h:
        t0 = time.perf_counter()
        rows = fill(h)
        load_s = time.perf_counter() - t0
        table_s, rounds, table = best(lambda: ratings_table(h, period, now=NOW))
        stations_all = h.db.stations()
        compute_s, _, _ = best(lambda: compute(h, current_rubric(h), stations_all, period, NOW))
        bare_s, bare_rounds, sums = best(lambda: bare(h, period.first, period.last))
    ranked = sum(e.rating.status == "ranked" for e in table.entries)
    assert table.state == "provisional" and len(table.entries) == STATIONS, (table.state, len(table.entries))
    assert len(sums) == STATIONS - len(station_ids(STATIONS)["silent"]), len(sums)  # silent: nothing in November
    busy = table.entry("busy-0").rating
    assert busy.stars == 5 and busy.sums.reported_days == 30 and isinstance(busy.sums, Sums)
    print(
        f"{name}: {rows:,} roll-up rows ({STATIONS:,} stations × {DAYS} days) loaded in {load_s:.1f} s; "
        f"ratings_table {period.label} (provisional, {ranked:,} ranked) best of {ROUNDS} {table_s:.2f} s "
        f"(rounds {', '.join(f'{s:.2f}' for s in rounds)} s; of it compute() of the month alone {compute_s:.2f} s); "
        f"bare GROUP BY of the same rows {bare_s:.2f} s (rounds {', '.join(f'{s:.2f}' for s in bare_rounds)} s); "
        f"ratio {table_s / bare_s:.1f}"
    )
    print(f"{name}: target ≤ {TARGET_S:g} s {'met' if table_s <= TARGET_S else 'NOT met'}")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-ratings-"))
    try:
        run("sqlite", "", work)
        from tests.pg import PostgresServer, PostgresUnavailable

        try:
            server = PostgresServer().start()
        except PostgresUnavailable as exc:
            print(f"postgresql: skipped ({exc})")
            return 0
        try:
            run("postgresql", server.create_database(), work)
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
