"""Organised study (集中学习) and attendance: a session started from the TV with a headcount,
lessons played during it, its summary; plays journaled, never dated before the newest signed
timestamp the station has seen (a box whose clock lost a month)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from playlists.schedule import CHINA
from tests.browser import focused, press, remote, wait_playing


async def test_tv_session_refuses_headcount_out_of_range_then_records_12(client):
    for bad, status, says in (
        ("0", 400, "参加人数必须是 1 到 100 之间的整数"),
        ("10000", 409, "没设座位数时，参加人数最多填 100"),  # no [station] capacity in this station
    ):
        resp = await client.post("/session/start", data={"topic": "农业技术", "headcount": bad})
        assert resp.status == status
        assert says in await resp.text()
    resp = await client.post("/session/start", data={"topic": "农业技术", "headcount": "12"}, allow_redirects=False)
    assert resp.status == 303
    assert "集中学习：农业技术，12 人" in await (await client.get("/")).text()
    pid = (await (await client.post("/api/plays", json={"course": "c-goose"})).json())["id"]
    await client.post(f"/api/plays/{pid}/end", json={"position_s": 2.5, "watched_s": 2.5, "ended": True})
    end = await client.post("/session/end", allow_redirects=False)
    summary = await (await client.get(end.headers["Location"])).text()
    assert "12 人" in summary and "雨季养鹅技术" in summary and "农业技术" in summary


async def test_attendance_never_dates_events_before_the_newest_signed_timestamp(page_client, tv):
    future = datetime.now(CHINA) + timedelta(days=30)  # the box's clock lost a month
    tv.publish(timestamp=future)  # the headend's clock is right: its signed index says so
    assert tv.sync() == "ok"
    client = await page_client(tv.app())
    pid = (await (await client.post("/api/plays", json={"course": "c-goose"})).json())["id"]
    await client.post(f"/api/plays/{pid}/end", json={"position_s": 1, "watched_s": 1})
    files = sorted((tv.cfg.data_dir / "journal").glob("*.jsonl"))
    assert [f.stem for f in files] == [future.date().isoformat()]


@pytest.mark.browser
def test_study_session_of_12_by_remote_then_play_then_summary(live, page):
    page.goto(live.url("/"))
    focused(page)
    remote(page, "red")
    page.wait_for_url("**/session")
    assert focused(page)["id"] == "headcount"
    press(page, "0")  # 0 is refused, with the range
    page.keyboard.press("Enter")  # OK: on to the topics
    assert focused(page)["text"] == "综合学习"
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "参加人数必须是 1 到 100 之间的整数" in page.inner_text(".warning")
    assert focused(page)["id"] == "headcount"
    press(page, "Backspace")  # in a filled field Backspace deletes the digit, it does not go back
    assert page.url.endswith("/session/start") or page.url.endswith("/session")
    for key in ("1", "2"):
        press(page, key)
    assert page.input_value("#headcount") == "12"
    press(page, "Enter")
    press(page, "ArrowRight")
    assert focused(page)["text"] == "党员教育"
    page.keyboard.press("Enter")
    page.wait_for_url(live.url("/"))
    assert "集中学习：党员教育，12 人" in page.inner_text(".session-banner")

    page.keyboard.press("Enter")  # the first course
    page.wait_for_url("**/course/c-*")
    page.keyboard.press("Enter")
    page.wait_for_url("**/play/*")
    wait_playing(page, 0.5)
    remote(page, "red")  # red on the player: saves, then the session page
    page.wait_for_url("**/session")
    assert focused(page)["text"] == "结束集中学习并查看小结"
    page.keyboard.press("Enter")
    page.wait_for_url("**/session/summary/*")
    summary = page.inner_text(".summary")
    assert "12 人" in summary and "党员教育" in summary
    assert re.search(r"农村土地承包法解读 \(00:0\d\)", summary), summary
    assert focused(page)["text"] == "回到首页"
    assert not page.errors, page.errors
