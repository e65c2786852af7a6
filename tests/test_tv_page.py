"""The station's web UI: TV pages, player, media, admin page and errors, with a real store,
real ffmpeg clips, and the system Chromium driven by the keyboard alone (a TV remote)."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from playlists import media_path
from station.config import StationConfig
from station.store import Store
from station.web.app import create_app
from station.web.keys import SYNC_NOW
from tests.browser import chromium_missing, launch_chromium

PIN = "2468"
STATION_NAME = "测试镇示范村远教站点"


# ---- fixtures: a real store with real media -------------------------------------------------


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    d = tmp_path_factory.mktemp("clips")
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
        "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-profile:v", "main", "-c:a", "aac",
        "-movflags", "+faststart", str(d / "out.mp4"),
    )
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360", "-frames:v", "1", str(d / "poster.jpg"))
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=330", "-t", "3", "-c:a", "aac", "-ac", "1", str(d / "talk.m4a"))
    return {"video": d / "out.mp4", "poster": d / "poster.jpg", "audio": d / "talk.m4a"}


def put_blob(store: Store, src: Path, extension: str) -> str:
    """Place a file in the store under its sha256 name, as sync does once it is verified."""
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    repo_path = media_path(sha, extension)
    dest = store.blob_path(repo_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return repo_path


def make_config(tmp_path: Path) -> StationConfig:
    return StationConfig(
        path=tmp_path / "station.toml",
        station_id="ceshi-shifan",
        name=STATION_NAME,
        region=("广东省", "测试镇", "示范村"),
        player="tv-hd",
        data_dir=tmp_path / "station",
        mirrors=("http://127.0.0.1:9/repo/",),
        trusted_keys=(),
        sync_interval_s=300.0,
        sync_timeout_s=30.0,
        report_url="http://127.0.0.1:9/api/v1/",
        report_token="",
        ui_host="127.0.0.1",
        ui_port=0,
        admin_pin=PIN,
        language="zh-CN",
    )


def install_courses(store: Store, clips: dict[str, Path]) -> None:
    video = put_blob(store, clips["video"], "mp4")
    poster = put_blob(store, clips["poster"], "jpg")
    audio = put_blob(store, clips["audio"], "m4a")

    def course(cid, title, category, kind="video", with_poster=True, description=""):
        return {
            "id": cid,
            "title": title,
            "category": category,
            "description": description,
            "duration_s": 3.0,
            "kind": kind,
            "mime": "audio/mp4" if kind == "audio" else "video/mp4",
            "media": audio if kind == "audio" else video,
            "poster": poster if with_poster else None,
            "playlists": ["main"],
        }

    store.install(
        {
            "index_version": 1,
            "courses": [
                course("c-goose", "雨季养鹅技术", "agriculture", description="讲解雨季鹅舍防潮、饲料保存和常见病预防。"),
                course("c-rice", "水稻病虫害防治", "agriculture", with_poster=False),
                course("c-heart", "老年人高血压防治", "health", kind="audio"),
                course("c-land", "农村土地承包法解读", "policy"),
            ],
        }
    )


@pytest.fixture
def store(tmp_path, clips) -> Store:
    s = Store(tmp_path / "station")
    install_courses(s, clips)
    return s


@pytest.fixture
def config(tmp_path) -> StationConfig:
    return make_config(tmp_path)


@pytest.fixture
async def client(aiohttp_client, config, store):
    return await aiohttp_client(create_app(config, store))


# ---- TV pages -------------------------------------------------------------------------------


async def test_home_lists_courses_by_category_in_catalogue_order(client, store):
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert STATION_NAME in html
    for title in ("雨季养鹅技术", "水稻病虫害防治", "老年人高血压防治", "农村土地承包法解读"):
        assert title in html
    # catalogue order: 政策法规, then 农业技术, then 卫生健康
    assert html.index("政策法规") < html.index("农业技术") < html.index("卫生健康")
    goose = store.course("c-goose")
    assert f'src="/{goose.poster}"' in html  # a real poster for courses that have one
    assert 'class="poster placeholder">水稻病虫害防治<' in html  # a titled box for one that has none
    assert 'href="/course/c-goose"' in html
    css = await client.get(re.search(r'href="(/static/tv\.css[^"]*)"', html).group(1))
    js = await client.get(re.search(r'src="(/static/tv\.js[^"]*)"', html).group(1))
    assert css.status == 200 and js.status == 200
    assert "ArrowRight" in await js.text()


async def test_long_category_ends_with_a_more_tile(aiohttp_client, tmp_path, clips):
    store = Store(tmp_path / "station")
    video = put_blob(store, clips["video"], "mp4")
    courses = [
        {"id": f"c-farm-{i}", "title": f"种植技术第{i}讲", "category": "agriculture", "duration_s": 600,
         "kind": "video", "mime": "video/mp4", "media": video, "poster": None}
        for i in range(1, 7)
    ]
    store.install({"index_version": 1, "courses": courses})
    client = await aiohttp_client(create_app(make_config(tmp_path), store))
    home = await (await client.get("/")).text()
    assert "种植技术第3讲" in home and "种植技术第4讲" not in home
    assert 'href="/category/agriculture"' in home and "全部 6 个" in home
    page = await client.get("/category/agriculture")
    text = await page.text()
    assert page.status == 200
    assert all(f"种植技术第{i}讲" in text for i in range(1, 7))
    assert "时长" not in text  # tiles, not course pages
    empty = await client.get("/category/health")
    assert empty.status == 200 and "这个类别还没有课程" in await empty.text()
    assert (await client.get("/category/no-such-thing")).status == 404


async def test_course_page_shows_details_and_play(client):
    resp = await client.get("/course/c-goose")
    assert resp.status == 200
    html = await resp.text()
    assert "雨季养鹅技术" in html
    assert "农业技术" in html
    assert "时长 1 分钟" in html
    assert "讲解雨季鹅舍防潮" in html
    assert re.search(r'<a class="button primary play" href="/play/c-goose" data-default-focus>▶ 播放</a>', html)
    assert "返回" in html


async def test_player_pages_video_and_audio(client, store):
    video = await (await client.get("/play/c-goose")).text()
    goose = store.course("c-goose")
    assert "<video" in video and "autoplay" in video
    assert f'<source src="/{goose.media}" type="video/mp4">' in video
    audio = await (await client.get("/play/c-heart")).text()
    heart = store.course("c-heart")
    assert "<audio" in audio and "<video" not in audio
    assert f'<source src="/{heart.media}" type="audio/mp4">' in audio
    assert f'src="/{heart.poster}"' in audio  # the poster is on screen while it plays


async def test_unknown_course_is_a_chinese_404_page_with_a_way_home(client):
    for url in ("/course/no-such-course", "/play/no-such-course", "/no/such/page"):
        resp = await client.get(url)
        assert resp.status == 404, url
        assert resp.content_type == "text/html"
        html = await resp.text()
        assert "找不到这个页面" in html
        assert 'href="/"' in html and "回到首页" in html
    html = await (await client.get("/course/no-such-course")).text()
    assert "没有找到这个课程" in html


async def test_api_errors_are_json(client):
    resp = await client.get("/api/unknown")
    assert resp.status == 404
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["status"] == 404 and body["error"]


async def test_api_status(client, store):
    store.record_sync({"state": "ok", "index_version": 1, "last_success": "2026-03-01T08:00:00+08:00"})
    resp = await client.get("/api/status")
    assert resp.status == 200
    body = await resp.json()
    assert body["station"] == "ceshi-shifan"
    assert body["name"] == STATION_NAME
    assert body["player"] == "tv-hd"
    assert body["courses"] == 4
    assert body["sync"]["state"] == "ok"
    assert body["storage"]["media_files"] == 3 and body["storage"]["media_bytes"] > 0


async def test_empty_store_shows_friendly_message(aiohttp_client, tmp_path):
    client = await aiohttp_client(create_app(make_config(tmp_path), Store(tmp_path / "station")))
    resp = await client.get("/")
    assert resp.status == 200
    html = await resp.text()
    assert "还没有课程。内容正在同步，请稍后再来。" in html
    assert 'http-equiv="refresh"' in html  # the TV shows new courses by itself once synced


async def test_unexpected_error_is_a_500_page_not_a_blank(aiohttp_client, tmp_path, caplog):
    store = Store(tmp_path / "station")
    client = await aiohttp_client(create_app(make_config(tmp_path), store))
    (tmp_path / "station" / "station.json").write_text("{ this is not json", encoding="utf-8")
    resp = await client.get("/")
    assert resp.status == 500
    assert "出错了" in await resp.text()
    api = await client.get("/api/status")
    assert api.status == 500 and (await api.json())["status"] == 500
    assert "unexpected error serving GET /" in caplog.text


# ---- media ----------------------------------------------------------------------------------


async def test_media_serves_ranges(client, store, clips):
    goose = store.course("c-goose")
    data = clips["video"].read_bytes()
    full = await client.get(f"/{goose.media}")
    assert full.status == 200
    assert full.content_type == "video/mp4"
    assert await full.read() == data
    part = await client.get(f"/{goose.media}", headers={"Range": "bytes=100-1099"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
    assert await part.read() == data[100:1100]
    assert "ETag" in full.headers


async def test_media_refuses_paths_outside_the_store(client, store, tmp_path):
    # a symlink planted in media/ that points at the database must not be followed out
    (store.data_dir / "media" / "zz").mkdir(parents=True)
    (store.data_dir / "media" / "zz" / "db.json").symlink_to(store.data_dir / "station.json")
    for url in (
        "/media/../station.json",
        "/media/%2E%2E/station.json",
        "/media/ab/%2E%2E/%2E%2E/station.json",
        "/media/zz/db.json",
        "/media/",
        "/media/zz",
    ):
        resp = await client.get(url)
        assert resp.status == 404, url
        assert "index_version" not in await resp.text(), url


# ---- admin ----------------------------------------------------------------------------------


async def test_admin_wrong_pin_is_refused_slowly_and_gives_no_session(client):
    started = time.monotonic()
    resp = await client.post("/admin/login", data={"pin": "0000"}, allow_redirects=False)
    assert time.monotonic() - started >= 0.9  # guessing is slow
    assert resp.status == 403
    assert "PIN 不正确" in await resp.text()
    assert "yj_admin" not in resp.cookies
    page = await (await client.get("/admin")).text()
    assert "请输入管理 PIN 码" in page and "立即同步" not in page
    sync = await client.post("/admin/sync", allow_redirects=False)
    assert sync.status == 303 and not client.app[SYNC_NOW].is_set()


async def test_admin_locks_out_after_five_wrong_pins(aiohttp_client, config, store):
    client = await aiohttp_client(create_app(config, store, admin_failure_delay_s=0.01))
    for _ in range(5):
        assert (await client.post("/admin/login", data={"pin": "1111"})).status == 403
    resp = await client.post("/admin/login", data={"pin": PIN}, allow_redirects=False)
    assert resp.status == 429  # even the right PIN waits now
    assert int(resp.headers["Retry-After"]) > 0
    html = await resp.text()
    assert "PIN 输错次数太多" in html and 'href="/admin"' in html


async def test_admin_right_pin_shows_sync_status_and_sync_now(client, store):
    store.record_sync(
        {
            "state": "failed",
            "last_attempt": "2026-03-01T08:05:00+08:00",
            "last_success": "2026-02-28T20:00:00+08:00",
            "last_error": "镜像 http://127.0.0.1:9/repo/ 无法连接：请检查宽带，恢复后点“立即同步”。",
            "index_version": 7,
            "courses_installed": 4,
            "courses_total": 5,
        }
    )
    resp = await client.post("/admin/login", data={"pin": PIN}, allow_redirects=False)
    assert resp.status == 303
    cookie = resp.headers["Set-Cookie"]
    assert "yj_admin=" in cookie and "HttpOnly" in cookie
    page = await client.get("/admin")
    html = await page.text()
    assert page.status == 200
    assert "失败" in html and "无法连接：请检查宽带" in html
    assert "已安装 4 / 共 5" in html
    assert "ceshi-shifan" in html and "高清电视" in html
    assert "雨季养鹅技术" in html and "老年人高血压防治" in html
    assert "课程文件" in html and "剩余空间" in html

    assert not client.app[SYNC_NOW].is_set()
    resp = await client.post("/admin/sync", allow_redirects=False)
    assert resp.status == 303
    assert client.app[SYNC_NOW].is_set()
    html = await (await client.get(resp.headers["Location"])).text()
    assert "已请求立即同步" in html

    await client.post("/admin/logout")
    assert "请输入管理 PIN 码" in await (await client.get("/admin")).text()


async def test_admin_escapes_what_the_sync_loop_reported(client, store):
    store.record_sync({"state": "failed", "last_error": "<script>alert(1)</script>"})
    await client.post("/admin/login", data={"pin": PIN})
    html = await (await client.get("/admin")).text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# ---- real Chromium, keyboard only ----------------------------------------------------------

browser = pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or "")

FOCUS_JS = """() => {
  const el = document.activeElement;
  const cs = getComputedStyle(el);
  return {tag: el.tagName, href: el.getAttribute('href'), text: el.textContent.trim(),
          outline: cs.outlineStyle, outlineWidth: parseFloat(cs.outlineWidth), color: cs.outlineColor};
}"""


async def focused(page) -> dict:
    f = await page.evaluate(FOCUS_JS)
    assert f["tag"] != "BODY", f"nothing has focus on {page.url}"
    assert f["outline"] != "none" and f["outlineWidth"] >= 4, f"focus is not visible: {f}"
    return f


async def press(page, key: str) -> None:
    await page.keyboard.press(key)
    await page.wait_for_timeout(50)


@pytest.mark.browser
@browser
async def test_remote_control_home_to_player_and_back(aiohttp_server, config, store):
    server = await aiohttp_server(create_app(config, store))
    async with launch_chromium() as chromium:
        page = await chromium.new_page(viewport={"width": 1280, "height": 720})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(str(server.make_url("/")))

        # home: rows 政策法规 [land], 农业技术 [goose, rice], 卫生健康 [heart]
        assert (await focused(page))["href"] == "/course/c-land"
        await press(page, "ArrowDown")
        assert (await focused(page))["href"] == "/course/c-goose"
        await press(page, "ArrowRight")
        assert (await focused(page))["href"] == "/course/c-rice"
        await press(page, "ArrowRight")  # end of the row: focus stays
        assert (await focused(page))["href"] == "/course/c-rice"
        await press(page, "ArrowDown")  # a shorter row below: nearest tile
        assert (await focused(page))["href"] == "/course/c-heart"
        await press(page, "ArrowUp")
        assert (await focused(page))["href"] == "/course/c-goose"

        await page.keyboard.press("Enter")
        await page.wait_for_url("**/course/c-goose")
        f = await focused(page)
        assert f["text"] == "▶ 播放"
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/play/c-goose")

        await page.wait_for_function("document.getElementById('media').readyState >= 1", timeout=5000)
        if await page.evaluate("document.getElementById('media').paused"):
            await page.keyboard.press("Enter")  # autoplay blocked: OK starts it
        await page.wait_for_function("document.getElementById('media').currentTime > 0.3", timeout=5000)
        assert await page.evaluate("document.getElementById('media').videoWidth") == 320

        await page.keyboard.press("Enter")  # OK pauses, and the on-screen display says so
        await page.wait_for_function("document.getElementById('media').paused")
        assert await page.is_visible("#osd")
        assert "已暂停" in await page.inner_text("#osd-state")
        assert re.fullmatch(r"00:0\d / 00:03", await page.inner_text("#osd-time"))
        await page.keyboard.press("ArrowLeft")  # −15 s: back to the start
        await page.wait_for_function("document.getElementById('media').currentTime < 0.05")
        await page.keyboard.press("Enter")
        await page.wait_for_function("document.getElementById('media').currentTime > 0.3", timeout=5000)
        assert not await page.evaluate("document.getElementById('media').paused")

        await page.keyboard.press("Escape")  # Back: to the course page, focus on 播放
        await page.wait_for_url("**/course/c-goose")
        assert (await focused(page))["text"] == "▶ 播放"
        await page.keyboard.press("Backspace")
        await page.wait_for_url(str(server.make_url("/")))
        assert (await focused(page))["href"] == "/course/c-goose"  # back where the viewer was
        assert not errors, errors


@pytest.mark.browser
@browser
async def test_home_fits_a_720p_tv_with_big_text(aiohttp_server, config, store, tmp_path):
    server = await aiohttp_server(create_app(config, store))
    async with launch_chromium() as chromium:
        page = await chromium.new_page(viewport={"width": 1280, "height": 720})
        await page.goto(str(server.make_url("/")))
        await focused(page)
        assert await page.evaluate("document.documentElement.scrollWidth") <= 1280
        small = await page.evaluate(
            """() => Array.from(document.querySelectorAll('body *'))
                 .filter(el => Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim()))
                 .filter(el => el.getBoundingClientRect().width > 0)
                 .map(el => [el.textContent.trim().slice(0, 20), parseFloat(getComputedStyle(el).fontSize)])
                 .filter(([, size]) => size < 28)"""
        )
        assert not small, f"text smaller than 28px at 720p: {small}"
        posters = await page.evaluate(
            "Array.from(document.querySelectorAll('img.poster')).map(i => i.complete && i.naturalWidth)"
        )
        assert posters and all(w == 640 for w in posters)  # posters load from /media
        await page.screenshot(path=str(tmp_path / "tv-home.png"))


@pytest.mark.browser
@browser
async def test_unknown_page_in_browser_has_focus_and_back_leads_home(aiohttp_server, config, store):
    server = await aiohttp_server(create_app(config, store))
    async with launch_chromium() as chromium:
        page = await chromium.new_page(viewport={"width": 1280, "height": 720})
        resp = await page.goto(str(server.make_url("/course/gone")))
        assert resp.status == 404
        assert (await focused(page))["text"] == "回到首页"
        await page.keyboard.press("Escape")  # opened directly: Back still leads somewhere
        await page.wait_for_url(str(server.make_url("/")))
        assert (await focused(page))["href"].startswith("/course/")
