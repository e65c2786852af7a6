"""Power cuts: a real `station sync --once` process killed with SIGKILL at random moments, again
and again, while the repository keeps publishing new versions; after every kill the store is
consistent (what the TV lists is verified on disk, station.json and trust.json parse, the trust
state is never behind what is installed, nothing unverified in media/), and one normal run
afterwards completes it.

The random moments come from a seed printed on failure (YUANJIAO_POWER_CUT_SEED replays one)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, run_cli_async, write_station_toml
from tests.repository_simulator import RepositorySimulator, Station
from tests.static_repo import StaticRepo, write_tree

COURSES, COURSE_BYTES, RATE = 4, 1_000_000, 2_000_000  # a full sync: ~2 s of download plus start-up
KILLS = 20


def publish(sim: RepositorySimulator, served: Path, versions: dict[int, dict[str, str]]) -> None:
    """Sign a new version; immutable files first, then the index and its signature, each
    replaced atomically (a mirror mid-update)."""
    index = sim.publish()
    for rel, data in sim.files.items():
        target = served / rel
        if rel.startswith("index.json"):
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        elif not target.exists():
            write_tree({rel: data}, served)
    versions[index.version] = {e.course.id: e.renditions["stb-sd"].path for e in sim.courses}


def new_course(sim: RepositorySimulator, n: int) -> None:
    sim.add_course(f"第{n}课", os.urandom(COURSE_BYTES))


def check_consistent(data_dir: Path, versions: dict[int, dict[str, str]], why: str) -> dict:
    """What a TV (or `station status`) reading the store right now would rely on. Returns the
    installed document."""
    media = data_dir / "media"
    for p in media.rglob("*") if media.is_dir() else []:
        if p.is_file():
            assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name.split(".")[0], f"{why}: unverified {p}"
    trust_path, db_path = data_dir / "trust.json", data_dir / "station.json"
    if not trust_path.exists():  # the verified index's trust state is saved before any download
        assert not media.exists() or not any(media.rglob("*.mp4")), f"{why}: media without trust.json"
    trust = json.loads(trust_path.read_text(encoding="utf-8")) if trust_path.exists() else {}  # never half-written
    if not db_path.exists():
        return {}
    db = json.loads(db_path.read_text(encoding="utf-8"))  # never half-written
    installed = db.get("state", {}).get("1", {})
    if installed:
        v = installed["index_version"]
        assert v in versions, f"{why}: installed version {v} was never published"
        for c in installed["courses"]:
            # Listed ⇒ verified on disk, and exactly the file that version names for it.
            assert versions[v].get(c["id"]) == c["media"], f"{why}: {c['id']} is not as version {v} has it"
            path = data_dir / c["media"]
            assert path.is_file(), f"{why}: {c['title']} is listed but {c['media']} is missing"
        assert trust.get("highest_version", 0) >= v, f"{why}: trust state behind the installed version"
    return installed


def downloaded(data_dir: Path) -> tuple[int, int]:
    """Bytes in partial files and media files present: changes when a run got to downloading."""
    partial = (
        sum(p.stat().st_size for p in (data_dir / "partial").glob("*.part")) if (data_dir / "partial").is_dir() else 0
    )
    media = len(list((data_dir / "media").rglob("*.mp4"))) if (data_dir / "media").is_dir() else 0
    return partial, media


def left_to_fetch(data_dir: Path, media: dict[str, str]) -> int:
    have = sum(1 for rel in media.values() if (data_dir / rel).is_file())
    return (len(media) - have) * COURSE_BYTES - downloaded(data_dir)[0]


async def start_sync(toml: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "station.cli",
        "--config",
        str(toml),
        "sync",
        "--once",
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def station_toml(path: Path, mirror: str, key: Path) -> Path:
    toml = write_station_toml(path, [mirror], key)
    toml.write_text(
        toml.read_text(encoding="utf-8").replace(
            "timeout_s = 5\n", f"timeout_s = 5\nmax_rate_bytes_per_s = {RATE}\nkeep_unreferenced_days = 0\n"
        ),
        encoding="utf-8",
    )
    return toml


async def test_power_cut_at_random_moments_then_one_run_completes(tmp_path):
    seed = int(os.environ.get("YUANJIAO_POWER_CUT_SEED") or time.time())
    rng = random.Random(seed)
    sim = RepositorySimulator()
    n = 0
    for n in range(COURSES):
        new_course(sim, n)
    served = tmp_path / "served"
    served.mkdir()
    versions: dict[int, dict[str, str]] = {}
    publish(sim, served, versions)
    key = tmp_path / "trusted.pub"
    key.write_text(sim.key.public_key.to_text())
    repo = StaticRepo(served)
    async with repo.served() as mirror:
        # How long an uninterrupted sync takes here (a separate station), and so how much of it
        # is Python starting up rather than downloading at the cap.
        (tmp_path / "ref").mkdir()
        ref = station_toml(tmp_path / "ref" / "station.toml", mirror, key)
        t = time.monotonic()
        assert (await (await start_sync(ref)).wait()) == 0
        full = time.monotonic() - t
        start_up = max(0.2, full - COURSES * COURSE_BYTES / RATE)

        (tmp_path / "st").mkdir()
        toml = station_toml(tmp_path / "st" / "station.toml", mirror, key)
        data_dir = tmp_path / "st" / "data"
        kills = attempts = mid_download = 0
        moments = []
        # Each run is cut at a random moment between its start and when it would end (start-up,
        # then what is left to fetch at the cap, then the install): 0 to `full` for the first.
        # At least KILLS cuts, some of them while a file was arriving.
        while kills < KILLS or mid_download < 3:
            attempts += 1
            assert attempts <= 3 * KILLS, (
                f"seed {seed}: only {kills} cuts ({mid_download} mid-download) in {attempts} runs"
            )
            left = left_to_fetch(data_dir, versions[max(versions)])
            delay = rng.uniform(0, start_up + left / RATE + 0.3)
            before = downloaded(data_dir)
            proc = await start_sync(toml)
            t = time.monotonic()
            finished = True
            try:
                await asyncio.wait_for(proc.wait(), delay)
            except TimeoutError:
                try:
                    proc.kill()  # SIGKILL: no finally, no atexit, like pulling the plug
                    finished = False
                except ProcessLookupError:
                    pass  # it ended in the same instant: count it as finished
                await proc.wait()
            if not finished:
                kills += 1
                moments.append(round(delay, 2))
                mid_download += downloaded(data_dir) != before
            else:
                start_up = max(start_up, time.monotonic() - t - left / RATE)  # the machine may have slowed down
                # It finished first: the county publishes again (two courses replaced), so
                # there is always something to cut into — a new install, a collection.
                sim.courses = sim.courses[2:]
                for _ in range(2):
                    n += 1
                    new_course(sim, n)
                publish(sim, served, versions)
            check_consistent(data_dir, versions, f"seed {seed}, after cuts at {moments}")

        code, out, err = await run_cli_async("station", "--config", str(toml), "sync", "--once")
    why = f"seed {seed}, cuts at {moments}"
    assert code == 0, f"{why}: {out}{err}"
    installed = check_consistent(data_dir, versions, why)
    latest = max(versions)
    assert installed["index_version"] == latest and installed["complete"]
    assert {c["id"]: c["media"] for c in installed["courses"]} == versions[latest], why
    # Everything the latest version needs is there and nothing else (collection ran).
    assert sorted(str(p.relative_to(data_dir)) for p in (data_dir / "media").rglob("*.mp4")) == sorted(
        versions[latest].values()
    )
    code, out, err = await run_cli_async("station", "--config", str(toml), "status", "--json")
    assert code == 0 and json.loads(out)["complete"], err


async def test_an_unneeded_file_is_collected_when_its_grace_ends_with_nothing_new(tmp_path):
    """A course dropped by the county stays for the grace period, then goes — also when no new
    version arrives after that (the usual case), and when a cut came between install and
    collection."""
    sim = RepositorySimulator()
    for n in range(2):
        new_course(sim, n)
    sim.publish()
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        assert (await st.sync()).complete
        dropped = sim.courses.pop(0).renditions["stb-sd"]
        sim.publish()
        assert (await st.sync()).complete
        assert st.store.blob_path(dropped.path).exists()  # within the grace period
        st.cfg = dataclasses.replace(st.cfg, keep_unreferenced_days=0)  # ...which has now passed
        report = await st.sync()
    assert report.up_to_date
    assert not st.store.blob_path(dropped.path).exists()
    assert [c.media for c in st.store.courses()] == [sim.courses[0].renditions["stb-sd"].path]
