"""The TV and admin pages over HTTP (no browser): home rows, digits, schedule, notices, missing
files, removed courses, study sessions, the admin sections, languages and catalogues, and the
ES5 check of every served script with acorn."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from playlists.schedule import CHINA
from station.store import Store
from station.web.app import create_app
from station.web.keys import ATTENDANCE
from tests.test_tv_page import PIN, clips, install_courses, make_config  # noqa: F401  (clips is a fixture)

ROOT = Path(__file__).resolve().parents[1]
ACORN = ROOT / "node_modules" / "acorn" / "bin" / "acorn"


def with_extras(store: Store, *, notices=None, schedule=None, extra_courses=()) -> None:
    doc = store.installed()
    doc["courses"] = doc["courses"] + list(extra_courses)
    if notices is not None:
        doc["notices"] = notices
    if schedule is not None:
        doc["playlists"] = [{"name": "main", "version": 1, "title": "全部课程", "schedule": schedule}]
    store.install(doc)


@pytest.fixture
def store(tmp_path, clips):  # noqa: F811
    s = Store(tmp_path / "station")
    install_courses(s, clips)
    return s


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path)


@pytest.fixture
async def client(aiohttp_client, config, store):
    return await aiohttp_client(create_app(config, store, admin_failure_delay_s=0.01))


async def login(client) -> None:
    resp = await client.post("/admin/login", data={"pin": PIN}, allow_redirects=False)
    assert resp.status == 303


# ---- home --------------------------------------------------------------------------------------


async def test_home_shows_notices_continue_watching_schedule_and_numbered_categories(client, store):
    now = datetime.now(CHINA)
    later = (now + timedelta(hours=1)).replace(second=0, microsecond=0)
    with_extras(
        store,
        notices=[
            {"id": "n1", "title": "本周六村委会开展防汛演练", "body": "请各户派一人参加。",
             "valid_from": (now - timedelta(days=1)).isoformat(), "valid_until": (now + timedelta(days=1)).isoformat()},
            {"id": "old", "title": "已过期的通知", "valid_until": (now - timedelta(days=1)).isoformat()},
            {"body": "没有标题也没有编号的通知"},
        ],
        schedule={"slots": [{"course": "c-goose", "start": later.isoformat()},
                            {"course": "c-not-here", "start": (later + timedelta(minutes=1)).isoformat()}]}
        if later.date() == now.date() else {"slots": []},
    )
    client.app[ATTENDANCE].save_resume("c-land", 1.5, 3.0)  # too close to the start: not listed
    html = await (await client.get("/")).text()
    assert 'class="shelf continue"' not in html
    client.app[ATTENDANCE].save_resume("c-land", 90.0, 600.0)
    html = await (await client.get("/")).text()
    assert "本周六村委会开展防汛演练" in html and "已过期的通知" not in html and "没有标题也没有编号的通知" in html
    assert 'href="/notice/n1"' in html
    assert 'class="shelf continue"' in html and 'href="/play/c-land"' in html and "从 01:30 继续" in html
    if later.date() == now.date():
        assert "今日节目" in html and later.strftime("%H:%M") in html and "尚未下载" in html
    # digits: 1 政策法规, 2 农业技术, 3 卫生健康
    assert re.search(r'<span class="num">2</span>农业技术', html)
    assert "已同步" not in html and "尚未同步" in html  # the indicator: never synced
    go = await client.get("/go/2", allow_redirects=False)
    assert go.status == 303 and go.headers["Location"] == "/category/agriculture"
    nine = await client.get("/go/9")
    assert nine.status == 404 and "没有第 9 个类别" in await nine.text()
    notice = await client.get("/notice/n1")
    assert notice.status == 200 and "请各户派一人参加" in await notice.text()
    views = client.app[ATTENDANCE].notice_views(now.date().replace(day=1), now.date())
    assert views["n1"] == 2  # once on the ticker today, once opened


async def test_sync_indicator_says_offline_but_lessons_play(client, store):
    store.record_sync({"state": "failed", "last_error": "mirror unreachable", "last_success": "2026-11-01T08:00:00+08:00"})
    html = await (await client.get("/")).text()
    assert "离线：已下载的课程可以照常观看" in html
    store.record_sync({"state": "running", "bytes_done": 50, "bytes_total": 200})
    assert "正在更新 25%" in await (await client.get("/course/c-goose")).text()


async def test_schedule_page_and_channel_mode_data(client, store):
    soon = (datetime.now(CHINA) + timedelta(seconds=40)).replace(microsecond=0)
    with_extras(store, schedule={"slots": [{"course": "c-goose", "start": soon.isoformat()}]})
    html = await (await client.get("/")).text()
    start_ms = int(soon.timestamp() * 1000)
    assert 'data-programme="c-goose"' in html and f'data-programme-start="{start_ms}"' in html
    assert 'id="countdown"' in html
    page = await (await client.get("/schedule")).text()
    assert "节目单" in page and soon.strftime("%H:%M") in page
    # once the channel has started it, the TV does not count down for it again
    key = re.search(r'data-programme-key="([^"]+)"', html).group(1)
    await client.get(f"/play/c-goose?channel={key}")
    assert 'data-programme="c-goose"' not in await (await client.get("/")).text()


async def test_episodes_from_series_keys_or_titles_and_next_plays_on(client, store):
    base = store.installed()["courses"][0]
    eps = [dict(base, id=f"c-chick-{n}", title=f"科学养鸡 第{n}集", category="agriculture") for n in (2, 1, 3)]
    with_extras(store, extra_courses=eps)
    html = await (await client.get("/course/c-chick-2")).text()
    assert html.index('href="/course/c-chick-1"') < html.index('href="/course/c-chick-3"')
    assert "第 2 集" in html
    player = await (await client.get("/play/c-chick-2")).text()
    assert 'data-next="/play/c-chick-3"' in player
    assert 'data-next="' not in await (await client.get("/play/c-chick-3")).text()


# ---- bad input ---------------------------------------------------------------------------------


async def test_missing_media_file_is_explained_on_tv_and_admin(client, store):
    goose = store.course("c-goose")
    store.blob_path(goose.media).unlink()
    course = await (await client.get("/course/c-goose")).text()
    assert "本机上缺少这个课程的文件" in course and "/play/c-goose" not in course
    play = await client.get("/play/c-goose")
    assert play.status == 200
    html = await play.text()
    assert "本机上缺少这个课程的文件" in html and "<video" not in html and "data-default-focus" in html
    await login(client)
    admin = await (await client.get("/admin")).text()
    assert "文件缺失" in admin and "《雨季养鹅技术》：本机上缺少这个课程的文件" in admin


async def test_course_removed_while_playing_is_reported_to_the_player(client, store):
    start = await client.post("/api/plays", json={"course": "c-goose"})
    play_id = (await start.json())["id"]
    beat = await client.post(f"/api/plays/{play_id}", json={"position_s": 1.0, "watched_s": 1.0})
    assert (await beat.json())["installed"] is True
    doc = store.installed()
    doc["courses"] = [c for c in doc["courses"] if c["id"] != "c-goose"]
    store.install(doc)
    beat = await client.post(f"/api/plays/{play_id}", json={"position_s": 2.0, "watched_s": 2.0})
    assert (await beat.json())["installed"] is False
    end = await client.post(f"/api/plays/{play_id}/end", data='{"position_s": 3, "watched_s": 3, "ended": true}')
    assert end.status == 200 and (await end.json())["installed"] is False
    assert (await client.post(f"/api/plays/{play_id}/end", json={})).status == 404
    assert (await client.post("/api/plays", json={"course": "c-goose"})).status == 404
    bad = await client.post("/api/plays/x", data="not json")
    assert bad.status == 400 and bad.content_type == "application/json"


async def test_tv_session_refuses_headcount_out_of_range_then_records_12(client):
    for bad in ("0", "10000"):
        resp = await client.post("/session/start", data={"topic": "农业技术", "headcount": bad})
        assert resp.status == 400
        assert "参加人数必须是 1 到 9999 之间的整数" in await resp.text()
    resp = await client.post("/session/start", data={"topic": "农业技术", "headcount": "12"}, allow_redirects=False)
    assert resp.status == 303
    assert "集中学习：农业技术，12 人" in await (await client.get("/")).text()
    pid = (await (await client.post("/api/plays", json={"course": "c-goose"})).json())["id"]
    await client.post(f"/api/plays/{pid}/end", json={"position_s": 2.5, "watched_s": 2.5, "ended": True})
    end = await client.post("/session/end", allow_redirects=False)
    summary = await (await client.get(end.headers["Location"])).text()
    assert "12 人" in summary and "雨季养鹅技术" in summary and "农业技术" in summary


# ---- admin -------------------------------------------------------------------------------------


async def test_admin_sessions_logbook_fives_figures_and_progress(client, store):
    store.record_sync({"state": "running", "courses_installed": 2, "courses_total": 4,
                       "progress": {"bytes_done": 3 * 2**20, "bytes_total": 12 * 2**20, "rate_bytes_per_s": 2**20, "eta_s": 9},
                       "failures": ["c-x 《新课》: HTTP 404 from http://mirror/; ask county staff"]})
    await login(client)
    html = await (await client.get("/admin")).text()
    assert 'aria-valuenow="25"' in html and "3.0 MB / 12.0 MB" in html and "1.0 MB/秒" in html and "约剩 9 秒" in html
    assert "HTTP 404 from http://mirror/" in html
    resp = await client.post("/admin/session/start", data={"topic": "政策学习", "facilitator": "李明", "headcount": "10000"})
    assert resp.status == 400 and "1 到 9999" in await resp.text()
    resp = await client.post("/admin/session/start", data={"topic": "政策学习", "facilitator": "李明", "headcount": "",
                                                           "names": "张三\n李四\n王五"}, allow_redirects=False)
    assert resp.status == 303
    html = await (await client.get("/admin")).text()
    assert "政策学习，3 人，组织人 李明" in html
    assert (await client.post("/admin/session/end", allow_redirects=False)).status == 303
    assert (await client.post("/admin/logbook", data={"text": "  "})).status == 400
    await client.post("/admin/logbook", data={"text": "电视遥控器换了电池"})
    await client.post("/admin/fives", data={"place_ok": "on", "place_note": "村委会二楼会议室"})
    html = await (await client.get("/admin")).text()
    assert "张三、李四、王五" in html and "电视遥控器换了电池" in html
    assert 'id="place_ok" name="place_ok" checked' in html and "村委会二楼会议室" in html
    assert re.search(r"<th>集中学习</th><td>1</td><td>1</td>", html)
    assert re.search(r"<th>人次</th><td>3（集中学习 3，自学 0）</td>", html)


async def test_admin_logins_are_journaled_without_saying_what_was_wrong(client):
    resp = await client.post("/admin/login", data={"pin": PIN + "9"})
    text = await resp.text()
    assert resp.status == 403 and "PIN 不正确。还可以再试 4 次。" in text
    await login(client)
    events = [e for e in client.app[ATTENDANCE].journal.recent("admin_login", 10)]
    assert [e["ok"] for e in events] == [True, False]
    html = await (await client.get("/admin")).text()
    assert re.search(r"<th>管理 PIN 输错次数</th><td>1</td><td>1</td>", html)


# ---- languages ---------------------------------------------------------------------------------


async def test_english_through_the_catalogue(client):
    resp = await client.get("/lang/en?next=/course/c-goose", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/course/c-goose"
    html = await (await client.get("/course/c-goose")).text()
    assert '<html lang="en">' in html and "▶ Play" in html and "Farming techniques" in html and "播放" not in html
    await login(client)
    assert "Sync now" in await (await client.get("/admin")).text()
    resp = await client.get("/lang/zh-CN?next=//evil.example/", allow_redirects=False)
    assert resp.headers["Location"] == "/"


def _template_text(source: str) -> str:
    source = re.sub(r"<style>.*?</style>", " ", source, flags=re.S)
    source = re.sub(r"\{%\s*block body_(?:attrs|class)\s*%\}.*?\{%\s*endblock\s*%\}", " ", source, flags=re.S)
    source = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", source, flags=re.S)
    source = re.sub(r"<[^>]*>", " ", source)
    return source


def test_templates_hold_no_literal_ui_strings():
    leftovers = {}
    for path in sorted((ROOT / "station" / "templates").glob("*.html")):
        text = _template_text(path.read_text(encoding="utf-8"))
        words = re.findall(r"[A-Za-z]{2,}|[\u3400-\u9fff]", text)
        if words:
            leftovers[path.name] = words[:5]
        attrs = re.findall(r'(?:alt|title|placeholder|aria-label)="([^"{]+)"', path.read_text(encoding="utf-8"))
        if attrs:
            leftovers[path.name + " attributes"] = attrs
    assert not leftovers, f"UI text outside gettext: {leftovers}"


def test_catalogues_translate_every_message(tmp_path):
    from babel.messages.pofile import read_po

    pot = tmp_path / "messages.pot"
    subprocess.run([str(ROOT / ".venv" / "bin" / "pybabel") if (ROOT / ".venv" / "bin" / "pybabel").exists() else "pybabel",
                    "extract", "-F", "babel.cfg", "-k", "N_", "--no-location", "-o", str(pot), "."],
                   cwd=ROOT, check=True, capture_output=True)
    ids = {m.id for m in read_po(open(pot, "rb")) if m.id}
    assert len(ids) > 100
    zh = {m.id: m.string for m in read_po(open(ROOT / "station/locale/zh_CN/LC_MESSAGES/messages.po", "rb")) if m.id}
    en = {m.id for m in read_po(open(ROOT / "station/locale/en/LC_MESSAGES/messages.po", "rb")) if m.id}
    assert sorted(ids - {k for k, v in zh.items() if v}) == [], "untranslated in zh_CN (run make messages, then translate)"
    assert sorted(ids - en) == [], "missing from en (run make messages)"


# ---- every served script is ES5 ------------------------------------------------------------------


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


@pytest.mark.parametrize("language, ok", [("en", True), ("zh-CN", True), ("fr", False)])
def test_ui_language_in_station_toml(tmp_path, language, ok):
    from playlists.minisign import SecretKey
    from station.config import load_config
    from station.errors import ConfigError
    from tests.conftest import write_station_toml

    key = tmp_path / "headend.pub"
    key.write_text(SecretKey.generate().public_key.to_text(), encoding="utf-8")
    toml = write_station_toml(tmp_path / "station.toml", ["http://127.0.0.1:9/repo/"], key)
    toml.write_text(toml.read_text(encoding="utf-8") + f'language = "{language}"\n', encoding="utf-8")
    if ok:
        assert load_config(toml).language == language
    else:
        with pytest.raises(ConfigError, match=r"\[ui\]: language 'fr' must be"):
            load_config(toml)


async def test_admin_shows_courses_still_to_come_with_reasons(client, store):
    store.record_sync({"state": "running", "progress": {"bytes_done": 10, "bytes_total": 40, "current": "新课：秋季防火"},
                       "courses": {"c-goose": {"title": "雨季养鹅技术", "state": "have"},
                                   "c-new": {"title": "新课：秋季防火", "state": "downloading"},
                                   "c-big": {"title": "大课", "state": "failed", "reason": "does not fit [sync] quota_mb"},
                                   "c-late": {"title": "晚课", "state": "queued", "reason": "waits for the download window"}}})
    await login(client)
    html = await (await client.get("/admin")).text()
    assert "尚未下载完的课程" in html and 'aria-valuenow="25"' in html
    assert "<td>正在下载</td><td>新课：秋季防火</td>" in html.replace("<th>", "<td>").replace("</th>", "</td>")
    assert "失败: does not fit [sync] quota_mb" in html and "排队中: waits for the download window" in html
    assert "<td>雨季养鹅技术</td>" not in html


async def test_attendance_never_dates_events_before_the_newest_signed_timestamp(aiohttp_client, tmp_path, clips):  # noqa: F811
    store = Store(tmp_path / "station")
    install_courses(store, clips)
    future = datetime.now(CHINA) + timedelta(days=30)  # the box's clock lost a month
    store.record_trust({"highest_version": 1, "newest_timestamp": future.isoformat()})
    client = await aiohttp_client(create_app(make_config(tmp_path), store))
    pid = (await (await client.post("/api/plays", json={"course": "c-goose"})).json())["id"]
    await client.post(f"/api/plays/{pid}/end", json={"position_s": 1, "watched_s": 1})
    files = sorted((tmp_path / "station" / "journal").glob("*.jsonl"))
    assert [f.stem for f in files] == [future.date().isoformat()]


def test_scripts_hold_no_ui_text():
    """What the viewer reads comes from the page (and so from the catalogues), never from tv.js."""
    for js in (ROOT / "station" / "static").glob("*.js"):
        code = re.sub(r"/\*.*?\*/|//[^\n]*", " ", js.read_text(encoding="utf-8"), flags=re.S)
        assert not re.findall(r"[\u3400-\u9fff]", code), js.name
