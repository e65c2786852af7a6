"""`make bench` (station sync): the sync engine against baselines measured in the same run on the
same generated repository (machines here are shared and noisy, so only ratios mean something).

1. A link that cuts every connection after 1 MB (tests/flaky_proxy.py): bytes on the wire ÷
   bytes stored (target ≤ 1.02).
2. An up-to-date station's poll: requests and bytes on the wire (target: one small request).
3. A cap of 1 MB/s: achieved rate ÷ cap (target ≥ 0.90).
4. No cap: `station sync --once` vs `curl` fetching the same files from the same server; CPU
   seconds per GB vs `curl` + `sha256sum` of the same files; the station's RSS during the sync,
   sampled with psutil (target ≤ 80 MB).
5. A station whose playlists name 5,000 courses (an `all` playlist and 200 of 25, each course
   with three players' renditions and a poster), served by `python -m http.server` in a process
   of its own: the passes the daemon runs (`station.sync.runner.sync_pass`, in this process) —
   the first, which installs everything; one that finds nothing new (the index unchanged: 304);
   one after the headend re-signed the index (a new version, the same playlists) — each with its
   CPU seconds (target ≤ 1 s for a pass that finds nothing new) and how many times it rewrote each
   document (target: none more than once); then `station sync --once` after another re-signing,
   its peak RSS (target ≤ 80 MB) and CPU with Python's start-up.

The repository: random-byte "renditions" of tens of MB, signed with the real `playlists` code by
tests/repository_simulator.py, served from disk by aiohttp's FileResponse (Range, ETag), as the
headend serves its tree.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from station.config import load_config  # noqa: E402
from station.store import Store  # noqa: E402
from station.sync.engine import Syncer  # noqa: E402
from station.sync.fetcher import Fetcher  # noqa: E402
from station.sync.runner import sync_pass  # noqa: E402
from tests.conftest import write_station_toml  # noqa: E402
from tests.flaky_proxy import FlakyProxy  # noqa: E402
from tests.repository_simulator import RepositorySimulator  # noqa: E402
from tests.scale_repo import ScaleRepo  # noqa: E402
from tests.static_repo import StaticRepo, write_tree  # noqa: E402

MB = 1_000_000
BIG_FILES, BIG_SIZE = 6, 16 * MB  # the main repository: 96 MB
CAP_FILES, CAP_SIZE, CAP = 2, 4 * MB, 1 * MB  # the capped run: 8 MB at 1 MB/s


def make_repo(work: Path, name: str, files: int, size: int) -> tuple[RepositorySimulator, Path]:
    sim = RepositorySimulator()
    for i in range(files):
        sim.add_course(f"{name} {i}", os.urandom(size))
    sim.publish()
    tree = write_tree(sim.files, work / name)
    sim.files.clear()  # on disk now; keep the bench's own memory small
    return sim, tree


def station_at(work: Path, name: str, sim: RepositorySimulator, mirror: str, **extra: str) -> Path:
    d = work / name
    d.mkdir()
    (d / "trusted.pub").write_text(sim.key.public_key.to_text())
    toml = write_station_toml(d / "station.toml", [mirror], d / "trusted.pub")
    if extra:
        lines = "".join(f"{k} = {v}\n" for k, v in extra.items())
        toml.write_text(
            toml.read_text(encoding="utf-8").replace("timeout_s = 5\n", f"timeout_s = 5\n{lines}"), encoding="utf-8"
        )
    return toml


async def in_process_sync(toml: Path):
    cfg = load_config(toml)
    async with aiohttp.ClientSession() as session:
        fetcher = Fetcher(session, cfg.sync_timeout_s, cfg.max_rate_bytes_per_s)
        t = time.perf_counter()
        report = await Syncer(cfg, Store(cfg.data_dir), fetcher).run()
        return report, fetcher, time.perf_counter() - t


def stored_bytes(tree: Path) -> int:
    return sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())


async def run_child(*args: str, sample_rss: bool = False) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system, from the kernel's child accounting) and peak
    RSS sampled every 20 ms (0 unless asked)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    peak = 0
    if sample_rss:
        ps = psutil.Process(proc.pid)
        while proc.returncode is None:
            try:
                peak = max(peak, ps.memory_info().rss)
            except psutil.Error:
                break
            try:
                await asyncio.wait_for(asyncio.shield(proc.wait()), 0.02)
            except TimeoutError:
                pass
    _, err = await proc.communicate()
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, peak


async def bench_flaky_and_poll(work: Path, sim: RepositorySimulator, tree: Path, mirror_base: str) -> None:
    proxy = FlakyProxy(mirror_base, cut_after=1 * MB)
    async with proxy.running() as via:
        toml = station_at(work, "flaky", sim, f"{via}/repo/")
        report, _, elapsed = await in_process_sync(toml)
        assert report.complete, report.failures
        stored = stored_bytes(tree)
        wire = proxy.bytes_to_client
        print(f"1. a link that cuts every connection after 1 MB ({proxy.cuts} cuts, one pass, {elapsed:.1f} s)")
        print(f"  bytes stored:          {stored / MB:8.2f} MB")
        print(f"  bytes on the wire:     {wire / MB:8.2f} MB   ratio {wire / stored:.4f}  (target ≤ 1.02)")
        before_down, before_up, before_conn = proxy.bytes_to_client, proxy.bytes_to_server, proxy.connections
        report, fetcher, _ = await in_process_sync(toml)
        assert report.up_to_date
        down, up = proxy.bytes_to_client - before_down, proxy.bytes_to_server - before_up
        print("2. an up-to-date station's poll")
        print(
            f"  {fetcher.requests} request(s) on {proxy.connections - before_conn} connection(s), "
            f"{up} bytes up + {down} bytes down, {fetcher.bytes_received} bytes of body  (target: one small request)"
        )


async def bench_cap(work: Path) -> None:
    sim, tree = make_repo(work, "capped-repo", CAP_FILES, CAP_SIZE)
    async with StaticRepo(tree).served() as mirror:
        toml = station_at(work, "capped", sim, mirror, max_rate_bytes_per_s=str(CAP))
        report, fetcher, elapsed = await in_process_sync(toml)
        assert report.complete, report.failures
        rate = fetcher.bytes_received / elapsed
        print(f"3. a cap of {CAP / MB:.0f} MB/s, {fetcher.bytes_received / MB:.1f} MB")
        print(
            f"  achieved {rate / MB:.3f} MB/s in {elapsed:.2f} s   ratio {rate / CAP:.3f}  "
            "(target ≥ 0.90; above 1 by the bucket's first quarter-second)"
        )
        # The same cap on the link that cuts every 1 MB: while the station sleeps to keep to
        # the cap, what aiohttp has read ahead is lost when the cut arrives.
        proxy = FlakyProxy(mirror.removesuffix("/repo/"), cut_after=1 * MB)
        async with proxy.running() as via:
            toml = station_at(work, "capped-flaky", sim, f"{via}/repo/", max_rate_bytes_per_s=str(CAP))
            report, fetcher, elapsed = await in_process_sync(toml)
        assert report.complete, report.failures
        stored = stored_bytes(tree)
        print(
            f"  with the cap and a cut every 1 MB: bytes on the wire ÷ bytes stored {proxy.bytes_to_client / stored:.3f} "
            f"({proxy.cuts} cuts), achieved {fetcher.bytes_received / elapsed / CAP:.3f} of the cap"
        )


async def bench_uncapped(work: Path, sim: RepositorySimulator, tree: Path, mirror: str) -> None:
    rels = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file())
    total = stored_bytes(tree)
    out = work / "curl"
    curl_args = ["curl", "-sf", "--create-dirs"]
    for rel in rels:
        curl_args += [f"{mirror}{rel}", "-o", str(out / rel)]
    curl_wall, curl_cpu, _ = await run_child(*curl_args)
    sha_wall, sha_cpu, _ = await run_child("sha256sum", *(str(out / r) for r in rels))

    toml = station_at(work, "plain", sim, mirror)
    station = [sys.executable, "-m", "station.cli", "--config", str(toml)]
    wall, cpu, peak = await run_child(*station, "sync", "--once", sample_rss=True)
    idle_wall, idle_cpu, _ = await run_child(*station, "status")  # Python start-up and imports
    gb = total / 1e9
    print(f"4. no cap: {len(rels)} files, {total / MB:.0f} MB over loopback")
    print(f"  curl, the same files:         {curl_wall:6.2f} s  {total / curl_wall / MB:7.1f} MB/s")
    print(
        f"  station sync --once:          {wall:6.2f} s  {total / wall / MB:7.1f} MB/s   time ratio {wall / curl_wall:.2f}"
    )
    print(f"  without start-up ({idle_wall:.2f} s, `station status`): time ratio {(wall - idle_wall) / curl_wall:.2f}")
    print(
        f"  curl, then sha256sum (what the station also does): {curl_wall + sha_wall:6.2f} s   "
        f"time ratio without start-up {(wall - idle_wall) / (curl_wall + sha_wall):.2f}"
    )
    base_cpu = curl_cpu + sha_cpu
    print(
        f"  CPU per GB: curl + sha256sum {base_cpu / gb:5.2f} s/GB (curl {curl_cpu / gb:.2f}, sha256sum {sha_cpu / gb:.2f}); "
        f"station {cpu / gb:5.2f} s/GB   ratio {cpu / base_cpu:.2f}"
    )
    print(
        f"    station without start-up CPU ({idle_cpu:.2f} s): {(cpu - idle_cpu) / gb:5.2f} s/GB   "
        f"ratio {(cpu - idle_cpu) / base_cpu:.2f}"
    )
    print(f"  station RSS during the sync: peak {peak / 2**20:.1f} MiB (psutil, every 20 ms)  (target ≤ 80 MB)")


class WriteCounter:
    """Every file the station replaces (``os.replace``: atomic writes and moves), by document."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir, self.counts, self._real = data_dir, {}, os.replace

    def __enter__(self) -> WriteCounter:
        def counting(src, dst, *a, **k):
            if Path(dst).resolve().is_relative_to(self.data_dir.resolve()):
                rel = Path(dst).resolve().relative_to(self.data_dir.resolve()).as_posix()
                kind = rel if "/" not in rel else rel.split("/")[0] + "/…"
                self.counts[kind] = self.counts.get(kind, 0) + 1
            return self._real(src, dst, *a, **k)

        os.replace = counting
        return self

    def __exit__(self, *exc) -> None:
        os.replace = self._real

    def worst(self) -> int:
        """The most times one document (a file directly under data_dir) was rewritten."""
        return max((n for k, n in self.counts.items() if "/" not in k and k != "progress.json"), default=0)

    def __str__(self) -> str:
        return ", ".join(f"{k} ×{n}" for k, n in sorted(self.counts.items())) or "nothing"


