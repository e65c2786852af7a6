"""One course travels from a courseware file to the village TV: ingest → publish → serve →
station sync → TV page in real Chromium, played with the keyboard alone."""

from __future__ import annotations

import functools
import re
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from headend.config import load_config as headend_config
from headend.web.app import create_app as headend_app
from station.config import load_config as station_config
from station.daemon import build_app
from station.store import Store
from tests.conftest import dead_url, run_cli_async, serve, write_station_toml

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)


async def sync(toml: Path) -> tuple[int, str, str]:
    return await run_cli_async("station", "--config", str(toml), "sync", "--once")


def assert_store_matches_repo(toml: Path, repo: Path) -> list:
    store = Store(station_config(toml).data_dir)
    courses = store.courses()
    for c in courses:
        for path in filter(None, (c.media, c.poster)):
            assert store.blob_path(path).read_bytes() == (repo / path).read_bytes(), path
    return courses


async def test_station_syncs_the_published_tree_byte_for_byte(headend_root, tmp_path):
    async with serve(headend_app(headend_config(headend_root))) as base:
        toml = write_station_toml(tmp_path / "station.toml", [f"{base}/repo/"], headend_root / "keys" / "headend.pub")
        code, out, err = await sync(toml)
        assert code == 0, err
        assert "2/2 courses installed" in out
        courses = assert_store_matches_repo(toml, headend_root / "repo")
        assert {c.title for c in courses} == {"雨季养鹅技术", "农村医保政策解读"}
        # An audio-only source reaches a TV profile as a video: a still title card with its sound.
        assert {c.kind for c in courses} == {"video"}
        # A second pass finds everything in place and downloads no media.
        code, out, err = await sync(toml)
        assert code == 0 and "0 files (0 bytes) downloaded" in out


def test_every_published_signature_verifies_with_minisign(headend_root):
    repo = headend_root / "repo"
    sigs = sorted(repo.rglob("*.minisig"))
    assert {s.name for s in sigs} == {"index.json.minisig", "all.1.json.minisig"}
    for sig in sigs:
        res = subprocess.run(
            ["minisign", "-V", "-p", str(headend_root / "keys" / "headend.pub"), "-m", str(sig.with_suffix(""))],
            capture_output=True,
            text=True,
        )
        assert res.returncode == 0, res.stderr
        assert f"file:{sig.with_suffix('').name}" in res.stdout


async def test_tampered_index_is_refused_by_minisign_and_station(headend_root, tmp_path):
    index = headend_root / "repo" / "index.json"
    data = index.read_bytes()
    index.write_bytes(data.replace(b'"version":1', b'"version":9', 1))
    pub = headend_root / "keys" / "headend.pub"
    tool = subprocess.run(["minisign", "-V", "-p", str(pub), "-m", str(index)], capture_output=True)
    assert tool.returncode != 0
    async with serve(headend_app(headend_config(headend_root))) as base:
        toml = write_station_toml(tmp_path / "station.toml", [f"{base}/repo/"], pub)
        code, _out, err = await sync(toml)
    assert code == 1
    assert "no mirror gave a valid index" in err and "index.json" in err and "altered" in err
    assert Store(station_config(toml).data_dir).courses() == []
    media = tmp_path / "data" / "media"
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


async def test_any_static_server_can_be_the_mirror(headend_root, tmp_path):
    """`python3 -m http.server` in the published folder: no ETag, no Range."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(headend_root / "repo"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        port = httpd.server_address[1]
        toml = write_station_toml(
            tmp_path / "station.toml", [f"http://127.0.0.1:{port}/"], headend_root / "keys" / "headend.pub"
        )
        code, _out, err = await sync(toml)
        assert code == 0, err
        assert len(assert_store_matches_repo(toml, headend_root / "repo")) == 2
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_a_dead_mirror_is_skipped_for_the_next(headend_root, tmp_path):
    async with serve(headend_app(headend_config(headend_root))) as base:
        toml = write_station_toml(
            tmp_path / "station.toml",
            [dead_url(), f"{base}/repo/"],
            headend_root / "keys" / "headend.pub",
        )
        code, _out, err = await sync(toml)
    assert code == 0, err
    assert len(assert_store_matches_repo(toml, headend_root / "repo")) == 2


async def test_station_toml_with_a_missing_key_names_file_and_key(tmp_path, headend_root):
    toml = write_station_toml(tmp_path / "station.toml", ["http://127.0.0.1:9/"], headend_root / "keys" / "headend.pub")
    toml.write_text(toml.read_text(encoding="utf-8").replace('player = "stb-sd"\n', ""), encoding="utf-8")
    code, _out, err = await sync(toml)
    assert code == 2
    assert re.search(r"^station: station\.toml:\d+: \[station\]: missing key 'player'", err, re.M), err


@pytest.mark.browser
async def test_tv_page_plays_a_synced_course_by_keyboard_alone(headend_root, tmp_path):
    from tests.browser import launch_chromium

    async with serve(headend_app(headend_config(headend_root))) as base:
        toml = write_station_toml(tmp_path / "station.toml", [f"{base}/repo/"], headend_root / "keys" / "headend.pub")
        code, _, err = await sync(toml)
        assert code == 0, err
    cfg = station_config(toml)
    video = next(c for c in Store(cfg.data_dir).courses() if c.kind == "video")
    async with serve(build_app(cfg, sync=False)) as tv, launch_chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        await page.goto(f"{tv}/")
        # Arrow keys until the video course's tile has focus (keyboard only, bounded).
        for key in ["ArrowRight"] * 4 + ["ArrowDown"] * 4 + ["ArrowRight"] * 4:
            href = await page.evaluate("document.activeElement && document.activeElement.getAttribute('href')")
            if href and video.id in href:
                break
            await page.keyboard.press(key)
        assert video.id in (await page.evaluate("document.activeElement.getAttribute('href')") or "")
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"**/course/{video.id}")
        await page.keyboard.press("Enter")  # the default focus is 播放
        await page.wait_for_url(f"**/play/{video.id}")
        await page.wait_for_selector("video")
        if await page.evaluate("document.querySelector('video').paused"):
            await page.keyboard.press("Enter")
        await page.wait_for_function("document.querySelector('video').currentTime > 1", timeout=15000)
        assert await page.evaluate("document.querySelector('video').error") is None
