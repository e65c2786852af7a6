"""The headend's database layer on both engines: migrations applied once and matching the code's
schema, a database made before migrations adopted, the job queue safe with several workers, and
database failures that say what to do — exit 1 at the command line, 503 on the web."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from headend.config import load_config
from headend.db import Database, migrate
from headend.db.schema import metadata
from headend.errors import ConfigError
from headend.web.app import create_app
from headend.web.keys import HEADEND
from tests.conftest import init_headend, run_cli
from tests.county_kit import login_admin
from tests.headend_db import catalogue, database

# What `headend init` created before migrations (db.py and jobs.py at commit 068cda6), data roots
# from before series/episode/speaker lacked those three columns.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS courses (id TEXT PRIMARY KEY, title TEXT NOT NULL, category TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '', duration_s REAL NOT NULL, source_sha256 TEXT NOT NULL UNIQUE,
    source_name TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS renditions (source_sha256 TEXT NOT NULL, profile TEXT NOT NULL, fingerprint TEXT NOT NULL,
    path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, mime TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (source_sha256, profile, fingerprint));
CREATE TABLE IF NOT EXISTS stations (id TEXT PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL, player TEXT NOT NULL,
    token_sha256 TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS published_files (path TEXT PRIMARY KEY, last_referenced_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS publications (version INTEGER PRIMARY KEY, published_at TEXT NOT NULL, expires_at TEXT NOT NULL,
    index_sha256 TEXT NOT NULL, courses INTEGER NOT NULL);
INSERT INTO courses (id, title, category, duration_s, source_sha256, source_name, tags, created_at, updated_at)
    VALUES ('c-0123456789ab', '雨季养鹅技术', 'agriculture', 61.5, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '养鹅.mp4', '["养殖"]', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
INSERT INTO stations VALUES ('xianyi', '蚬一村', '["广东省"]', 'stb-sd', 'ab', '2026-01-01T00:00:00Z');
INSERT INTO publications VALUES (3, '2026-01-01T00:00:00Z', '2026-01-08T00:00:00Z', 'cd', 1);
"""


def test_head_constant_names_the_newest_migration():
    assert migrate.head() == migrate.HEAD


def test_a_migrated_database_has_exactly_the_schema_the_code_uses(tmp_path, headend_db):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    url = headend_db.new_url()
    db = Database.open(url, tmp_path / "headend.db")
    try:
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        db.close()
    assert diff == []


def test_a_database_made_before_migrations_is_adopted(tmp_path, caplog):
    root = init_headend(tmp_path / "headend")
    (root / "headend.db").unlink()
    with sqlite3.connect(root / "headend.db") as conn:
        conn.executescript(OLD_SCHEMA)
    with database(root) as db:  # adopted: missing columns and tables added, stamped, data kept
        assert [(c.id, c.title, c.tags, c.series, c.episode) for c in db.courses()] == [
            ("c-0123456789ab", "雨季养鹅技术", ("养殖",), "", None)
        ]
        assert db.last_publication().version == 3 and [s.id for s in db.stations()] == ["xianyi"]
        job = db.jobs.enqueue("/x.mp4", "x.mp4", "bb", {}, "cli")
        assert db.jobs.claim_next("1:1").id == job.id
        with db.engine.connect() as conn:
            assert migrate.current(conn) == migrate.HEAD
    assert "adopted a headend database made before migrations" in caplog.text
    assert "added column courses.series" in caplog.text and "created table jobs" in caplog.text
    res = run_cli(
        "headend", "course", "edit", "--root", str(root), "c-0123456789ab", "--series", "养鹅", "--episode", "2"
    )
    assert res.returncode == 0, res.stderr
    assert catalogue(root) == [("c-0123456789ab", "雨季养鹅技术", "agriculture")]


