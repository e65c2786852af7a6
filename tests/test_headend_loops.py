"""The headend's background loops cannot die silently: a pass that meets an unexpected error is
logged once (with its traceback), shown as failed with its reason on /county and in
/api/v1/health, retried after a back-off, and shown as working again once the cause is gone."""

from __future__ import annotations

import asyncio
import logging
import shutil

from headend.config import load_config
from headend.web.app import create_app
from headend.web.keys import HEADEND, LOOPS
from tests.conftest import init_headend, make_clip
from tests.county_kit import login_admin
from tests.outage import database_outage, short_busy_timeout


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
    client = await login_admin(await aiohttp_client(create_app(load_config(root))), root)
    assert (await _wait_for(client, "inbox", "running"))["state"] == "running"
    inbox = root / "inbox"
    shutil.rmtree(inbox)
    inbox.write_text("someone replaced the shared folder with a file")  # every pass now fails
    with caplog.at_level(logging.ERROR, logger="headend.loops.status"):
        status = await _wait_for(client, "inbox", "failed")
        assert status["state"] == "failed" and "inbox" in status["last_error"] and status["last_error_at"]
        page = await (await client.get("/county/publishing")).text()
        assert 'id="loop-inbox" data-state="failed"' in page and "出错（自动重试）" in page and "inbox" in page
        assert not (await (await client.get("/api/v1/health")).json())["ok"]
        await asyncio.sleep(2.5)  # a few more failed passes: still one log record with a traceback
        logged = [r for r in caplog.records if "inbox" in r.getMessage()]
        assert len(logged) == 1 and logged[0].exc_info is not None
    inbox.unlink()
    inbox.mkdir()
    status = await _wait_for(client, "inbox", "running", seconds=40)
    assert status["state"] == "running" and status["last_success"]
    page = await (await client.get("/county/publishing")).text()
    assert 'id="loop-inbox" data-state="running"' in page
    assert (await (await client.get("/api/v1/health")).json())["ok"]


async def test_job_worker_survives_a_database_error_and_recovers(tmp_path, aiohttp_client, headend_db, monkeypatch):
    short_busy_timeout(monkeypatch)
    root = init_headend(tmp_path / "headend", headend_db)
    client = await login_admin(await aiohttp_client(create_app(load_config(root))), root)
    assert (await _wait_for(client, "jobs", "running"))["state"] == "running"
    with database_outage(root, headend_db):  # a real failure: the worker's next claim is refused
        status = await _wait_for(client, "jobs", "failed")
        assert status["state"] == "failed" and "database" in status["last_error"], status
        resp = await client.get("/county/publishing")
        if headend_db.name == "sqlite":  # reads still work under SQLite's write lock: the page shows the loop
            assert 'id="loop-jobs" data-state="failed"' in await resp.text() and "出错（自动重试）" in await resp.text()
        else:  # PostgreSQL refuses every connection: the page is a 503 saying what to do
            assert resp.status == 503 and "PostgreSQL" in await resp.text()
        assert not (await (await client.get("/api/v1/health")).json())["ok"]
    status = await _wait_for(client, "jobs", "running", seconds=40)
    assert status["state"] == "running" and status["failures"] == 0


async def test_a_job_the_database_fails_under_is_queued_again_and_finished(
    tmp_path, aiohttp_client, headend_db, monkeypatch
):
    from headend.courseware.prepare import prepare

    short_busy_timeout(monkeypatch)
    root = init_headend(tmp_path / "headend", headend_db)
    clip = make_clip(tmp_path / "长课.mp4", seconds=30)
    app = create_app(load_config(root))
    client = await login_admin(await aiohttp_client(app), root)
    h = app[HEADEND]
    job = await h.ingester.submit(await prepare(h.cfg, clip, {"title": "长课", "category": "culture"}), "watch")
    while (await asyncio.to_thread(h.db.jobs.recent))[0].state != "running":
        await asyncio.sleep(0.05)
    with database_outage(root, headend_db):
        status = await _wait_for(client, "jobs", "failed", seconds=120)
        assert status["state"] == "failed", status
        for _ in range(300):  # the transcode goes on; it stops where it must write to the database
            status = await _wait_for(client, "jobs", "failed")
            if "queued again once the database answers" in (status["last_error"] or ""):
                break
            await asyncio.sleep(0.2)
        assert f"job {job.id}" in status["last_error"] and "queued again" in status["last_error"], status
    for _ in range(600):
        again = (await asyncio.to_thread(h.db.jobs.recent))[0]
        if again.state in ("done", "failed"):
            break
        await asyncio.sleep(0.2)
    assert (again.id, again.state, again.attempts) == (job.id, "done", 2), again
    assert (await _wait_for(client, "jobs", "running"))["failures"] == 0


async def test_two_worker_lanes_have_a_status_each(tmp_path, aiohttp_client, headend_db, monkeypatch):
    short_busy_timeout(monkeypatch)
    root = init_headend(tmp_path / "headend", headend_db)
    toml = root / "headend.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("concurrent_jobs = 1", "concurrent_jobs = 2"), "utf-8")
    app = create_app(load_config(root))
    client = await login_admin(await aiohttp_client(app), root)
    for lane in ("jobs-1", "jobs-2"):
        assert (await _wait_for(client, lane, "running"))["state"] == "running"
    page = await (await client.get("/county/publishing")).text()
    assert 'id="loop-jobs-1"' in page and 'id="loop-jobs-2"' in page and "转码队列 2" in page
    lanes = [s for s in app[LOOPS] if s.name.startswith("jobs-")]
    lanes[0].failed(RuntimeError("lane one lost its job"))
    lanes[1].ok()  # the other lane's success does not clear it (checked before lane one's next pass can)
    assert (lanes[0].state, lanes[1].state) == ("failed", "running")
    with database_outage(root, headend_db):
        for lane in ("jobs-1", "jobs-2"):
            assert (await _wait_for(client, lane, "failed"))["state"] == "failed"
        health = await (await client.get("/api/v1/health")).json()
        assert not health["ok"]
    for lane in ("jobs-1", "jobs-2"):
        assert (await _wait_for(client, lane, "running", seconds=40))["failures"] == 0
    # every other loop the outage met is back too once its back-off has passed (the rating loop's
    # first pass may have been running when the database went away)
    for other in [s.name for s in app[LOOPS] if not s.name.startswith("jobs-")]:
        assert (await _wait_for(client, other, "running", seconds=90))["state"] in ("starting", "running"), other
    assert (await (await client.get("/api/v1/health")).json())["ok"]


async def test_health_is_not_ok_once_a_loop_has_stopped(tmp_path, aiohttp_client, headend_db):
    root = init_headend(tmp_path / "headend", headend_db)
    app = create_app(load_config(root))
    client = await login_admin(await aiohttp_client(app), root)
    assert (await _wait_for(client, "jobs", "running"))["state"] == "running"
    assert (await (await client.get("/api/v1/health")).json())["ok"]
    next(s for s in app[LOOPS] if s.name == "inbox").stopped("the loop ended by itself; restart the headend")
    health = await (await client.get("/api/v1/health")).json()
    assert not health["ok"]


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
