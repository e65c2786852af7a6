"""`make bench` (the county dashboard): how long a real `headend serve` takes to answer the region
page and a station page for a county of 600 stations with 90 days of roll-ups, on SQLite and on
PostgreSQL (tests/pg.py's server), each against a baseline measured in the same run: a bare query
fetching the same rows the page reads (the roll-up rows of the period, the stations, their health;
for the station page its days and its events). Machines here are shared and noisy, so the ratio is
what means something.

Targets (printed, not enforced): region page ≤ 300 ms, station page ≤ 150 ms (median).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from catalogue.clocks import CHINA  # noqa: E402
from catalogue.periods import period_of  # noqa: E402
from headend.config import load_config  # noqa: E402
from headend.db import Database  # noqa: E402
from headend.db.schema import (  # noqa: E402
    publications,
    report_clocks,
    report_events,
    report_streams,
    station_days,
    station_health,
    stations,
)
from tests.county_kit import Staff, cookie_jar  # noqa: E402
from tests.report_batches import body, china_iso  # noqa: E402

STATIONS = int(os.environ.get("BENCH_STATIONS", "600"))
DAYS = 90
TOWNSHIPS = 12
COUNTY = ("广东省", "肇庆市", "高要市")
REPEAT = int(os.environ.get("BENCH_REPEAT", "15"))
TARGET_REGION_MS, TARGET_STATION_MS = 300, 150
BIN = Path(sys.executable).parent
STREAM = "0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init(root: Path, url: str) -> str:
    """``headend init``; the first admin's one-time password."""
    args = [str(BIN / "headend"), "init", "--root", str(root)] + (["--database-url", url] if url else [])
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return re.search(r"one-time password: (\S+)", out).group(1)


def health_data(rnd: random.Random, at: datetime) -> dict:
    data = body("health", at, rnd)
    data["disk_free_mb"] = float(rnd.randint(2000, 40000))
    return data


