"""The TV page in the system Chromium, driven by the keyboard alone (a remote control): the
lesson flow with resume, a study session of 12, channel mode, next episode, a course removed
while it plays, broken media, and focus that is always visible and never lost.

One station (served from a thread) and one browser for the whole module, so it stays fast.
Colour keys are sent as the set-top-box key codes (403-406) through DevTools."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from playlists.schedule import CHINA
from station.store import Store
from station.web.app import create_app
from station.web.keys import ATTENDANCE
from tests.browser import CHROMIUM, CHROMIUM_ARGS, LiveServer, chromium_missing
from tests.test_tv_page import PIN, _ffmpeg, clips, install_courses, make_config, put_blob  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
]

COLOUR = {"red": (403, "ColorF0Red"), "green": (404, "ColorF1Green"), "yellow": (405, "ColorF2Yellow"), "blue": (406, "ColorF3Blue")}

FOCUS_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {tag: 'BODY'};
  const cs = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  return {tag: el.tagName, href: el.getAttribute('href'), id: el.id, text: el.textContent.trim(),
          outline: cs.outlineStyle, outlineWidth: parseFloat(cs.outlineWidth), w: r.width, h: r.height};
}"""


@pytest.fixture(scope="module")
def station(tmp_path_factory, clips):  # noqa: F811
    tmp = tmp_path_factory.mktemp("tv-browser")
    long_clip = tmp / "long.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-f", "lavfi", "-i", "sine=frequency=220",
            "-t", "30", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
            "-movflags", "+faststart", str(long_clip))
    broken = tmp / "broken.mp4"
    broken.write_bytes(b"this is not a video file at all\n" * 64)
    store = Store(tmp / "station")
    install_courses(store, clips)
    doc = store.installed()
    base = doc["courses"][0]
    doc["courses"] += [
        dict(base, id="c-long", title="水稻种植全程讲解", category="skills", duration_s=30.0,
             media=put_blob(store, long_clip, "mp4")),
        dict(base, id="c-ep-1", title="科学养鸡 第1集", category="culture"),
        dict(base, id="c-ep-2", title="科学养鸡 第2集", category="culture"),
        dict(base, id="c-broken", title="损坏的课程", category="safety", media=put_blob(store, broken, "mp4")),
    ]
    store.install(doc)
    server = LiveServer(create_app(make_config(tmp), store, admin_failure_delay_s=0.01))
    server.store = store
    yield server
    server.close()


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    context.close()


def focused(page) -> dict:
    f = page.evaluate(FOCUS_JS)
    assert f["tag"] != "BODY", f"nothing has focus on {page.url}"
    assert f["outline"] != "none" and f["outlineWidth"] >= 4, f"focus is not visible on {page.url}: {f}"
    assert f["w"] > 0 and f["h"] > 0, f"the focused element is not on screen: {f}"
    return f


def press(page, key: str) -> None:
    page.keyboard.press(key)
    page.wait_for_timeout(40)


