"""Issue 14's questions journey, with every part real: a villager's question recorded on a
station's ``/admin`` page in Chromium; ``station report --once`` takes it to a real headend through
a link that drops every 4 KB; a county editor finds it on ``/county/questions``, answers it as FAQ
and publishes from the page; ``station sync --once`` brings the signed answer back through the same
link; the station's ``/admin`` shows it answered and its TV's 问答 page, opened by the remote, shows
the answer. The county's figures count the question once (the link made the station send it more
than once), and — the deadline set short in headend.toml — it was overdue before the answer:
the alert check raised ``question_overdue``, the answer cleared it, and the figures keep it overdue.

Everything is clicked and typed as a person would; the county's alert check is the pass the
server's loop runs."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest

from headend.config import load_config as load_headend_config
from headend.service import alerts, open_root
from headend.web.app import create_app as create_headend_app
from station.config import load_config as load_station_config
from station.store import Store
from station.web.app import create_app as create_station_app
from tests.browser import LiveServer, focused, press
from tests.conftest import run_cli, write_station_toml
from tests.county_kit import add_user
from tests.flaky_proxy import FlakyProxy
from tests.reporting_kit import report_url, set_report_url
from tests.tv.test_ratings_journey import log_in
from tests.tv.test_report_journey import LINK_DROPS_EVERY, Link, report_until_done

pytestmark = [pytest.mark.browser, pytest.mark.one_engine]  # not about the database: one engine

STATION = "test-station"  # write_station_toml's id and region
REGION = "广东省/肇庆市/高要市/蚬岗镇/测试村"
COUNTY = "广东省/肇庆市/高要市"
PIN = "246813"
QUESTION = "今年水稻稻瘟病比较重，用什么药防治效果好？"
ANSWER = "发病初期用三环唑或稻瘟灵喷雾，间隔七天再喷一次；注意田间排水晒田。"
ANSWER_DAYS = 0.0002  # 17 s: the question is overdue by the time the county answers it


def sync_until_done(toml) -> int:
    """``station sync --once`` until a pass installs everything (the link cuts some)."""
    return report_until_done(toml, command=("sync", "--once"))


def admin_log_in(page, station: LiveServer) -> None:
    page.goto(station.url("/admin"))
    if page.query_selector("#pin"):  # not while the admin session lasts
        page.fill("#pin", PIN)
        page.press("#pin", "Enter")
    page.wait_for_selector("section#questions")


def figures(page) -> dict[str, str]:
    return page.eval_on_selector("#figures", "e => Object.assign({}, e.dataset)")


def test_a_question_asked_on_the_box_is_answered_by_the_county_and_the_answer_reaches_its_tv(
    tmp_path, headend_root, browser
):
    root = headend_root
    text = (root / "headend.toml").read_text(encoding="utf-8")
    (root / "headend.toml").write_text(
        re.sub(r"(?m)^answer_days = .*$", f"answer_days = {ANSWER_DAYS}", text), encoding="utf-8"
    )
    res = run_cli("headend", "station", "add", "--root", str(root), STATION, "--region", REGION)
    assert res.returncode == 0, res.stderr
    token = res.stdout.strip().splitlines()[-1].strip()
    one_time = add_user(root, "xian-bian", "editor", COUNTY)
    headend = LiveServer(create_headend_app(load_headend_config(root), background_loops=False))
    link = Link(headend, FlakyProxy(headend.base, cut_every=LINK_DROPS_EVERY, first_cut_after=400))
    station = None
    try:
        toml = write_station_toml(tmp_path / "station.toml", [f"{link.url}/repo/"], root / "keys" / "headend.pub")
        toml.write_text(toml.read_text(encoding="utf-8").replace('token = ""', f'token = "{token}"'), encoding="utf-8")
        set_report_url(toml, report_url(link.url))
        sync_until_done(toml)  # the courses first, as a box set up that day has them
        cfg = load_station_config(toml)
        station = LiveServer(create_station_app(cfg, Store(cfg.data_dir), admin_failure_delay_s=0.01))

        # The administrator records the villager's question on /admin and reads out its number.
        box = browser()
        admin_log_in(box, station)
        box.select_option("section#questions select[name=topic]", "agriculture")
        box.fill("section#questions textarea[name=question]", QUESTION)
        box.fill("section#questions input[name=asker]", "张大爷")
        box.check("#q-publish")
        box.click("section#questions button[type=submit]")
        box.wait_for_selector("#question-saved")
        number = re.search(r"\d{8}-\d{2}", box.inner_text("#question-saved"))[0]
        assert "等待县里受理" in box.inner_text("section#questions")

        # The uploader takes it to the county through the link, whatever it cuts.
        report_until_done(toml)
        report_until_done(toml)  # and once more: nothing new, nothing counted twice
        assert link.proxy.cuts >= 1
        with open_root(root) as h:
            (held,) = h.db.questions.listing()
        assert (held.station, held.number, held.text, held.asker) == (STATION, number, QUESTION, "张大爷")

        # Past the (short) deadline: the alert check raises the county's overdue alert.
        received = datetime.fromisoformat(held.received_at.replace("Z", "+00:00"))
        while (datetime.now(UTC) - received).total_seconds() < ANSWER_DAYS * 86400 + 1:
            time.sleep(0.5)
        with open_root(root) as h:
            alerts.check(h)
            overdue = [a for a in h.db.alerts.open_alerts() if a.kind == "question_overdue"]
        assert [(a.station, a.detail["questions"]) for a in overdue] == [(STATION, [number])]

        # A county editor finds it in the queue, answers it as FAQ and publishes from the page.
        county = browser()
        log_in(county, headend.base, "xian-bian", one_time)
        county.click("nav >> text=群众提问")
        county.wait_for_selector("#questions")
        row = county.locator(f"#questions tr[data-key='{STATION}/{number}']")
        assert row.get_attribute("data-timing") == "overdue"
        assert QUESTION in row.inner_text()
        row.locator("a").first.click()
        county.wait_for_selector("#answer")
        county.fill("#answer textarea[name=text]", ANSWER)
        county.check("#answer input[name=faq]")
        county.click("#answer button[value=publish]")
        county.wait_for_url("**/county/publishing*")
        for _ in range(600):
            if "完成" in county.inner_text("main") or "已发布" in county.inner_text("main"):
                break
            county.wait_for_timeout(200)
            county.reload()
        with open_root(root) as h:
            assert h.db.questions.get(STATION, number).status == "answered"
            alerts.check(h)
            assert not [a for a in h.db.alerts.open_alerts() if a.kind == "question_overdue"]
            assert [e.action for e in h.db.audit.recent(20) if e.action.startswith("question.")] == ["question.answer"]

        # The county's figures: one question received, answered, and overdue (answered late).
        county.click("nav >> text=群众提问")
        county.wait_for_selector("#figures")
        got = figures(county)
        assert (got["received"], got["answered"], got["overdue"], got["onTime"], got["open"]) == (
            "1",
            "1",
            "1",
            "0",
            "0",
        )

        # The next sync brings the signed answer back through the same link.
        sync_until_done(toml)
        admin_log_in(box, station)
        mine = box.inner_text("section#questions")
        assert "已答复" in mine and ANSWER in mine, mine

        # On the TV, the remote opens 问答 from home and the answer reads in large type.
        tv = browser()
        tv.goto(station.url("/"))
        for _ in range(8):  # up from the first shelf to the 问答 link
            if focused(tv)["href"] == "/answers":
                break
            press(tv, "ArrowUp")
        assert focused(tv)["href"] == "/answers"
        press(tv, "Enter")
        tv.wait_for_url("**/answers")
        first = focused(tv)["text"]  # the newest answer has the focus
        assert QUESTION[:10] in first and ANSWER[:10] in first, first
        assert tv.evaluate("parseFloat(getComputedStyle(document.querySelector('.qa-a')).fontSize)") >= 30
        press(tv, "Enter")  # the answer in full
        tv.wait_for_url(f"**/answers/{STATION}/{number}")
        assert ANSWER in tv.inner_text(".answer-a")
        press(tv, "Backspace")
        tv.wait_for_url("**/answers")
        press(tv, "Escape")
        tv.wait_for_url(station.url("/"))
        assert not box.errors and not county.errors and not tv.errors, (box.errors, county.errors, tv.errors)
    finally:
        if station is not None:
            station.close()
        link.close()
        headend.close()
