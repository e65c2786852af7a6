"""The station's uploader against the real headend collector on loopback (both engines): a
backlog goes in few requests and is held exactly once, the cursor is the headend's ``held``, a
second ``report --once`` sends nothing new; a 413 halves the batch, a 429's Retry-After is
obeyed; a revoked token shows on ``station status`` and ``/admin`` and ``report --once`` exits 1."""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from catalogue.clocks import CHINA
from headend.config import load_config as load_headend_config
from headend.service import open_root
from headend.service.stations import add_station, revoke_station
from headend.web.app import create_app as create_headend
from station.config import load_config
from station.records.journal import Journal, read_acknowledged
from station.upload.run import Uploader
from tests.conftest import init_headend, run_cli_async, serve, write_station_toml
from tests.headend_db import database
from tests.report_batches import KINDS, body

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)

STATION = "test-station"


@pytest.fixture
def headend(tmp_path, headend_db) -> Path:
    return init_headend(tmp_path / "headend", headend_db)


def enrol(root: Path) -> str:
    with open_root(root) as h:
        return add_station(h, STATION, None, "广东省/肇庆市/高要市/蚬岗镇", "stb-sd")


def station_toml(tmp_path: Path, headend: Path, url: str, token: str, **report) -> Path:
    toml = write_station_toml(tmp_path / "station.toml", ["http://127.0.0.1:9/repo/"], headend / "keys" / "headend.pub")
    text = toml.read_text(encoding="utf-8")
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in report.items())
    text = text.replace(
        '[report]\nurl = "http://127.0.0.1:9/api/v1/"\ntoken = ""\n',
        f'[report]\nurl = "{url}"\ntoken = "{token}"\n{extra}',
    )
    toml.write_text(text, encoding="utf-8")
    return toml


def fill(journal_dir: Path, n: int, seed: int = 1) -> Journal:
    """``n`` real journal lines of every kind, a minute apart, ending now — or, in the first
    minutes of a China day, just before midnight: one day's journal file holds them all."""
    rnd = random.Random(seed)
    now = datetime.now(CHINA)
    start = now - timedelta(minutes=n + 1)
    if start.date() != now.date():
        start = datetime.combine(now.date(), datetime.min.time(), CHINA) - timedelta(minutes=n + 1)
    clock = [start.timestamp()]
    j = Journal(journal_dir, clock=lambda: clock[0])
    for i in range(n):
        at = start + timedelta(minutes=i)
        clock[0] = at.timestamp()
        kind = rnd.choice(KINDS)
        j.append(kind, **body(kind, at, rnd))
    return j


@contextlib.asynccontextmanager
async def collector(root: Path):
    app = create_headend(load_headend_config(root), background_loops=False)
    async with serve(app) as base:
        yield f"{base}/api/v1/"


def held(root: Path) -> list[tuple[str, int]]:
    with database(root) as db:
        return sorted((e["stream"], e["seq"]) for e in db.reports.events(STATION))


async def test_a_backlog_goes_in_few_requests_and_once(tmp_path, headend):
    token = enrol(headend)
    j = fill(tmp_path / "data" / "journal", 1200)
    async with collector(headend) as url:
        cfg = load_config(station_toml(tmp_path, headend, url, token))
        up = Uploader(cfg, Journal(cfg.data_dir / "journal"))
        async with aiohttp.ClientSession() as session:
            result = await up.run(session)
        assert result.ok and result.sent == 1200 and result.remaining == 0
        assert result.requests <= math.ceil(1200 / 500)
        assert read_acknowledged(cfg.data_dir / "journal") == 1200
        stream = j.stream_of(1).id
        assert held(headend) == [(stream, s) for s in range(1, 1201)]
        assert up.state.state == "ok" and up.state.offset_s is not None and abs(up.state.offset_s) < 60

        rc, out, err = await run_cli_async("station", "--config", str(cfg.path), "report", "--once")
        assert rc == 0, err
        assert out.strip() == "sent 0 events; 0 remain"
        assert len(held(headend)) == 1200

        rc, out, _ = await run_cli_async("station", "--config", str(cfg.path), "status", "--json")
        rep = json.loads(out)["reporting"]
        assert rep["state"] == "ok" and rep["backlog"] == 0 and rep["stream"] == stream
        assert rep["last_success"] and rep["offset_s"] is not None


async def test_report_once_sends_what_is_new_and_the_cursor_is_held(tmp_path, headend):
    token = enrol(headend)
    j = fill(tmp_path / "data" / "journal", 30)
    async with collector(headend) as url:
        toml = station_toml(tmp_path, headend, url, token)
        rc, out, err = await run_cli_async("station", "--config", str(toml), "report", "--once")
        assert (rc, out.strip()) == (0, "sent 30 events; 0 remain"), err
        j.append("logbook", text="新的一条", author="王")
        rc, out, _ = await run_cli_async("station", "--config", str(toml), "report", "--once")
        assert (rc, out.strip()) == (0, "sent 1 events; 0 remain")
        assert [s for _, s in held(headend)] == list(range(1, 32))


