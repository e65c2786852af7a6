"""The live-class loop of `headend serve` (issue 16): a class due starts its encoder (the class's
own source); a class cancelled while on air goes off the air at the next pass (its ffmpeg
stopped); a class that merely reaches its end is left to finish by itself (its playlists closed,
its recording made — tests/tv/test_live_journey.py follows that through to the replay)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from headend.courseware.live import read_status
from headend.loops.live import LiveLoop
from headend.service import open_root
from headend.service.audit import Actor
from headend.service.live import add_live, cancel_live
from headend.service.publish_run import PublishRun
from playlists import Audience
from tests.conftest import init_headend

pytestmark = pytest.mark.one_engine
SOURCE = "lavfi:testsrc2=size=320x240:rate=25[out0];sine=frequency=440[out1]"


@pytest.fixture
def h(tmp_path, headend_db):
    root = init_headend(tmp_path / "headend", headend_db)
    text = (root / "headend.toml").read_text(encoding="utf-8")
    (root / "headend.toml").write_text(text.replace("profiles = []", 'profiles = ["stb-sd"]'), encoding="utf-8")
    with open_root(root) as h:
        yield h


def encoders_of(live_id: str) -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if live_id in " ".join(p.cmdline())]


async def test_a_class_cancelled_on_air_goes_off_the_air_at_the_next_pass(h):
    now = datetime.now(UTC)
    add_live(h, Actor("test"), "dangke-loop", "直播党课", now + timedelta(seconds=1), 10, Audience(), source=SOURCE)
    loop = LiveLoop(h, PublishRun(), retry_s=3600)
    await loop.tick(now + timedelta(seconds=2))
    assert set(loop.encoders) == {"dangke-loop"}
    deadline = time.monotonic() + 30
    while (s := read_status(h.cfg, "dangke-loop")) is None or s.state != "running":
        assert time.monotonic() < deadline, s
        await asyncio.sleep(0.2)
    assert len(encoders_of("dangke-loop")) == 1
    await loop.tick(now + timedelta(seconds=5))  # still due: the same encoder, not a second one
    assert len(encoders_of("dangke-loop")) == 1
    cancel_live(h, Actor("test"), "dangke-loop")
    task = loop.encoders["dangke-loop"]
    await loop.tick(now + timedelta(seconds=6))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert loop.encoders == {} and encoders_of("dangke-loop") == []
    status = read_status(h.cfg, "dangke-loop")
    assert status.state == "failed" and "stopped" in status.last_error


async def test_a_class_at_its_end_is_left_to_finish_by_itself(h):
    now = datetime.now(UTC)
    add_live(h, Actor("test"), "dangke-end", "直播党课", now + timedelta(seconds=1), 1, Audience(), source=SOURCE)
    loop = LiveLoop(h, PublishRun(), retry_s=3600)
    await loop.tick(now + timedelta(seconds=2))
    task = loop.encoders["dangke-end"]
    await loop.tick(now + timedelta(minutes=2))  # past its end by the loop's clock: not due, not cancelled
    assert loop.encoders == {"dangke-end": task} and not task.done()
    task.cancel()  # (the class's own end is a minute away: the journey test waits for it)
    with pytest.raises(asyncio.CancelledError):
        await task
