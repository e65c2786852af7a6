"""The transcoding job queue, kept in the headend's SQLite so it survives a restart.

A job is one accepted courseware file (validated already; see ``headend.ingest.prepare``). States::

    queued ──claim──► running ──► done
       ▲                 │  └───► failed   (message + ffmpeg's last lines kept)
       └── recover ──────┘   the process that ran it died: back to the queue, started cleanly

Progress (stage, percent, ETA) is written at most once a second while a job runs; the CLI shows
it as a bar and ``/county/courses`` as a live row. The ``Worker`` runs ``concurrency`` jobs at a
time (default 1: a 2-core box has no spare core for a second x264).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from dataclasses import dataclass
from typing import Awaitable, Callable

import psutil

from headend.db import Database, now_iso

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_path TEXT NOT NULL,       -- the file being ingested (absolute)
    source_name TEXT NOT NULL,       -- its name as the editor gave it
    source_sha256 TEXT NOT NULL,
    meta TEXT NOT NULL,              -- JSON: title, category, series, episode, …
    origin TEXT NOT NULL,            -- 'cli' or 'watch'
    state TEXT NOT NULL,             -- queued, running, done, failed
    owner TEXT NOT NULL DEFAULT '',  -- 'pid:start-time' of the process running it
    attempts INTEGER NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT '',
    percent REAL NOT NULL DEFAULT 0,
    eta_s REAL,
    message TEXT NOT NULL DEFAULT '',
    log_tail TEXT NOT NULL DEFAULT '',
    course_id TEXT,
    transcoded TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
-- Loudness measured by the first pass, per source and channel layout: a profile change
-- re-encodes without measuring again.
CREATE TABLE IF NOT EXISTS loudness (
    source_sha256 TEXT NOT NULL,
    channels INTEGER NOT NULL,
    target TEXT NOT NULL,
    measured TEXT NOT NULL,
    PRIMARY KEY (source_sha256, channels, target)
);
"""

ACTIVE = ("queued", "running")


def process_tag(pid: int | None = None) -> str:
    """'pid:start-time': survives pid reuse."""
    pid = os.getpid() if pid is None else pid
    try:
        return f"{pid}:{psutil.Process(pid).create_time():.0f}"
    except psutil.Error:
        return f"{pid}:0"


def _alive(tag: str) -> bool:
    pid_s, _, start = tag.partition(":")
    try:
        return process_tag(int(pid_s)) == tag and psutil.pid_exists(int(pid_s))
    except ValueError:
        return False


