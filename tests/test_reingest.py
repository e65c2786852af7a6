"""Re-ingesting a file already in the catalogue (issue 10 item 6): an editor's edits to title,
category, description and speaker stay, unless a sidecar or a command-line value says otherwise
(field by field); the command line and the job say what happened."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from catalogue import Course
from tests.conftest import run_cli
from tests.headend_db import course_ids, database

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)


@pytest.fixture
def edited(headend_root) -> tuple[Path, str]:
    """The template's video course, edited by county staff with `headend course edit`."""
    cid = course_ids(headend_root)["雨季养鹅技术"]
    res = run_cli(
        "headend",
        *("course", "edit", "--root", str(headend_root), cid),
        *("--title", "雨季养鹅防病要点", "--category", "health", "--speaker", "县畜牧站 陈站长"),
        *("--description", "雨季鹅群常见病的预防"),
    )
    assert res.returncode == 0, res.stderr
    return headend_root, cid


def _course(root: Path, cid: str) -> Course:
    with database(root) as db:
        return db.course(cid)


def _last_job_message(root: Path) -> str:
    with database(root) as db:
        done = [j for j in db.jobs.recent(100) if j.state == "done"]
    return max(done, key=lambda j: j.id).message


def _watch_once(root: Path) -> None:
    toml = root / "headend.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("settle_s = 10", "settle_s = 0.2"), encoding="utf-8")
    res = run_cli("headend", "watch", "--root", str(root), "--once")
    assert res.returncode == 0, res.stderr


def test_reingest_on_the_command_line_keeps_the_edits(edited, clips):
    root, cid = edited
    res = run_cli("headend", "ingest", "--root", str(root), str(clips["video"]))
    assert res.returncode == 0, res.stderr
    c = _course(root, cid)
    assert (c.title, c.category, c.speaker, c.description) == (
        "雨季养鹅防病要点",
        "health",
        "县畜牧站 陈站长",
        "雨季鹅群常见病的预防",
    )
    assert f"already in the catalogue as {cid}" in res.stdout and "media unchanged" in res.stdout
    assert "kept edits to title, category, description, speaker" in res.stdout


def test_a_command_line_value_wins_for_its_field_only(edited, clips):
    root, cid = edited
    res = run_cli("headend", "ingest", "--root", str(root), str(clips["video"]), "--speaker", "县农技站 王技术员")
    assert res.returncode == 0, res.stderr
    c = _course(root, cid)
    assert (c.title, c.category, c.speaker) == ("雨季养鹅防病要点", "health", "县农技站 王技术员")
    assert "changed speaker" in res.stdout and "kept edits to title, category, description" in res.stdout


def test_a_file_dropped_again_into_the_watch_folder_keeps_the_edits(edited, clips):
    root, cid = edited
    shutil.copyfile(clips["video"], root / "inbox" / "雨季养鹅 重发.mp4")
    _watch_once(root)
    assert (root / "inbox" / "done" / "雨季养鹅 重发.mp4").is_file()
    c = _course(root, cid)
    # the watch folder's default category (culture) does not replace the editor's choice either
    assert (c.title, c.category, c.speaker) == ("雨季养鹅防病要点", "health", "县畜牧站 陈站长")
    message = _last_job_message(root)
    assert f"already in the catalogue as {cid}" in message and "kept edits to title, category" in message
    res = run_cli("headend", "jobs", "--root", str(root))
    assert "kept edits to title" in res.stdout


def test_a_sidecar_dropped_with_the_file_wins_for_the_fields_it_gives(edited, clips):
    root, cid = edited
    shutil.copyfile(clips["video"], root / "inbox" / "养鹅.mp4")
    (root / "inbox" / "养鹅.toml").write_text('title = "雨季养鹅（修订版）"\ncategory = "agriculture"\n', "utf-8")
    _watch_once(root)
    c = _course(root, cid)
    assert (c.title, c.category, c.speaker, c.description) == (
        "雨季养鹅（修订版）",
        "agriculture",
        "县畜牧站 陈站长",
        "雨季鹅群常见病的预防",
    )
    message = _last_job_message(root)
    assert "changed title, category" in message and "kept edits to description, speaker" in message