def test_several_workers_never_claim_the_same_job(tmp_path, headend_db):
    url = headend_db.new_url()
    dbs = [Database.open(url, tmp_path / "headend.db") for _ in range(4)]
    try:
        ids = {dbs[0].jobs.enqueue(f"/{n}.mp4", f"{n}.mp4", f"{n:064x}", {}, "watch").id for n in range(60)}
        claimed: list[list[int]] = [[] for _ in dbs]
        start, first_taken = threading.Barrier(len(dbs)), threading.Barrier(len(dbs))

        def work(n: int) -> None:
            # Every worker takes one job before any takes a second, so a loaded machine that
            # schedules one thread for the whole run still has them claim side by side.
            start.wait()
            job = dbs[n].jobs.claim_next(f"{n}:0")
            first_taken.wait()
            while job is not None:
                claimed[n].append(job.id)
                job = dbs[n].jobs.claim_next(f"{n}:0")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(len(dbs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        every = [i for c in claimed for i in c]
        assert sorted(every) == sorted(ids), "a job was claimed twice or not at all"
        assert sum(1 for c in claimed if c) >= 2, "only one worker got jobs: the test proved nothing"
        assert {j.state for j in dbs[0].jobs.recent(100)} == {"running"}
    finally:
        for db in dbs:
            db.close()


@pytest.mark.parametrize(
    "url,says",
    [
        ("mysql://u@127.0.0.1/x", "only postgresql://user@host:port/dbname"),
        ("not a url at all", "is not a database URL"),
        ("postgresql://postgres@127.0.0.1:1/yuanjiao", "cannot reach the PostgreSQL server"),
    ],
)
def test_a_database_that_cannot_be_opened_is_one_line_saying_what_to_do(tmp_path, url, says):
    root = init_headend(tmp_path / "headend")
    cfg = root / "headend.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('url = ""', f'url = "{url}"', 1), encoding="utf-8")
    res = run_cli("headend", "course", "list", "--root", str(root))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert says in res.stderr and "[database] url" in res.stderr and len(res.stderr.strip().splitlines()) == 1, (
        res.stderr
    )
    if "reach" not in says:
        assert str(root / "headend.toml") in res.stderr
    with pytest.raises(ConfigError if "reach" not in says else Exception, match=r"\[database\] url"):
        Database.open(load_config(root).database_url, root / "headend.db")


def _break_database(root: Path, headend_db, db: Database) -> None:
    """The database goes away under a running server: PostgreSQL's is dropped (its sessions
    ended), SQLite's file is replaced with something that is not a database (and the pool's open
    connections, which would go on using the old file, are dropped)."""
    if headend_db.name == "postgresql":
        import psycopg

        name = load_config(root).database_url.rsplit("/", 1)[1]
        with psycopg.connect(headend_db.server.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    else:
        for p in root.glob("headend.db*"):
            p.unlink()
        (root / "headend.db").write_bytes(b"this is not a database" * 1000)
        db.engine.dispose()


async def test_a_database_failure_on_the_web_is_a_503_saying_what_to_do(headend_root, headend_db, aiohttp_client):
    app = create_app(load_config(headend_root), background_loops=False)
    client = await login_admin(await aiohttp_client(app), headend_root)
    assert (await client.get("/county/publishing")).status == 200
    _break_database(headend_root, headend_db, app[HEADEND].db)
    resp = await client.get("/county/publishing")
    assert resp.status == 503
    page = await resp.text()
    assert "出错了（503）" in page and ("PostgreSQL" in page or "headend.db" in page) and "Traceback" not in page
    resp = await client.get("/api/v1/jobs")
    assert resp.status == 503 and (await resp.json())["status"] == 503


def test_sqlite_keeps_wal_busy_timeout_and_foreign_keys(tmp_path):
    db = Database.open("", tmp_path / "headend.db")
    try:
        with db.engine.connect() as conn:
            pragmas = {
                p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                for p in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            }
    finally:
        db.close()
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1, "synchronous": 2}


def test_a_rendition_over_2_gib_is_recorded(tmp_path, headend_db):
    db = Database.open(headend_db.new_url(), tmp_path / "headend.db")
    try:
        db.add_rendition("a" * 64, "tv-hd", "fp", "media/aa/x.mp4", "b" * 64, 5 * 2**30, "video/mp4")
        assert db.rendition("a" * 64, "tv-hd", "fp").size == 5 * 2**30
    finally:
        db.close()


def test_a_locked_sqlite_database_says_try_again(tmp_path, monkeypatch):
    from headend.db import engine
    from headend.errors import DatabaseError

    monkeypatch.setattr(engine, "BUSY_TIMEOUT_MS", 300)  # instead of 30 s
    db = Database.open("", tmp_path / "headend.db")
    holder = sqlite3.connect(tmp_path / "headend.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a long write
        with pytest.raises(DatabaseError, match=r"the database is busy .* try again in a minute") as err:
            db.add_station("xianyi", "蚬一村", [], "stb-sd", "t")
        assert err.value.status == 503
    finally:
        holder.close()
        db.close()


def test_roll_up_rows_made_by_revision_0003_get_their_fold_state_and_keep_counting(tmp_path):
    """0004 gives each station-day row the fold's state, rebuilt from the day's events: a batch
    stored after the upgrade adds to the day's figures, not replaces them."""
    import sqlalchemy as sa
    from alembic import command

    from catalogue.events import parse_batch
    from headend.db.engine import create_engine
    from tests.report_batches import batch, events

    path = tmp_path / "headend.db"
    engine = create_engine(sa.make_url(f"sqlite:///{path}"))
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "0003")
    now = datetime.now(UTC).replace(microsecond=0)
    evs = events(4, now - timedelta(minutes=10), mono0=100.0, seed=3)
    for e in evs:
        e.update(kind="logbook", text="记录", author="王")
        for k in [k for k in e if k not in ("seq", "ts", "kind", "mono", "text", "author")]:
            del e[k]
    day = now.astimezone(timezone(timedelta(hours=8))).date().isoformat()
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:  # what 0003's collector wrote for the first two events
        conn.execute(
            meta.tables["stations"].insert(),
            [
                {
                    "id": "s1",
                    "name": "s1",
                    "region": "[]",
                    "player": "stb-sd",
                    "token_sha256": "x",
                    "created_at": "2026-01-01T00:00:00Z",
                }
            ],
        )
        conn.execute(
            meta.tables["report_events"].insert(),
            [
                {
                    "station": "s1",
                    "stream": "0123456789abcdef",
                    "seq": e["seq"],
                    "kind": "logbook",
                    "ts": e["ts"],
                    "at": e["ts"],
                    "day": day,
                    "boot": "b0" * 16,
                    "time_uncertain": False,
                    "data": json.dumps(e),
                    "received_at": e["ts"],
                }
                for e in evs[:2]
            ],
        )
        conn.execute(
            meta.tables["station_days"].insert(),
            [
                {
                    "station": "s1",
                    "day": day,
                    "plays": 0,
                    "watched_s": 0.0,
                    "completed": 0,
                    "individual_plays": 0,
                    "sessions": 0,
                    "session_person_times": 0,
                    "short_sessions": 0,
                    "logbook": 2,
                    "notice_views": "{}",
                    "failed_logins": 0,
                    "online_minutes": 0.0,
                    "fives": None,
                    "courses": 0,
                    "events": 2,
                    "time_uncertain": 0,
                    "updated_at": "x",
                }
            ],
        )
    engine.dispose()
    db = Database.open("", path)
    try:
        doc = batch("s1", evs, after=0, now=now, mono=100.0 + 4 * 60 + 5)
        stored = db.reports.store(parse_batch(doc), now, now - timedelta(days=1))
        rows = db.reports.days(["s1"], date.fromisoformat(day), date.fromisoformat(day))
    finally:
        db.close()
    assert (stored.accepted, stored.duplicates) == (2, 2)
    assert (rows[0].logbook, rows[0].events) == (4, 4)


def test_a_database_at_revision_0011_gets_the_live_columns_and_its_days_keep_counting(tmp_path, headend_db):
    """0012 adds live_plays and live_watched_s to the roll-up: a day stored by revision 0011's
    collector reads 0 for both (no station could report a live class then), keeps its figures, and
    a batch with live classes watched after the upgrade adds to them."""
    import sqlalchemy as sa
    from alembic import command

    from catalogue.clocks import correct
    from catalogue.events import parse_batch
    from catalogue.figures import Tally
    from headend.config import database_url
    from headend.db.engine import create_engine
    from headend.db.reports import EVENT_COLUMNS, ReportStore, day_row, iso
    from tests.report_batches import batch, body, china_iso

    raw_url = headend_db.new_url()
    engine = create_engine(database_url(raw_url, tmp_path / "headend.db"))
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "0011")
    received = datetime(2026, 11, 16, 12, tzinfo=UTC)  # 20:00 in China: every event below on one day
    booted = received - timedelta(hours=5)

    def line(seq: int, kind: str, minutes_ago: float) -> dict:
        at = received - timedelta(minutes=minutes_ago)
        e = {"seq": seq, "ts": china_iso(at), "kind": kind, "mono": (at - booted).total_seconds()}
        return {**e, **body(kind, at, random.Random(seq))}

    before = [line(1, "play", 200), line(2, "logbook", 190)]
    after = [line(3, "live", 60), line(4, "live", 30), line(5, "play", 20)]
    after[0].update(watched_s=1800.0, start=china_iso(received - timedelta(minutes=95)))
    after[1].update(watched_s=600.0, start=china_iso(received - timedelta(minutes=45)))
    parsed = parse_batch(batch("s1", before, after=0, now=received, mono=(received - booted).total_seconds()))
    fix = correct(parsed, received, {}, received - timedelta(days=30))
    (day,) = {p.day for p in fix.events}
    tally = Tally()
    for e, p in zip(parsed.events, fix.events, strict=True):
        tally.add(e.raw, p.day, [p.at, e.seq, parsed.stream], p.uncertain)
    state = tally.state()
    del state["live_plays"], state["live_watched_s"]  # what 0011's fold saved
    row = {k: v for k, v in day_row("s1", day, tally.figures(), iso(received)).items() if not k.startswith("live_")}
    meta = sa.MetaData()
    meta.reflect(engine)
    assert "live_plays" not in meta.tables["station_days"].c
    with engine.begin() as conn:  # what 0011's collector wrote
        conn.execute(
            meta.tables["stations"].insert(),
            [{"id": "s1", "name": "s1", "region": "[]", "player": "stb-sd", "token_sha256": "x", "created_at": "x"}],
        )
        rows = ReportStore._rows(parsed, fix, iso(received))
        conn.execute(meta.tables["report_events"].insert(), [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in rows])
        conn.execute(meta.tables["station_days"].insert(), [{**row, "state": json.dumps(state)}])
    engine.dispose()

    db = Database.open(raw_url, tmp_path / "headend.db")  # opening migrates
    try:
        with db.engine.connect() as conn:
            assert migrate.current(conn) == "0012"
        first = date.fromisoformat(day)
        (old,) = db.reports.days(["s1"], first, first)
        assert (old.live_plays, old.live_watched_s, old.plays, old.logbook, old.events) == (0, 0.0, 1, 1, 2)
        doc = batch("s1", before + after, after=0, now=received, mono=(received - booted).total_seconds())
        stored = db.reports.store(parse_batch(doc), received, received - timedelta(days=30))
        (new,) = db.reports.days(["s1"], first, first)
    finally:
        db.close()
    assert (stored.accepted, stored.duplicates) == (3, 2)
    assert (new.live_plays, new.live_watched_s, new.plays, new.logbook, new.events) == (2, 2400.0, 2, 1, 5)
    assert new.to_dict()["live_plays"] == 2 and new.to_dict()["live_watched_s"] == 2400.0