def remote(page, colour: str, code: int | None = None) -> None:
    """A key as a set-top box sends it: a colour (keyCode 403-406) or any ``code`` with key name ``colour``."""
    code, name = COLOUR[colour] if code is None else (code, colour)
    cdp = page.context.new_cdp_session(page)
    for kind in ("rawKeyDown", "keyUp"):
        cdp.send("Input.dispatchKeyEvent", {"type": kind, "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code, "key": name})
    cdp.detach()


def media(page, expr: str):
    return page.evaluate(f"(() => {{ const m = document.getElementById('media'); return {expr}; }})()")


def wait_playing(page, at_least: float = 0.3) -> None:
    page.wait_for_function("document.getElementById('media') && document.getElementById('media').readyState >= 1", timeout=8000)
    if media(page, "m.paused"):
        page.keyboard.press("Enter")  # autoplay blocked: OK starts it
    page.wait_for_function(f"document.getElementById('media').currentTime > {at_least}", timeout=8000)


# ---- the lesson flow ---------------------------------------------------------------------------


def test_home_category_course_play_osd_seek_back_and_reopen_resumes(station, page):
    page.goto(station.url("/"))
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
    page.wait_for_url(station.url("/"))
    assert page.is_visible(".shelf.continue")  # and home offers to continue it
    assert not page.errors, page.errors
    plays = [e for e in station.app[ATTENDANCE].journal.recent("play", 10) if e["course"] == "c-long"]
    assert len(plays) == 2 and 0.5 < plays[-1]["watched_s"] < 10  # the seek is not counted as watching


def test_holding_right_seeks_faster(station, page):
    page.goto(station.url("/play/c-long?from=0"))
    wait_playing(page)
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('media').paused")
    page.evaluate("document.getElementById('media').currentTime = 0")
    for i in range(6):  # a held key: auto-repeat
        page.evaluate("""() => document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight', repeat: true, bubbles: true}))""")
    page.wait_for_timeout(200)
    assert media(page, "m.currentTime") >= 29  # 6 × 15 s would be 90; clamped at the end (30 s)
    page.keyboard.press("Escape")
    page.wait_for_url("**/course/c-long")


# ---- study session -----------------------------------------------------------------------------


def test_study_session_of_12_by_remote_then_play_then_summary(station, page):
    att = station.app[ATTENDANCE]
    if att.current_session():
        att.end_session()
    page.goto(station.url("/"))
    focused(page)
    remote(page, "red")
    page.wait_for_url("**/session")
    assert focused(page)["id"] == "headcount"
    press(page, "0")  # 0 is refused, with the range
    page.keyboard.press("Enter")  # OK: on to the topics
    assert focused(page)["text"] == "综合学习"
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "参加人数必须是 1 到 9999 之间的整数" in page.inner_text(".warning")
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
    page.wait_for_url(station.url("/"))
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
    assert re.search(r"(农村土地承包法解读|雨季养鹅技术|水稻种植全程讲解) \(00:0\d\)", summary), summary
    assert focused(page)["text"] == "回到首页"
    assert not page.errors, page.errors


# ---- focus: always one, always visible -----------------------------------------------------------


def test_every_page_has_a_visible_focus_and_no_key_loses_it(station, page):
    att = station.app[ATTENDANCE]
    if not att.current_session() and not att.journal.recent("session_end", 1):
        att.start_session("安全常识", "", "5")
        att.end_session()
    summary = att.journal.recent("session_end", 1)[0]["id"]
    gone = station.store.course("c-ep-2")
    urls = ["/", "/category/agriculture", "/category/party", "/course/c-goose", "/course/c-ep-1", "/schedule",
            "/session", f"/session/summary/{summary}", "/course/gone", "/no/such/page", "/go/8"]
    keys = ["ArrowUp", "ArrowLeft", "ArrowDown", "ArrowDown", "ArrowDown", "ArrowRight", "ArrowRight", "ArrowRight",
            "ArrowRight", "x", "Tab", "Tab", "Shift+Tab"]
    for url in urls:
        page.goto(station.url(url))
        focused(page)
        for key in keys:
            page.keyboard.press(key)
            page.wait_for_timeout(15)  # the script puts lost focus back on the next tick
            focused(page)
    assert gone is not None
    # the admin page, from a phone-sized screen: the PIN field, then the page itself
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(station.url("/admin"))
    assert focused(page)["id"] == "pin"
    page.keyboard.type(PIN)
    page.keyboard.press("Enter")
    page.wait_for_selector("section#sync")
    assert focused(page)["text"] == "立即同步"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not page.errors, page.errors


def test_broken_media_shows_a_message_with_focus_not_a_blank_screen(station, page):
    page.goto(station.url("/play/c-broken"))
    page.wait_for_selector("#failed:not(.hidden)", timeout=8000)
    assert "无法播放这个课程" in page.inner_text("#failed")
    assert focused(page)["text"] == "返回"
    page.keyboard.press("Enter")
    page.wait_for_url("**/course/c-broken")
    focused(page)


# ---- episodes, removal, channel mode ---------------------------------------------------------------


def test_next_episode_plays_on(station, page):
    page.goto(station.url("/play/c-ep-1"))
    wait_playing(page)
    page.wait_for_url("**/play/c-ep-2", timeout=15000)
    assert "第 2 集" in page.inner_text("#osd .osd-title")


def test_course_removed_while_it_plays_finishes_then_goes_home(station, page):
    store = station.store
    before = store.installed()
    page.goto(station.url("/play/c-goose"))
    wait_playing(page)
    try:
        doc = dict(before, courses=[c for c in before["courses"] if c["id"] != "c-goose"])
        store.install(doc)
        page.wait_for_url(station.url("/"), timeout=15000)  # after the lesson ends
        assert media_gone(page)
        assert "雨季养鹅技术" not in page.inner_text("main")
        focused(page)
    finally:
        store.install(before)


def media_gone(page) -> bool:
    return page.evaluate("document.getElementById('media') === null")


def test_channel_mode_counts_down_plays_now_then_home(station, page):
    store = station.store
    before = store.installed()
    start = (datetime.now(CHINA) + timedelta(seconds=4)).replace(microsecond=0)
    try:
        store.install(dict(before, playlists=[{"name": "main", "version": 2, "title": "全部课程",
                                               "schedule": {"slots": [{"course": "c-goose", "start": start.isoformat()}]}}]))
        page.goto(station.url("/"))
        page.wait_for_selector("#countdown:not(.hidden)", timeout=5000)
        assert "雨季养鹅技术" in page.inner_text("#countdown")
        assert re.fullmatch(r"\d", page.inner_text("#countdown-s"))
        focused(page)
        page.wait_for_url("**/play/c-goose?channel=*", timeout=10000)
        assert page.inner_text("#now-playing") == "现在播放"
        page.wait_for_url(station.url("/"), timeout=15000)  # the programme ended: home
        page.wait_for_timeout(1500)
        assert page.is_hidden("#countdown") if page.query_selector("#countdown") else True
        assert page.url == station.url("/")
    finally:
        store.install(before)
    assert not page.errors, page.errors


SMALL_TEXT_JS = """() => Array.from(document.querySelectorAll('body *'))
  .filter(el => Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim()))
  .filter(el => el.getBoundingClientRect().width > 0)
  .map(el => [el.textContent.trim().slice(0, 20), parseFloat(getComputedStyle(el).fontSize)])
  .filter(([, size]) => size < 28)"""


def test_full_home_and_session_pages_fit_720p_and_1080p_with_big_text(station, page):
    store, att = station.store, station.app[ATTENDANCE]
    before = store.installed()
    later = (datetime.now(CHINA) + timedelta(minutes=30)).replace(microsecond=0)
    try:
        store.install(dict(before, notices=[{"id": "n1", "title": "本周六上午九点在村委会开展防汛演练，请各户派一人参加"}],
                           playlists=[{"name": "main", "version": 3, "title": "全部课程",
                                       "schedule": {"slots": [{"course": "c-goose", "start": later.isoformat()}]}}]))
        att.save_resume("c-rice", 1.0, 3.0)
        att.save_resume("c-long", 12.0, 30.0)
        for size in ({"width": 1280, "height": 720}, {"width": 1920, "height": 1080}):
            page.set_viewport_size(size)
            for url in ("/", "/session", "/schedule", "/course/c-long", "/notice/n1"):
                page.goto(station.url(url))
                focused(page)
                assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], (url, size)
                if size["width"] == 1280:
                    assert not page.evaluate(SMALL_TEXT_JS), (url, page.evaluate(SMALL_TEXT_JS))
        page.set_viewport_size({"width": 1280, "height": 720})
        page.goto(station.url("/"))
        assert page.is_visible(".ticker") and page.is_visible(".shelf.continue") and page.is_visible(".programmes")
        remote(page, "yellow")  # yellow: straight back into the last lesson
        page.wait_for_url("**/play/c-long")
        wait_playing(page, 12.5)
        remote(page, "green")  # green: home
        page.wait_for_url(station.url("/"))
        remote(page, "blue")  # blue: the programme schedule
        page.wait_for_url("**/schedule")
        assert later.strftime("%H:%M") in page.inner_text("main")
    finally:
        store.install(before)


CONTRAST_JS = """() => {
  function rgba(s) { const m = s.match(/[\\d.]+/g).map(Number); return m.length === 3 ? [...m, 1] : m; }
  function lum([r, g, b]) {
    const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  }
  function background(el) {
    let layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let out = [14, 17, 22];  // the page background
    for (const c of layers.reverse()) out = out.map((v, i) => v * (1 - c[3]) + c[i] * c[3]);
    return out;
  }
  return Array.from(document.querySelectorAll('body *'))
    .filter(el => Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim()))
    .filter(el => el.getBoundingClientRect().width > 0 && getComputedStyle(el).visibility !== 'hidden')
    .map(el => {
      const a = lum(rgba(getComputedStyle(el).color)), b = lum(background(el));
      return [el.textContent.trim().slice(0, 16), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
    })
    .filter(([, ratio]) => ratio < 4.5);
}"""


def test_tv_text_contrast_is_at_least_aa(station, page):
    store, att = station.store, station.app[ATTENDANCE]
    before = store.installed()
    later = (datetime.now(CHINA) + timedelta(minutes=30)).replace(microsecond=0)
    try:
        store.install(dict(before, notices=[{"id": "n1", "title": "防汛演练通知"}],
                           playlists=[{"name": "main", "version": 4, "title": "全部课程",
                                       "schedule": {"slots": [{"course": "c-goose", "start": later.isoformat()}]}}]))
        att.save_resume("c-long", 12.0, 30.0)
        if not att.current_session():
            att.start_session("安全常识", "", "8")
        for url in ("/", "/course/c-long", "/session", "/schedule", "/course/gone", "/play/c-goose"):
            page.goto(station.url(url))
            if url.startswith("/play/"):
                page.keyboard.press("ArrowUp")  # the on-screen display
            low = page.evaluate(CONTRAST_JS)
            assert not low, f"text below 4.5:1 on {url}: {low}"
    finally:
        if att.current_session():
            att.end_session()
        store.install(before)


def test_media_keys_and_set_top_box_back_codes(station, page):
    page.goto(station.url("/course/c-long"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/play/c-long")
    wait_playing(page)
    remote(page, "Pause", 19)
    page.wait_for_function("document.getElementById('media').paused")
    remote(page, "MediaPlay", 415)
    page.wait_for_function("!document.getElementById('media').paused")
    remote(page, "MediaPlayPause", 179)
    page.wait_for_function("document.getElementById('media').paused")
    remote(page, "MediaStop", 413)  # stop: saves and goes back like Back
    page.wait_for_url("**/course/c-long")
    focused(page)
    for code, name in ((461, "Unidentified"), (10009, "XF86Back"), (166, "BrowserBack")):
        page.goto(station.url("/category/skills"))
        focused(page)
        remote(page, name, code)
        page.wait_for_url(station.url("/"))
        focused(page)
