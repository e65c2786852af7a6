"""Issue 11's "done when": a study session of 12 and two individual plays on the TV page in
Chromium, by the remote's keys; then ``station report --once`` through a link that drops every
4 KB, in either direction, until it exits 0; then ``headend report --json`` shows for today exactly
the person-times, sessions and plays the station's ``/admin`` page shows, and a second
``station report --once`` changes nothing at the headend.

The station's clock is the machine's plus a shift the test moves (a study session counts only
after ``MIN_SESSION_S``); the headend is its own app (as ``headend serve`` runs it) in a thread,
with the link (tests/flaky_proxy.py) on the same thread's loop."""

from __future__ import annotations

import json
import re
import time

import pytest

from headend.config import load_config as load_headend_config
from headend.web.app import create_app as create_headend_app
from station.records.attendance import Attendance
from station.records.rules import MIN_SESSION_S
from tests.browser import CHROMIUM_SHARED, LiveServer, chromium_missing, focused, wait_playing
from tests.conftest import init_headend, run_cli
from tests.flaky_proxy import FlakyProxy
from tests.reporting_kit import enrol, held_count, report_url, set_report_url, station_argv, today
from tests.tv.station import PIN, STATION_ID
from tests.tv.test_stumbles import end_session_by_keys, start_session_by_keys

pytestmark = [pytest.mark.browser, pytest.mark.one_engine]  # not about the database: one engine (tests/conftest.py)

LINK_DROPS_EVERY = 4096


@pytest.fixture
def chromium_page():
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    context = CHROMIUM_SHARED.browser().new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


class Link:
    """A FlakyProxy running on a LiveServer's loop (the test's thread is Playwright's)."""

    def __init__(self, server: LiveServer, proxy: FlakyProxy) -> None:
        self.server, self.proxy = server, proxy
        self._ctx = proxy.running()
        self.url = server.run(self._ctx.__aenter__())

    def close(self) -> None:
        self.server.run(self._ctx.__aexit__(None, None, None))


def play_to_the_end(page, station: LiveServer, tv, course: str) -> None:
    """Open the course's page, OK on 播放, let the lesson play out; its play line is journaled."""
    before = len([e for e in tv.journal("play") if e["course"] == course])
    page.goto(station.url(f"/course/{course}"))
    focused(page)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/play/{course}*")
    wait_playing(page, 0.5)
    for _ in range(300):
        if len([e for e in tv.journal("play") if e["course"] == course]) > before:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the play of {course} was never journaled")


def admin_today(page, station: LiveServer) -> dict[str, str]:
    """The Today column of the admin page's attendance table, by row label."""
    page.goto(station.url("/admin"))
    page.fill("#pin", PIN)
    page.press("#pin", "Enter")
    page.wait_for_selector("section#figures")
    rows = page.eval_on_selector_all(
        "section#figures tr", "rows => rows.map(r => Array.from(r.children).map(c => c.textContent.trim()))"
    )
    return {r[0]: r[1] for r in rows if len(r) >= 2 and r[0]}


def headend_today(root) -> dict:
    res = run_cli("headend", "report", "--root", str(root), "--station", STATION_ID, "--json")
    assert res.returncode == 0, res.stderr
    (station,) = json.loads(res.stdout)["stations"]
    (day,) = [d for d in station["days"] if d["day"] == today().isoformat()]
    return day


def report_until_done(toml, attempts: int = 60, command: tuple[str, ...] = ("report", "--once")) -> int:
    """``station report --once`` (or another ``command``) until it exits 0: the link cuts some runs."""
    import subprocess

    from tests.conftest import ROOT

    said = []
    for n in range(1, attempts + 1):
        argv, env = station_argv(toml, *command)
        res = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        said.append(f"run {n}: exit {res.returncode}: {res.stdout.strip()[-300:]} {res.stderr.strip()[-400:]}")
        if res.returncode == 0:
            return n
        time.sleep(0.05)
    raise AssertionError(f"station {' '.join(command)} never finished:\n" + "\n".join(said[-6:]))


def test_done_when_a_tv_journey_reaches_the_county_exactly_through_a_link_cut_every_4_kb(
    tmp_path, tv, chromium_page, headend_db
):
    page = chromium_page
    shift = [0.0]
    att = Attendance(tv.cfg.data_dir, clock=lambda: time.time() + shift[0])
    station = LiveServer(tv.app(attendance=att))
    root = init_headend(tmp_path / "headend", headend_db)
    token = enrol(root, STATION_ID)
    headend = LiveServer(create_headend_app(load_headend_config(root), background_loops=False))
    link = Link(headend, FlakyProxy(headend.base, cut_every=LINK_DROPS_EVERY, first_cut_after=400))
    try:
        toml = tv.root / "station.toml"
        text = toml.read_text(encoding="utf-8").replace('token = ""', f'token = "{token}"')
        toml.write_text(text, encoding="utf-8")
        set_report_url(toml, report_url(link.url))

        # A study session of 12 by the remote, one lesson in it, ended after MIN_SESSION_S.
        page.goto(station.url("/"))
        focused(page)
        start_session_by_keys(page, station, "12")
        assert "12 人" in page.inner_text(".session-banner")
        page.keyboard.press("Enter")  # the first course
        page.wait_for_url("**/course/c-*")
        page.keyboard.press("Enter")
        page.wait_for_url("**/play/*")
        wait_playing(page, 0.5)
        shift[0] += MIN_SESSION_S + 1
        summary = end_session_by_keys(page)
        assert "12 人" in summary
        # Two individual plays of two lessons, each played to its end (a 3 s lesson counts then).
        play_to_the_end(page, station, tv, "c-goose")
        play_to_the_end(page, station, tv, "c-rice")

        shown = admin_today(page, station)
        assert shown["集中学习"] == "1", shown
        assert shown["人次"] == "14（集中学习 12，自学 2）", shown
        plays = int(re.fullmatch(r"\d+ / (\d+) 次", shown["完整学完"])[1])
        assert plays == 3, shown
        assert not page.errors, page.errors

        runs = report_until_done(toml)
        assert link.proxy.cuts >= 1  # the link did drop the upload (its first drop comes 400 B in)
        county = headend_today(root)
        assert (county["sessions"], county["person_times"], county["session_person_times"]) == (1, 14, 12)
        assert (county["individual_plays"], county["plays"]) == (2, plays)
        wire = link.proxy
        print(
            f"\n[wire] TV journey: {runs} runs of report --once, {wire.cuts} cuts, {len(wire.requests)} requests "
            f"reached the headend whole, {wire.bytes_to_server} B up, {wire.bytes_to_client} B down"
        )
        held = held_count(root, STATION_ID)

        assert report_until_done(toml) == 1  # nothing new: one clean run
        assert headend_today(root) == county
        assert held_count(root, STATION_ID) == held
    finally:
        link.close()
        headend.close()
        station.close()
