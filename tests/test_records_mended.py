"""Journal and attendance findings of the issue 10 review, each by what a user would notice:
seq never repeats after a clock set back, pruning never drops what the headend lacks, a damaged
local.json does not take the TV down, a session ended twice counts once, and eight TVs replaying a
lesson all day are eight viewers. Real files in a temporary data folder."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest

from playlists.schedule import CHINA
from station.model.attendance import FiveAnswer
from station.records.attendance import Attendance, figures
from station.records.forms import session_to_dict
from station.records.journal import ACK_FILE, Journal, segments
from tests.test_attendance import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


def day_of(clock: Clock):
    return datetime.fromtimestamp(clock(), CHINA).date()


def seqs_on_disk(root) -> list[int]:
    """Every seq in journal order: segment by segment, line by line."""
    out = []
    for _, _, path in segments(root):
        out += [json.loads(line)["seq"] for line in path.read_text(encoding="utf-8").splitlines()]
    return out


# ---- item 3: seq and pruning --------------------------------------------------------------------


def test_seq_keeps_increasing_after_a_restart_with_the_clock_three_days_back(tmp_path, clock):
    root = tmp_path / "journal"
    j = Journal(root, clock)
    for i in range(3):
        j.append("logbook", text=f"今天{i}", author="")
    clock.advance(-3 * 86400)  # the box restarts without its clock (no battery, no NTP)
    back = day_of(clock)
    j = Journal(root, clock)
    for i in range(3):
        j.append("logbook", text=f"回拨后{i}", author="")
    j = Journal(root, clock)  # and restarts once more
    j.append("logbook", text="再次重启", author="")
    seqs = seqs_on_disk(root)
    assert seqs == list(range(1, 8))  # strictly increasing across files and restarts, never repeated
    stamped_back = [e["text"] for e in j.days(back, back)]
    assert stamped_back == ["回拨后0", "回拨后1", "回拨后2", "再次重启"]  # read by the day they say


def test_pruning_keeps_a_segment_holding_a_seq_above_the_acknowledged_point(tmp_path, clock):
    root = tmp_path / "journal"
    root.mkdir()

    def segment(name: str, seqs: list[int]) -> None:
        lines = [{"seq": s, "ts": f"{name[:10]}T09:00:00+08:00", "kind": "logbook", "text": "x" * 200} for s in seqs]
        (root / name).write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")

    segment("2026-11-17.jsonl", [1, 2, 3])  # all acknowledged
    segment("2026-11-18.jsonl", [5, 6, 7, 4])  # written out of order by an older station: ends on 4
    segment("2026-11-20.jsonl", [8])
    (root / ACK_FILE).write_text(json.dumps({"seq": 4}), encoding="utf-8")
    j = Journal(root, clock, budget_bytes=500)  # far over budget: prune what it can
    left = [p.name for _, _, p in segments(root)]
    assert left == ["2026-11-18.jsonl", "2026-11-20.jsonl"]  # 5, 6 and 7 are not acknowledged
    assert sorted(e["seq"] for e in j.days(day_of(clock).replace(day=1), day_of(clock))) == [4, 5, 6, 7, 8]
    assert j.append("logbook", text="新", author="")["seq"] == 9  # the highest seq of any segment, + 1


# ---- item 2: a damaged local.json ------------------------------------------------------------


def test_a_damaged_local_json_is_set_aside_and_started_again_from_the_journal(tmp_path, clock, caplog):
    att = Attendance(tmp_path, clock)
    att.save_fives({"place": FiveAnswer(True, "村委会二楼")})
    session = att.start_session("冬训", "李明", "23")
    pid = att.start_play("c-goose", "雨季养鹅技术", 600.0, client="10.0.0.9")
    clock.advance(200)
    att.progress(pid, 200.0, 200.0)  # a resume point
    local = tmp_path / "local.json"
    local.write_bytes(local.read_bytes()[: len(local.read_bytes()) // 2])  # cut short
    att = Attendance(tmp_path, clock)  # the box restarts
    current = att.current_session()
    assert current and (current.id, current.topic, current.headcount) == (session.id, "冬训", 23)
    assert att.fives().answer("place") == FiveAnswer(True, "村委会二楼")
    assert att.resume_at("c-goose", 600.0) == 0.0  # resume points are lost, nothing else
    assert (tmp_path / "local.json.damaged").exists() and "local.json.damaged" in caplog.text
    clock.advance(400)
    assert att.end_session().id == session.id and att.current_session() is None
    assert json.loads(local.read_text(encoding="utf-8"))  # a good file again


def test_a_damaged_local_json_after_the_session_ended_starts_with_none_open(tmp_path, clock):
    att = Attendance(tmp_path, clock)
    att.start_session("冬训", "", "23")
    clock.advance(400)
    att.end_session()
    (tmp_path / "local.json").write_bytes(b"{not json")
    assert Attendance(tmp_path, clock).current_session() is None


# ---- item 4: a session ended twice -----------------------------------------------------------


def test_a_session_with_two_end_lines_counts_once(tmp_path, clock):
    root = tmp_path / "journal"
    root.mkdir()
    start = {"id": "a1b2c3", "topic": "冬训", "headcount": 30, "started": "2026-11-20T08:00:00+08:00"}
    end = {**start, "ended": "2026-11-20T08:40:00+08:00", "duration_s": 2400, "counted": True}
    lines = [
        {"seq": 1, "ts": "2026-11-20T08:00:00+08:00", "kind": "session_start", **start},
        {"seq": 2, "ts": "2026-11-20T08:40:00+08:00", "kind": "session_end", **end},
        {"seq": 3, "ts": "2026-11-20T08:41:00+08:00", "kind": "session_end", **end},  # after a power cut
    ]
    (root / "2026-11-20.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    today, month = Attendance(tmp_path, clock).figures()
    assert (today.sessions, today.person_times) == (1, 30)
    assert (month.sessions, month.person_times) == (1, 30)
    assert [s.id for s in Attendance(tmp_path, clock).month_sessions()] == ["a1b2c3"]  # listed once too


def test_ending_a_session_already_ended_before_a_power_cut_adds_no_second_end(tmp_path, clock):
    att = Attendance(tmp_path, clock)
    session = att.start_session("冬训", "", "30")
    clock.advance(600)
    summary = dataclasses.replace(session, ended=datetime.fromtimestamp(clock(), CHINA), duration_s=600, counted=True)
    att.journal.append("session_end", **session_to_dict(summary))  # the power went before "current" was cleared
    att = Attendance(tmp_path, clock)
    assert att.current_session() is not None
    clock.advance(60)
    assert att.end_session().duration_s == 600  # the one already recorded
    assert att.current_session() is None
    assert len([e for e in att.journal.days(day_of(clock), day_of(clock)) if e["kind"] == "session_end"]) == 1
    assert att.figures()[0].person_times == 30


# ---- item 5: many addresses, one lesson --------------------------------------------------------


def test_eight_tvs_replaying_a_lesson_all_day_are_eight_person_times(tmp_path, clock):
    att = Attendance(tmp_path, clock, screens=8)
    tvs = [f"10.0.0.{i}" for i in range(8)]
    for _ in range(30):  # each TV plays the lesson for a minute, thirty times
        pids = [att.start_play("c-goose", "雨季养鹅技术", 600.0, client=tv) for tv in tvs]
        clock.advance(61)
        for pid in pids:
            att.end_play(pid, 61.0, 61.0)
    today, month = att.figures()
    assert today.individual_plays == 8 and month.individual_plays == 8
    assert today.plays == 240 and today.watched_s == 240 * 61  # watched time still adds


def test_one_tv_counts_once_per_course_and_china_day():
    def play(ts: str, client: str, course: str) -> dict:
        return {"kind": "play", "ts": ts, "client": client, "course": course, "watched_s": 120, "duration_s": 600}

    f = figures(
        [
            play("2026-11-20T09:00:00+08:00", "10.0.0.9", "a"),
            play("2026-11-20T10:00:00+08:00", "10.0.0.9", "a"),  # the same lesson again
            play("2026-11-20T11:00:00+08:00", "10.0.0.9", "b"),  # another lesson
            play("2026-11-20T11:00:00+08:00", "10.0.0.7", "a"),  # another TV
            play("2026-11-21T09:00:00+08:00", "10.0.0.9", "a"),  # the next day
        ]
    )
    assert (f.individual_plays, f.plays, f.watched_s) == (4, 5, 600)