def fill(db: Database, today: date, now: datetime) -> str:
    """600 stations in 12 townships, 90 days of roll-ups each, their health and clocks, and a
    busy station's raw events for its page; returns that station's id."""
    rnd = random.Random(7)
    first = today - timedelta(days=DAYS - 1)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    station_rows, day_rows, health_rows, stream_rows, clock_rows = [], [], [], [], []
    for i in range(STATIONS):
        sid = f"bench-{i:04d}"
        township = f"第{i % TOWNSHIPS + 1}镇"
        region = [*COUNTY, township, f"{township}第{i // TOWNSHIPS + 1}村"]
        station_rows.append(
            {
                "id": sid,
                "name": f"{region[-1]}站点",
                "region": json.dumps(region, ensure_ascii=False),
                "player": "stb-sd",
                "token_sha256": f"{i:064x}",
                "created_at": "2026-01-01T00:00:00Z",
                "capacity": 40,
            }
        )
        silent = rnd.random() < 0.1
        last = now - timedelta(days=rnd.randint(2, 20)) if silent else now - timedelta(minutes=rnd.randint(1, 20))
        stream_rows.append(
            {
                "station": sid,
                "stream": STREAM,
                "held": 1000,
                "seen": 1000,
                "updated_at": last.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        clock_rows.append(
            {"station": sid, "boot": "b0" * 16, "received_at": stamp, "mono": 1000.0, "offset_s": rnd.uniform(-30, 30)}
        )
        health_rows.append(
            {
                "station": sid,
                "stream": STREAM,
                "seq": 1000,
                "at": stamp,
                "data": json.dumps(health_data(rnd, now)),
                "received_at": stamp,
            }
        )
        for d in range(DAYS):
            day = first + timedelta(days=d)
            if silent and rnd.random() < 0.5:
                continue
            plays = rnd.randint(0, 12)
            sessions = rnd.randint(0, 1)
            day_rows.append(
                {
                    "station": sid,
                    "day": day.isoformat(),
                    "plays": plays,
                    "watched_s": plays * rnd.uniform(60, 1800),
                    "completed": plays // 3,
                    "individual_plays": plays // 2,
                    "sessions": sessions,
                    "session_person_times": sessions * rnd.randint(5, 30),
                    "short_sessions": 0,
                    "logbook": rnd.randint(0, 1),
                    "notice_views": json.dumps({"tongzhi-1": rnd.randint(0, 3)}),
                    "failed_logins": 0,
                    "online_minutes": rnd.uniform(300, 1440),
                    "fives": None,
                    "courses": min(plays, 3),
                    "events": plays + 96,
                    "time_uncertain": 0,
                    "state": "",
                    "updated_at": stamp,
                }
            )
    busy = "bench-0000"
    events, seq = [], 0
    for d in range(DAYS):
        day = first + timedelta(days=d)
        for k in range(96 + 6):
            at = datetime(day.year, day.month, day.day, tzinfo=CHINA) + timedelta(minutes=15 * (k % 96), seconds=k)
            kind = "health" if k < 96 else ("play", "play", "session_end", "logbook", "notice_view", "fives")[k - 96]
            seq += 1
            data = {
                "seq": seq,
                "ts": china_iso(at),
                "kind": kind,
                **(health_data(rnd, at) if kind == "health" else body(kind, at, rnd)),
            }
            events.append(
                {
                    "station": busy,
                    "stream": STREAM,
                    "seq": seq,
                    "kind": kind,
                    "ts": data["ts"],
                    "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "day": day.isoformat(),
                    "boot": "b0" * 16,
                    "time_uncertain": False,
                    "data": json.dumps(data, ensure_ascii=False),
                    "received_at": stamp,
                }
            )
    with db.engine.begin() as conn:
        conn.execute(stations.insert(), station_rows)
        conn.execute(report_streams.insert(), stream_rows)
        conn.execute(report_clocks.insert(), clock_rows)
        conn.execute(station_health.insert(), health_rows)
        for i in range(0, len(day_rows), 5000):
            conn.execute(station_days.insert(), day_rows[i : i + 5000])
        for i in range(0, len(events), 5000):
            conn.execute(report_events.insert(), events[i : i + 5000])
        conn.execute(
            publications.insert(),
            [{"version": 5, "published_at": stamp, "expires_at": stamp, "index_sha256": "ab" * 32, "courses": 40}],
        )
    print(f"  data: {len(station_rows)} stations, {len(day_rows):,} roll-up rows, {len(events):,} events of {busy}")
    return busy


def bare_region(db: Database, first: date, last: date) -> None:
    """The rows the region page reads, fetched with no work on them."""
    with db.engine.connect() as conn:
        conn.execute(sa.select(stations)).all()
        conn.execute(sa.select(station_health)).all()
        conn.execute(sa.select(report_streams)).all()
        conn.execute(
            sa.select(station_days).where(
                station_days.c.day >= first.isoformat(), station_days.c.day <= last.isoformat()
            )
        ).all()


def bare_station(db: Database, sid: str, first: date, last: date) -> None:
    with db.engine.connect() as conn:
        conn.execute(sa.select(stations).where(stations.c.id == sid)).all()
        conn.execute(sa.select(station_health).where(station_health.c.station == sid)).all()
        conn.execute(
            sa.select(station_days).where(
                station_days.c.station == sid,
                station_days.c.day >= first.isoformat(),
                station_days.c.day <= last.isoformat(),
            )
        ).all()
        conn.execute(
            sa.select(report_events).where(
                report_events.c.station == sid,
                report_events.c.day >= first.isoformat(),
                report_events.c.day <= last.isoformat(),
            )
        ).all()


def timed(fn, repeat: int = REPEAT) -> float:
    """Median milliseconds of ``fn()`` after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


async def pages(base: str, password: str, region_url: str, station_url: str) -> tuple[float, float]:
    async with aiohttp.ClientSession(cookie_jar=cookie_jar()) as http:
        staff = await Staff(http, base).login("admin", password)

        async def one(url: str) -> float:
            samples = []
            for i in range(REPEAT + 1):
                t0 = time.perf_counter()
                page = await staff.text(url)
                if i:
                    samples.append((time.perf_counter() - t0) * 1000)
            assert "<svg" in page or "calendar" in page, page[:300]
            return statistics.median(samples)

        return await one(region_url), await one(station_url)


async def wait_up(base: str, proc: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit(f"headend serve exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                async with session.get(f"{base}/api/v1/health") as r:
                    if r.status in (200, 503):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("headend serve did not start")


def run(name: str, url: str, work: Path) -> None:
    root = work / name
    password = init(root, url)
    cfg = load_config(root)
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.astimezone(CHINA).date()
    quarter = period_of("quarter", today)
    db = Database.open(cfg.database_url, cfg.db_path)
    try:
        busy = fill(db, today, now)
        bare_region_ms = timed(lambda: bare_region(db, quarter.first, quarter.last))
        bare_station_ms = timed(lambda: bare_station(db, busy, quarter.first, quarter.last))
    finally:
        db.close()
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "headend"), "serve", "--root", str(root), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_up(base, proc))
        region_url = f"/county?region={'/'.join(COUNTY)}&period={quarter.name}"
        station_url = f"/county/stations/{busy}?period={quarter.name}"
        region_ms, station_ms = asyncio.run(pages(base, password, region_url, station_url))
    finally:
        proc.terminate()
        proc.wait(30)
    for what, ms, bare_ms, target in (
        ("region page", region_ms, bare_region_ms, TARGET_REGION_MS),
        ("station page", station_ms, bare_station_ms, TARGET_STATION_MS),
    ):
        print(
            f"{name}: {what} {ms:.0f} ms median of {REPEAT} ({quarter.label}, {STATIONS} stations); bare query of "
            f"the same rows {bare_ms:.0f} ms; ratio {ms / bare_ms:.1f}; target ≤ {target} ms "
            f"{'met' if ms <= target else 'NOT met'}"
        )


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
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
