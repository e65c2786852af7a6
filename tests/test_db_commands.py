"""``headend db migrate`` and ``headend db backup`` on both engines: an old database brought to
head with its rows kept, a backup taken while reports keep arriving that restores to the same
rows (SQLite: open the copy; PostgreSQL: pg_restore into a new database), and refusals that say
what to do (an existing file, no pg_dump)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from headend.config import database_url, load_config
from headend.db import Database, migrate
from headend.db.engine import transaction
from headend.service import open_root
from headend.service.reports import store_batch
from headend.service.stations import add_station
from tests.conftest import ROOT, init_headend, run_cli
from tests.report_batches import batch, events

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = "0005"


def _report(root: Path, station: str, first_seq: int, n: int) -> None:
    with open_root(root) as h:
        enrolled = h.db.station(station).created_at
        evs = events(n, NOW - timedelta(hours=2), first_seq=first_seq, step_s=5.0, mono0=100.0)
        doc = batch(station, evs, after=first_seq - 1, now=NOW, mono=100.0 + 5 * n + 1)
        store_batch(h.db.reports, station, enrolled, doc, NOW)


def _root_with_reports(tmp_path: Path, headend_db) -> Path:
    root = init_headend(tmp_path / "headend", headend_db)
    with open_root(root) as h:
        for i in range(3):
            add_station(h, f"backup-station-{i}", None, "广东省/肇庆市/高要市", "stb-sd")
    _report(root, "backup-station-0", 1, 400)
    _report(root, "backup-station-1", 1, 100)
    return root


def _held(url: str, sqlite_path: Path) -> tuple[int, int, list[str]]:
    db = Database.open(url, sqlite_path)
    try:
        return db.reports.event_count(), db.reports.event_count("backup-station-0"), [s.id for s in db.stations()]
    finally:
        db.close()


def test_migrate_brings_an_old_database_to_head_and_keeps_its_rows(tmp_path, headend_db):
    root = init_headend(tmp_path / "headend", headend_db)
    cfg = load_config(root)
    if headend_db.server is None:
        cfg.db_path.unlink()
        for extra in ("-wal", "-shm"):
            Path(f"{cfg.db_path}{extra}").unlink(missing_ok=True)
    else:  # a new, empty database in place of the one init made
        fresh = headend_db.new_url()
        toml = root / "headend.toml"
        toml.write_text(toml.read_text(encoding="utf-8").replace(cfg.database_url, fresh), encoding="utf-8")
        cfg = load_config(root)
    db = Database(database_url(cfg.database_url, cfg.db_path))  # an engine, not migrated
    try:
        from alembic import command

        with transaction(db.engine, write=True) as conn:
            command.upgrade(migrate._config(conn), OLD)  # what a headend of revision 0005 left behind
            conn.execute(
                sa.text(
                    "INSERT INTO stations (id, name, region, player, token_sha256, created_at) "
                    "VALUES ('xianyi', '蚬一村', '[\"广东省\"]', 'stb-sd', 'ab', '2026-01-01T00:00:00Z')"
                )
            )
    finally:
        db.close()

    res = run_cli("headend", "db", "migrate", "--root", str(root))
    assert res.returncode == 0, res.stderr
    assert f"migrated from revision {OLD} to {migrate.HEAD}" in res.stdout
    with open_root(root) as h:
        assert [s.id for s in h.db.stations()] == ["xianyi"]
        with h.db.engine.connect() as conn:
            assert migrate.current(conn) == migrate.HEAD

    res = run_cli("headend", "db", "migrate", "--root", str(root))
    assert res.returncode == 0, res.stderr
    assert f"at revision {migrate.HEAD}, the newest this headend knows; nothing to do" in res.stdout


def test_backup_taken_while_reports_arrive_restores_the_same_rows(tmp_path, headend_db):
    root = _root_with_reports(tmp_path, headend_db)
    dest = tmp_path / "backups" / "headend-backup"
    dest.parent.mkdir()
    stop, failures = threading.Event(), []

    def keep_reporting() -> None:  # station 2 keeps uploading while the copy is made
        seq = 1
        try:
            while not stop.is_set():
                _report(root, "backup-station-2", seq, 50)
                seq += 50
        except Exception as exc:  # the test reports it
            failures.append(exc)

    writer = threading.Thread(target=keep_reporting)
    writer.start()
    try:
        res = run_cli("headend", "db", "backup", "--root", str(root), "--to", str(dest))
    finally:
        stop.set()
        writer.join(60)
    assert res.returncode == 0, res.stderr
    assert not failures, failures  # the backup did not stop the stations' uploads
    assert f"backup written: {dest}" in res.stdout and f"revision {migrate.HEAD}" in res.stdout
    assert re.search(r"stations 3\b", res.stdout)
    assert dest.stat().st_mode & 0o077 == 0  # token and password hashes: the owner's only
    assert not list(dest.parent.glob(".*partial*"))

    if headend_db.server is None:
        copy = tmp_path / "restored" / "headend.db"
        copy.parent.mkdir()
        shutil.copy(dest, copy)
        url = ""
    else:
        assert dest.read_bytes()[:5] == b"PGDMP"
        url = headend_db.new_url()
        restored = subprocess.run(
            ["pg_restore", "--no-owner", "--dbname", url, str(dest)], capture_output=True, text=True, timeout=300
        )
        assert restored.returncode == 0, restored.stderr
        copy = tmp_path / "unused.db"
    total, first, stations = _held(url, copy)
    assert first == 400 and stations == ["backup-station-0", "backup-station-1", "backup-station-2"]
    assert total >= 500 and (total - 500) % 50 == 0  # whole batches of station 2: a consistent snapshot
    res_line = re.search(r"report_events ([\d,]+)", res.stdout)
    if headend_db.server is None:  # the summary counts the copy itself
        assert int(res_line[1].replace(",", "")) == total


def test_backup_never_overwrites_a_file(tmp_path, headend_db):
    root = init_headend(tmp_path / "headend", headend_db)
    dest = tmp_path / "precious.db"
    dest.write_text("keep me")
    res = run_cli("headend", "db", "backup", "--root", str(root), "--to", str(dest))
    assert res.returncode == 1
    assert "exists; give a new file name" in res.stderr and dest.read_text() == "keep me"


def test_postgresql_backup_without_pg_dump_says_what_to_install(tmp_path, headend_db):
    if headend_db.server is None:
        pytest.skip("pg_dump is PostgreSQL's")
    root = init_headend(tmp_path / "headend", headend_db)
    res = subprocess.run(
        [sys.executable, "-m", "headend.cli", "db", "backup", "--root", str(root), "--to", str(tmp_path / "b.dump")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PATH": str(tmp_path / "empty")},
        timeout=120,
    )
    assert res.returncode == 1
    assert "pg_dump is not installed" in res.stderr and "postgresql-client" in res.stderr
    assert not (tmp_path / "b.dump").exists()