async def test_a_copied_journal_sends_its_new_events_on_a_new_stream(tmp_path, headend):
    import shutil

    token = enrol(headend)
    fill(tmp_path / "data" / "journal", 20)
    async with collector(headend) as url:
        toml = station_toml(tmp_path, headend, url, token)
        assert (await run_cli_async("station", "--config", str(toml), "report", "--once"))[0] == 0
        # The box's data dir is restored from a copy taken now; the copy writes on.
        shutil.copytree(tmp_path / "data", tmp_path / "restored")
        shutil.rmtree(tmp_path / "data")
        (tmp_path / "restored").rename(tmp_path / "data")
        j = Journal(tmp_path / "data" / "journal")
        j.append("logbook", text="恢复之后", author="王")
        rc, out, err = await run_cli_async("station", "--config", str(toml), "report", "--once")
        assert (rc, out.strip()) == (0, "sent 1 events; 0 remain"), err
        streams = {s for s, _ in held(headend)}
        assert len(streams) == 2 and len(held(headend)) == 21


class Gate:
    """A front for the real collector that answers 413 to bodies over ``max_body`` and 429 with
    ``Retry-After`` to the first ``busy`` requests: what a proxy or a loaded headend does."""

    def __init__(self, upstream: str, max_body: int = 0, busy: int = 0, retry_after: str = "7") -> None:
        self.upstream, self.max_body, self.busy, self.retry_after = upstream, max_body, busy, retry_after
        self.sizes: list[int] = []
        self.answers: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        data = await request.read()  # aiohttp has inflated it: forwarded as plain JSON
        self.sizes.append(int(request.headers["Content-Length"]))  # the gzip bytes on the wire
        if self.busy:
            self.busy -= 1
            self.answers.append(429)
            return web.json_response(
                {"ok": False, "error": "slow down"}, status=429, headers={"Retry-After": self.retry_after}
            )
        if self.max_body and len(data) > self.max_body:
            self.answers.append(413)
            return web.json_response({"ok": False, "error": "body over the limit"}, status=413)
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        async with aiohttp.ClientSession() as s, s.post(self.upstream + "reports", data=data, headers=headers) as r:
            self.answers.append(r.status)
            return web.Response(body=await r.read(), status=r.status, content_type="application/json")


@contextlib.asynccontextmanager
async def gate(g: Gate):
    app = web.Application(client_max_size=1 << 22)
    app.router.add_post("/api/v1/reports", g.handle)
    async with serve(app) as base:
        yield f"{base}/api/v1/"


async def test_a_413_halves_the_batch_until_it_fits(tmp_path, headend):
    token = enrol(headend)
    fill(tmp_path / "data" / "journal", 600)
    async with collector(headend) as url:
        g = Gate(url, max_body=6000)
        async with gate(g) as front:
            cfg = load_config(station_toml(tmp_path, headend, front, token))
            up = Uploader(cfg, Journal(cfg.data_dir / "journal"))
            async with aiohttp.ClientSession() as session:
                result = await up.run(session)
        assert result.ok and result.remaining == 0, up.state.last_error
        assert g.answers[0] == 413 and 200 in g.answers
        assert max(s for s, a in zip(g.sizes, g.answers, strict=True) if a == 200) <= 6000
        assert len(held(headend)) == 600


async def test_a_429_is_waited_out_as_retry_after_says(tmp_path, headend):
    from station.upload.loop import UploadLoop

    token = enrol(headend)
    fill(tmp_path / "data" / "journal", 10)
    async with collector(headend) as url:
        g = Gate(url, busy=1, retry_after="7")
        async with gate(g) as front:
            cfg = load_config(station_toml(tmp_path, headend, front, token))
            loop = UploadLoop(cfg, None, Journal(cfg.data_dir / "journal"))
            async with aiohttp.ClientSession() as session:
                wait = await loop.one_pass(session)
                assert wait == 7.0 and loop.uploader.state.error_kind == "busy"
                assert loop.uploader.state.next_attempt is not None
                assert await loop.one_pass(session) == 0.0
        assert g.answers == [429, 200] and len(held(headend)) == 10


async def test_a_revoked_token_says_what_to_do_everywhere(tmp_path, headend):
    token = enrol(headend)
    with open_root(headend) as h:
        revoke_station(h, STATION)
    fill(tmp_path / "data" / "journal", 5)
    async with collector(headend) as url:
        toml = station_toml(tmp_path, headend, url, token)
        rc, out, err = await run_cli_async("station", "--config", str(toml), "report", "--once")
        assert rc == 1 and out.strip() == "sent 0 events; 5 remain"
        assert "revoked" in err and "token" in err
        rc, out, _ = await run_cli_async("station", "--config", str(toml), "status")
        assert "REVOKED" in out and "headend station token --rotate" in out
        rc, out, _ = await run_cli_async("station", "--config", str(toml), "status", "--json")
        assert json.loads(out)["reporting"]["state"] == "revoked"
    assert held(headend) == []


