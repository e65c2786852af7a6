"""The watch folder, as an editor uses it: drop files (and sidecars) into inbox/, find them in
done/ or, with a note saying why, in rejected/; and the same inside `headend serve`, with the
courses page showing the job and editing the course."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiohttp
import pytest

from headend.config import load_config
from headend.web.app import create_app
from tests.conftest import init_headend, make_clip, run_cli, serve
from tests.county_kit import cookie_jar, login_as
from tests.headend_db import courses_by_source

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)


def _root(tmp: Path, db, settle_s: float = 0.3) -> Path:
    root = init_headend(tmp / "headend", db)
    cfg = (root / "headend.toml").read_text(encoding="utf-8").replace("settle_s = 10", f"settle_s = {settle_s}")
    (root / "headend.toml").write_text(cfg, encoding="utf-8")
    return root


def _courses(root: Path) -> dict[str, tuple]:
    return {name: (c.title, c.category, c.series, c.episode, c.speaker) for name, c in courses_by_source(root).items()}


@pytest.fixture(scope="module")
def watched(tmp_path_factory, headend_db) -> Path:
    """One `headend watch --once` over an inbox holding good and bad drops."""
    tmp = tmp_path_factory.mktemp("watch")
    root = _root(tmp, headend_db)
    inbox = root / "inbox"
    make_clip(inbox / '雨季 "养鹅" 技术 第2集.mp4', seconds=1, size="192x108")
    make_clip(inbox / "讲座.mp3", seconds=1, audio_only=True)
    (inbox / "讲座.toml").write_text(
        'title = "农村医保政策解读"\ncategory = "政策法规"\nspeaker = "县医保局 李科长"\n'
        'series = "医保"\nepisode = 1\ntags = ["医保"]\n',
        encoding="utf-8",
    )
    (inbox / "不是视频.mp4").write_text("这是一份文档", encoding="utf-8")
    (inbox / "空的.mp4").write_bytes(b"")
    make_clip(inbox / "分类错.mp4", seconds=1, size="160x120")
    (inbox / "分类错.toml").write_text('category = "养殖"\n', encoding="utf-8")
    copy = make_clip(tmp / "副本.mp4", seconds=1, size="160x120")
    shutil.copyfile(copy, inbox / "副本A.mp4")
    shutil.copyfile(copy, inbox / "副本B.mp4")
    res = run_cli("headend", "watch", "--root", str(root), "--once")
    assert res.returncode == 0, res.stderr
    return root


def test_good_drops_are_ingested_and_moved_to_done(watched):
    done = sorted(p.name for p in (watched / "inbox" / "done").iterdir())
    assert '雨季 "养鹅" 技术 第2集.mp4' in done and "讲座.mp3" in done and "讲座.toml" in done
    courses = _courses(watched)
    assert courses['雨季 "养鹅" 技术 第2集.mp4'] == ('雨季 "养鹅" 技术 第2集', "culture", '雨季 "养鹅" 技术', 2, "")
    assert courses["讲座.mp3"] == ("农村医保政策解读", "policy", "医保", 1, "县医保局 李科长")
    assert not [p for p in (watched / "inbox").iterdir() if p.is_file()], "the inbox is left empty"
    assert not list((watched / "inbox" / "processing").iterdir())


@pytest.mark.parametrize(
    "name,says",
    [
        ("不是视频.mp4", "not a video or audio file"),
        ("空的.mp4", "the file is empty"),
        ("分类错.mp4", "unknown category '养殖'"),
    ],
)
def test_bad_drops_are_rejected_with_a_note_saying_what_to_do(watched, name, says):
    rejected = watched / "inbox" / "rejected"
    assert (rejected / name).is_file()
    note = (rejected / f"{name}.error.txt").read_text(encoding="utf-8")
    assert name in note and says in note and "put the file" in note
    assert name not in _courses(watched)


def test_the_same_file_dropped_twice_at_once_is_ingested_once(watched):
    done = {p.name for p in (watched / "inbox" / "done").iterdir()}
    rejected = {p.name for p in (watched / "inbox" / "rejected").iterdir()}
    assert ("副本A.mp4" in done) != ("副本B.mp4" in done)
    second = "副本B.mp4" if "副本A.mp4" in done else "副本A.mp4"
    assert second in rejected
    note = (watched / "inbox" / "rejected" / f"{second}.error.txt").read_text(encoding="utf-8")
    assert "same file" in note and "nothing to do" in note
    assert sum(1 for n in _courses(watched) if n.startswith("副本")) == 1


async def test_serve_ingests_dropped_files_and_the_courses_page_edits_them(tmp_path, headend_db):
    root = _root(tmp_path, headend_db, settle_s=0.2)
    async with serve(create_app(load_config(root))) as base, aiohttp.ClientSession(cookie_jar=cookie_jar()) as http:
        staff = await login_as(http, root, "bian-ji", "editor", base=base)  # editors edit courses
        make_clip(tmp_path / "养鸡技术.mp4", seconds=1, size="160x120")
        (tmp_path / "养鸡技术.mp4").rename(root / "inbox" / "养鸡技术.mp4")  # an upload that just finished
        for _ in range(300):
            async with http.get(f"{base}/api/v1/jobs") as r:
                jobs = (await r.json())["jobs"]
            if jobs and jobs[0]["state"] in ("done", "failed"):
                break
            await asyncio.sleep(0.1)
        assert jobs[0]["state"] == "done", jobs
        done = root / "inbox" / "done" / "养鸡技术.mp4"
        for _ in range(50):  # the job is recorded done first, then its file moves to done/
            if done.is_file():
                break
            await asyncio.sleep(0.1)
        assert done.is_file()
        course_id = jobs[0]["course_id"]
        async with http.get(f"{base}/county/courses") as r:
            page = await r.text()
        assert (
            r.status == 200 and "养鸡技术" in page and f'href="/county/courses/{course_id}"' in page and "完成" in page
        )

        form = {
            "title": "蛋鸡养殖技术",
            "category": "agriculture",
            "series": "养鸡",
            "episode": "1",
            "speaker": "",
            "description": "冬季蛋鸡管理",
        }
        async with staff.post(f"/county/courses/{course_id}", form, allow_redirects=False) as r:
            assert r.status == 303
        async with http.get(f"{base}/county/courses") as r:
            page = await r.text()
        assert "蛋鸡养殖技术" in page and "养鸡 第1集" in page and "农业技术" in page

        async with staff.post(f"/county/courses/{course_id}", {**form, "category": "养殖", "title": "别的"}) as r:
            assert r.status == 400
            page = await r.text()
        assert "unknown category" in page and "没有保存" in page
        for episode in ("²", "٣", "12345", "-1"):  # digits to str.isdigit(), or out of range: a 400, never a 500
            async with staff.post(f"/county/courses/{course_id}", {**form, "episode": episode}) as r:
                assert r.status == 400, episode
                assert "集数必须是数字" in await r.text()
        assert _courses(root)["养鸡技术.mp4"][:2] == ("蛋鸡养殖技术", "agriculture")


def test_a_file_left_in_processing_by_a_stop_is_taken_again(tmp_path, headend_db):
    root = _root(tmp_path, headend_db)
    (root / "inbox" / "processing").mkdir(parents=True)
    make_clip(root / "inbox" / "processing" / "停电时的课.mp4", seconds=1, size="128x96")
    res = run_cli("headend", "watch", "--root", str(root), "--once")
    assert res.returncode == 0, res.stderr
    assert (root / "inbox" / "done" / "停电时的课.mp4").is_file()
    assert "停电时的课.mp4" in _courses(root)
