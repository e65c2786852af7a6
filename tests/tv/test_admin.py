"""The administrator's side over HTTP: the PIN (slow, locked out after five wrong tries, journaled),
the sync status and "sync now", download progress and what is still to come, study sessions,
the logbook, the five-ones self-check and this month's figures, and ``/api/status``."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest

from catalogue.display import china_time, size
from playlists.schedule import CHINA
from station.model import CourseState, SyncStatus
from station.records.attendance import Attendance
from tests.browser import focused
from tests.tv.station import MEDIA_FILES, PIN, STATION_ID, STATION_NAME, SYNC_NOW, Lesson, entry, undownloadable
from tests.tv.test_pages import login


async def test_api_status(client, tv):
    resp = await client.get("/api/status")
    assert resp.status == 200
    body = await resp.json()
    assert body["station"] == STATION_ID
    assert body["name"] == STATION_NAME
    assert body["player"] == "tv-hd"
    assert body["courses"] == 9
    assert body["sync"]["state"] == "ok" and body["sync"]["index_version"] == 1
    assert body["storage"]["media_files"] == MEDIA_FILES and body["storage"]["media_bytes"] > 0


async def test_admin_wrong_pin_is_refused_slowly_and_gives_no_session(page_client, tv):
    client = await page_client(tv.app(admin_failure_delay_s=1.0))
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


async def test_admin_locks_out_after_five_wrong_pins(client):
    for _ in range(5):
        assert (await client.post("/admin/login", data={"pin": "1111"})).status == 403
    resp = await client.post("/admin/login", data={"pin": PIN}, allow_redirects=False)
    assert resp.status == 429  # even the right PIN waits now
    assert int(resp.headers["Retry-After"]) > 0
    html = await resp.text()
    assert "PIN 输错次数太多" in html and 'href="/admin"' in html


async def test_admin_logins_are_journaled_without_saying_what_was_wrong(client, tv):
    resp = await client.post("/admin/login", data={"pin": PIN + "9"})
    text = await resp.text()
    assert resp.status == 403 and "PIN 不正确。还可以再试 4 次。" in text
    await login(client)
    assert [e["ok"] for e in tv.journal("admin_login")] == [False, True]
    html = await (await client.get("/admin")).text()
    assert re.search(r"<th>管理 PIN 输错次数</th><td>1</td><td>1</td>", html)


async def test_admin_right_pin_shows_sync_status_and_sync_now(client, tv):
    tv.store.record_sync(
        SyncStatus(
            state="failed",
            last_attempt=datetime(2026, 3, 1, 8, 5, tzinfo=CHINA),
            last_success=datetime(2026, 2, 28, 20, 0, tzinfo=CHINA),
            last_error="镜像 http://127.0.0.1:9/repo/ 无法连接：请检查宽带，恢复后点“立即同步”。",
            index_version=7,
            courses_installed=4,
            courses_total=5,
        )
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
    assert STATION_ID in html and "高清电视" in html
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


async def test_admin_shows_why_a_real_pass_failed(client, tv):
    """What the sync pass itself records when its mirror has no index: which mirror, and why."""
    del tv.sim.files["index.json"]
    assert tv.sync() == "failed"
    await login(client)
    html = await (await client.get("/admin")).text()
    assert "失败" in html and f"{tv.mirror.url}: " in html and "index.json: HTTP 404" in html


async def test_admin_escapes_what_the_sync_loop_reported(client, tv):
    tv.store.record_sync(SyncStatus(state="failed", last_error="<script>alert(1)</script>"))
    await login(client)
    html = await (await client.get("/admin")).text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_admin_sessions_logbook_fives_figures_and_progress(page_client, tv):
    later = {"s": 0.0}  # the session lasts 30 minutes (a shorter one would not count)
    att = Attendance(tv.cfg.data_dir, clock=lambda: time.time() + later["s"])
    client = await page_client(tv.app(attendance=att))
    # a pass running, as the daemon records it: the previous pass's failures stay until it ends
    tv.store.record_sync(
        SyncStatus(
            state="running",
            courses_installed=2,
            courses_total=4,
            failures=("c-x 《新课》: HTTP 404 from http://mirror/; ask county staff",),
        )
    )
    tv.progress(bytes_done=3 * 2**20, bytes_total=12 * 2**20, rate_bytes_per_s=2**20, eta_s=9)
    await login(client)
    html = await (await client.get("/admin")).text()
    assert 'aria-valuenow="25"' in html and "3.0 MB / 12.0 MB" in html and "1.0 MB/秒" in html and "约剩 9 秒" in html
    assert "HTTP 404 from http://mirror/" in html
    resp = await client.post(
        "/admin/session/start", data={"topic": "政策学习", "facilitator": "李明", "headcount": "0"}
    )
    assert resp.status == 400 and "1 到 100" in await resp.text()
    resp = await client.post(
        "/admin/session/start",
        data={"topic": "政策学习", "facilitator": "李明", "headcount": "", "names": "张三\n李四\n王五"},
        allow_redirects=False,
    )
    assert resp.status == 303
    html = await (await client.get("/admin")).text()
    assert "政策学习，3 人，组织人 李明" in html
    later["s"] = 1800.0
    assert (await client.post("/admin/session/end", allow_redirects=False)).status == 303
    assert (await client.post("/admin/logbook", data={"text": "  "})).status == 400
    await client.post("/admin/logbook", data={"text": "电视遥控器换了电池"})
    await client.post("/admin/fives", data={"place_ok": "on", "place_note": "村委会二楼会议室"})
    html = await (await client.get("/admin")).text()
    assert "张三、李四、王五" in html and "电视遥控器换了电池" in html
    assert 'id="place_ok" name="place_ok" checked' in html and "村委会二楼会议室" in html
    assert re.search(r"<th>集中学习</th><td>1</td><td>1</td>", html)
    assert re.search(r"<th>人次</th><td>3（集中学习 3，自学 0）</td>", html)


async def test_admin_shows_courses_still_to_come_with_reasons(client, tv):
    tv.store.record_sync(
        SyncStatus(
            state="running",
            courses=(
                CourseState("c-goose", "雨季养鹅技术", "have"),
                CourseState("c-new", "新课：秋季防火", "downloading"),
                CourseState("c-big", "大课", "failed", "does not fit [sync] quota_mb"),
                CourseState("c-late", "晚课", "queued", "waits for the download window"),
            ),
        )
    )
    tv.progress(bytes_done=10, bytes_total=40, current="新课：秋季防火")
    await login(client)
    html = await (await client.get("/admin")).text()
    assert "尚未下载完的课程" in html and 'aria-valuenow="25"' in html
    assert "<td>正在下载</td><td>新课：秋季防火</td>" in html.replace("<th>", "<td>").replace("</th>", "</td>")
    assert "失败: 超出存储限额（[sync] quota_mb），放不下。" in html and "排队中: 等到下载时段再下载。" in html
    assert "<td>雨季养鹅技术</td>" not in html


# ---- on a phone, in the browser (issue 10 items 18, 19) ------------------------------------------


PAGE_BOX_JS = """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
  return {top: r.top, bottom: r.bottom}; }"""
ISO_OR_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d|\d\d:\d\d(:\d\d)?Z\b|UTC")


@pytest.mark.browser
def test_admin_on_a_phone_opens_on_the_figures_and_reads_the_last_download_in_chinese(live, page, tv_clips, tmp_path):
    fresh = tmp_path / "autumn.mp4"  # a file this station does not have yet
    fresh.write_bytes(tv_clips["video"].read_bytes() + b"\0" * 1000)
    lesson = Lesson("c-autumn", "新课：秋季防火", "safety", "new")
    live.tv.publish(
        add=(
            entry(lesson, {"new": fresh, "poster": tv_clips["poster"]}, live.tv.sim.files),
            undownloadable("c-gone", "冬季用电安全"),
        )
    )
    assert live.tv.sync() == "partial"  # the new lesson downloaded; the other is not on the mirror
    assert live.tv.sync() == "partial"  # the daemon's next pass: nothing more to download
    status = live.tv.store.sync_status()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live.url("/admin"))
    assert focused(page)["id"] == "pin"
    page.keyboard.type(PIN)
    page.keyboard.press("Enter")
    page.wait_for_selector("section#figures")
    assert page.evaluate("scrollY") == 0  # at the top: the figures first, not scrolled to a button
    figures = page.evaluate(PAGE_BOX_JS, "#figures")
    assert figures["top"] >= 0 and figures["bottom"] <= 844
    page.keyboard.press("Enter")  # a stray OK
    page.wait_for_load_state("networkidle")
    assert not live.app[SYNC_NOW].is_set()
    assert "已请求立即同步" not in page.inner_text("body")

    sync = page.inner_text("#sync")
    expected = f"{size(fresh.stat().st_size)}（1 个文件）"
    assert re.search(r"上次下载\s+" + re.escape(expected), sync), sync
    assert "0 B" not in sync
    assert "《冬季用电安全》：内容源上还没有这个文件" in sync  # the reason, in Chinese
    assert "HTTP 404" not in sync  # the engine's words stay folded under the details
    page.click("#sync details.raw summary")
    assert "HTTP 404" in page.inner_text("#sync details.raw")

    text = page.inner_text("body")
    assert not ISO_OR_UTC.search(text), ISO_OR_UTC.search(text)
    assert china_time(status.last_attempt) in text
    assert status.last_attempt.astimezone(UTC).strftime("%Y-%m-%d %H:%M") not in text
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not page.errors, page.errors