async def test_unreachable_headend_exits_1_and_keeps_the_events(tmp_path, headend):
    from tests.conftest import dead_url

    fill(tmp_path / "data" / "journal", 5)
    toml = station_toml(tmp_path, headend, dead_url("/api/v1/"), "sometoken")
    rc, out, err = await run_cli_async("station", "--config", str(toml), "report", "--once")
    assert rc == 1 and out.strip() == "sent 0 events; 5 remain"
    assert "cannot be reached" in err
    assert read_acknowledged(tmp_path / "data" / "journal") == 0


async def test_lines_lost_in_the_middle_do_not_hold_the_cursor_back(tmp_path, headend):
    from station.records.journal import segments

    token = enrol(headend)
    fill(tmp_path / "data" / "journal", 40)
    (_, _, path), *_ = segments(tmp_path / "data" / "journal")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(ln for ln in lines if b'"seq":17,' not in ln))  # a disk error took one line
    async with collector(headend) as url:
        toml = station_toml(tmp_path, headend, url, token)
        rc, out, err = await run_cli_async("station", "--config", str(toml), "report", "--once")
        assert (rc, out.strip()) == (0, "sent 39 events; 0 remain"), err
    assert read_acknowledged(tmp_path / "data" / "journal") == 40
    assert [s for _, s in held(headend)] == [s for s in range(1, 41) if s != 17]


async def test_a_restore_the_inode_check_misses_renews_the_stream_on_the_headends_word(tmp_path, headend):
    """An SD card image written back (same inodes): the journal holds less than the headend saw."""
    from station.records.journal import segments

    token = enrol(headend)
    jdir = tmp_path / "data" / "journal"
    fill(jdir, 30)
    (_, _, path), *_ = segments(jdir)
    image = path.read_bytes().splitlines(keepends=True)[:20]  # the image was taken at seq 20
    async with collector(headend) as url:
        toml = station_toml(tmp_path, headend, url, token)
        assert (await run_cli_async("station", "--config", str(toml), "report", "--once"))[0] == 0
        with open(path, "r+b") as f:  # written back in place, as dd does: the inodes stay
            f.write(b"".join(image))
            f.truncate()
        (jdir / "acknowledged.json").write_text('{"seq": 10}')
        old = Journal(jdir).stream_of(20)
        rc, out, err = await run_cli_async("station", "--config", str(toml), "report", "--once")
        assert rc == 0, err
        j = Journal(jdir)
        new = j.stream_of(21)
        assert new is not None and new.id != old.id and new.start == 21
        j.append("logbook", text="恢复之后的第一条", author="王")
        rc, out, err = await run_cli_async("station", "--config", str(toml), "report", "--once")
        assert (rc, out.strip()) == (0, "sent 1 events; 0 remain"), err
    keys = held(headend)
    assert (new.id, 21) in keys and len(keys) == 31  # seq 21 of the old stream and of the new one both kept


async def test_two_report_once_at_the_same_time_send_the_backlog_once(tmp_path, headend):
    import asyncio

    token = enrol(headend)
    fill(tmp_path / "data" / "journal", 1500)
    async with collector(headend) as url:
        toml = station_toml(tmp_path, headend, url, token)
        runs = await asyncio.gather(
            *(run_cli_async("station", "--config", str(toml), "report", "--once") for _ in range(2))
        )
    assert [rc for rc, _, _ in runs] == [0, 0], runs
    assert sorted(out.strip() for _, out, _ in runs) == ["sent 0 events; 0 remain", "sent 1500 events; 0 remain"]
    with database(headend) as db:
        assert db.reports.stream(STATION, Journal(tmp_path / "data" / "journal").stream_of(1).id) == (1500, 1500)


async def test_max_rate_paces_the_upload_to_the_cap(tmp_path, headend):
    """[report] max_rate_bytes_per_s keeps the village link free for the TV and the sync: the
    batches of a backlog are spaced so the bytes sent never run ahead of the cap (a lower bound on
    the time: a slow machine only makes it longer)."""
    token = enrol(headend)
    fill(tmp_path / "data" / "journal", 1500)
    rate = 8_000
    async with collector(headend) as url:
        cfg = load_config(station_toml(tmp_path, headend, url, token, max_rate_bytes_per_s=rate))
        up = Uploader(cfg, Journal(cfg.data_dir / "journal"))
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            result = await up.run(session)
            took = time.monotonic() - started
    assert result.ok and result.sent == 1500 and result.requests == 3
    # every batch but the last waits its own size at the cap before the next may go
    assert took >= 0.8 * (result.bytes_sent * 2 / 3) / rate, (took, result.bytes_sent)
    assert len(held(headend)) == 1500
