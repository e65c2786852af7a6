"""What the headend command says when the disk or the database is not as it expects: one line
that says what to do, exit 1, never a traceback."""

from __future__ import annotations

import sqlite3

from tests.conftest import init_headend, run_cli


def _one_line(res, says: str) -> str:
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and says in line, line
    return line


def test_init_where_no_folder_can_be_made_says_so():
    line = _one_line(run_cli("headend", "init", "--root", "/proc/yuanjiao"), "cannot create the data root there")
    assert "/proc/yuanjiao" in line and "choose a folder you may write to" in line


def test_a_publish_lock_that_cannot_be_opened_says_so(tmp_path):
    root = init_headend(tmp_path / "headend")
    (root / ".publish.lock").mkdir()  # someone made a folder of it
    line = _one_line(run_cli("headend", "publish", "--root", str(root)), "cannot open the publish lock")
    assert str(root / ".publish.lock") in line


def test_a_lost_playlist_signature_is_signed_again_and_refresh_says_what_to_do(tmp_path):
    root = init_headend(tmp_path / "headend")
    assert run_cli("headend", "publish", "--root", str(root)).returncode == 0
    for sig in (root / "published" / "playlists").glob("*.minisig"):
        sig.unlink()
    _one_line(
        run_cli("headend", "publish", "--root", str(root), "--refresh"),
        "is missing or unreadable; run `headend publish`",
    )
    res = run_cli("headend", "publish", "--root", str(root))
    assert res.returncode == 0 and "published version 2" in res.stdout, res.stderr
    assert list((root / "published" / "playlists").glob("*.minisig"))


def test_a_database_newer_than_the_headend_says_so(tmp_path):
    root = init_headend(tmp_path / "headend")
    conn = sqlite3.connect(root / "headend.db")
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    conn.close()
    line = _one_line(run_cli("headend", "course", "list", "--root", str(root)), "at revision 0099, newer than")
    assert str(root / "headend.db") in line
