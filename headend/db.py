"""The headend's SQLite store (standard library, WAL). Plain SQL, so a PostgreSQL deployment is a
connection change. Blocking: the server calls it through ``asyncio.to_thread``."""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from catalogue import Course
from headend.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS courses (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    category TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    duration_s REAL NOT NULL,
    source_sha256 TEXT NOT NULL UNIQUE,
    source_name TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    series TEXT NOT NULL DEFAULT '',
    episode INTEGER,
    speaker TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- One row per (source, profile definition): ingesting the same file again finds its renditions;
-- changing one profile changes its fingerprint and redoes only that profile. Posters use
-- profile 'poster'.
CREATE TABLE IF NOT EXISTS renditions (
    source_sha256 TEXT NOT NULL,
    profile TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mime TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (source_sha256, profile, fingerprint)
);
CREATE TABLE IF NOT EXISTS stations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    player TEXT NOT NULL,
    token_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- Every file a published tree holds (repository path), and when a version last referenced it:
-- files referenced within the grace period stay in new trees; older ones are collected.
CREATE TABLE IF NOT EXISTS published_files (
    path TEXT PRIMARY KEY,
    last_referenced_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS publications (
    version INTEGER PRIMARY KEY,
    published_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    index_sha256 TEXT NOT NULL,
    courses INTEGER NOT NULL
);
"""


COURSE_COLUMNS_ADDED = {"series": "TEXT NOT NULL DEFAULT ''", "episode": "INTEGER", "speaker": "TEXT NOT NULL DEFAULT ''"}


def _course(r: sqlite3.Row) -> Course:
    return Course(id=r["id"], title=r["title"], category=r["category"], description=r["description"],
                  duration_s=r["duration_s"], source_sha256=r["source_sha256"], tags=tuple(json.loads(r["tags"])),
                  **{k: r[k] for k in ("series", "episode", "speaker") if k in r.keys()})  # older roots lack them


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Database:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise ConfigError(f"{self.path}: cannot open the headend database ({exc})") from exc
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            with conn:
                yield conn
        finally:
            conn.close()

    def create(self) -> None:
        with self.connect() as conn:
            conn.executescript(SCHEMA)
            # Data roots made before the catalogue had series/episode/speaker get the columns.
            have = {r["name"] for r in conn.execute("PRAGMA table_info(courses)")}
            for col, decl in COURSE_COLUMNS_ADDED.items():
                if col not in have:
                    conn.execute(f"ALTER TABLE courses ADD COLUMN {col} {decl}")

    # ---- courses ---------------------------------------------------------------------------

    def upsert_course(self, course: Course, source_name: str) -> None:
        ts = now_iso()
        with self.connect() as conn:
            conn.execute(
                """INSERT INTO courses (id, title, category, description, duration_s, source_sha256,
                       source_name, tags, series, episode, speaker, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET title=excluded.title, category=excluded.category,
                       description=excluded.description, duration_s=excluded.duration_s,
                       tags=excluded.tags, series=excluded.series, episode=excluded.episode,
                       speaker=excluded.speaker, updated_at=excluded.updated_at""",
                (course.id, course.title, course.category, course.description, course.duration_s,
                 course.source_sha256, source_name, json.dumps(list(course.tags), ensure_ascii=False),
                 course.series, course.episode, course.speaker, ts, ts),
            )

    def courses(self) -> list[Course]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM courses ORDER BY created_at, id").fetchall()
        return [_course(r) for r in rows]

    def course(self, course_id: str) -> Course | None:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM courses WHERE id=?", (course_id,)).fetchone()
        return _course(row) if row else None

    # ---- renditions ------------------------------------------------------------------------

    def rendition(self, source_sha256: str, profile: str, fingerprint: str) -> sqlite3.Row | None:
        with self.connect() as conn:
            return conn.execute(
                "SELECT * FROM renditions WHERE source_sha256=? AND profile=? AND fingerprint=?",
                (source_sha256, profile, fingerprint),
            ).fetchone()

    def add_rendition(self, source_sha256: str, profile: str, fingerprint: str, path: str, sha256: str, size: int, mime: str) -> None:
        with self.connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO renditions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (source_sha256, profile, fingerprint, path, sha256, size, mime, now_iso()),
            )

    # ---- stations --------------------------------------------------------------------------

    def add_station(self, station_id: str, name: str, region: list[str], player: str, token_sha256: str) -> bool:
        """False if the id is taken."""
        with self.connect() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO stations VALUES (?, ?, ?, ?, ?, ?)",
                (station_id, name, json.dumps(region, ensure_ascii=False), player, token_sha256, now_iso()),
            )
            return cur.rowcount == 1

    def stations(self) -> list[dict]:
        with self.connect() as conn:
            rows = conn.execute("SELECT id, name, region, player, created_at FROM stations ORDER BY id").fetchall()
        return [{**dict(r), "region": json.loads(r["region"])} for r in rows]

    # ---- publications ----------------------------------------------------------------------

    def last_publication(self) -> sqlite3.Row | None:
        with self.connect() as conn:
            return conn.execute("SELECT * FROM publications ORDER BY version DESC LIMIT 1").fetchone()

    def add_publication(self, version: int, published_at: str, expires_at: str, index_sha256: str, courses: int) -> None:
        with self.connect() as conn:
            conn.execute("INSERT INTO publications VALUES (?, ?, ?, ?, ?)", (version, published_at, expires_at, index_sha256, courses))
