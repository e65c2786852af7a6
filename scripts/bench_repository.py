"""`make bench` (repository): publishing a county-sized catalogue, and a station verifying it.

1. `headend publish` with 5,000 courses (4 files each) and 200 playlists, vs `cp -al` of the
   same files (hard-linking is the floor of building a tree), in the same run; then a second
   publish with nothing changed, with the bytes it read (psutil `read_chars`) against the bytes
   of media it publishes: proof that media is not re-hashed.
2. Station verification of that index and its 200 playlists (signatures, pins, parsing) as an
   `stb-sd` station does it (its entries read when first used, its rendition only): time and
   peak Python memory (tracemalloc), vs a bare `json.loads` + sha256 of the same bytes (target
   ≤ 1.5); then the same with every entry read for that player, as a pass that installs does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from catalogue import Course  # noqa: E402
from headend.courseware.profiles import POSTER_FINGERPRINT, POSTER_PROFILE, profiles_for  # noqa: E402
from headend.db import Rendition  # noqa: E402
from headend.service import open_root  # noqa: E402
from headend.service.repository import publish  # noqa: E402
from playlists import Index, PublicKey, TrustState, check_index, check_playlist, media_path  # noqa: E402

COURSES, PLAYLISTS, PER_PLAYLIST, FILE_BYTES = 5000, 200, 25, 8192
PLAYER = "stb-sd"  # the verifying station's player
BIN = Path(sys.executable).parent


def make_root(work: Path) -> Path:
    root = work / "headend"
    subprocess.run([BIN / "headend", "init", "--root", root], check=True, capture_output=True)
    h = open_root(root)
    outputs = [(p.name, p.fingerprint, p.extension, p.mime) for p in profiles_for(h.cfg)]
    outputs.append((POSTER_PROFILE, POSTER_FINGERPRINT, "jpg", "image/jpeg"))
    now = "2026-11-22T00:00:00Z"
    courses, rends = [], []
    for i in range(COURSES):
        src = hashlib.sha256(f"source {i}".encode()).hexdigest()
        courses.append(
            (
                Course(
                    id=f"c-{src[:12]}", title=f"课程 {i}", category="agriculture", duration_s=60.0, source_sha256=src
                ),
                f"{i}.mp4",
            )
        )
        for prof, fp, ext, mime in outputs:
            body = (f"{i}:{prof}:".encode() * (FILE_BYTES // 8))[:FILE_BYTES]
            sha = hashlib.sha256(body).hexdigest()
            rel = media_path(sha, ext)
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(body)
            rends.append(Rendition(src, prof, fp, rel, sha, len(body), mime, now))
    h.db.upsert_courses(courses)
    h.db.add_renditions(rends)
    h.close()
    for p in range(PLAYLISTS):
        items = [courses[(p * PER_PLAYLIST + k) % COURSES][0].id for k in range(PER_PLAYLIST)]
        (root / "playlists" / f"p{p}.toml").write_text(
            f'title = "专题 {p}"\nitems = {json.dumps(items)}\n[audience]\nregions = ["广东省/肇庆市/县{p}"]\n',
            encoding="utf-8",
        )
    return root


def timed_publish(root: Path) -> tuple[float, int]:
    h = open_root(root)
    proc = psutil.Process()
    before = proc.io_counters().read_chars
    t = time.perf_counter()
    publish(h)
    h.close()
    return time.perf_counter() - t, proc.io_counters().read_chars - before


def bench_verify(root: Path) -> None:
    tree = root / "repo"
    key = PublicKey.from_text((root / "keys" / "headend.pub").read_text())
    index_bytes, index_sig = (tree / "index.json").read_bytes(), (tree / "index.json.minisig").read_bytes()
    refs = Index.from_bytes(index_bytes).playlists
    files = {
        r.file.path: ((tree / r.file.path).read_bytes(), (tree / (r.file.path + ".minisig")).read_bytes()) for r in refs
    }

    def ours() -> None:
        index = check_index(index_bytes, index_sig, [key], TrustState(), datetime.now(UTC))
        for ref in index.playlists:
            data, sig = files[ref.file.path]
            check_playlist(data, sig, ref, [key], PLAYER)

    def with_entries() -> None:
        index = check_index(index_bytes, index_sig, [key], TrustState(), datetime.now(UTC))
        for ref in index.playlists:
            data, sig = files[ref.file.path]
            check_playlist(data, sig, ref, [key], PLAYER).entries()

    def bare() -> None:
        json.loads(index_bytes)
        for data, _ in files.values():
            hashlib.sha256(data).hexdigest()
            json.loads(data)

    runs = (
        ("bare json.loads + sha256", bare),
        ("station verification", ours),
        ("+ every entry, read", with_entries),
    )
    # Timed without tracemalloc (it slows Python's own allocations, not a C parser's, and so
    # would flatter whichever side does less in Python), runs interleaved, the median of 7 each;
    # then one run of each under tracemalloc for its peak.
    times: dict[str, list[float]] = {name: [] for name, _ in runs}
    for _ in range(7):
        for name, fn in runs:
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    r = {}
    for name, fn in runs:
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        r[name] = statistics.median(times[name])
        print(f"  {name:28s} {r[name] * 1000:7.1f} ms   peak {peak / 1e6:5.1f} MB")
    size = len(index_bytes) + sum(len(d) for d, _ in files.values())
    base = r["bare json.loads + sha256"]
    print(
        f"  ratio {r['station verification'] / base:.2f}  (target ≤ 1.5; "
        f"index {len(index_bytes) / 1e3:.0f} kB + {len(files)} playlists, {size / 1e6:.1f} MB in all)"
    )
    print(
        f"  ratio with every {PLAYER} entry read (course record, poster, its rendition) {r['+ every entry, read'] / base:.2f}"
    )


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="yuanjiao-bench-repo-"))
    try:
        t = time.perf_counter()
        root = make_root(work)
        print(
            f"catalogue: {COURSES} courses × 4 files of {FILE_BYTES} B, {PLAYLISTS} playlists "
            f"(made in {time.perf_counter() - t:.1f} s)"
        )
        first, _ = timed_publish(root)
        # The unchanged re-publish and cp -al, interleaved, three each: the median ratio.
        cps, agains, read = [], [], 0
        for i in range(3):
            t = time.perf_counter()
            subprocess.run(["cp", "-al", str(root / "repo") + "/", str(work / f"copy{i}")], check=True)
            cps.append(time.perf_counter() - t)
            again, read = timed_publish(root)
            agains.append(again)
        cp, second = statistics.median(cps), statistics.median(agains)
        ratio = statistics.median(a / c for a, c in zip(agains, cps, strict=True))
        media_bytes = sum(f.stat().st_size for f in (root / "repo" / "media").rglob("*") if f.is_file())
        print("publish")
        print(f"  cp -al of the tree (floor):   {cp:6.2f} s   (median of 3)")
        print(f"  first publish:                {first:6.2f} s   ratio {first / cp:.1f}")
        print(f"  publish again, nothing new:   {second:6.2f} s   ratio {ratio:.1f}  (median of 3; target ≤ 3)")
        print(f"    each: {', '.join(f'{a:.2f} s / cp {c:.2f} s' for a, c in zip(agains, cps, strict=True))}")
        print(
            f"  bytes read by that publish:   {read / 1e6:6.1f} MB of {media_bytes / 1e6:.1f} MB media published "
            f"({read / media_bytes:.1%}; media is not re-hashed)"
        )
        print("station verification of the index and every playlist")
        bench_verify(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
