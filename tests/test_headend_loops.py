"""The headend's background loops cannot die silently: a pass that meets an unexpected error is
logged once (with its traceback), shown as failed with its reason on /county and in
/api/v1/health, retried after a back-off, and shown as working again once the cause is gone."""

from __future__ import annotations

import asyncio
import logging
import shutil

from headend.config import load_config
from headend.web.app import create_app
from headend.web.keys import HEADEND
from tests.conftest import init_headend


async def _wait_for(client, name: str, state: str, seconds: float = 20) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        health = await (await client.get("/api/v1/health")).json()
        status = next(s for s in health["loops"] if s["name"] == name)
        if status["state"] == state or loop.time() > deadline:
            return status
        await asyncio.sleep(0.1)


async def test_inbox_watcher_survives_its_folder_vanishing_and_says_so(tmp_path, aiohttp_client, caplog, headend_db):
    root = init_headend(tmp_path / "headend", headend_db)
    client = await aiohttp_client(create_app(load_config(root)))
    assert (await _wait_for(client, "inbox", "running"))["state"] == "running"
    inbox = root / "inbox"
    shutil.rmtree(inbox)
    inbox.write_text("someone replaced the shared folder with a file")  # every pass now fails
    with caplog.at_level(logging.ERROR, logger="headend.loops.status"):
        status = await _wait_for(client, "inbox", "failed")
        assert status["state"] == "failed" and "inbox" in status["last_error"] and status["last_error_at"]
        page = await (await client.get("/county")).text()
        assert 'id="loop-inbox" data-state="failed"' in page and "出错（自动重试）" in page and "inbox" in page
        assert not (await (await client.get("/api/v1/health")).json())["ok"]
        await asyncio.sleep(2.5)  # a few more failed passes: still one log record with a traceback
        logged = [r for r in caplog.records if "inbox" in r.getMessage()]
        assert len(logged) == 1 and logged[0].exc_info is not None
    inbox.unlink()
    inbox.mkdir()
    status = await _wait_for(client, "inbox", "running", seconds=40)
    assert status["state"] == "running" and status["last_success"]
    page = await (await client.get("/county")).text()
    assert 'id="loop-inbox" data-state="running"' in page
    assert (await (await client.get("/api/v1/health")).json())["ok"]


async def test_job_worker_survives_a_database_error_and_recovers(tmp_path, aiohttp_client, headend_db):
    root = init_headend(tmp_path / "headend", headend_db)
    app = create_app(load_config(root))
    client = await aiohttp_client(app)
    assert (await _wait_for(client, "jobs", "running"))["state"] == "running"
    jobs = app[HEADEND].db.jobs
    real_claim = jobs.claim_next
    broken = {"on": True}

    def claim_next(owner: str):
        if broken["on"]:
            raise RuntimeError("disk I/O error (the test)")
        return real_claim(owner)

    jobs.claim_next = claim_next
    status = await _wait_for(client, "jobs", "failed")
    assert status["state"] == "failed" and "disk I/O error (the test)" in status["last_error"]
    page = await (await client.get("/county")).text()
    assert 'id="loop-jobs" data-state="failed"' in page and "disk I/O error (the test)" in page
    broken["on"] = False
    status = await _wait_for(client, "jobs", "running", seconds=40)
    assert status["state"] == "running" and status["failures"] == 0


async def test_a_loop_task_that_ends_anyway_is_logged_and_shown_stopped(caplog):
    from headend.loops.status import LoopStatus, watch_task

    async def dies() -> None:
        raise ValueError("a bug in the loop itself")

    status = LoopStatus("jobs", "转码队列")
    status.ok()
    task = asyncio.create_task(dies())
    watch_task(task, status)
    with caplog.at_level(logging.ERROR):
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)
    assert status.state == "stopped" and "a bug in the loop itself" in status.last_error
    assert "the loop died" in caplog.text and "ValueError" in caplog.text
