"""`make bench` (the report collector): events a second a real `headend serve` takes in over HTTP
on loopback — many stations, each sending gzip batches of 500 realistic events one at a time, as
a station does — on SQLite and on PostgreSQL (tests/pg.py's server), each against a baseline
measured in the same run: a bare bulk insert of the same rows into the same kind of database with
the same schema, the way the collector writes them (``bulk_insert``: COPY on PostgreSQL, a prepared
INSERT run executemany on SQLite; one transaction per 500 rows) and nothing else. Machines here
are shared and noisy: each is measured in ``ROUNDS`` rounds (the intake's after a warm-up batch
per station, which starts its intake processes) and the best round of each is compared.

Targets (printed, not enforced): ≥ 20,000 events/s and intake ÷ bare insert ≥ 0.5.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from catalogue.clocks import correct  # noqa: E402
from catalogue.events import parse_batch  # noqa: E402
from headend.config import load_config  # noqa: E402
from headend.db import Database  # noqa: E402
from headend.db.engine import bulk_insert, transaction  # noqa: E402
from headend.db.reports import EVENT_COLUMNS, ReportStore, iso  # noqa: E402
from headend.db.schema import report_events  # noqa: E402
from headend.service import open_root  # noqa: E402
from headend.service.stations import add_station  # noqa: E402
from tests.report_batches import batch, events, gz  # noqa: E402

STATIONS = int(os.environ.get("BENCH_STATIONS", "24"))
ROUNDS = 3
PER_ROUND = int(os.environ.get("BENCH_BATCHES", "4"))  # batches of 500 events per station and round
WARM_UP = 1  # batches per station sent before the clock starts
BATCHES = WARM_UP + ROUNDS * PER_ROUND
PER_BATCH = 500
TARGET_RATE, TARGET_RATIO = 20_000, 0.5
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init(root: Path, url: str) -> None:
    args = [str(BIN / "headend"), "init", "--root", str(root)] + (["--database-url", url] if url else [])
    subprocess.run(args, check=True, capture_output=True)
    workers = os.environ.get("BENCH_INTAKE_WORKERS")  # [serve] intake_workers, to compare
    if workers is not None:
        toml = root / "headend.toml"
        text = toml.read_text().replace("intake_workers = 2 ", f"intake_workers = {int(workers)} ")
        toml.write_text(text)


def make_batches(station: str, now: datetime) -> list[bytes]:
    """A station's backlog: ``BATCHES`` × 500 events two minutes apart, ending now."""
    n = BATCHES * PER_BATCH
    start = now - timedelta(seconds=120 * n)
    evs = events(n, start, step_s=120.0, mono0=100.0, seed=hash(station) & 0xFFFF)
    mono = 100.0 + 120 * n + 5
    return [gz(batch(station, evs[i : i + PER_BATCH], after=i, now=now, mono=mono)) for i in range(0, n, PER_BATCH)]


async def send_all(base: str, tokens: dict[str, str], bodies: dict[str, list[bytes]]) -> list[float]:
    """Every station sends its ``WARM_UP`` batches, then each round's ``PER_ROUND``, all stations
    at once, each station one batch at a time: the seconds each round took."""
    async with aiohttp.ClientSession() as session:

        async def station(sid: str, part: slice) -> None:
            headers = {
                "Authorization": f"Bearer {tokens[sid]}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            }
            for body in bodies[sid][part]:
                async with session.post(f"{base}/api/v1/reports", data=body, headers=headers) as r:
                    answer = await r.json()
                    if r.status != 200:
                        raise SystemExit(f"collector answered {r.status}: {answer}")

        await asyncio.gather(*(station(s, slice(0, WARM_UP)) for s in bodies))
        rounds = []
        for k in range(ROUNDS):
            first = WARM_UP + k * PER_ROUND
            t0 = time.perf_counter()
            await asyncio.gather(*(station(s, slice(first, first + PER_ROUND)) for s in bodies))
            rounds.append(time.perf_counter() - t0)
        return rounds


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


def intake(work: Path, url: str, now: datetime) -> tuple[list[float], int]:
    root = work / "intake"
    init(root, url)
    tokens = {}
    with open_root(root) as h:
        for i in range(STATIONS):
            sid = f"bench-station-{i:03d}"
            tokens[sid] = add_station(h, sid, None, "广东省/肇庆市", "stb-sd")
    bodies = {sid: make_batches(sid, now) for sid in tokens}
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "headend"), "serve", "--root", str(root), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_up(base, proc))
        seconds = asyncio.run(send_all(base, tokens, bodies))
    finally:
        proc.terminate()
        proc.wait(30)
    cfg = load_config(root)
    db = Database.open(cfg.database_url, cfg.db_path)
    try:
        held = db.reports.event_count()
    finally:
        db.close()
    return seconds, held


def bare(work: Path, url: str, now: datetime) -> list[float]:
    """The rows of each round, as the collector would store them, inserted the way it inserts
    them: the seconds each round took."""
    root = work / "bare"
    init(root, url)
    cfg = load_config(root)
    rounds: list[list[list[tuple]]] = [[] for _ in range(ROUNDS)]
    enrolled = now - timedelta(days=90)
    for i in range(STATIONS):
        sid = f"bench-station-{i:03d}"
        for j, body in enumerate(make_batches(sid, now)[WARM_UP:]):
            b = parse_batch(json.loads(gzip.decompress(body)))
            fix = correct(b, now, {}, enrolled)
            rounds[j // PER_ROUND].append(ReportStore._rows(b, fix, iso(now)))  # the rows intake writes
    db = Database.open(cfg.database_url, cfg.db_path)
    seconds = []
    try:
        for chunks in rounds:
            t0 = time.perf_counter()
            for rows in chunks:
                with transaction(db.engine, write=True) as conn:
                    bulk_insert(conn, report_events, EVENT_COLUMNS, rows)
            seconds.append(time.perf_counter() - t0)
    finally:
        db.close()
    return seconds


def run(name: str, url_for, work: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    per_round = STATIONS * PER_ROUND * PER_BATCH
    seconds, held = intake(work / name, url_for(), now)
    assert held == STATIONS * BATCHES * PER_BATCH, f"{name}: held {held} of {STATIONS * BATCHES * PER_BATCH} events"
    base_s = bare(work / name, url_for(), now)
    rate, base_rate = per_round / min(seconds), per_round / min(base_s)
    ratio = rate / base_rate
    print(
        f"{name}: intake over HTTP {rate:,.0f} events/s (best of {ROUNDS} rounds of {per_round:,} events: "
        f"{STATIONS} stations × {PER_ROUND} gzip batches of {PER_BATCH}; rounds "
        f"{', '.join(f'{s:.2f}' for s in seconds)} s); bare bulk insert {base_rate:,.0f} rows/s "
        f"(rounds {', '.join(f'{s:.2f}' for s in base_s)} s); ratio {ratio:.2f}"
    )
    print(
        f"{name}: target ≥ {TARGET_RATE:,} events/s {'met' if rate >= TARGET_RATE else 'NOT met'}; "
        f"target ratio ≥ {TARGET_RATIO} {'met' if ratio >= TARGET_RATIO else 'NOT met'}"
    )


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    try:
        run("sqlite", lambda: "", work)
        from tests.pg import PostgresServer, PostgresUnavailable

        try:
            server = PostgresServer().start()
        except PostgresUnavailable as exc:
            print(f"postgresql: skipped ({exc})")
            return 0
        try:
            run("postgresql", server.create_database, work)
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
