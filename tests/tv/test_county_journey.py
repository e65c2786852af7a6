"""Issue 12's journeys in Chromium: a study session of 12 and two individual plays on a station's
TV page reach the county through the real uploader (``station report --once``); an admin logs in
(replacing the one-time password ``headend init`` printed), creates a township viewer on the
accounts page; the viewer logs in, sees only that township's stations, opens the station's page
and reads today's figures equal to the station's own ``/admin``, and exports the CSV; an editor
changes a course's title and publishes from the page, and the new version is signed and served.

Everything is clicked and typed as a person would: no form is posted by hand."""

from __future__ import annotations

import csv
import io
import json
import re
import time

import pytest

from headend.config import load_config as load_headend_config
from headend.web.app import create_app as create_headend_app
from station.records.attendance import Attendance
from station.records.rules import MIN_SESSION_S
from tests.browser import LiveServer, focused, wait_playing
from tests.conftest import ADMIN_PASSWORD_FILE, run_cli
from tests.county_kit import add_user
from tests.headend_db import course_ids
from tests.reporting_kit import report_url, set_report_url, today
from tests.tv.station import STATION_ID
from tests.tv.test_report_journey import admin_today, play_to_the_end, report_until_done
from tests.tv.test_stumbles import end_session_by_keys, start_session_by_keys

pytestmark = [pytest.mark.browser, pytest.mark.one_engine]  # not about the database: one engine (tests/conftest.py)

TOWNSHIP = "广东省/肇庆市/高要市/蚬岗镇"
OTHER = "gaoyao-hetai-hetaicun"  # another township's station: the viewer must never see it
OWN = {"admin": "admin-own-pass-1", "xiangang": "viewer-own-pass-1", "bianji": "editor-own-pass-1"}


def log_in(page, base: str, name: str, password: str) -> None:
    """The login page, then (for a one-time password) the page that makes one choose one's own."""
    page.goto(f"{base}/county")
    assert "/login" in page.url, page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if page.url.endswith("/county/account/password"):
        page.fill("input[name=old]", password)
        page.fill("input[name=new]", OWN[name])
        page.fill("input[name=again]", OWN[name])
        page.click("form[action='/county/account/password'] button[type=submit]")
        page.wait_for_load_state()
    assert "/county" in page.url and "/login" not in page.url, page.url


def log_out(page) -> None:
    page.click("form.logout button")
    page.wait_for_url("**/login")


def enrol(root, station: str, region: str) -> str:
    res = run_cli("headend", "station", "add", "--root", str(root), station, "--region", region)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1].strip()


