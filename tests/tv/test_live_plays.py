"""Live classes watched (issue 16) are recorded like plays: the live page's API over real HTTP on
the station's own app (start, heartbeat, end; what a script may claim capped by the wall clock
and the class's length; one thing at a time per TV; the class must be installed and on air), the
``live`` journal line the headend's strict parser accepts, a study session's id on what was
watched during it, and today's live watching on /admin."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest

from catalogue.events import parse_batch
from playlists import Schedule
from playlists.schedule import CHINA, Live
from station.errors import LimitError
from station.records import rules
from station.records.attendance import Attendance
from station.records.plays import PLAY_IDLE_S
from tests.report_batches import batch
from tests.tv.test_pages import login

DANGKE = "dangke-1201"
TITLE = "网络党课：学习贯彻党的二十大精神"


class Clock:
    """The station's clock, moved on by hand (time.time() + ``ahead``)."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


def on_air(*classes: tuple[str, float, float]) -> Schedule:
    """Live classes of (id, minutes from now to their start, minutes long)."""
    now = datetime.now(CHINA).replace(microsecond=0)
    return Schedule(
        live=tuple(Live(i, TITLE, now + timedelta(minutes=start), minutes * 60.0) for i, start, minutes in classes)
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def station(page_client, tv, clock):
    """The station with a class on air since 10 minutes ago (an hour long), one starting in two
    hours, one that ended an hour ago; its client and attendance on ``clock``."""
    tv.publish(schedule=on_air((DANGKE, -10, 60), ("dangke-later", 120, 60), ("dangke-past", -130, 60)))
    assert tv.sync() == "ok"
    att = Attendance(tv.cfg.data_dir, clock=clock)
    client = await page_client(tv.app(attendance=att))
    client.att = att
    return client


async def start(client, live_id: str = DANGKE) -> dict:
    resp = await client.post("/api/live-plays", json={"live": live_id})
    assert resp.status == 200, await resp.text()
    return await resp.json()


# ---- start, heartbeat, end -------------------------------------------------------------------------


async def test_start_heartbeat_end_makes_one_live_line_capped_at_the_time_that_passed(station, tv, clock):
    started = await start(station)
    assert started["session"] is None and started["id"]
    clock.ahead += 2.0  # two seconds later the page claims an hour
    beat = await station.post(f"/api/live-plays/{started['id']}", json={"watched_s": 3600})
    assert beat.status == 200 and await beat.json() == {"ok": True}
    end = await station.post(f"/api/live-plays/{started['id']}/end", json={"watched_s": 3600})
    assert end.status == 200 and await end.json() == {"ok": True}
    (line,) = tv.journal("live")
    assert 2.0 <= line["watched_s"] <= 3.0  # what passed, not what was claimed
    assert {k for k in line if k not in ("seq", "ts", "boot", "mono", "kind")} == {
        "live",
        "title",
        "start",
        "end",
        "watched_s",
        "session",
        "client",
    }
    assert (line["live"], line["title"], line["session"], line["client"]) == (DANGKE, TITLE, None, "127.0.0.1")
    span = (datetime.fromisoformat(line["end"]) - datetime.fromisoformat(line["start"])).total_seconds()
    assert line["watched_s"] <= span + 1 and line["start"].endswith("+08:00")
    assert tv.journal("play") == []  # its own kind, not a play
    # the line as written is what the headend's strict parser accepts
    (event,) = parse_batch(
        batch("ceshi-shifan", [line], after=line["seq"] - 1, now=datetime.now(CHINA), mono=1e5)
    ).events
    assert event.kind == "live"
    # ended once: the id is gone
    again = await station.post(f"/api/live-plays/{started['id']}/end", json={"watched_s": 1})
    assert again.status == 404 and "这次直播观看已经结束" in (await again.json())["error"]
    assert (await station.post(f"/api/live-plays/{started['id']}", json={"watched_s": 1})).status == 404
    assert len(tv.journal("live")) == 1


async def test_watched_seconds_are_capped_by_the_classs_length(page_client, tv, clock):
    tv.publish(schedule=on_air((DANGKE, -2, 1)))  # one minute long, on air (with its 5 minutes after)
    assert tv.sync() == "ok"
    client = await page_client(tv.app(attendance=Attendance(tv.cfg.data_dir, clock=clock)))
    pid = (await start(client))["id"]
    clock.ahead += 240.0
    await client.post(f"/api/live-plays/{pid}/end", json={"watched_s": 240})
    assert [e["watched_s"] for e in tv.journal("live")] == [60.0]


async def test_watching_in_a_study_session_carries_its_id_and_the_summary_lists_the_class(station, tv, clock):
    resp = await station.post("/session/start", data={"topic": "党课学习", "headcount": "23"}, allow_redirects=False)
    assert resp.status == 303
    session = station.att.current_session().id
    started = await start(station)
    assert started["session"] == session
    clock.ahead += 150.0
    await station.post(f"/api/live-plays/{started['id']}/end", json={"watched_s": 149})
    (line,) = tv.journal("live")
    assert line["session"] == session and line["watched_s"] == 149.0
    clock.ahead += 600.0
    end = await station.post("/session/end", allow_redirects=False)
    summary = await (await station.get(end.headers["Location"])).text()
    assert TITLE in summary and "23 人" in summary
    (ended,) = tv.journal("session_end")
    assert ended["courses"] == [{"id": DANGKE, "title": TITLE, "watched_s": 149.0}] and ended["plays"] == 1


async def test_the_admin_page_shows_todays_live_watching_next_to_plays(station, tv, clock):
    for watched in (1200.0, 1500.0):
        pid = (await start(station))["id"]
        clock.ahead += watched + 1
        await station.post(f"/api/live-plays/{pid}/end", json={"watched_s": watched})
    await login(station)
    html = await (await station.get("/admin")).text()
    assert "直播观看</th><td>2 次，共 45 分钟</td>" in html
    assert html.index("完整学完") < html.index("直播观看") < html.index("管理 PIN 输错次数")


# ---- refusals -------------------------------------------------------------------------------------


async def test_a_live_class_not_installed_is_404_and_one_not_on_air_is_409(station, tv):
    resp = await station.post("/api/live-plays", json={"live": "dangke-nosuch"})
    assert resp.status == 404 and "本站的节目单里没有这个直播" in (await resp.json())["error"]
    resp = await station.post("/api/live-plays", json={"live": "dangke-later"})
    assert resp.status == 409 and "直播还没有开始" in (await resp.json())["error"]
    resp = await station.post("/api/live-plays", json={"live": "dangke-past"})
    assert resp.status == 409 and "直播已经结束" in (await resp.json())["error"]
    assert station.att.open_live() == [] and tv.journal("live") == []


def test_the_window_opens_five_minutes_before_and_closes_five_minutes_after():
    start, end = 10_000.0, 13_600.0
    assert [rules.live_window(t, start, end) for t in (start - 301, start - 300, end + 300, end + 301)] == [-1, 0, 0, 1]


@pytest.mark.parametrize(
    "path, body, says",
    [
        ("/api/live-plays", {"live": 5}, "live"),
        ("/api/live-plays", {"course": DANGKE}, "live"),
        ("/api/live-plays", [DANGKE], "object"),
        ("/api/live-plays/{id}", {"watched_s": "ten"}, "watched_s"),
        ("/api/live-plays/{id}", {"watched_s": -1}, "watched_s"),
        ("/api/live-plays/{id}/end", {"watched_s": 10**400}, "watched_s"),
        ("/api/live-plays/{id}/end", {"watched_s": [1]}, "watched_s"),
    ],
)
async def test_a_malformed_body_is_a_400_naming_the_field(station, tv, path, body, says):
    pid = (await start(station))["id"]
    resp = await station.post(path.format(id=pid), json=body)
    assert resp.status == 400 and resp.content_type == "application/json"
    assert says in (await resp.json())["error"]
    bad = await station.post(path.format(id=pid), data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status == 400
    assert [p.id for p in station.att.open_live()] == [pid] and tv.journal("live") == []


async def test_the_play_api_and_the_live_api_know_only_their_own_ids(station, tv):
    live_id = (await start(station))["id"]
    assert (await station.post(f"/api/plays/{live_id}/end", json={"position_s": 1, "watched_s": 1})).status == 404
    play_id = (await (await station.post("/api/plays", json={"course": "c-goose"})).json())["id"]
    assert (await station.post(f"/api/live-plays/{play_id}", json={"watched_s": 1})).status == 404
    assert (await station.post(f"/api/live-plays/{play_id}/end", json={"watched_s": 1})).status == 404


async def test_rejects_live_watching_without_the_tv_token_or_from_another_origin(station, tv):
    bare = station._client  # the test client without the page's Origin and token
    token = station.token("/api/live-plays")
    for headers in ({}, {"Origin": "http://evil.example", "X-YJ-Token": token}, {"X-YJ-Token": "x" * 64}):
        resp = await bare.post("/api/live-plays", json={"live": DANGKE}, headers=headers)
        assert resp.status == 403, headers
    body = json.dumps({"live": DANGKE})  # what a cross-site form or sendBeacon(string) sends
    text = await station.post("/api/live-plays", data=body, headers={"Content-Type": "text/plain"})
    assert text.status == 415
    assert station.att.open_live() == [] and tv.journal("live") == []


# ---- what a real TV could do -----------------------------------------------------------------------


async def test_a_tv_watches_one_thing_at_a_time(station, tv, clock):
    first = (await start(station))["id"]
    clock.ahead += 30.0
    second = (await start(station))["id"]  # the page reloaded: the first is ended by the second
    assert [e["watched_s"] for e in tv.journal("live")] == [0.0]  # (no heartbeat: nothing claimed)
    assert [p.id for p in station.att.open_live()] == [second]
    assert (await station.post(f"/api/live-plays/{first}", json={"watched_s": 1})).status == 404
    clock.ahead += 30.0
    await station.post(f"/api/live-plays/{second}", json={"watched_s": 29})
    await station.post("/api/plays", json={"course": "c-goose"})  # a lesson on the same TV ends it too
    assert [e["watched_s"] for e in tv.journal("live")] == [0.0, 29.0]
    assert station.att.open_live() == []
    lines = tv.journal("live")
    assert lines[1]["start"] >= lines[0]["end"]  # never overlapping


async def test_the_journal_budget_refuses_live_watching_like_plays(page_client, tv, clock):
    tv.publish(schedule=on_air((DANGKE, -10, 60)))
    assert tv.sync() == "ok"
    client = await page_client(tv.app(attendance=Attendance(tv.cfg.data_dir, clock=clock, budget_bytes=2500)))
    for _ in range(40):
        resp = await client.post("/api/live-plays", json={"live": DANGKE})
        if resp.status != 200:
            break
        clock.ahead += 5
        await client.post(f"/api/live-plays/{(await resp.json())['id']}/end", json={"watched_s": 4})
    assert resp.status == 409 and "日志已满" in (await resp.json())["error"]
    assert 0 < len(tv.journal("live")) < 40


def test_screens_count_live_watching_and_the_station_stopping_writes_it(tmp_path):
    clock = Clock()
    att = Attendance(tmp_path, clock=clock, screens=1)
    pid, session = att.start_live(DANGKE, TITLE, 3600.0, client="192.168.1.20")
    assert session is None
    with pytest.raises(LimitError):
        att.start_live(DANGKE, TITLE, 3600.0, client="192.168.1.21")  # the only screen is in use
    with pytest.raises(LimitError):
        att.start_play("c-goose", "雨季养鹅技术", 3.0, client="192.168.1.21")
    clock.ahead += 120.0
    assert att.live_progress(pid, 118.0)
    att.close_all()  # the station stops mid-class
    lines = att.journal.recent("live", 5)
    assert [(e["live"], e["watched_s"], e["client"]) for e in lines] == [(DANGKE, 118.0, "192.168.1.20")]


def test_a_silent_live_page_is_closed_by_the_sweep(tmp_path):
    clock = Clock()
    att = Attendance(tmp_path, clock=clock)
    pid, _ = att.start_live(DANGKE, TITLE, 3600.0, client="192.168.1.20")
    clock.ahead += 60.0
    assert att.live_progress(pid, 60.0)
    clock.ahead += PLAY_IDLE_S + 1  # the TV was switched off
    (rec,) = att.sweep()
    assert (rec.live, rec.watched_s) == (DANGKE, 60.0)
    assert att.open_live() == [] and att.end_live(pid, 90.0) is None
    today, _month = att.figures()
    assert (today.live_plays, today.live_watched_s, today.plays) == (1, 60.0, 0)
