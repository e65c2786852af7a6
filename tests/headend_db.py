"""Reading a headend data root's database in tests, on whichever engine the root uses, through
the headend's own database layer (no SQL here)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from catalogue import Course
from headend.config import load_config
from headend.db import Database, Job


@contextmanager
def database(root: Path) -> Iterator[Database]:
    cfg = load_config(root)
    db = Database.open(cfg.database_url, cfg.db_path)
    try:
        yield db
    finally:
        db.close()  # PostgreSQL: no session may linger on a database the next test copies


def _source_names(db: Database) -> dict[str, str]:
    """Course id → the name of the file it was (last) ingested from, as its finished job says."""
    done = sorted((j for j in db.jobs.recent(10_000) if j.state == "done" and j.course_id), key=lambda j: j.id)
    return {j.course_id: j.source_name for j in done}


def courses_by_source(root: Path) -> dict[str, Course]:
    """Source file name → its course."""
    with database(root) as db:
        names = _source_names(db)
        return {names[c.id]: c for c in db.courses() if c.id in names}


def catalogue(root: Path) -> list[tuple[str, str, str]]:
    """(id, title, category) of every course, by id."""
    with database(root) as db:
        return sorted((c.id, c.title, c.category) for c in db.courses())


def course_ids(root: Path) -> dict[str, str]:
    """Title → course id."""
    with database(root) as db:
        return {c.title: c.id for c in db.courses()}


def renditions_by_title(root: Path) -> dict[tuple[str, str], Path]:
    """(course title, profile) → the rendition's file."""
    with database(root) as db:
        by_sha = {c.source_sha256: c.title for c in db.courses()}
        return {
            (by_sha[r.source_sha256], r.profile): root / r.path for r in db.renditions() if r.source_sha256 in by_sha
        }


def rendition(root: Path, source_name: str, profile: str) -> Path:
    """The newest rendition of the course ingested from ``source_name`` for ``profile``."""
    with database(root) as db:
        names = _source_names(db)
        sha = {names[c.id]: c.source_sha256 for c in db.courses() if c.id in names}.get(source_name)
        found = [r for r in db.renditions() if r.source_sha256 == sha and r.profile == profile]
    assert found, f"no {profile} rendition of {source_name}"
    return root / max(found, key=lambda r: r.created_at).path


def last_job(root: Path) -> Job | None:
    """The job queued most recently."""
    with database(root) as db:
        return max(db.jobs.recent(10_000), key=lambda j: j.id, default=None)
