"""`make bench` (ingest and sync): measured against a baseline taken in the same run (machines here are shared and
noisy, so only ratios mean something).

1. ingest, on a 60 s 1080p source:
   a. one ffmpeg process for every rendition (one decode) vs one process per profile, bare ffmpeg:
      the ratio, and which one headend.toml's `[ingest] ladder` should use;
   b. `headend ingest` wall time ÷ the bare ffmpeg commands it runs (loudness pass, ladder, poster;
      same arguments, same source), run back to back: target ≤ 1.05;
   c. the headend process's RSS while it transcodes (ffmpeg excluded), sampled with psutil: ≤ 150 MB;
   d. re-ingest of the same file: how many ffmpeg processes start (must be 0).
2. sync: a fresh `station sync --once` ÷ `curl` fetching the same files from the same server.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from headend.config import load_config  # noqa: E402
from headend.courseware.loudness import Target, parse_measurements  # noqa: E402
from headend.courseware.media import probe  # noqa: E402
from headend.courseware.profiles import profiles_for  # noqa: E402
from headend.courseware.recipe import ladder_args, measure_args, poster_args  # noqa: E402

BIN = Path(sys.executable).parent
SOURCE_S = int(os.environ.get("BENCH_SOURCE_S", 60))  # the issue asks for 60 s; smaller for a quick try
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 2))


CPU = {}  # command → CPU seconds (user + system) of it and its children: steadier than wall time when others share the machine


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(args: list[str], env: dict | None = None) -> float:
    t, c = time.perf_counter(), _cpu_children()
    subprocess.run(args, check=True, capture_output=True, cwd=ROOT, env=env)
    CPU["last"] = _cpu_children() - c
    return time.perf_counter() - t


def timed_with_rss(args: list[str]) -> tuple[float, float]:
    """Wall time, and the peak RSS (MB) of the process itself, its ffmpeg children excluded."""
    t, c = time.perf_counter(), _cpu_children()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.2)
    took = time.perf_counter() - t
    CPU["last"] = _cpu_children() - c
    if proc.returncode != 0:
        raise SystemExit(f"{args[:3]} failed with exit code {proc.returncode}")
    return took, peak / 1e6


def ffmpeg_spy(work: Path) -> tuple[dict, Path]:
    bindir = work / "spybin"
    bindir.mkdir(exist_ok=True)
    log = work / "ffmpeg-starts.log"
    (bindir / "ffmpeg").write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec "{shutil.which("ffmpeg")}" "$@"\n')
    (bindir / "ffmpeg").chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}, log


def bench_ingest(work: Path) -> Path:
    src = work / "source.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1920x1080:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:beep_factor=4",
            "-t",
            str(SOURCE_S),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(src),
        ],
        check=True,
    )
    root = work / "headend"
    subprocess.run([BIN / "headend", "init", "--root", root], check=True, capture_output=True)
    cfg = load_config(root)
    profiles = profiles_for(cfg)
    info = asyncio.run(probe(src))
    target = Target(profiles[0].audio.loudness_lufs, profiles[0].audio.true_peak_dbtp)
    channels = sorted({p.audio.channels for p in profiles})

    # The loudness pass, whose results the ladder needs (the same numbers the pipeline gets).
    t, c = time.perf_counter(), _cpu_children()
    err = subprocess.run(measure_args(src, channels, target), capture_output=True, text=True, check=True).stderr
    measure = time.perf_counter() - t
    measure_cpu = _cpu_children() - c
    measured = dict(zip(channels, parse_measurements(err.splitlines(), len(channels), "bench"), strict=True))
    outs = [(p, work / f"bare-{p.name}.{p.extension}") for p in profiles]

    # Interleaved rounds, best of each: other work on a shared machine slows whichever runs beside it.
    ones, pers, ours, rss = [], [], [], []
    one_cpu, per_cpu, our_cpu = [], [], []
    for n in range(ROUNDS):
        ones.append(timed(ladder_args(src, outs, info, measured=measured)))
        one_cpu.append(CPU["last"])
        per_runs = []
        for o in outs:
            per_runs.append((timed(ladder_args(src, [o], info, measured=measured)), CPU["last"]))
        pers.append(sum(w for w, _ in per_runs))
        per_cpu.append(sum(c for _, c in per_runs))
        fresh = work / f"headend-{n}"
        subprocess.run([BIN / "headend", "init", "--root", fresh], check=True, capture_output=True)
        took, peak = timed_with_rss(
            [
                str(BIN / "headend"),
                "ingest",
                "--root",
                str(fresh),
                str(src),
                "--title",
                "基准",
                "--category",
                "skills",
                "--quiet",
            ]
        )
        ours.append(took)
        our_cpu.append(CPU["last"])
        rss.append(peak)
    one, per = min(ones), min(pers)
    choice = "one-process" if one <= per else "per-profile"
    print(
        f"ingest: {SOURCE_S} s 1080p source → {len(profiles)} renditions ({', '.join(p.name for p in profiles)}) + poster;"
        f" best of {ROUNDS} interleaved rounds"
    )
    print(f"  ladder, one ffmpeg for all (one decode): {one:7.2f} s   (rounds: {', '.join(f'{x:.1f}' for x in ones)})")
    print(f"  ladder, one ffmpeg per profile:          {per:7.2f} s   (rounds: {', '.join(f'{x:.1f}' for x in pers)})")
    print(
        f"  CPU seconds: one-process {min(one_cpu):.1f}, per-profile {min(per_cpu):.1f}"
        f"  (per-profile ÷ one-process = {min(per_cpu) / min(one_cpu):.3f})"
    )
    print(
        f'  per-profile ÷ one-process = {per / one:.3f}  → faster: "{choice}" (configured [ingest] ladder = "{cfg.ladder}")'
    )

    ladder = one if cfg.ladder == "one-process" else per
    poster = timed(poster_args(src, work / "bare.jpg", info))
    poster_cpu = CPU["last"]
    bare = measure + ladder + poster
    bare_cpu = measure_cpu + (min(one_cpu) if cfg.ladder == "one-process" else min(per_cpu)) + poster_cpu
    best = min(ours)
    print(
        f"  bare ffmpeg, same commands (loudness {measure:.2f} + ladder {ladder:.2f} + poster {poster:.2f}): {bare:7.2f} s"
    )
    print(
        f"  headend ingest:                          {best:7.2f} s   (rounds: {', '.join(f'{x:.1f}' for x in ours)})"
        f"   ratio {best / bare:.3f}  (target ≤ 1.05)"
    )
    print(
        f"  CPU seconds: bare {bare_cpu:.1f}, headend ingest {min(our_cpu):.1f}   ratio {min(our_cpu) / bare_cpu:.3f}"
        "  (the same comparison, less disturbed by other work on the machine)"
    )
    print(f"  headend RSS while transcoding (ffmpeg excluded): peak {max(rss):.0f} MB  (target ≤ 150 MB)")
    root = work / "headend-0"

    env, log = ffmpeg_spy(work)
    again = timed(
        [
            str(BIN / "headend"),
            "ingest",
            "--root",
            str(root),
            str(src),
            "--title",
            "基准",
            "--category",
            "skills",
            "--quiet",
        ],
        env=env,
    )
    starts = log.read_text().count("\n") if log.exists() else 0
    print(f"  re-ingest of the same file: {again:.2f} s, ffmpeg processes started: {starts}  (target 0)")
    return root


def bench_sync(work: Path, root: Path) -> None:
    subprocess.run([BIN / "headend", "publish", "--root", root], check=True, capture_output=True)
    server = subprocess.Popen(
        [BIN / "headend", "serve", "--root", root, "--host", "127.0.0.1", "--port", "8791"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if (
                subprocess.run(["curl", "-sf", "http://127.0.0.1:8791/api/v1/health"], capture_output=True).returncode
                == 0
            ):
                break
            time.sleep(0.1)
        toml = work / "station.toml"
        toml.write_text(
            (ROOT / "station.toml")
            .read_text(encoding="utf-8")
            .replace('data_dir = "var/station"', f'data_dir = "{work / "station"}"')
            .replace("http://127.0.0.1:8700/repo/", "http://127.0.0.1:8791/repo/")
            .replace("var/headend/keys/headend.pub", str(root / "keys" / "headend.pub")),
            encoding="utf-8",
        )
        ours = timed([str(BIN / "station"), "--config", str(toml), "sync", "--once"])
        # The same files the station fetched, by curl from the same server.
        from station.store import Store

        store = Store(work / "station")
        installed = store.installed_set()
        files = ["index.json", "index.json.minisig"]
        files += [f"playlists/{p.name}.{p.version}.json" for p in installed.playlists]
        files += [f + ".minisig" for f in files[2:]]
        files += sorted(installed.files())
        urls = [f"http://127.0.0.1:8791/repo/{f}" for f in files]
        curl = timed(["curl", "-sf", *[a for u in urls for a in (u, "-o", "/dev/null")]])
        total = sum((root / "repo" / f).stat().st_size for f in files)
        idle = timed([str(BIN / "station"), "--config", str(toml), "status"])
        print(f"sync {len(files)} files, {total / 1e6:.1f} MB over loopback")
        print(f"  curl, the same files:         {curl:6.2f} s")
        print(f"  station sync --once:          {ours:6.2f} s   ratio {ours / curl:.2f}")
        print(f"  of which Python start-up (station status): {idle:.2f} s; ratio without it {(ours - idle) / curl:.2f}")
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