@dataclass(frozen=True)
class Job:
    id: int
    source_path: str
    source_name: str
    source_sha256: str
    meta: dict
    origin: str
    state: str
    attempts: int
    stage: str
    percent: float
    eta_s: float | None
    message: str
    log_tail: str
    course_id: str | None
    transcoded: list[str]
    created_at: str
    started_at: str | None
    finished_at: str | None

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> "Job":
        return cls(
            id=r["id"], source_path=r["source_path"], source_name=r["source_name"], source_sha256=r["source_sha256"],
            meta=json.loads(r["meta"]), origin=r["origin"], state=r["state"], attempts=r["attempts"], stage=r["stage"],
            percent=r["percent"], eta_s=r["eta_s"], message=r["message"], log_tail=r["log_tail"], course_id=r["course_id"],
            transcoded=json.loads(r["transcoded"]), created_at=r["created_at"], started_at=r["started_at"],
            finished_at=r["finished_at"],
        )

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class JobStore:
    """Blocking SQLite access; async code calls it through ``asyncio.to_thread``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self) -> None:
        with self.db.connect() as conn:
            conn.executescript(SCHEMA)

    def enqueue(self, source_path: str, source_name: str, source_sha256: str, meta: dict, origin: str,
                claim: bool = False) -> Job:
        """A new job; with ``claim`` it is running for this process straight away (the CLI)."""
        with self.db.connect() as conn:
            cur = conn.execute(
                """INSERT INTO jobs (source_path, source_name, source_sha256, meta, origin, state, owner, attempts,
                       created_at, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (source_path, source_name, source_sha256, json.dumps(meta, ensure_ascii=False), origin,
                 "running" if claim else "queued", process_tag() if claim else "", 1 if claim else 0,
                 now_iso(), now_iso() if claim else None),
            )
            return Job.from_row(conn.execute("SELECT * FROM jobs WHERE id=?", (cur.lastrowid,)).fetchone())

    def claim_next(self) -> Job | None:
        with self.db.connect() as conn:
            row = conn.execute(
                """UPDATE jobs SET state='running', owner=?, attempts=attempts+1, started_at=?, stage='', percent=0,
                       eta_s=NULL, message='', log_tail=''
                   WHERE id = (SELECT id FROM jobs WHERE state='queued' ORDER BY id LIMIT 1) AND state='queued'
                   RETURNING *""",
                (process_tag(), now_iso()),
            ).fetchone()
        return Job.from_row(row) if row else None

    def recover_interrupted(self) -> list[int]:
        """Jobs left 'running' by a process that is gone go back to the queue."""
        with self.db.connect() as conn:
            rows = conn.execute("SELECT id, owner FROM jobs WHERE state='running'").fetchall()
            lost = [r["id"] for r in rows if not _alive(r["owner"])]
            for job_id in lost:
                conn.execute("UPDATE jobs SET state='queued', owner='', stage='', percent=0, eta_s=NULL WHERE id=? AND state='running'", (job_id,))
        if lost:
            log.warning("jobs %s were interrupted (their process stopped); queued again", lost)
        return lost

    def progress(self, job_id: int, stage: str, percent: float, eta_s: float | None) -> None:
        with self.db.connect() as conn:
            conn.execute("UPDATE jobs SET stage=?, percent=?, eta_s=? WHERE id=? AND state='running'", (stage, percent, eta_s, job_id))

    def finish(self, job_id: int, course_id: str, transcoded: list[str]) -> None:
        with self.db.connect() as conn:
            conn.execute(
                "UPDATE jobs SET state='done', stage='', percent=100, eta_s=0, course_id=?, transcoded=?, finished_at=?, owner='' WHERE id=?",
                (course_id, json.dumps(transcoded), now_iso(), job_id),
            )

    def fail(self, job_id: int, message: str, log_tail: str = "") -> None:
        with self.db.connect() as conn:
            conn.execute(
                "UPDATE jobs SET state='failed', eta_s=NULL, message=?, log_tail=?, finished_at=?, owner='' WHERE id=?",
                (message, log_tail, now_iso(), job_id),
            )

    def retry(self, job_id: int) -> bool:
        with self.db.connect() as conn:
            return conn.execute("UPDATE jobs SET state='queued', message='', log_tail='' WHERE id=? AND state='failed'", (job_id,)).rowcount == 1

    def active_for(self, source_sha256: str) -> Job | None:
        with self.db.connect() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE source_sha256=? AND state IN ('queued', 'running') ORDER BY id LIMIT 1",
                               (source_sha256,)).fetchone()
        return Job.from_row(row) if row else None

    def active_paths(self) -> set[str]:
        with self.db.connect() as conn:
            rows = conn.execute("SELECT source_path FROM jobs WHERE state IN ('queued', 'running')").fetchall()
        return {r["source_path"] for r in rows}

    def get(self, job_id: int) -> Job | None:
        with self.db.connect() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return Job.from_row(row) if row else None

    def recent(self, limit: int = 50) -> list[Job]:
        """Active jobs first, then the latest finished ones."""
        with self.db.connect() as conn:
            rows = conn.execute(
                """SELECT * FROM jobs ORDER BY CASE state WHEN 'running' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END,
                       COALESCE(finished_at, created_at) DESC, id DESC LIMIT ?""", (limit,)).fetchall()
        return [Job.from_row(r) for r in rows]

    # ---- loudness measurements -----------------------------------------------------------

    def loudness(self, source_sha256: str, channels: int, target: str) -> str | None:
        with self.db.connect() as conn:
            row = conn.execute("SELECT measured FROM loudness WHERE source_sha256=? AND channels=? AND target=?",
                               (source_sha256, channels, target)).fetchone()
        return row["measured"] if row else None

    def save_loudness(self, source_sha256: str, channels: int, target: str, measured: str) -> None:
        with self.db.connect() as conn:
            conn.execute("INSERT OR REPLACE INTO loudness VALUES (?, ?, ?, ?)", (source_sha256, channels, target, measured))


RunJob = Callable[[Job], Awaitable[None]]


class Worker:
    """Runs queued jobs, ``concurrency`` at a time, until cancelled. ``wake()`` after enqueueing;
    it also looks at the queue every ``poll_s`` (another process may have queued something)."""

    def __init__(self, store: JobStore, run_job: RunJob, concurrency: int = 1, poll_s: float = 2.0) -> None:
        self.store = store
        self.run_job = run_job
        self.concurrency = max(1, concurrency)
        self.poll_s = poll_s
        self._wake = asyncio.Event()
        self.last_error: str | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await asyncio.to_thread(self.store.recover_interrupted)
        await asyncio.gather(*(self._lane() for _ in range(self.concurrency)))

    async def _lane(self) -> None:
        while True:
            try:
                job = await asyncio.to_thread(self.store.claim_next)
            except Exception as exc:  # the database is locked or gone: say so once, keep trying
                if self.last_error != str(exc):
                    log.error("job queue unavailable: %s", exc)
                self.last_error = str(exc)
                job = None
            if job is None:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                except asyncio.TimeoutError:
                    pass
                continue
            await self.run_job(job)