async def bench_scale(work: Path) -> None:
    t = time.perf_counter()
    repo = ScaleRepo(work / "scale-repo")
    repo.publish()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(repo.root),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        line = (await server.stdout.readline()).decode()
        port = int(line.split(" port ")[1].split()[0])
        mirror = f"http://127.0.0.1:{port}/"
        d = work / "scale"
        d.mkdir()
        (d / "trusted.pub").write_text(repo.key.public_key.to_text())
        toml = write_station_toml(d / "station.toml", [mirror], d / "trusted.pub")
        cfg = load_config(toml)
        print(
            f"5. a station whose playlists name {repo.courses} courses ({repo.playlists} playlists, "
            f"{repo.playlist_bytes / MB:.1f} MB of them; made in {time.perf_counter() - t:.1f} s)"
        )
        store = Store(cfg.data_dir)
        rows = []
        async with aiohttp.ClientSession() as session:
            for name, resign in (("first pass, installs everything", False), ("nothing new (index unchanged)", False),
                                 ("nothing new (index re-signed)", True)):  # fmt: skip
                if resign:
                    repo.resign()
                cpu = time.process_time()
                t = time.perf_counter()
                with WriteCounter(cfg.data_dir) as writes:
                    status = await sync_pass(cfg, store, session)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - t
                assert status.state == "ok", status.last_error
                rows.append((name, cpu, wall, writes))
        installed = store.installed_set()
        assert len(installed.courses) == repo.courses, len(installed.courses)
        for name, cpu, wall, writes in rows:
            target = "" if name.startswith("first") else f"  target ≤ 1 s {'ok' if cpu <= 1 else 'OVER'}"
            print(f"  {name:34s} CPU {cpu:5.2f} s  wall {wall:5.2f} s{target}")
            print(
                f"    files replaced: {writes}  (most rewrites of one document: {writes.worst()}, target ≤ 1 "
                f"{'ok' if writes.worst() <= 1 else 'OVER'})"
            )
        repo.resign()
        station = [sys.executable, "-m", "station.cli", "--config", str(toml)]
        wall, cpu, peak = await run_child(*station, "sync", "--once", sample_rss=True)
        _, idle_cpu, _ = await run_child(*station, "status")
        print(
            f"  `station sync --once` after a re-signing: wall {wall:.2f} s, CPU {cpu:.2f} s "
            f"({cpu - idle_cpu:.2f} s without the start-up of `station status`, {idle_cpu:.2f} s)"
        )
        print(
            f"  its RSS: peak {peak / 2**20:.1f} MiB (psutil, every 20 ms)  target ≤ 80 MB "
            f"{'ok' if peak <= 80e6 else 'OVER'}"
        )
    finally:
        server.terminate()
        await server.wait()


async def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="yuanjiao-bench-sync-"))
    try:
        t = time.perf_counter()
        sim, tree = make_repo(work, "repo", BIG_FILES, BIG_SIZE)
        print(
            f"repository: {BIG_FILES} random files of {BIG_SIZE / MB:.0f} MB, signed (made in {time.perf_counter() - t:.1f} s)"
        )
        repo = StaticRepo(tree)
        async with repo.served() as mirror:
            await bench_flaky_and_poll(work, sim, tree, mirror.removesuffix("/repo/"))
            await bench_cap(work)
            await bench_uncapped(work, sim, tree, mirror)
        await bench_scale(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--scale"]:  # only part 5
        work = Path(tempfile.mkdtemp(prefix="yuanjiao-bench-sync-"))
        try:
            asyncio.run(bench_scale(work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    else:
        asyncio.run(main())
