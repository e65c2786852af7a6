"""The player: the on-screen display, seeking, pausing, resuming where the viewer stopped, the
next episode, a course removed by a sync while it plays, missing and broken media."""

from __future__ import annotations

import re

import pytest

from station.web.keys import ATTENDANCE
from tests.browser import focused, media, press, wait_playing
from tests.tv.test_pages import login

# ---- over HTTP ---------------------------------------------------------------------------------


async def test_episodes_in_order_and_next_plays_on(client):
    # 科学养鸡 第1-3集 were published in the order 2, 1, 3: the series is ordered by episode
    html = await (await client.get("/course/c-ep-2")).text()
    assert html.index('href="/course/c-ep-1"') < html.index('href="/course/c-ep-3"')
    assert "第 2 集" in html
    player = await (await client.get("/play/c-ep-2")).text()
    assert 'data-next="/play/c-ep-3"' in player
    assert 'data-next="' not in await (await client.get("/play/c-ep-3")).text()


async def test_missing_media_file_is_explained_on_tv_and_admin(client, tv):
    goose = tv.store.course("c-goose")
    tv.store.blob_path(goose.media).unlink()
    course = await (await client.get("/course/c-goose")).text()
    assert "本机上缺少这个课程的文件" in course and "/play/c-goose" not in course
    play = await client.get("/play/c-goose")
    assert play.status == 200
    html = await play.text()
    assert "本机上缺少这个课程的文件" in html and "<video" not in html and "data-default-focus" in html
    await login(client)
    admin = await (await client.get("/admin")).text()
    assert "文件缺失" in admin and "《雨季养鹅技术》：本机上缺少这个课程的文件" in admin


async def test_course_removed_while_playing_is_reported_to_the_player(client, tv):
    start = await client.post("/api/plays", json={"course": "c-goose"})
    play_id = (await start.json())["id"]
    beat = await client.post(f"/api/plays/{play_id}", json={"position_s": 1.0, "watched_s": 1.0})
    assert (await beat.json())["installed"] is True
    tv.publish(remove=("c-goose",))  # the county withdrew it; this station syncs meanwhile
    assert tv.sync() == "ok"
    beat = await client.post(f"/api/plays/{play_id}", json={"position_s": 2.0, "watched_s": 2.0})
    assert (await beat.json())["installed"] is False
    end = await client.post(f"/api/plays/{play_id}/end", json={"position_s": 3, "watched_s": 3, "ended": True})
    assert end.status == 200 and (await end.json())["installed"] is False
    assert (await client.post(f"/api/plays/{play_id}/end", json={})).status == 404
    assert (await client.post("/api/plays", json={"course": "c-goose"})).status == 404
    bad = await client.post("/api/plays/x", data="not json", headers={"Content-Type": "application/json"})
    assert bad.status == 400 and bad.content_type == "application/json"


# ---- in the browser ----------------------------------------------------------------------------


@pytest.mark.browser
def test_home_category_course_play_osd_seek_back_and_reopen_resumes(live, page):
    page.goto(live.url("/"))
    assert focused(page)["href"] == "/course/c-land"
    press(page, "3")  # digit 3: the third category on the home page (就业技能)
    page.wait_for_url("**/category/skills")
    assert focused(page)["href"] == "/course/c-long"
    page.keyboard.press("Enter")
    page.wait_for_url("**/course/c-long")
    assert focused(page)["text"] == "▶ 播放"
    page.keyboard.press("Enter")
    page.wait_for_url("**/play/c-long")
    wait_playing(page, 1.0)

    page.wait_for_selector("#osd.hidden", state="attached", timeout=8000)  # the OSD hides while playing
    press(page, "ArrowUp")  # any key: the on-screen display
    assert page.is_visible("#osd")
    assert "水稻种植全程讲解" in page.inner_text("#osd .osd-title")
    page.keyboard.press("Enter")  # OK pauses
    page.wait_for_function("document.getElementById('media').paused")
    # the display follows the media's "pause" event, a moment after paused is true
    page.wait_for_function("document.getElementById('osd-state').textContent.indexOf('已暂停') >= 0")
    assert "已暂停" in page.inner_text("#osd-state")
    before = media(page, "m.currentTime")
    page.keyboard.press("ArrowRight")  # +15 s
    page.wait_for_function(f"document.getElementById('media').currentTime >= {before + 14.5}")
    page.wait_for_function("/^00:1\\d \\/ 00:30$/.test(document.getElementById('osd-time').textContent)")
    position = media(page, "m.currentTime")
    assert 15 <= position <= 20

    page.keyboard.press("Escape")  # Back saves the position and returns to the course page
    page.wait_for_url("**/course/c-long")
    page.wait_for_selector("a.play:has-text('继续')")
    assert re.fullmatch(r"▶ 从 00:1\d 继续", focused(page)["text"])
    page.keyboard.press("Enter")  # reopen: it resumes where it stopped
    page.wait_for_url("**/play/c-long")
    page.wait_for_function("document.getElementById('media').readyState >= 1", timeout=8000)
    page.wait_for_function(f"document.getElementById('media').currentTime >= {position - 1}", timeout=8000)
    assert "从 00:1" in page.inner_text("#osd-state")
    page.keyboard.press("Backspace")
    page.wait_for_url("**/course/c-long")
    page.keyboard.press("Backspace")
    page.wait_for_url("**/category/skills")
    page.keyboard.press("Backspace")
    page.wait_for_url(live.url("/"))
    assert page.is_visible(".shelf.continue")  # and home offers to continue it
    assert not page.errors, page.errors
    first, second = [e for e in live.tv.journal("play") if e["course"] == "c-long"]
    assert 0.5 < first["watched_s"] < 10  # the seek is not counted as watching
    assert second["position_s"] >= position - 1


