"""End-to-end reporting, both programs real: a headend (its own app, as ``headend serve`` runs it,
on 127.0.0.1 port 0) with one enrolled station; a station folder whose ``station.toml`` reports to
it (or to a proxy in front of it); events recorded through the station's own ``Attendance`` on a
clock the test moves; ``station report --once`` run as a process; and reads of both sides — the
station's journal files as docs/reporting.md describes them, the headend's database through its
own database layer (no SQL here)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import aiohttp

from headend.config import load_config as load_headend_config
from headend.web.app import create_app as create_headend_app
from playlists.schedule import CHINA
from station.errors import StationError
from station.records.attendance import Attendance
from tests.conftest import ROOT, init_headend, run_cli, serve
from tests.county_kit import cookie_jar, login_admin
from tests.headend_db import database

STATION_ID = "ceshi-baogao"


class Clock:
    """A box's wall clock the test sets and moves (epoch seconds)."""

    def __init__(self, at: float | None = None) -> None:
        self.t = time.time() if at is None else at

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Headend:
    root: Path
    url: str  # http://127.0.0.1:PORT
    station: str
    token: str

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1/"


def enrol(root: Path, station: str = STATION_ID) -> str:
    """``headend station add``; the enrolment token it prints."""
    res = run_cli("headend", "station", "add", "--root", str(root), station, "--region", "广东省/测试县/测试镇/报告村")
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1].strip()


@asynccontextmanager
async def running_headend(root: Path, headend_db, station: str = STATION_ID) -> AsyncIterator[Headend]:
    """A new headend root on the test's engine with ``station`` enrolled, served on 127.0.0.1."""
    init_headend(root, headend_db)
    token = enrol(root, station)
    app = create_headend_app(load_headend_config(root), background_loops=False)
    async with serve(app) as url:
        yield Headend(root, url, station, token)


STATION_TOML = """[station]
id = "{id}"
name = "测试县报告村远教站点"
region = ["广东省", "测试县", "测试镇", "报告村"]
player = "stb-sd"
data_dir = "data"

[sync]
mirrors = ["{mirror}"]
trusted_keys = ["{key}"]
interval_s = 300
timeout_s = 5
reserve_free_mb = 0

[report]
url = "{url}"
token = "{token}"

[ui]
host = "127.0.0.1"
port = {port}
admin_pin = "246813"
"""


def station_folder(folder: Path, h: Headend, report_url: str | None = None, ui_port: int = 8080) -> Path:
    """A station in ``folder`` (data in ``folder/data``) reporting to ``report_url`` (the
    headend's ``/api/v1/`` unless a proxy is put in between), its TV page on ``ui_port`` (opened
    only by ``station serve``); its station.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    toml = folder / "station.toml"
    toml.write_text(
        STATION_TOML.format(
            id=h.station,
            mirror=f"{h.url}/repo/",
            key=h.root / "keys" / "headend.pub",
            url=report_url or h.api,
            token=h.token,
            port=ui_port,
        ),
        encoding="utf-8",
    )
    return toml


def report_url(base: str) -> str:
    """The ``[report] url`` for a server (or proxy) at ``base``."""
    return f"{base}/api/v1/"


def set_report_url(toml: Path, url: str) -> None:
    text = toml.read_text(encoding="utf-8")
    head, _, rest = text.partition('[report]\nurl = "')
    toml.write_text(head + '[report]\nurl = "' + url + rest[rest.index('"') :], encoding="utf-8")


# ---- the station's process -----------------------------------------------------------------------


def station_argv(toml: Path, *args: str, box_time: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line (and environment) of ``station --config TOML ARGS``; ``box_time`` runs it
    under faketime from that wall time on (its monotonic clock stays the machine's)."""
    argv = [sys.executable, "-m", "station.cli", "--config", str(toml), *args]
    env = dict(os.environ)
    if box_time is not None:
        argv = ["faketime", box_time, *argv]
        env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    return argv, env


async def report_once(toml: Path, *, box_time: str | None = None, timeout_s: float = 120) -> tuple[int, str, str]:
    """``station report --once`` as a process, without blocking the servers on this loop."""
    argv, env = station_argv(toml, "report", "--once", box_time=box_time)
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout_s)
    return proc.returncode, out.decode(), err.decode()


async def report_until_done(toml: Path, attempts: int = 40, **kw) -> tuple[int, list[str]]:
    """``station report --once`` again until it exits 0 (a flaky link); how many runs it took and
    what each printed. Fails after ``attempts`` runs."""
    said = []
    for n in range(1, attempts + 1):
        rc, out, err = await report_once(toml, **kw)
        said.append(f"run {n}: exit {rc}: {out.strip()} {err.strip()[-600:]}")
        if rc == 0:
            return n, said
        await asyncio.sleep(0.05)
    raise AssertionError("station report --once never finished:\n" + "\n".join(said[-6:]))


# ---- recording on the station -------------------------------------------------------------------

CLIENTS = [f"192.168.1.{i}" for i in range(10, 20)]
COURSES = [
    ("c-goose", "雨季养鹅技术", 600.0),
    ("c-rice", "水稻病虫害防治", 45.0),
    ("c-land", "农村土地承包法解读", 900.0),
]


