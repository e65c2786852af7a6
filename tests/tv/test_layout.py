"""How the pages look on a television: a full home page and the session, schedule, course and
notice pages fit 720p and 1080p without sideways scrolling, text is big (28 px or more at 720p),
posters load, and all text has at least AA contrast (4.5:1)."""

from __future__ import annotations

import pytest

from playlists import Notice
from tests.browser import focused
from tests.tv.station import schedule, today_in, tv_post

pytestmark = pytest.mark.browser

SMALL_TEXT_JS = """() => Array.from(document.querySelectorAll('body *'))
  .filter(el => Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim()))
  .filter(el => el.getBoundingClientRect().width > 0)
  .map(el => [el.textContent.trim().slice(0, 20), parseFloat(getComputedStyle(el).fontSize)])
  .filter(([, size]) => size < 28)"""

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


@pytest.fixture
def full(live, page):
    """Everything the home page can show: a notice ticker, continue watching, today's programmes
    and, for the session page, a study session in progress."""
    later = today_in(30)
    live.tv.publish(
        notices=(Notice("n1", "本周六上午九点在村委会开展防汛演练，请各户派一人参加", ""),),
        schedule=schedule(("c-goose", later)),
    )
    assert live.tv.sync() == "ok"
    pid = tv_post(live, page, "/api/plays", data={"course": "c-long"}).json()["id"]
    tv_post(live, page, f"/api/plays/{pid}/end", data={"position_s": 12.0, "watched_s": 1.0})
    return live


def test_full_home_and_session_pages_fit_720p_and_1080p_with_big_text(full, page):
    for size in ({"width": 1280, "height": 720}, {"width": 1920, "height": 1080}):
        page.set_viewport_size(size)
        for url in ("/", "/session", "/schedule", "/course/c-long", "/notice/n1"):
            page.goto(full.url(url))
            focused(page)
            assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], (url, size)
            if size["width"] == 1280:
                assert not page.evaluate(SMALL_TEXT_JS), (url, page.evaluate(SMALL_TEXT_JS))
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(full.url("/"))
    assert page.is_visible(".ticker") and page.is_visible(".shelf.continue") and page.is_visible(".programmes")
    posters = page.evaluate(
        "Array.from(document.querySelectorAll('img.poster')).map(i => i.complete && i.naturalWidth)"
    )
    assert posters and all(w == 640 for w in posters)  # posters load from /media
    assert not page.errors, page.errors


def test_tv_text_contrast_is_at_least_aa(full, page):
    resp = tv_post(full, page, "/session/start", form={"topic": "安全常识", "headcount": "8"}, max_redirects=0)
    assert resp.status == 303
    for url in ("/", "/course/c-long", "/session", "/schedule", "/course/gone", "/play/c-goose"):
        page.goto(full.url(url))
        if url.startswith("/play/"):
            page.keyboard.press("ArrowUp")  # the on-screen display
        low = page.evaluate(CONTRAST_JS)
        assert not low, f"text below 4.5:1 on {url}: {low}"
