"""`make bench` (upload): a 90-day backlog of one busy station (~9,000 events: a health sample
every 15 minutes, plays, study sessions, logbook entries; a reboot every ten days) uploaded by a
real `station report --once` to a real headend on loopback (SQLite), through a counting proxy.

Printed, against a baseline measured in the same run (the same journal files, as one plain gzip
level 9 POST body): bytes per event on the wire (request bodies and headers, station → headend),
requests, and the station process's peak RSS sampled with psutil. Targets: ≤ 30 B/event,
≤ 25 requests, ≤ 80 MB. Then an idle serve loop for 20 s with a 60 s health interval: its one
request is the start heartbeat's (target ≤ 1 per interval).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import psutil
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalogue.clocks import CHINA  # noqa: E402
from headend.config import load_config as headend_config  # noqa: E402
from headend.service import open_root  # noqa: E402
from headend.service.stations import add_station  # noqa: E402
from headend.web.app import create_app  # noqa: E402
from station.config import load_config  # noqa: E402
from station.records.journal import Journal, segments  # noqa: E402
from station.store import Store  # noqa: E402
from station.upload.loop import UploadLoop  # noqa: E402
from tests.conftest import init_headend, serve, write_station_toml  # noqa: E402
from tests.flaky_proxy import FlakyProxy  # noqa: E402
from tests.report_batches import body  # noqa: E402

DAYS = 90
IDLE_S = 20.0
STATION = "test-station"


def journal_90_days(root: Path, tmp: Path) -> int:
    """The busy station's 90 days, written by the real Journal with an injected clock."""
    rnd = random.Random(11)
    start = datetime(2026, 9, 1, tzinfo=CHINA)
    t = [start.timestamp()]
    boot_t0 = [t[0]]
    n = 0
    j = None
    for day in range(DAYS):
        if day % 10 == 0:  # a power cut: a new boot id, the monotonic clock from zero
            boot = tmp / f"boot-{day}"
            boot.write_text(f"{rnd.getrandbits(128):032x}\n")
            boot_t0[0] = t[0]
            j = Journal(root, clock=lambda: t[0], mono=lambda: t[0] - boot_t0[0] + 30.0, boot_id=boot)
        plays = set(rnd.sample(range(96), 4))  # about four plays a day, some in a study session
        for slot in range(96):
            t[0] = start.timestamp() + day * 86400 + slot * 900 + rnd.uniform(0, 2)
            at = datetime.fromtimestamp(t[0], CHINA)
            j.append("health", **health(rnd, at, day, slot, t[0] - boot_t0[0]))
            n += 1
            if slot in plays:
                kind = rnd.choice(["play", "play", "play", "session_end", "logbook", "notice_view"])
                j.append(kind, **body(kind, at, rnd))
                n += 1
    return n


def health(rnd: random.Random, at: datetime, day: int, slot: int, uptime: float) -> dict:
    """What station.upload.health collects, varying as on a real box."""
    return {
        "interval_s": 900,
        "uptime_s": int(uptime + 30),
        "load1": round(rnd.uniform(0.02, 0.6), 2),
        "mem_used_mb": 380 + rnd.randint(0, 60),
        "mem_total_mb": 1987,
        "disk_free_mb": 21000 - day * 30,
        "disk_total_mb": 30517,
        "stored_mb": 8200 + day * 30,
        "installed_version": 40 + day // 7,
        "newest_version": 40 + day // 7,
        "sync_state": "ok",
        "sync_error": "",
        "backlog": day * 100 + slot,
        "app_version": "0.1.0",
        "tv_seen": (at - timedelta(minutes=rnd.randint(0, 600))).isoformat(timespec="seconds") if slot > 30 else None,
        "offset_s": None,
    }


async def sample_rss(proc: asyncio.subprocess.Process) -> int:
    peak = 0
    p = psutil.Process(proc.pid)
    while proc.returncode is None:
        try:
            peak = max(peak, p.memory_info().rss)
        except psutil.Error:
            break
        await asyncio.sleep(0.01)
    return peak


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        hroot = init_headend(tmp / "headend")
        with open_root(hroot) as h:
            token = add_station(h, STATION, None, "广东省/肇庆市/高要市/蚬岗镇", "stb-sd")
        (tmp / "data").mkdir()
        t0 = time.perf_counter()
        n = journal_90_days(tmp / "data" / "journal", tmp)
        print(f"journal: {n} events over {DAYS} days written in {time.perf_counter() - t0:.1f} s")
        raw = b"".join(p.read_bytes() for _, _, p in segments(tmp / "data" / "journal"))
        baseline = len(gzip.compress(raw, compresslevel=9))

        requests = [0]
        app = create_app(headend_config(hroot), background_loops=False)

        async def count(request: web.Request, response: web.StreamResponse) -> None:
            if request.path == "/api/v1/reports":
                requests[0] += 1

        app.on_response_prepare.append(count)
        async with serve(app) as base:
            proxy = FlakyProxy(base)
            async with proxy.running() as front:
                toml = write_station_toml(
                    tmp / "station.toml", ["http://127.0.0.1:9/repo/"], hroot / "keys" / "headend.pub"
                )
                toml.write_text(
                    toml.read_text().replace(
                        '[report]\nurl = "http://127.0.0.1:9/api/v1/"\ntoken = ""',
                        f'[report]\nurl = "{front}/api/v1/"\ntoken = "{token}"',
                    )
                )
                t0 = time.perf_counter()
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "station.cli", "--config", str(toml), "report", "--once",
                    cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                rss_task = asyncio.create_task(sample_rss(proc))
                out, err = await proc.communicate()
                peak = await rss_task
                took = time.perf_counter() - t0
                if proc.returncode != 0:
                    raise SystemExit(f"report --once failed ({proc.returncode}): {out.decode()} {err.decode()}")
                wire = proxy.bytes_to_server
                print(f"station report --once: {out.decode().strip()} in {took:.1f} s")
                print(
                    f"on the wire: {wire} bytes = {wire / n:.1f} B/event (target <= 30); "
                    f"baseline one gzip POST of the journal files: {baseline / n:.1f} B/event; "
                    f"ratio {wire / baseline:.2f}"
                )
                print(f"requests: {requests[0]} (target <= 25; ceil(n/500) = {-(-n // 500)})")
                print(f"station peak RSS while uploading: {peak / 1e6:.1f} MB (target <= 80)")
                print(f"journal on disk: {len(raw)} bytes = {len(raw) / n:.0f} B/event uncompressed")

                # Idle: the serve loop with nothing to send makes its start heartbeat's request, then none
                # until the next health interval (60 s here, the least allowed).
                cfg = dataclasses.replace(load_config(toml), health_interval_s=60.0)
                journal = Journal(cfg.data_dir / "journal")
                before = requests[0]
                loop = UploadLoop(cfg, Store(cfg.data_dir), journal, settle_s=0.5)
                task = asyncio.create_task(loop.run())
                await asyncio.sleep(IDLE_S)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                print(
                    f"idle: {requests[0] - before} request(s) in {IDLE_S:.0f} s with health_interval_s = 60 "
                    "(the start heartbeat; target <= 1 per interval)"
                )


if __name__ == "__main__":
    asyncio.run(main())
