"""`make bench` (load): one asyncio client process plays ``BENCH_LOAD_STATIONS`` (10,000) stations
against a real `headend serve` on loopback, on SQLite and then on PostgreSQL (tests/pg.py's
server), and prints what decides how many stations one headend carries.

The compressed hour. At the defaults a station polls the index every ``[sync] interval_s`` (300 s:
12 conditional GETs an hour, each a 304 while nothing is published) and sends a heartbeat every
``[report] health_interval_s`` (900 s: 4 POSTs an hour), plus its own events when villagers use
it. Playing 16+ requests × 10,000 stations in a few minutes would only measure the client, so
each simulated station makes one request of each kind — an index poll (``If-None-Match`` with
the index's ETag: 304) and one upload: a batch of ``EVENTS`` events (an hour of a busy station:
plays, a study session, notice views) ending with the heartbeat it journalled last (a station's
upload loop sends whatever is pending, so a heartbeat rides with the events; an idle station's
heartbeat goes alone, a smaller POST) — and the stations' start times are spread evenly over a
window: the polls over ``POLL_WINDOW_S``, then the uploads over ``POST_WINDOW_S`` (two phases, so
the CPU each kind costs is measured apart).
Every request opens its own connection (stations do not keep one open for minutes) through
one client pool of at most ``CONNECTIONS``.

Measured: errors (any answer but 200/304, or an exception — target zero), p50/p99 latency of
index polls and of report POSTs (as the client saw them, its own event loop included), events a
second, the events the database holds at the end (exactly what was sent: each once), and the
CPU seconds and peak RSS of the headend (the server, its intake workers; PostgreSQL's server
processes apart). Then the capacity at the default intervals, with the arithmetic: the CPU one
station costs an hour, against the box's cores kept half free.

The machine is shared and noisy: the figures are for the one run printed, compared only with
each other (the two engines, the two kinds of request), never with a fixed number.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from headend.config import load_config  # noqa: E402
from headend.db import Database  # noqa: E402
from headend.db.engine import transaction  # noqa: E402
from headend.db.schema import stations  # noqa: E402
from tests.alerts_kit import health  # noqa: E402
from tests.report_batches import batch, events  # noqa: E402

STATIONS = int(os.environ.get("BENCH_LOAD_STATIONS", "10000"))
POLL_WINDOW_S = float(os.environ.get("BENCH_LOAD_POLL_S", "15"))
POST_WINDOW_S = float(os.environ.get("BENCH_LOAD_POST_S", "70"))
SATURATE = int(os.environ.get("BENCH_LOAD_SATURATE", "1500"))  # more stations, uploading as fast as it answers
SATURATE_IN_FLIGHT = 64
ENGINES = os.environ.get("BENCH_LOAD_ENGINES", "sqlite,postgresql").split(",")
EVENTS = 20  # events in a station's report batch (its busy hour)
CONNECTIONS = 256  # the client's pool: requests in flight at most
DEADLINE_S = 240  # the client gives up (and counts what is left as errors) after this per phase
SYNC_INTERVAL_S, HEALTH_INTERVAL_S = 300, 900  # station.config defaults: [sync] interval_s, [report] health_interval_s
BATCHES_PER_HOUR = 2  # uploads of events a busy station makes an hour besides its 4 heartbeats (an assumption)
HEADROOM = 0.5  # of the cores, kept free for bursts, the dashboard, publishing, the alert loop
BIN = Path(sys.executable).parent
CORES = psutil.cpu_count() or 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token(i: int) -> str:
    return f"bench-load-token-{i:06d}"


def sid(i: int) -> str:
    return f"load-{i:06d}"


def make_bodies(now: datetime) -> list[bytes]:
    """Every station's upload, gzip JSON as a station sends it: an hour of events ending a minute
    ago (the box's clock right, one boot), then the heartbeat it journalled last."""
    start = now - timedelta(hours=1)
    bodies = []
    step = 3540 / EVENTS
    mono_now = 10_000.0
    for i in range(STATIONS + SATURATE):
        evs = events(EVENTS, start, step_s=step, mono0=mono_now - 3600, seed=i)
        evs.append({**health(now), "seq": EVENTS + 1, "mono": mono_now})
        bodies.append(gzip.compress(_json(batch(sid(i), evs, after=0, now=now, mono=mono_now + 1)), 6))
    return bodies


def _json(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def prepare_root(root: Path, url: str) -> None:
    """A data root with a published (empty) repository and ``STATIONS`` stations whose tokens we
    know, inserted in one transaction (`headend station add` one by one would take minutes)."""
    args = [str(BIN / "headend"), "init", "--root", str(root)] + (["--database-url", url] if url else [])
    subprocess.run(args, check=True, capture_output=True)
    subprocess.run([str(BIN / "headend"), "publish", "--root", str(root)], check=True, capture_output=True)
    cfg = load_config(root)
    db = Database.open(cfg.database_url, cfg.db_path)
    enrolled = (datetime.now(UTC) - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = [
        {
            "id": sid(i),
            "name": f"负载测试站点{i}",
            "region": json.dumps(["广东省", "肇庆市", f"县{i % 100:02d}", f"镇{i % 1000:03d}", f"村{i}"]),
            "player": "stb-sd",
            "token_sha256": hashlib.sha256(token(i).encode()).hexdigest(),
            "created_at": enrolled,
        }
        for i in range(STATIONS + SATURATE + 1)  # the last: the warm-up's
    ]
    try:
        with transaction(db.engine, write=True) as conn:
            conn.execute(stations.insert(), rows)
    finally:
        db.close()


class Tree:
    """CPU seconds and RSS of a process and its descendants (processes that come and go count
    from when they are first seen)."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_rss = 0
        self.peak_each: dict[int, int] = {}  # pid → its peak RSS
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def procs(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu(self) -> dict[int, float]:
        out = {}
        for p in self.procs():
            try:
                t = p.cpu_times()
                out[p.pid] = t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                pass
        return out

    def rss(self) -> int:
        total = 0
        for p in self.procs():
            try:
                rss = p.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            total += rss
            self.peak_each[p.pid] = max(self.peak_each.get(p.pid, 0), rss)
        return total

    def peaks(self) -> str:
        """Each process's peak RSS, the server first."""
        server = self.peak_each.get(self.root.pid, 0)
        others = sorted((v for k, v in self.peak_each.items() if k != self.root.pid), reverse=True)
        return f"server {server / 1e6:.0f} MB" + "".join(f", {v / 1e6:.0f}" for v in others)

    def start_sampling(self) -> None:
        def sample() -> None:
            while not self._stop.wait(0.5):
                self.peak_rss = max(self.peak_rss, self.rss())

        self._sampler = threading.Thread(target=sample, daemon=True)
        self._sampler.start()

    def stop_sampling(self) -> None:
        self._stop.set()
        if self._sampler:
            self._sampler.join()


def used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def quiet(trees: list[Tree], limit_s: float = 60.0) -> None:
    """Wait until the headend settles after start (its alert and rating loops' first pass over
    every station), at most ``limit_s``: under 10 % of a core for a second."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        a = [t.cpu() for t in trees]
        time.sleep(1.0)
        if sum(used(x, t.cpu()) for x, t in zip(a, trees, strict=True)) < 0.1:
            return


@dataclass
class Phase:
    name: str
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # tree name → CPU seconds
    accepted: int = 0

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000 if s else float("nan")


async def run_phase(phase: Phase, window_s: float, one) -> None:
    """Station i starts at i/STATIONS of the window; ``one(i)`` makes its requests."""
    t0 = time.monotonic()

    async def station(i: int) -> None:
        await asyncio.sleep(max(0.0, t0 + window_s * i / STATIONS - time.monotonic()))
        try:
            await one(i)
        except Exception as exc:  # every failure is counted and shown
            phase.errors.append(f"{type(exc).__name__}: {exc}"[:200])

    tasks = [asyncio.create_task(station(i)) for i in range(STATIONS)]
    _, pending = await asyncio.wait(tasks, timeout=window_s + DEADLINE_S)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    phase.errors += [f"not done in {window_s + DEADLINE_S:.0f} s"] * len(pending)
    phase.seconds = time.monotonic() - t0


async def load(base: str, bodies: list[bytes], trees: dict[str, Tree]) -> tuple[Phase, Phase, Phase]:
    connector = aiohttp.TCPConnector(limit=CONNECTIONS, force_close=True)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async with session.get(f"{base}/repo/index.json") as r:
            if r.status != 200:
                raise SystemExit(f"GET /repo/index.json answered {r.status}")
            await r.read()
            etag, modified = r.headers.get("ETag"), r.headers.get("Last-Modified")
        conditional = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", modified)) if v}

        polls = Phase("index polls")

        async def poll(i: int) -> None:
            t = time.perf_counter()
            async with session.get(f"{base}/repo/index.json", headers=conditional) as r:
                await r.read()
                if r.status != 304:
                    polls.errors.append(f"poll answered {r.status}")
                    return
            polls.add("poll", time.perf_counter() - t)

        def uploads(phase: Phase):
            async def upload(i: int) -> None:
                headers = {
                    "Authorization": f"Bearer {token(i)}",
                    "Content-Type": "application/json",
                    "Content-Encoding": "gzip",
                }
                t = time.perf_counter()
                async with session.post(f"{base}/api/v1/reports", data=bodies[i], headers=headers) as r:
                    answer = await r.json(content_type=None)
                    if r.status != 200 or answer.get("held") != EVENTS + 1:
                        phase.errors.append(f"upload answered {r.status}: {str(answer)[:150]}")
                        return
                phase.add("post", time.perf_counter() - t)
                phase.accepted += answer["accepted"]

            return upload

        posts, burst = Phase("report uploads"), Phase("uploads at saturation")
        for phase, go in (
            (polls, lambda: run_phase(polls, POLL_WINDOW_S, poll)),
            (posts, lambda: run_phase(posts, POST_WINDOW_S, uploads(posts))),
            (burst, lambda: saturate(burst, uploads(burst))),
        ):
            before = {n: t.cpu() for n, t in trees.items()}
            await go()
            phase.cpu = {n: used(before[n], t.cpu()) for n, t in trees.items()}
        return polls, posts, burst


async def saturate(phase: Phase, one) -> None:
    """``SATURATE`` more stations upload with ``SATURATE_IN_FLIGHT`` requests always in flight:
    the most uploads a second this headend (and this client, on the same cores) manages."""
    gate = asyncio.Semaphore(SATURATE_IN_FLIGHT)
    t0 = time.monotonic()

    async def station(i: int) -> None:
        async with gate:
            try:
                await one(i)
            except Exception as exc:  # every failure is counted and shown
                phase.errors.append(f"{type(exc).__name__}: {exc}"[:200])

    await asyncio.wait_for(asyncio.gather(*(station(STATIONS + j) for j in range(SATURATE))), DEADLINE_S)
    phase.seconds = time.monotonic() - t0


async def wait_up(base: str, proc: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
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


async def warm_up(base: str) -> None:
    """One batch from a station outside the load, so the intake processes start before the clock."""
    async with aiohttp.ClientSession() as session:
        evs = events(1, datetime.now(UTC) - timedelta(minutes=5), seed=1)
        warm = STATIONS + SATURATE
        body = gzip.compress(_json(batch(sid(warm), evs, after=0, now=datetime.now(UTC), mono=10_000.0)))
        headers = {"Authorization": f"Bearer {token(warm)}", "Content-Type": "application/json"}
        async with session.post(f"{base}/api/v1/reports", data=body, headers={**headers, "Content-Encoding": "gzip"}):
            pass


@dataclass
class Result:
    engine: str
    polls: Phase
    posts: Phase
    burst: Phase
    held: int
    idle_rss: int
    peak_rss: int
    peaks: str


def run(engine: str, url: str, work: Path, bodies: list[bytes], pg_pid: int | None) -> Result:
    root = work / engine
    t = time.monotonic()
    prepare_root(root, url)
    print(f"{engine}: data root with {STATIONS:,} stations ready in {time.monotonic() - t:.1f} s", flush=True)
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "headend"), "serve", "--root", str(root), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_up(base, proc))
        trees = {"headend": Tree(proc.pid)}
        if pg_pid is not None:
            trees["postgresql"] = Tree(pg_pid)
        asyncio.run(warm_up(base))
        t = time.monotonic()
        quiet(list(trees.values()))
        print(f"{engine}: headend settled {time.monotonic() - t:.1f} s after its start", flush=True)
        idle_rss = trees["headend"].rss()
        trees["headend"].peak_rss = idle_rss
        trees["headend"].start_sampling()
        try:
            polls, posts, burst = asyncio.run(load(base, bodies, trees))
        finally:
            trees["headend"].stop_sampling()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    cfg = load_config(root)
    db = Database.open(cfg.database_url, cfg.db_path)
    try:
        held = db.reports.event_count() - 1  # less the warm-up batch's event
    finally:
        db.close()
    return Result(engine, polls, posts, burst, held, idle_rss, trees["headend"].peak_rss, trees["headend"].peaks())


def report(r: Result) -> dict[str, float]:
    """Print one engine's figures; the per-request CPU costs (seconds) for the capacity."""
    k = STATIONS / 1000
    sent = (STATIONS + SATURATE) * (EVENTS + 1)
    p, u, b = r.polls, r.posts, r.burst
    errors = len(p.errors) + len(u.errors) + len(b.errors)
    print(
        f"{r.engine}: errors {errors} (index polls {len(p.errors)}, uploads {len(u.errors)}, "
        f"uploads at saturation {len(b.errors)})"
    )
    for e in sorted(set(p.errors + u.errors + b.errors))[:5]:
        print(f"    e.g. {e}")
    poll_lat, post_lat = p.latencies.get("poll", []), u.latencies.get("post", [])
    print(
        f"{r.engine}: index polls (304): {len(poll_lat):,} in {p.seconds:.1f} s = {len(poll_lat) / p.seconds:,.0f}/s; "
        f"latency p50 {pct(poll_lat, 0.5):.1f} ms, p99 {pct(poll_lat, 0.99):.1f} ms"
    )
    print(
        f"{r.engine}: report POSTs: {len(post_lat):,} in {u.seconds:.1f} s = {len(post_lat) / u.seconds:,.0f}/s; "
        f"latency p50 {pct(post_lat, 0.5):.1f} ms, p99 {pct(post_lat, 0.99):.1f} ms ({EVENTS} events + a heartbeat each)"
    )
    print(
        f"{r.engine}: events stored {r.held:,} of {sent:,} sent ({'each exactly once' if r.held == sent else 'MISMATCH'}"
        f"; {u.accepted + b.accepted:,} accepted in answers), {u.accepted / u.seconds:,.0f} events/s over the "
        f"upload window"
    )
    cost = {
        "poll": p.cpu["headend"] / max(1, len(poll_lat)),
        "post": u.cpu["headend"] / max(1, len(post_lat)),
    }
    burst_lat = b.latencies.get("post", [])
    cost["max_posts_s"] = len(burst_lat) / b.seconds
    print(
        f"{r.engine}: at saturation ({SATURATE:,} more stations, {SATURATE_IN_FLIGHT} uploads in flight): "
        f"{cost['max_posts_s']:,.0f} POSTs/s = {cost['max_posts_s'] * (EVENTS + 1):,.0f} events/s, latency p50 "
        f"{pct(burst_lat, 0.5):.0f} ms, p99 {pct(burst_lat, 0.99):.0f} ms; headend CPU "
        f"{b.cpu['headend'] / b.seconds:.2f} cores"
        + (f", PostgreSQL {b.cpu['postgresql'] / b.seconds:.2f} cores" if "postgresql" in b.cpu else "")
    )
    print(
        f"{r.engine}: headend CPU per 1,000 stations: {p.cpu['headend'] / k:.2f} s for their polls "
        f"({cost['poll'] * 1000:.2f} ms a poll), {u.cpu['headend'] / k:.2f} s for their uploads "
        f"({cost['post'] * 1000:.2f} ms a POST); headend RSS idle {r.idle_rss / 1e6:.0f} MB, peak "
        f"{r.peak_rss / 1e6:.0f} MB = {r.peak_rss / 1e6 / k:.1f} MB per 1,000 stations "
        f"({(r.peak_rss - r.idle_rss) / 1e6 / k:+.1f} MB per 1,000 over idle; peak of each process: {r.peaks})"
    )
    if "postgresql" in p.cpu:
        cost["db_poll"] = p.cpu["postgresql"] / max(1, len(poll_lat))
        cost["db_post"] = u.cpu["postgresql"] / max(1, len(post_lat))
        print(
            f"{r.engine}: PostgreSQL server CPU per 1,000 stations: {p.cpu['postgresql'] / k:.2f} s polls, "
            f"{u.cpu['postgresql'] / k:.2f} s uploads ({cost['db_post'] * 1000:.2f} ms a POST)"
        )
    return cost


def capacity(engine: str, cost: dict[str, float]) -> None:
    polls_h = 3600 / SYNC_INTERVAL_S
    posts_h = 3600 / HEALTH_INTERVAL_S + BATCHES_PER_HOUR
    per_station_h = polls_h * cost["poll"] + posts_h * cost["post"]
    db_h = polls_h * cost.get("db_poll", 0) + posts_h * cost.get("db_post", 0)
    budget = CORES * 3600 * HEADROOM
    by_cpu = budget / (per_station_h + db_h)
    by_rate = cost["max_posts_s"] * HEADROOM / (posts_h / 3600)
    print(
        f"{engine}: capacity at the default intervals: a station makes {polls_h:.0f} index polls "
        f"(3600/{SYNC_INTERVAL_S}) + {posts_h:.0f} report POSTs ({3600 // HEALTH_INTERVAL_S} heartbeats "
        f"3600/{HEALTH_INTERVAL_S} + {BATCHES_PER_HOUR} uploads of events, each costed as the measured POST) an hour "
        f"= {(polls_h + posts_h) / 3600:.4f} requests/s."
    )
    print(
        f"{engine}:   by CPU: {polls_h:.0f} × {cost['poll'] * 1000:.2f} ms + {posts_h:.0f} × "
        f"{cost['post'] * 1000:.2f} ms = {per_station_h * 1000:.1f} ms headend CPU"
        + (f" + {db_h * 1000:.1f} ms PostgreSQL CPU" if db_h else "")
        + f" a station-hour; {CORES} cores × 3600 s × {HEADROOM:.0%} = {budget:,.0f} CPU s an hour "
        f"→ {by_cpu:,.0f} stations" + (f" (PostgreSQL on another box: {budget / per_station_h:,.0f})" if db_h else "")
    )
    print(
        f"{engine}:   by uploads a second: {cost['max_posts_s']:,.0f} POSTs/s at saturation × {HEADROOM:.0%} / "
        f"({posts_h:.0f}/3600 POSTs/s a station) → {by_rate:,.0f} stations"
    )
    print(
        f"{engine}:   one headend box like this one: {min(by_cpu, by_rate):,.0f} stations "
        f"(the lower; index polls served by a cache in front leave the uploads: "
        f"{min(budget / (posts_h * (cost['post'] + cost.get('db_post', 0))), by_rate):,.0f})"
    )


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    print(
        f"load: {STATIONS:,} stations, each: one conditional index poll (polls spread over {POLL_WINDOW_S:.0f} s), "
        f"then one upload of {EVENTS} events + its heartbeat (spread over {POST_WINDOW_S:.0f} s) — an hour of one "
        f"station's uploads, compressed; client pool {CONNECTIONS} connections, a new one per request; {CORES} cores",
        flush=True,
    )
    try:
        t = time.monotonic()
        bodies = make_bodies(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1))
        print(f"bodies built in {time.monotonic() - t:.1f} s", flush=True)
        if "sqlite" in ENGINES:
            r = run("sqlite", "", work, bodies, None)
            capacity(r.engine, report(r))
        if "postgresql" not in ENGINES:
            return 0
        from tests.pg import PostgresServer, PostgresUnavailable

        try:
            server = PostgresServer().start()
        except PostgresUnavailable as exc:
            print(f"postgresql: skipped ({exc})")
            return 0
        try:
            pg_pid = int((server.data / "postmaster.pid").read_text().split()[0])
            r = run("postgresql", server.create_database(), work, bodies, pg_pid)
            capacity(r.engine, report(r))
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