def test_a_township_viewer_sees_the_stations_own_figures_and_an_editor_publishes(headend_root, tv, browser, headend_db):
    shift = [0.0]
    att = Attendance(tv.cfg.data_dir, clock=lambda: time.time() + shift[0])
    station = LiveServer(tv.app(attendance=att))
    root = headend_root
    token = enrol(root, STATION_ID, f"{TOWNSHIP}/示范村")
    enrol(root, OTHER, "广东省/肇庆市/高要市/河台镇/河台村")
    headend = LiveServer(create_headend_app(load_headend_config(root), background_loops=False))
    try:
        # The TV: a study session of 12 by the remote, then two lessons watched alone.
        tv_page = browser()
        tv_page.goto(station.url("/"))
        focused(tv_page)
        start_session_by_keys(tv_page, station, "12")
        tv_page.keyboard.press("Enter")
        tv_page.wait_for_url("**/course/c-*")
        tv_page.keyboard.press("Enter")
        tv_page.wait_for_url("**/play/*")
        wait_playing(tv_page, 0.5)
        shift[0] += MIN_SESSION_S + 1
        end_session_by_keys(tv_page)
        play_to_the_end(tv_page, station, tv, "c-goose")
        play_to_the_end(tv_page, station, tv, "c-rice")
        on_the_box = admin_today(tv_page, station)
        assert on_the_box["人次"] == "14（集中学习 12，自学 2）", on_the_box

        # The real uploader takes it to the county.
        toml = tv.root / "station.toml"
        toml.write_text(toml.read_text(encoding="utf-8").replace('token = ""', f'token = "{token}"'), encoding="utf-8")
        set_report_url(toml, report_url(headend.base))
        report_until_done(toml)

        # An admin creates a township viewer on the accounts page.
        county = browser()
        log_in(county, headend.base, "admin", (root / ADMIN_PASSWORD_FILE).read_text().strip())
        county.click("nav >> text=账号")
        county.fill("#add-user input[name=name]", "xiangang")
        county.select_option("#add-user select[name=role]", "viewer")
        county.fill("#add-user input[name=region]", TOWNSHIP)
        county.click("#add-user button[type=submit]")
        one_time = county.inner_text("#one-time-password").strip()
        assert len(one_time) >= 12
        log_out(county)

        # The viewer sees the township's station only, and its figures equal the box's own.
        log_in(county, headend.base, "xiangang", one_time)
        overview = county.inner_text("main")
        assert "蚬岗镇" in overview and "河台" not in overview
        county.click("nav >> text=站点")
        listed = county.eval_on_selector_all("tr[data-station]", "rows => rows.map(r => r.dataset.station)")
        assert listed == [STATION_ID], listed
        county.click(f"tr[data-station='{STATION_ID}'] a")
        county.wait_for_url(f"**/county/stations/{STATION_ID}*")
        row = county.eval_on_selector(
            f"#days tr[data-day='{today().isoformat()}']",
            "r => Array.from(r.children).map(c => c.textContent.trim())",
        )
        # 总人次, 集中学习场次, 集中学习人次, 自学人次, 播放 — as the station's /admin said them
        person_times, sessions, session_people, individual, plays = (int(x) for x in row[1:6])
        expected = re.fullmatch(r"(\d+)（集中学习 (\d+)，自学 (\d+)）", on_the_box["人次"])
        assert (person_times, session_people, individual) == tuple(int(x) for x in expected.groups())
        assert sessions == int(on_the_box["集中学习"])
        assert plays == int(re.fullmatch(r"\d+ / (\d+) 次", on_the_box["完整学完"])[1])
        headcounts = county.eval_on_selector_all("#sessions td.num", "cells => cells.map(c => c.textContent.trim())")
        assert headcounts == ["12"], headcounts  # the session, with its headcount
        with county.expect_download() as download:
            county.click("#export-csv")
        raw = download.value.path().read_bytes()
        assert raw.startswith("\ufeff".encode())
        exported = {r[2]: r for r in csv.reader(io.StringIO(raw.decode("utf-8-sig")))}
        assert exported[today().isoformat()][3:7] == [
            str(person_times),
            str(sessions),
            str(session_people),
            str(individual),
        ]
        county.goto(f"{headend.base}/county/stations/{OTHER}")
        assert "出错了（404）" in county.inner_text("main")
        log_out(county)

        # An editor renames a course and publishes from the page.
        add_user_password = add_user(root, "bianji", "editor")
        log_in(county, headend.base, "bianji", add_user_password)
        course = course_ids(root)["雨季养鹅技术"]
        county.goto(f"{headend.base}/county/courses/{course}")
        county.fill("input[name=title]", "雨季养鹅技术（修订版）")
        county.click("form[action^='/county/courses'] button[type=submit]")
        county.wait_for_url("**/county/courses?saved=*")
        assert "已保存课程 雨季养鹅技术（修订版）" in county.inner_text("main")
        county.click("nav >> text=发布")
        before = json.loads((root / "repo" / "index.json").read_bytes())["version"]
        county.click("#publish-now button")
        county.wait_for_selector(f"text=已发布第 {before + 1} 版", timeout=60_000)
        published = json.loads((root / "repo" / "index.json").read_bytes())
        assert published["version"] == before + 1
        all_courses = next(p for p in published["playlists"] if p["name"] == "all")
        playlist = json.loads((root / "repo" / all_courses["path"]).read_bytes())
        assert "雨季养鹅技术（修订版）" in {c["title"] for c in playlist["courses"]}
        assert not county.errors and not tv_page.errors
    finally:
        headend.close()
        station.close()
