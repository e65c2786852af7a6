"""The TV pages as the server renders them (plain HTML and links, no script needed): home shelves,
notices, continue watching, today's programmes, categories, course and player pages, the sync
indicator, errors as pages, the media files, and every served script being ES5."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from playlists import Notice
from playlists.schedule import CHINA
from tests.tv.station import PIN, STATION_NAME, Lesson, TvStation, repository, schedule, undownloadable

ROOT = Path(__file__).resolve().parents[2]
ACORN = ROOT / "node_modules" / "acorn" / "bin" / "acorn"


async def resume_at(client, course: str, position_s: float) -> None:
    """Watch ``course`` up to ``position_s`` and stop there, as the player reports it."""
    pid = (await (await client.post("/api/plays", json={"course": course})).json())["id"]
    resp = await client.post(f"/api/plays/{pid}/end", json={"position_s": position_s, "watched_s": 1.0})
    assert resp.status == 200


async def login(client) -> None:
    resp = await client.post("/admin/login", data={"pin": PIN}, allow_redirects=False)
    assert resp.status == 303


# ---- home --------------------------------------------------------------------------------------


async def test_home_lists_courses_by_category_in_catalogue_order(client, tv):
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert STATION_NAME in html
    for title in ("雨季养鹅技术", "水稻病虫害防治", "老年人高血压防治", "农村土地承包法解读"):
        assert title in html
    # catalogue order: 政策法规, then 农业技术, then 卫生健康
    assert html.index("政策法规") < html.index("农业技术") < html.index("卫生健康")
    goose = tv.store.course("c-goose")
    assert f'src="/{goose.poster}"' in html  # a real poster for courses that have one
    assert 'class="poster placeholder">水稻病虫害防治<' in html  # a titled box for one that has none
    assert 'href="/course/c-goose"' in html
    css = await client.get(re.search(r'href="(/static/tv\.css[^"]*)"', html).group(1))
    js = await client.get(re.search(r'src="(/static/tv\.js[^"]*)"', html).group(1))
    assert css.status == 200 and js.status == 200
    assert "ArrowRight" in await js.text()


async def test_home_shows_notices_continue_watching_schedule_and_numbered_categories(page_client, tv):
    now = datetime.now(CHINA)
    later = (now + timedelta(hours=1)).replace(second=0, microsecond=0)
    tv.publish(
        add=(undownloadable("c-not-here", "秋季防火"),),
        notices=(
            Notice(
                "n1",
                "本周六村委会开展防汛演练",
                "请各户派一人参加。",
                valid_from=now - timedelta(days=1),
                valid_until=now + timedelta(days=1),
            ),
            Notice("old", "已过期的通知", "", valid_until=now - timedelta(days=1)),
            Notice("soon", "明天才开始的通知", "", valid_from=now + timedelta(days=1)),
        ),
        schedule=schedule(("c-goose", later), ("c-not-here", later + timedelta(minutes=1))),
    )
    assert tv.sync() == "partial"  # c-not-here cannot be downloaded
    client = await page_client(tv.app())
    await resume_at(client, "c-long", 1.5)  # too close to the start: not listed
    html = await (await client.get("/")).text()
    assert 'class="shelf continue"' not in html
    await resume_at(client, "c-long", 20.0)
    html = await (await client.get("/")).text()
    assert "本周六村委会开展防汛演练" in html and "已过期的通知" not in html and "明天才开始的通知" not in html
    assert 'href="/notice/n1"' in html
    assert 'class="shelf continue"' in html and 'href="/play/c-long"' in html and "从 00:20 继续" in html
    if later.date() == now.date():
        assert "今日节目" in html and later.strftime("%H:%M") in html and "尚未下载" in html
    # digits: 1 政策法规, 2 农业技术, 3 就业技能, 4 卫生健康
    assert re.search(r'<span class="num">2</span>农业技术', html)
    assert re.search(r'<span class="num">4</span>卫生健康', html)
    assert "已同步" in html and "尚未同步" not in html  # the indicator after a pass
    go = await client.get("/go/2", allow_redirects=False)
    assert go.status == 303 and go.headers["Location"] == "/category/agriculture"
    nine = await client.get("/go/9")
    assert nine.status == 404 and "没有第 9 个类别" in await nine.text()
    notice = await client.get("/notice/n1")
    assert notice.status == 200 and "请各户派一人参加" in await notice.text()
    await login(client)
    admin = await (await client.get("/admin")).text()
    assert "本月在电视上显示 2 次" in admin  # once on the ticker today, once opened


async def test_long_category_ends_with_a_more_tile(page_client, tmp_path, tv, tv_clips):
    lessons = [
        Lesson(f"c-farm-{i}", f"种植技术第{i}讲", "agriculture", "video", 600.0, poster=False) for i in range(1, 7)
    ]
    st = TvStation(tmp_path / "farm", tv.mirror, repository(tv_clips, lessons))
    assert st.sync() == "ok"
    client = await page_client(st.app())
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


async def test_empty_store_shows_friendly_message(page_client, tmp_path, tv):
    never = TvStation(tmp_path / "never", tv.mirror, tv.sim)  # a station that has not synced yet
    client = await page_client(never.app())
    resp = await client.get("/")
    assert resp.status == 200
    html = await resp.text()
    assert "还没有课程。内容正在同步，请稍后再来。" in html
    assert 'http-equiv="refresh"' in html  # the TV shows new courses by itself once synced
    assert "尚未同步" in html


async def test_sync_indicator_says_offline_but_lessons_play(client, tv):
    del tv.sim.files["index.json"]  # the mirror lost its index: the pass fails
    assert tv.sync() == "failed"
    html = await (await client.get("/")).text()
    assert "离线：已下载的课程可以照常观看" in html
    assert 'href="/play/c-goose"' in await (await client.get("/course/c-goose")).text()
    # a pass running, as the daemon records it: the state, then progress every few seconds
    tv.running(bytes_done=50, bytes_total=200)
    assert "正在更新 25%" in await (await client.get("/course/c-goose")).text()


# ---- course and player pages -------------------------------------------------------------------


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


async def test_player_pages_video_and_audio(client, tv):
    video = await (await client.get("/play/c-goose")).text()
    goose = tv.store.course("c-goose")
    assert "<video" in video and "autoplay" in video
    assert f'<source src="/{goose.media}" type="video/mp4">' in video
    audio = await (await client.get("/play/c-heart")).text()
    heart = tv.store.course("c-heart")
    assert "<audio" in audio and "<video" not in audio
    assert f'<source src="/{heart.media}" type="audio/mp4">' in audio
    assert f'src="/{heart.poster}"' in audio  # the poster is on screen while it plays


# ---- errors ------------------------------------------------------------------------------------


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


async def test_unexpected_error_is_a_500_page_not_a_blank(client, tv, caplog, monkeypatch):
    def fault(*args, **kwargs):  # a fault in this program (a damaged store is a 503: test_damaged_data)
        raise RuntimeError("a bug")

    monkeypatch.setattr(tv.store, "installed_set", fault)
    monkeypatch.setattr(tv.store, "trust", fault)
    resp = await client.get("/")
    assert resp.status == 500
    assert "出错了" in await resp.text()
    api = await client.get("/api/status")
    assert api.status == 500 and (await api.json())["status"] == 500
    assert "unexpected error serving GET /" in caplog.text


# ---- media -------------------------------------------------------------------------------------


async def test_media_serves_ranges(client, tv, tv_clips):
    goose = tv.store.course("c-goose")
    data = tv_clips["video"].read_bytes()
    full = await client.get(f"/{goose.media}")
    assert full.status == 200
    assert full.content_type == "video/mp4"
    assert await full.read() == data
    part = await client.get(f"/{goose.media}", headers={"Range": "bytes=100-1099"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
    assert await part.read() == data[100:1100]
    assert "ETag" in full.headers


async def test_media_refuses_paths_outside_the_store(client, tv):
    # a symlink planted in media/ that points at the database must not be followed out
    media = tv.cfg.data_dir / "media"
    (media / "zz").mkdir(parents=True)
    (media / "zz" / "db.json").symlink_to(tv.cfg.data_dir / "station.json")
    for url in (
        "/media/../station.json",
        "/media/%2E%2E/station.json",
        "/media/ab/%2E%2E/%2E%2E/station.json",
        "/media/zz/db.json",
        "/media/",
        "/media/zz",
        "/media/a%00",
        "/repo/index.json%00",
        "/repo/media/zz/db.json",  # the station's own mirror follows no planted symlink either
        "/repo/%2E%2E/station.json",
    ):
        resp = await client.get(url)
        assert resp.status == 404, url
        assert "index_version" not in await resp.text(), url


# ---- every served script is ES5 ----------------------------------------------------------------


async def test_every_served_script_parses_as_es5(client, tmp_path):
    node = shutil.which("node")
    assert node and ACORN.exists(), "node and node_modules/acorn are needed (make setup runs npm ci)"
    await login(client)
    scripts: dict[str, str] = {}
    for url in ("/", "/course/c-goose", "/play/c-goose", "/play/c-heart", "/session", "/schedule", "/admin", "/nope"):
        html = await (await client.get(url)).text()
        for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', html):
            scripts[src] = await (await client.get(src)).text()
        for i, inline in enumerate(re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, flags=re.S)):
            scripts[f"{url} inline {i}"] = inline
    assert any(s.startswith("/static/tv.js") for s in scripts)
    for name, code in scripts.items():
        f = tmp_path / "script.js"
        f.write_text(code, encoding="utf-8")
        res = subprocess.run([node, str(ACORN), "--ecma5", "--silent", str(f)], capture_output=True, text=True)
        assert res.returncode == 0, f"{name} is not ES5: {res.stderr or res.stdout}"
    # and acorn does catch newer syntax
    f.write_text("const f = () => 1;", encoding="utf-8")
    assert subprocess.run([node, str(ACORN), "--ecma5", "--silent", str(f)], capture_output=True).returncode != 0


@pytest.mark.parametrize(
    "body",
    [b"[" * 2000, b'{"course": ' + b"[" * 2000, b"\xff\xfe", b"[1, 2]", b'"text"', b"{nope"],
    ids=["nested-2000", "nested-in-object", "not-utf8", "a-list", "a-string", "broken"],
)
async def test_a_malformed_play_body_is_a_400_not_a_500(client, body):
    resp = await client.post("/api/plays", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400, await resp.text()


async def test_a_play_end_takes_only_true_or_false_for_ended(client):
    pid = (await (await client.post("/api/plays", json={"course": "c-goose"})).json())["id"]
    for ended in ("no", "false", 1, None):
        resp = await client.post(f"/api/plays/{pid}/end", json={"position_s": 1, "watched_s": 1, "ended": ended})
        assert resp.status == 400, ended
    resp = await client.post(f"/api/plays/{pid}/end", json={"position_s": 1, "watched_s": 1, "ended": False})
    assert resp.status == 200  # and the play is over: a second end finds nothing open
    assert (await client.post(f"/api/plays/{pid}/end", json={"ended": True})).status == 404
