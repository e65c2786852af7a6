"""The job queue across hosts and through database failures: a job on another host is left to
its process while its heartbeat is fresh and queued again once it is old; progress and
heartbeat writes that fail never fail a job; a job the database failed under is queued again."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3

import pytest
import sqlalchemy as sa

from headend.courseware.processes import host_id, is_alive, process_tag
from headend.courseware.progress import JobProgress
from headend.db import Database
from headend.db.schema import jobs


def _running(db: Database, owner: str) -> int:
    job = db.jobs.enqueue("/x.mp4", "x.mp4", "a" * 64, {"title": "x"}, "watch")
    assert db.jobs.claim_next(owner).id == job.id
    return job.id


def test_a_process_tag_names_this_host_and_boot():
    tag = process_tag()
    assert tag.startswith(f"{os.getpid()}:") and tag.endswith(f"@{host_id()}")
    assert is_alive(tag) is True
    assert is_alive(tag.partition("@")[0]) is True  # a tag from before hosts were recorded: this machine's
    assert is_alive(f"{tag.partition('@')[0]}@{host_id().partition('/')[0]}/00000000") is False  # an earlier boot
    assert is_alive("4242:1@another-host/12345678") is None  # cannot tell from here
    assert is_alive("not a tag") is False


def test_a_job_on_another_host_is_requeued_only_when_its_heartbeat_is_old(tmp_path, headend_db):
    db = Database.open(headend_db.new_url(), tmp_path / "headend.db")
    try:
        elsewhere = _running(db, "4242:1700000000@another-host/12345678")
        assert db.jobs.recover_interrupted(is_alive) == []  # fresh heartbeat: its process is at it
        db.jobs.heartbeat(elsewhere)
        assert db.jobs.recover_interrupted(is_alive) == []
        with db.engine.begin() as conn:  # that host went quiet eleven minutes ago
            conn.execute(jobs.update().where(jobs.c.id == elsewhere).values(heartbeat_at="2000-01-01T00:00:00Z"))
        assert db.jobs.recover_interrupted(is_alive) == [elsewhere]
        assert [(j.id, j.state, j.owner) for j in db.jobs.recent()] == [(elsewhere, "queued", "")]
    finally:
        db.close()


def test_a_job_of_a_dead_process_here_is_requeued_at_once(tmp_path, headend_db):
    db = Database.open(headend_db.new_url(), tmp_path / "headend.db")
    try:
        mine = _running(db, process_tag())
        assert db.jobs.recover_interrupted(is_alive) == []  # this process: alive
        dead = f"999999999:1@{host_id()}"
        with db.engine.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.id == mine).values(owner=dead))
        assert db.jobs.recover_interrupted(is_alive) == [mine]
    finally:
        db.close()


@pytest.fixture
def locked_sqlite(tmp_path, monkeypatch):
    """A SQLite headend database and a way to hold its write lock from another connection (a
    real failure: every write the headend makes meanwhile is refused as busy after 0.3 s)."""
    from headend.db import engine

    monkeypatch.setattr(engine, "BUSY_TIMEOUT_MS", 300)
    db = Database.open("", tmp_path / "headend.db")
    holder = sqlite3.connect(tmp_path / "headend.db", isolation_level=None)
    yield db, holder
    holder.close()
    db.close()


async def test_a_progress_write_that_fails_never_ends_the_flush_loop(locked_sqlite, caplog):
    db, holder = locked_sqlite
    job_id = _running(db, process_tag())
    progress = JobProgress(db.jobs, job_id, {"transcode": 1.0}, None)
    flusher = asyncio.create_task(progress.flush_loop(every_s=0.05))
    holder.execute("BEGIN EXCLUSIVE")
    with caplog.at_level(logging.WARNING, logger="headend.courseware.progress"):
        progress.enter("transcode")
        for n in range(1, 4):
            progress.update(n / 4)
            await asyncio.sleep(0.5)
    assert not flusher.done(), "the flush loop died"
    assert len([r for r in caplog.records if "cannot record its progress" in r.getMessage()]) == 1
    holder.execute("COMMIT")
    await asyncio.sleep(0.5)
    flusher.cancel()
    await asyncio.gather(flusher, return_exceptions=True)
    job = db.jobs.recent()[0]
    assert job.stage == "transcode" and job.percent == pytest.approx(75, abs=1)


def test_a_job_record_is_read_only(tmp_path):
    db = Database.open("", tmp_path / "headend.db")
    try:
        job = db.jobs.enqueue("/x.mp4", "x.mp4", "a" * 64, {"title": "x"}, "watch")
        with pytest.raises(TypeError):
            job.meta["title"] = "changed"  # type: ignore[index]
        assert job.transcoded == () and job.to_dict()["meta"] == {"title": "x"}
    finally:
        db.close()


def test_jobs_table_has_its_heartbeat_after_migration(tmp_path, headend_db):
    db = Database.open(headend_db.new_url(), tmp_path / "headend.db")
    try:
        with db.engine.connect() as conn:
            assert "heartbeat_at" in {c["name"] for c in sa.inspect(conn).get_columns("jobs")}
    finally:
        db.close()
