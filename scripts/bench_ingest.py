"""`make bench` (ingest and sync): measured against a baseline taken in the same run (machines here are shared and
noisy, so only ratios mean something).

1. ingest: `headend ingest` wall time ÷ the bare ffmpeg commands it runs (same arguments, same
   source), run back to back.
2. sync: a fresh `station sync --once` ÷ `curl` fetching the same files from the same server.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from headend.config import load_config  # noqa: E402
from headend.media import poster_args, probe, rendition_args  # noqa: E402
from headend.ingest import profiles_for  # noqa: E402

BIN = Path(sys.executable).parent


def timed(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t


def bench_ingest(work: Path) -> None:
    src = work / "source.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440", "-t", "20", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(src)], check=True)
    root = work / "headend"
    subprocess.run([BIN / "headend", "init", "--root", root], check=True, capture_output=True)
    cfg = load_config(root)
    info = asyncio.run(probe(src))
    bare = 0.0
    for prof in profiles_for(cfg):
        bare += timed(rendition_args(src, work / f"bare.{prof.extension}", prof, info))
    bare += timed(poster_args(src, work / "bare.jpg", info))
    ours = timed([str(BIN / "headend"), "ingest", "--root", str(root), str(src), "--title", "基准", "--category", "skills"])
    again = timed([str(BIN / "headend"), "ingest", "--root", str(root), str(src), "--title", "基准", "--category", "skills"])
    print(f"ingest 20 s 1080p source → {len(profiles_for(cfg))} renditions + poster")
    print(f"  bare ffmpeg commands: {bare:6.2f} s")
    print(f"  headend ingest:       {ours:6.2f} s   ratio {ours / bare:.3f}  (target ≤ 1.05)")
    print(f"  re-ingest (no ffmpeg): {again:5.2f} s")
    return root


def bench_sync(work: Path, root: Path) -> None:
    subprocess.run([BIN / "headend", "publish", "--root", root], check=True, capture_output=True)
    server = subprocess.Popen([BIN / "headend", "serve", "--root", root, "--host", "127.0.0.1", "--port", "8791"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if subprocess.run(["curl", "-sf", "http://127.0.0.1:8791/api/v1/health"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        toml = work / "station.toml"
        toml.write_text(
            (ROOT / "station.toml").read_text(encoding="utf-8")
            .replace('data_dir = "var/station"', f'data_dir = "{work / "station"}"')
            .replace("http://127.0.0.1:8700/repo/", "http://127.0.0.1:8791/repo/")
            .replace("var/headend/keys/headend.pub", str(root / "keys" / "headend.pub")),
            encoding="utf-8",
        )
        ours = timed([str(BIN / "station"), "--config", str(toml), "sync", "--once"])
        # The same files the station fetched, by curl from the same server.
        from station.store import Store

        store = Store(work / "station")
        installed = store.installed()
        files = ["index.json", "index.json.minisig"]
        files += [f"playlists/{p['name']}.{p['version']}.json" for p in installed["playlists"]]
        files += [f + ".minisig" for f in files[2:]]
        files += [p for c in installed["courses"] for p in (c["media"], c["poster"]) if p]
        urls = [f"http://127.0.0.1:8791/repo/{f}" for f in files]
        curl = timed(["curl", "-sf", *[a for u in urls for a in (u, "-o", "/dev/null")]])
        total = sum((root / "repo" / f).stat().st_size for f in files)
        idle = timed([str(BIN / "station"), "--config", str(toml), "status"])
        print(f"sync {len(files)} files, {total / 1e6:.1f} MB over loopback")
        print(f"  curl, the same files:         {curl:6.2f} s")
        print(f"  station sync --once:          {ours:6.2f} s   ratio {ours / curl:.2f}")
        print(f"  of which Python start-up (station status): {idle:.2f} s; "
              f"ratio without it {(ours - idle) / curl:.2f}")
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="yuanjiao-bench-"))
    try:
        root = bench_ingest(work)
        bench_sync(work, root)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
