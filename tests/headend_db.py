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


def courses_by_source(root: Path) -> dict[str, Course]:
    """Source file name → its course."""
    with database(root) as db:
        names = db.source_names()
        return {names[c.id]: c for c in db.courses()}


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
        names = db.source_names()
        sha = {names[c.id]: c.source_sha256 for c in db.courses()}.get(source_name)
        found = [r for r in db.renditions() if r.source_sha256 == sha and r.profile == profile]
    assert found, f"no {profile} rendition of {source_name}"
    return root / max(found, key=lambda r: r.created_at).path


def last_job(root: Path) -> Job | None:
    with database(root) as db:
        return db.jobs.last()
