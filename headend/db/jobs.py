"""The transcoding job queue and the loudness measurements, kept in the database so they survive
a restart. A job is one accepted courseware file (see ``headend.courseware.ingest.prepare``)::

    queued ──claim──► running ──► done
       ▲                 │  └───► failed   (message + ffmpeg's last lines kept)
       └── recover ──────┘   the process that ran it died: back to the queue, started cleanly

The process running a job refreshes its ``heartbeat_at`` (with its progress, and at least every
``HEARTBEAT_S``). ``recover_interrupted`` queues again a job whose process on this machine is
gone, and a job of another host (which this process cannot check) whose heartbeat is older than
``STALE_S``: several headend hosts may share one PostgreSQL database.

Claiming is safe with several workers, in one process or many, on either engine: one
``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) AND state = 'queued' RETURNING``
(SQLite, which has no row locks, runs that statement alone under its write lock).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import sqlalchemy as sa

from headend.db.engine import now_iso, transaction, upsert
from headend.db.records import Job
from headend.db.schema import jobs, loudness

ACTIVE = ("queued", "running")
HEARTBEAT_S = 60.0  # a running job's heartbeat is refreshed at least this often
STALE_S = 600.0  # another host's running job with a heartbeat older than this is queued again


def _job(r: sa.Row) -> Job:
    d = dict(r._mapping)
    meta = MappingProxyType(json.loads(d["meta"]))
    return Job(**{**d, "meta": meta, "transcoded": tuple(json.loads(d["transcoded"]))})


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class JobStore:
    """Blocking; async code calls it through ``asyncio.to_thread``."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def enqueue(
        self, source_path: str, source_name: str, source_sha256: str, meta: dict, origin: str, owner: str = ""
    ) -> Job:
        """A new job; with an ``owner`` (``process_tag()``) it is running for that process straight
        away (the command line runs its own files)."""
        ts = now_iso()
        values = {
            "source_path": source_path,
            "source_name": source_name,
            "source_sha256": source_sha256,
            "meta": json.dumps(meta, ensure_ascii=False),
            "origin": origin,
            "state": "running" if owner else "queued",
            "owner": owner,
            "attempts": 1 if owner else 0,
            "created_at": ts,
            "started_at": ts if owner else None,
            "heartbeat_at": ts if owner else None,
        }
        with transaction(self.engine, write=True) as conn:
            return _job(conn.execute(jobs.insert().values(**values).returning(*jobs.c)).one())

    def claim_next(self, owner: str) -> Job | None:
        """The oldest queued job, now running for ``owner``; None when the queue is empty."""
        oldest = (
            sa.select(jobs.c.id)
            .where(jobs.c.state == "queued")
            .order_by(jobs.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            jobs.update()
            .where(jobs.c.id == oldest, jobs.c.state == "queued")
            .values(
                state="running",
                owner=owner,
                attempts=jobs.c.attempts + 1,
                started_at=now_iso(),
                heartbeat_at=now_iso(),
                stage="",
                percent=0,
                eta_s=None,
                message="",
                log_tail="",
            )
            .returning(*jobs.c)
        )
        with transaction(self.engine, write=True) as conn:
            row = conn.execute(stmt).first()
        return _job(row) if row else None

    def recover_interrupted(self, alive: Callable[[str], bool | None], stale_s: float = STALE_S) -> list[int]:
        """Jobs left 'running' by a process that is gone go back to the queue; their ids.
        ``alive(owner)``: False, the process is gone; None, it runs on another host, and then the
        job is taken back only when its heartbeat is older than ``stale_s``."""
        stale_before = _iso(datetime.now(UTC) - timedelta(seconds=stale_s))
        with transaction(self.engine, write=True) as conn:
            rows = conn.execute(
                sa.select(jobs.c.id, jobs.c.owner, jobs.c.heartbeat_at, jobs.c.started_at).where(
                    jobs.c.state == "running"
                )
            ).all()
            lost = []
            for r in rows:
                state = alive(r.owner)
                beat = r.heartbeat_at or r.started_at or ""
                if state is False or (state is None and beat < stale_before):
                    lost.append(r.id)
            if lost:
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id.in_(lost), jobs.c.state == "running")
                    .values(state="queued", owner="", stage="", percent=0, eta_s=None, heartbeat_at=None)
                )
        return lost

    def requeue(self, job_id: int, owner: str) -> bool:
        """A job ``owner`` could not finish because the database failed: back to the queue."""
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.state == "running", jobs.c.owner == owner)
                .values(state="queued", owner="", stage="", percent=0, eta_s=None, heartbeat_at=None)
            )
        return res.rowcount == 1

    def heartbeat(self, job_id: int) -> None:
        """The job's process is still at it."""
        with transaction(self.engine, write=True) as conn:
            conn.execute(
                jobs.update().where(jobs.c.id == job_id, jobs.c.state == "running").values(heartbeat_at=now_iso())
            )

    def progress(self, job_id: int, stage: str, percent: float, eta_s: float | None) -> None:
        with transaction(self.engine, write=True) as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.state == "running")
                .values(stage=stage, percent=percent, eta_s=eta_s, heartbeat_at=now_iso())
            )

    def finish(self, job_id: int, course_id: str, transcoded: list[str] | tuple[str, ...], message: str = "") -> None:
        """Done; ``message`` says what a re-ingest kept or changed ("" for a new course)."""
        with transaction(self.engine, write=True) as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(
                    state="done",
                    stage="",
                    percent=100,
                    eta_s=0,
                    course_id=course_id,
                    transcoded=json.dumps(list(transcoded)),
                    message=message,
                    finished_at=now_iso(),
                    owner="",
                )
            )

    def fail(self, job_id: int, message: str, log_tail: str = "") -> None:
        with transaction(self.engine, write=True) as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(state="failed", eta_s=None, message=message, log_tail=log_tail, finished_at=now_iso(), owner="")
            )

    def retry(self, job_id: int) -> bool:
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.state == "failed")
                .values(state="queued", message="", log_tail="")
            )
        return res.rowcount == 1

    def active_for(self, source_sha256: str) -> Job | None:
        with transaction(self.engine) as conn:
            row = conn.execute(
                sa.select(jobs)
                .where(jobs.c.source_sha256 == source_sha256, jobs.c.state.in_(ACTIVE))
                .order_by(jobs.c.id)
                .limit(1)
            ).first()
        return _job(row) if row else None

    def active_paths(self) -> set[str]:
        with transaction(self.engine) as conn:
            return set(conn.execute(sa.select(jobs.c.source_path).where(jobs.c.state.in_(ACTIVE))).scalars())

    def recent(self, limit: int = 50) -> list[Job]:
        """Active jobs first, then the latest finished ones."""
        rank = sa.case((jobs.c.state == "running", 0), (jobs.c.state == "queued", 1), else_=2)
        with transaction(self.engine) as conn:
            rows = conn.execute(
                sa.select(jobs)
                .order_by(rank, sa.func.coalesce(jobs.c.finished_at, jobs.c.created_at).desc(), jobs.c.id.desc())
                .limit(limit)
            ).all()
        return [_job(r) for r in rows]

    # ---- loudness measurements -----------------------------------------------------------

    def loudness(self, source_sha256: str, channels: int, target: str) -> str | None:
        with transaction(self.engine) as conn:
            return conn.execute(
                sa.select(loudness.c.measured).where(
                    loudness.c.source_sha256 == source_sha256,
                    loudness.c.channels == channels,
                    loudness.c.target == target,
                )
            ).scalar()

    def save_loudness(self, source_sha256: str, channels: int, target: str, measured: str) -> None:
        with transaction(self.engine, write=True) as conn:
            upsert(
                conn,
                loudness,
                [{"source_sha256": source_sha256, "channels": channels, "target": target, "measured": measured}],
                ["source_sha256", "channels", "target"],
                ["measured"],
            )
