"""The collector's intake processes (``[serve] intake_workers``, headend/service/intake.py) and
the file lock that lines up SQLite writers of several processes (headend/db/engine.py): a worker
that dies costs the station one 503 and nothing else; refusals raised in a worker reach the
station as they would from the server itself; a writer in another process is waited for, in
turn, never run beside."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from headend.config import load_config
from headend.db.engine import create_engine, transaction
from headend.web.reports import INTAKE
from tests.conftest import init_headend
from tests.test_reports import A, collector, enrol, good, held_events


@pytest.fixture
def root(tmp_path, headend_db) -> Path:
    return init_headend(tmp_path / "headend", headend_db)


def workers_of(c) -> list[int]:
    pool = c.app[INTAKE]._pool
    assert pool is not None, "no intake process was started"
    return list(pool._processes)


async def test_batches_are_taken_in_the_intake_processes_not_the_server(root):
    token = enrol(root, A)
    async with collector(root) as c:
        status, answer, _ = await c.post(good(n=5), token)
        assert status == 200, answer
        pids = workers_of(c)
    assert load_config(root).intake_workers == 2 and 1 <= len(pids) <= 2 and os.getpid() not in pids
    assert [e["seq"] for e in held_events(root, A)] == [1, 2, 3, 4, 5]


async def test_a_killed_intake_process_costs_one_503_and_nothing_is_lost(root):
    token = enrol(root, A)
    async with collector(root) as c:
        status, answer, _ = await c.post(good(n=5), token)
        assert status == 200, answer
        killed = workers_of(c)
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        pool = c.app[INTAKE]._pool
        for _ in range(100):  # the pool notices its processes are gone
            if pool._broken:
                break
            await asyncio.sleep(0.05)
        more = good(n=5, after=5)
        status, answer, headers = await c.post(more, token)
        assert status == 503 and "send it again" in answer["error"] and headers["Retry-After"]
        assert [e["seq"] for e in held_events(root, A)] == [1, 2, 3, 4, 5]  # the refused batch: nothing of it
        status, answer, _ = await c.post(more, token)  # the station sends it again: new processes take it
        assert status == 200 and answer["held"] == 10 and answer["accepted"] == 5, answer
        assert set(workers_of(c)).isdisjoint(killed)
    assert sorted(e["seq"] for e in held_events(root, A)) == list(range(1, 11))


async def test_a_refusal_raised_in_an_intake_process_names_the_field(root):
    token = enrol(root, A)
    doc = good(n=3)
    doc["events"][1]["watched_s"] = "ten"
    doc["events"][1]["kind"] = "play"
    async with collector(root) as c:
        status, answer, _ = await c.post(doc, token)
        assert c.app[INTAKE]._pool is not None  # it was a worker that refused it
    assert status == 400 and answer["field"] == "events[1].watched_s", answer
    assert held_events(root, A) == []


HOLD = """
import fcntl, sys, time
with open(sys.argv[1], "a") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_sqlite_writer_waits_for_the_writer_of_another_process(tmp_path):
    """Another headend process (an intake worker, a command) holds the writers' lock: a write
    transaction here starts only once it lets go, then writes."""
    import sqlalchemy as sa

    engine = create_engine(sa.make_url(f"sqlite:///{tmp_path / 'h.db'}"))
    with transaction(engine, write=True) as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    lock = tmp_path / "h.db-writer.lock"
    assert lock.exists()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock), "1.0"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        t0 = time.monotonic()
        with transaction(engine, write=True) as conn:
            waited = time.monotonic() - t0
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        assert holder.wait(10) == 0
    finally:
        holder.kill()
    with transaction(engine) as conn:
        assert [r[0] for r in conn.exec_driver_sql("SELECT x FROM t")] == [2]
    assert waited >= 0.5, f"wrote after {waited:.2f} s, beside the other process's writer"
