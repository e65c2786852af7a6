"""The slow-retrieval attack (TUF specification): a mirror that sends one byte every few seconds
never trips ``[sync] timeout_s``, which waits for the *next* byte. Each download may instead fall
no more than ``[sync] slow_grace_s`` seconds' worth behind ``[sync] min_rate_bytes_per_s``, so a
file of n bytes takes at most ``grace + n / min_rate`` seconds from one mirror; a slower one is
abandoned, what it sent is kept, and the next mirror finishes the pass.

The numbers are scaled down (a byte every 0.2 s against a floor of 100 bytes/s after 1 s, instead
of a byte every 2 s against 1 KB/s after 30 s); the mechanism is the same. Each sync runs under a
generous guard (``GUARD_S``) only so that a station without the floor fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from aiohttp import web

from playlists import INDEX_NAME
from tests.conftest import run_cli_async, serve
from tests.repository_simulator import RepositorySimulator, Station
from tests.static_repo import StaticRepo, write_tree

DRIP_EVERY_S = 0.2  # one byte, then this long
GUARD_S = 60.0  # the drip would take days to send a file: only a station that gives up finishes
SLOW = {"min_rate_bytes_per_s": 100, "slow_grace_s": 1.0}


@pytest.fixture
def sim() -> RepositorySimulator:
    s = RepositorySimulator()
    for title in ("雨季养鹅技术", "冬季防火安全常识"):
        s.add_course(title, os.urandom(300_000))
    s.publish()
    return s


class Drip:
    """A mirror that answers the paths in ``drip`` with the right headers, then one byte every
    ``DRIP_EVERY_S`` (each byte resets the station's read timeout); everything else at once."""

    def __init__(self, sim: RepositorySimulator, drip: set[str] | None = None, burst: int = 0) -> None:
        self.sim, self.drip, self.burst = sim, drip, burst  # burst: bytes sent at once before the drip
        self.asked: list[str] = []
        self.sent: dict[str, int] = {}  # bytes dripped per path before the station hung up

    def drips(self, rel: str) -> bool:
        return rel.startswith("media/") if self.drip is None else rel in self.drip

    async def handle(self, request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"]
        if rel not in self.sim.files:
            raise web.HTTPNotFound()
        data = self.sim.files[rel]
        if not self.drips(rel):
            return web.Response(body=data)
        self.asked.append(rel)
        resp = web.StreamResponse()
        resp.content_length = len(data)
        await resp.prepare(request)
        try:
            await resp.write(data[: self.burst])
            for i in range(self.burst, len(data)):
                await resp.write(data[i : i + 1])
                self.sent[rel] = i + 1
                await asyncio.sleep(DRIP_EVERY_S)
        except (ConnectionResetError, RuntimeError):
            pass  # the station hung up: what the test wants
        return resp


async def mirrors_in_status(st: Station) -> list[dict]:
    code, out, err = await run_cli_async("station", "--config", str(st.cfg.path), "status", "--json")
    assert code == 0, err
    return json.loads(out)["mirrors"]


async def test_a_dripping_mirror_is_abandoned_and_the_next_one_finishes_the_pass(sim, tmp_path):
    drip = Drip(sim)
    app = web.Application()
    app.router.add_get("/repo/{path:.+}", drip.handle)
    good = StaticRepo(write_tree(sim.files, tmp_path / "served"))
    async with serve(app) as drip_base, good.served() as good_mirror:
        dripping = f"{drip_base}/repo/"
        (tmp_path / "st").mkdir()
        st = Station(tmp_path / "st", sim, [dripping, good_mirror], **SLOW)
        report = await asyncio.wait_for(st.sync(), GUARD_S)
    assert report.complete, report.failures
    assert report.mirror == dripping  # its index came quickly; only its media drip
    assert st.titles() == {"雨季养鹅技术", "冬季防火安全常识"}
    # Tried for one file only: once too slow, the mirror goes to the back for the rest of the pass.
    assert len(drip.asked) == 1, drip.asked
    first = drip.asked[0]
    assert 0 < drip.sent[first] < 100  # a few bytes of 300,000, then the station hung up
    # What the drip sent was kept: the good mirror was asked for the rest only.
    assert first in good.ranged()
    slow, ok = await mirrors_in_status(st)
    assert "too slow" in slow["last_error"] and first in slow["last_error"]
    assert "min_rate_bytes_per_s" in slow["last_error"]
    assert ok["last_success"] and not ok.get("last_error")


async def test_a_fast_start_buys_no_time_for_a_drip_after_it(sim, tmp_path):
    """Two thirds of the file at once, then a byte at a time: judged on its average since the
    start, the drip would run for (200,000 / 100) s; it is cut a grace period after it starts,
    not resumed from the same mirror, and the next mirror sends only the last third."""
    drip = Drip(sim, burst=200_000)
    app = web.Application()
    app.router.add_get("/repo/{path:.+}", drip.handle)
    good = StaticRepo(write_tree(sim.files, tmp_path / "served"))
    async with serve(app) as drip_base, good.served() as good_mirror:
        (tmp_path / "st").mkdir()
        st = Station(tmp_path / "st", sim, [f"{drip_base}/repo/", good_mirror], **SLOW)
        report = await asyncio.wait_for(st.sync(), GUARD_S)
    assert report.complete, report.failures
    assert len(drip.asked) == 1, drip.asked  # abandoned, not resumed from the dripping mirror
    first = drip.asked[0]
    assert 200_000 <= drip.sent[first] < 200_100
    assert good.requests[[p for p, _, _ in good.requests].index(first)][1] == f"bytes={drip.sent[first]}-"


async def test_a_dripping_index_is_abandoned_for_the_next_mirror(sim, tmp_path):
    """Small files have no declared size, only a cap (1 MiB for the index): the same floor
    bounds them."""
    drip = Drip(sim, {INDEX_NAME})
    app = web.Application()
    app.router.add_get("/repo/{path:.+}", drip.handle)
    good = StaticRepo(write_tree(sim.files, tmp_path / "served"))
    async with serve(app) as drip_base, good.served() as good_mirror:
        dripping = f"{drip_base}/repo/"
        (tmp_path / "st").mkdir()
        st = Station(tmp_path / "st", sim, [dripping, good_mirror], **SLOW)
        report = await asyncio.wait_for(st.sync(), GUARD_S)
    assert report.complete, report.failures
    assert report.mirror == good_mirror
    assert drip.asked == [INDEX_NAME] and drip.sent[INDEX_NAME] < len(sim.files[INDEX_NAME])
    slow, _ = await mirrors_in_status(st)
    assert "too slow" in slow["last_error"] and INDEX_NAME in slow["last_error"]