@pytest.mark.browser
def test_holding_right_seeks_faster_and_left_stops_at_the_start(live, page):
    page.goto(live.url("/play/c-long?from=0"))
    wait_playing(page)
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('media').paused")
    page.evaluate("document.getElementById('media').currentTime = 0")
    for _ in range(6):  # a held key: auto-repeat
        page.evaluate(
            """() => document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight', repeat: true, bubbles: true}))"""
        )
    page.wait_for_timeout(200)
    assert media(page, "m.currentTime") >= 29  # 6 × 15 s would be 90; clamped at the end (30 s)
    page.evaluate("document.getElementById('media').currentTime = 10")
    page.keyboard.press("ArrowLeft")  # −15 s from 10 s: the start, not an error
    page.wait_for_function("document.getElementById('media').currentTime < 0.05")
    page.keyboard.press("Enter")  # OK plays again
    page.wait_for_function("document.getElementById('media').currentTime > 0.3", timeout=8000)
    assert not media(page, "m.paused")
    page.keyboard.press("Escape")
    page.wait_for_url("**/course/c-long")


@pytest.mark.browser
def test_broken_media_shows_a_message_with_focus_not_a_blank_screen(live, page):
    page.goto(live.url("/play/c-broken"))
    page.wait_for_selector("#failed:not(.hidden)", timeout=8000)
    assert "无法播放这个课程" in page.inner_text("#failed")
    assert focused(page)["text"] == "返回"
    page.keyboard.press("Enter")
    page.wait_for_url("**/course/c-broken")
    focused(page)


@pytest.mark.browser
def test_next_episode_plays_on(live, page):
    page.goto(live.url("/play/c-ep-1"))
    wait_playing(page)
    page.wait_for_url("**/play/c-ep-2", timeout=15000)
    assert "第 2 集" in page.inner_text("#osd .osd-title")


@pytest.mark.browser
def test_course_removed_while_it_plays_finishes_then_goes_home(live, page):
    page.goto(live.url("/play/c-goose"))
    wait_playing(page)
    live.tv.publish(remove=("c-goose",))
    assert live.tv.sync() == "ok"
    page.wait_for_url(live.url("/"), timeout=15000)  # after the lesson ends
    assert page.evaluate("document.getElementById('media') === null")
    assert "雨季养鹅技术" not in page.inner_text("main")
    focused(page)


@pytest.mark.browser
def test_a_play_cut_off_by_leaving_the_page_is_still_recorded_with_its_token(live, page):
    """The end-of-play report sent as the page unloads (fetch keepalive, with the page's token and
    as JSON) gets past the request gate: the play is journaled, not lost."""
    page.goto(live.url("/play/c-long?from=0"))
    wait_playing(page, 1.5)
    page.wait_for_function("document.querySelector('meta[name=\"yj-token\"]').content.length === 64")
    for _ in range(300):  # the start report went out with the first frames (30 s on a busy machine)
        if live.app[ATTENDANCE].open_plays():
            break
        page.wait_for_timeout(100)
    assert live.app[ATTENDANCE].open_plays(), "the player never reported the play's start"
    page.goto(live.url("/schedule"))  # not Back: the page is simply left (pagehide)
    for _ in range(300):
        plays = [e for e in live.tv.journal("play") if e["course"] == "c-long"]
        if plays:
            break
        page.wait_for_timeout(100)
    assert len(plays) == 1 and plays[0]["watched_s"] >= 1.0
    assert not page.errors, page.errors
