"""The dashboard's "立即发布" (issue 12 item 7): an editor publishes from the page instead of the
command line; the publish runs in the background while the page shows its stage; a second press
while one runs starts nothing; a viewer cannot publish; a publish that fails says why and the
previous version stays published; the audit log names who published."""

from __future__ import annotations

import asyncio
import fcntl
import json

import pytest

from headend.config import load_config
from headend.web.app import create_app
from tests.county_kit import login_admin, login_as

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)


async def _until_finished(staff, seconds: float = 60) -> dict:
    for _ in range(int(seconds * 10)):
        async with staff.get("/api/v1/publish") as r:
            run = await r.json()
        if run["state"] not in ("running", "idle"):
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"the publish did not finish: {run}")


def _index_version(root) -> int:
    return json.loads((root / "repo" / "index.json").read_bytes())["version"]


async def test_an_editor_publishes_from_the_page_and_sees_it_go(headend_root, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(headend_root), background_loops=False))
    before = _index_version(headend_root)
    editor = await login_as(client, headend_root, "bian-ji", "editor")
    lock = open(headend_root / ".publish.lock", "w")  # noqa: SIM115 - another publish holds the root
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        async with editor.post("/county/publishing/publish", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/county/publishing"
        await asyncio.sleep(0.3)
        page = await editor.text("/county/publishing")
        assert "正在发布" in page and "等待另一次发布结束" in page and 'http-equiv="refresh"' in page
        async with editor.post("/county/publishing/publish", allow_redirects=False) as r:
            assert r.headers["Location"] == "/county/publishing?busy=1"  # one at a time
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    run = await _until_finished(editor)
    assert run["state"] == "done" and run["version"] == before + 1 and run["by"] == "bian-ji", run
    assert _index_version(headend_root) == before + 1
    page = await editor.text("/county/publishing")
    assert f"已发布第 {before + 1} 版" in page and f"<strong>{before + 1}</strong>" in page
    admin = await login_admin(client, headend_root)
    audit = await admin.text("/county/audit")
    assert "repository.publish" in audit and "bian-ji" in audit


async def test_a_viewer_cannot_publish(headend_root, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(headend_root), background_loops=False))
    before = _index_version(headend_root)
    viewer = await login_as(client, headend_root, "cha-kan", "viewer")
    assert 'id="publish-now"' not in await viewer.text("/county/publishing")
    async with viewer.post("/county/publishing/publish", allow_redirects=False) as r:
        assert r.status == 403
    async with viewer.get("/api/v1/publish") as r:
        assert (await r.json())["state"] == "idle"
    assert _index_version(headend_root) == before


async def test_a_failed_publish_says_why_and_keeps_the_published_version(headend_root, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(headend_root), background_loops=False))
    before = _index_version(headend_root)
    (headend_root / "notices" / "broken.toml").write_text('title = "坏"\nbody = \n', encoding="utf-8")
    editor = await login_as(client, headend_root, "bian-ji", "editor")
    async with editor.post("/county/publishing/publish", allow_redirects=False) as r:
        assert r.status == 303
    run = await _until_finished(editor)
    assert run["state"] == "failed" and "broken.toml" in run["error"], run
    assert str(headend_root) not in run["error"]  # server paths only for admins
    page = await editor.text("/county/publishing")
    assert "发布没有完成，原来的版本仍在使用" in page and "broken.toml" in page
    assert _index_version(headend_root) == before
