"""Where villagers and facilitators stumbled on the TV (issue 10, items 15-17), by the remote's
keys only: a second study session in the same tab takes its headcount by the digit keys, and so
does a corrected one after a refusal; coming home after a lesson shows the header, the banner and
the whole first row, with the colour-key hints on screen; the schedule shows whole titles and
dates with their weekday."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from playlists import Notice
from playlists.schedule import CHINA
from tests.browser import focused, press, remote, wait_playing
from tests.tv.station import PIN, Lesson, entry, schedule, today_in

pytestmark = pytest.mark.browser

BOX_JS = """(sel) => { const el = document.querySelector(sel); if (!el) return null;
  const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, h: r.height}; }"""


def box(page, selector: str) -> dict:
    b = page.evaluate(BOX_JS, selector)
    assert b is not None, f"{selector} is not on {page.url}"
    return b


def on_screen(page, selector: str) -> bool:
    """The whole element lies between the top of the window and the top of the key hints."""
    b = box(page, selector)
    hints = box(page, "#key-hints")["top"] if page.query_selector("#key-hints") else page.evaluate("innerHeight")
    return b["h"] > 0 and b["top"] >= 0 and b["bottom"] <= min(hints, page.evaluate("innerHeight"))


def start_session_by_keys(page, live, headcount: str, moves_right: int = 0) -> None:
    remote(page, "red")
    page.wait_for_url("**/session")
    assert focused(page)["id"] == "headcount"
    for digit in headcount:
        press(page, digit)
    assert page.input_value("#headcount") == headcount
    press(page, "Enter")  # OK: on to the topics
    for _ in range(moves_right):
        press(page, "ArrowRight")
    page.keyboard.press("Enter")
    page.wait_for_url(live.url("/"))


def end_session_by_keys(page) -> str:
    remote(page, "red")
    page.wait_for_url("**/session")
    assert focused(page)["text"] == "结束集中学习并查看小结"
    page.keyboard.press("Enter")
    page.wait_for_url("**/session/summary/*")
    summary = page.inner_text(".summary")
    page.keyboard.press("Enter")  # 回到首页
    page.wait_for_url("**/")
    return summary


def end_session_on_the_phone(page, live) -> None:
    """The facilitator ends the session on the admin page of a phone (its own browser)."""
    phone = page.context.browser.new_context(viewport={"width": 390, "height": 844})
    try:
        admin = phone.new_page()
        admin.goto(live.url("/admin"))
        admin.fill("#pin", PIN)
        admin.press("#pin", "Enter")
        admin.wait_for_selector("section#sessions")
        admin.click("text=结束集中学习")
        admin.wait_for_selector("text=集中学习已结束")
    finally:
        phone.close()


def test_a_second_study_session_in_the_same_tab_takes_its_headcount_by_digits(live, page):
    page.goto(live.url("/"))
    focused(page)
    start_session_by_keys(page, live, "12")
    assert "集中学习：综合学习，12 人" in page.inner_text(".session-banner")
    end_session_on_the_phone(page, live)
    page.reload()
    assert not page.query_selector(".session-banner")

    # the same tab, later that day: the topic button chosen last time is not where focus goes
    start_session_by_keys(page, live, "7", moves_right=2)
    assert "集中学习：政策法规，7 人" in page.inner_text(".session-banner")
    second = end_session_by_keys(page)
    assert "7 人" in second and "政策法规" in second and "0 分钟" not in second
    assert [e["headcount"] for e in live.tv.journal("session_end")] == [12, 7]
    assert not page.errors, page.errors


def test_a_refused_headcount_is_corrected_by_digits_with_the_reason_beside_the_field(live, page):
    page.goto(live.url("/"))
    focused(page)
    remote(page, "red")
    page.wait_for_url("**/session")
    for typed in ("0", "10000"):  # both refused, one after the other
        assert focused(page)["id"] == "headcount"
        while page.input_value("#headcount"):
            press(page, "Backspace")  # deletes a digit; it does not leave the page
        for digit in typed:
            press(page, digit)
        press(page, "Enter")  # on to the topics
        assert focused(page)["text"] == "综合学习"
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith("/session/start")
        assert focused(page)["id"] == "headcount"  # not the topic button chosen a moment ago
        error = page.inner_text("#headcount-error")
        assert ("参加人数必须是 1 到 100 之间的整数" if typed == "0" else "参加人数最多填 100") in error
        assert page.get_attribute("#headcount", "aria-describedby") == "headcount-error"
        field, said = box(page, "#headcount"), box(page, "#headcount-error")
        assert said["top"] < field["bottom"] and said["bottom"] > field["top"]  # beside it, on its line
    while page.input_value("#headcount"):
        press(page, "Backspace")
    press(page, "ArrowDown")  # to the topics
    assert focused(page)["text"] == "综合学习"
    press(page, "8")  # a digit beside the field types the headcount (it opened category 8)
    assert page.input_value("#headcount") == "8" and focused(page)["id"] == "headcount"
    press(page, "Enter")
    page.keyboard.press("Enter")
    page.wait_for_url(live.url("/"))
    assert "集中学习：综合学习，8 人" in page.inner_text(".session-banner")
    assert [e["headcount"] for e in live.tv.journal("session_start")] == [8]
    assert not page.errors, page.errors


def test_coming_home_after_a_lesson_shows_the_header_banner_and_whole_first_row(live, page):
    live.tv.publish(notices=(Notice("n1", "本周三上午九点在村委会开展防汛演练，请各户派一人参加", ""),))
    assert live.tv.sync() == "ok"
    page.goto(live.url("/"))
    focused(page)
    start_session_by_keys(page, live, "9")
    # down the shelves to 就业技能 (the third), its 30 s lesson
    for _ in range(6):
        if focused(page)["href"] == "/course/c-long":
            break
        press(page, "ArrowDown")
    assert focused(page)["href"] == "/course/c-long"
    page.keyboard.press("Enter")
    page.wait_for_url("**/course/c-long")
    page.keyboard.press("Enter")
    page.wait_for_url("**/play/c-long")
    wait_playing(page, 0.5)
    press(page, "ArrowRight")  # +15 s: far enough in to continue later
    page.wait_for_function("document.getElementById('media').currentTime > 14")
    page.keyboard.press("Escape")
    page.wait_for_url("**/course/c-long")
    page.wait_for_selector("a.play:has-text('继续')")
    page.keyboard.press("Backspace")
    page.wait_for_url(live.url("/"))
    page.wait_for_selector(".shelf.continue")
    assert focused(page)["href"] == "/play/c-long"  # the lesson just watched, at the top
    for selector in (".station", ".session-banner", ".ticker", ".shelf.continue"):
        assert on_screen(page, selector), (selector, box(page, selector), page.evaluate("scrollY"))
    hints = page.inner_text("#key-hints")
    assert all(word in hints for word in ("集中学习", "首页", "继续观看", "节目单"))
    assert box(page, "#key-hints")["bottom"] <= page.evaluate("innerHeight")
    press(page, "ArrowDown")  # further down the page, the hints stay in view
    press(page, "ArrowDown")
    press(page, "ArrowDown")
    assert box(page, "#key-hints")["bottom"] <= page.evaluate("innerHeight") and page.is_visible("#key-hints")
    assert not page.errors, page.errors


def test_the_schedule_shows_whole_titles_and_days_with_their_weekday(live, page, tv_clips, tmp_path):
    title = "农村集体经济组织成员身份确认办法解读"
    lesson = Lesson("c-member", title, "policy", "video")
    now = datetime.now(CHINA).replace(microsecond=0)
    later, third_day = today_in(30), now + timedelta(days=2)
    live.tv.publish(
        add=(entry(lesson, tv_clips, live.tv.sim.files),),
        schedule=schedule(("c-member", later), ("c-member", third_day)),
    )
    assert live.tv.sync() == "ok"
    page.goto(live.url("/"))
    focused(page)
    remote(page, "blue")
    page.wait_for_url("**/schedule")
    text = page.inner_text("main")
    day = third_day.date()
    assert f"{day.month}月{day.day}日 周{'一二三四五六日'[day.weekday()]}" in text, text
    assert f"今天 · {now.month}月{now.day}日" in text
    cut = page.evaluate(
        """() => Array.from(document.querySelectorAll('.prog-title')).filter(el =>
             el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1).map(el => el.textContent)"""
    )
    assert not cut, cut
    assert page.inner_text(".prog-title").strip() == title
    assert not page.errors, page.errors


def test_a_full_home_page_fits_720p_above_the_key_hints(live, page, tv_clips):
    """Session banner, notice, today's programmes and the first shelf: nothing scrolls off."""
    first, second = (today_in(30), today_in(50)) if today_in(50) > today_in(30) else (today_in(50), today_in(30))
    live.tv.publish(
        notices=(Notice("n1", "本周三上午九点在村委会开展防汛演练，请各户派一人参加", ""),),
        schedule=schedule(("c-goose", first), ("c-land", second)),
    )
    assert live.tv.sync() == "ok"
    page.goto(live.url("/"))
    focused(page)
    start_session_by_keys(page, live, "9")
    remote(page, "green")  # home, as the remote opens it
    page.wait_for_url(live.url("/"))
    assert focused(page)["href"] == "/course/c-land"
    page.evaluate("document.activeElement.classList.add('now-focused')")
    for selector in (".station", ".session-banner", ".ticker", ".shelf.programmes", ".now-focused"):
        assert on_screen(page, selector), (selector, box(page, selector), page.evaluate("scrollY"))
    assert not page.errors, page.errors