def record(att, clock: Clock, n: int, rng: random.Random, spread_s: float = 60.0, plays: float = 0.5) -> int:
    """About ``n`` events through the station's ``Attendance`` (study sessions, a share ``plays``
    of plays of every length, logbook entries, wrong and right PINs, notice views), the clock
    moving ``spread_s`` on average between them; how many journal lines were written."""
    before = att.journal_usage().last_seq
    while att.journal_usage().last_seq - before < n:
        clock.advance(rng.expovariate(1 / spread_s))
        pick = rng.random()
        client = rng.choice(CLIENTS)
        if pick < 0.02 and not att.current_session():
            try:
                att.start_session("农业技术", "李明", rng.randrange(3, 40), source="admin")
            except StationError:  # the day's sessions are used up
                continue
            course, title, duration = COURSES[0]
            pid = att.start_play(course, title, duration, client=client)
            clock.advance(rng.choice((120.0, 400.0)))  # under MIN_SESSION_S or over: kept, counted or not
            att.end_play(pid, 100.0, 100.0)
            att.end_session()
        elif pick < 0.05 + plays:
            course, title, duration = rng.choice(COURSES)
            pid = att.start_play(course, title, duration, client=client)
            seconds = rng.choice((5.0, 59.0, 61.0, 300.0, duration))
            clock.advance(seconds)
            att.end_play(pid, min(seconds, duration), seconds, ended=seconds >= duration)
        elif pick < 0.05 + plays + (0.95 - plays) * 0.45:
            att.write_log(f"第{rng.randrange(1, 999)}次检查：设备正常，已打扫活动室。", "李明")
        elif pick < 0.05 + plays + (0.95 - plays) * 0.8:
            att.admin_login(rng.random() < 0.7, client)
        else:
            att.notice_view(f"n-{rng.randrange(1, 4)}", rng.choice(("tv", "admin")), client)
    return att.journal_usage().last_seq - before


@contextmanager
def unsynced_disk() -> Iterator[None]:
    """Record in bulk without waiting for the disk: ``os.fsync`` is skipped in this process while
    the test writes its journal (how durable the recording is is not what a bulk test tests; the
    station processes it starts are untouched)."""
    real = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = real


def attendance(data_dir: Path, clock: Clock) -> Attendance:
    return Attendance(data_dir, clock=clock)


# ---- reading both sides ----------------------------------------------------------------------


def journal_lines(data_dir: Path) -> list[dict]:
    """Every readable line of the station's journal, in seq order."""
    out = []
    for path in (data_dir / "journal").glob("*.jsonl"):
        for line in path.read_bytes().splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if isinstance(e, dict) and isinstance(e.get("seq"), int):
                out.append(e)
    return sorted(out, key=lambda e: e["seq"])


def streams(data_dir: Path) -> list[dict]:
    """``journal/stream.json``'s streams (docs/reporting.md "Event identity")."""
    return json.loads((data_dir / "journal" / "stream.json").read_text(encoding="utf-8"))["streams"]


def journal_index(data_dir: Path) -> dict[tuple[str, int], dict]:
    """Every journal line by its key (stream, seq): a line belongs to the last stream whose
    ``from`` is at or below its seq."""
    ss = sorted(streams(data_dir), key=lambda s: s["from"])
    out = {}
    for e in journal_lines(data_dir):
        owner = [s["id"] for s in ss if s["from"] <= e["seq"]]
        assert owner, f"seq {e['seq']} lies before every stream of stream.json: {ss}"
        out[(owner[-1], e["seq"])] = e
    return out


def journal_keys(data_dir: Path) -> list[tuple[str, int]]:
    """(stream, seq) of every journal line, in seq order."""
    return list(journal_index(data_dir))


def held_events(root: Path, station: str = STATION_ID) -> list[dict]:
    """What the headend holds of a station, through its database layer."""
    with database(root) as db:
        return db.reports.events(station)


def held_keys(root: Path, station: str = STATION_ID) -> list[tuple[str, int]]:
    """(stream, seq) of every event the headend holds, sorted; a key held twice appears twice."""
    return sorted((e["stream"], e["seq"]) for e in held_events(root, station))


def held_count(root: Path, station: str = STATION_ID) -> int:
    with database(root) as db:
        return db.reports.event_count(station)


def held_stream(root: Path, stream: str, station: str = STATION_ID) -> tuple[int, int] | None:
    with database(root) as db:
        return db.reports.stream(station, stream)


async def days(h: Headend, first: date, last: date) -> list[dict]:
    """``GET /api/v1/stations/{id}/days``: every day in the range."""
    async with aiohttp.ClientSession(cookie_jar=cookie_jar()) as s:
        await login_admin(s, h.root, h.url)  # figures are for county accounts
        params = {"from": first.isoformat(), "to": last.isoformat()}
        async with s.get(f"{h.url}/api/v1/stations/{h.station}/days", params=params) as r:
            body = await r.json()
            assert r.status == 200, body
    return body["days"]


def reported(ds: list[dict]) -> dict[str, dict]:
    """The days a station reported on, by date."""
    return {d["day"]: d for d in ds if d.get("reported", True)}


def today() -> date:
    return datetime.now(CHINA).date()
