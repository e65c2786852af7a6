"""Local attendance on the box: the append-only journal, play records, study sessions, resume
points and the figures the admin page shows. Real files in a temporary data folder."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from playlists.schedule import CHINA
from station.model.attendance import FiveAnswer, FivesCheck, PlayRecord, StudySession, WatchedCourse
from station.records import attendance
from station.records.attendance import (
    MAX_RESUME_POINTS,
    Attendance,
    InputError,
    LimitError,
    figures,
    parse_headcount,
)
from station.records.journal import Journal
from station.records.plays import PLAY_IDLE_S


class Clock:
    def __init__(self, start: str = "2026-11-20T09:00:00+08:00") -> None:
        self.t = datetime.fromisoformat(start).timestamp()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def att(tmp_path, clock) -> Attendance:
    return Attendance(tmp_path, clock)


def journal_lines(tmp_path, day: str) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "journal" / f"{day}.jsonl").read_text().splitlines()]


# ---- journal ---------------------------------------------------------------------------------


def test_journal_is_one_file_per_china_day_with_increasing_seq_across_restarts(tmp_path, clock):
    j = Journal(tmp_path / "journal", clock)
    j.append("logbook", text="开门")
    clock.t = datetime(2026, 11, 20, 23, 59, tzinfo=CHINA).timestamp()
    j.append("logbook", text="关门")
    clock.advance(120)  # 00:01 the next day in China (still the 20th in UTC)
    j.append("logbook", text="停电")
    again = Journal(tmp_path / "journal", clock)  # a restart
    again.append("logbook", text="来电")
    assert [e["text"] for e in journal_lines(tmp_path, "2026-11-20")] == ["开门", "关门"]
    nxt = journal_lines(tmp_path, "2026-11-21")
    assert [e["text"] for e in nxt] == ["停电", "来电"]
    assert [e["seq"] for e in nxt] == [3, 4]
    assert nxt[0]["ts"].startswith("2026-11-21T00:01") and nxt[0]["ts"].endswith("+08:00")


def test_journal_survives_a_torn_last_line(tmp_path, clock):
    j = Journal(tmp_path / "journal", clock)
    j.append("logbook", text="第一条")
    path = tmp_path / "journal" / "2026-11-20.jsonl"
    with open(path, "ab") as f:
        f.write(b'{"seq": 2, "kind": "play", "cour')  # power cut mid-write
    j2 = Journal(tmp_path / "journal", clock)
    j2.append("logbook", text="第二条")
    events = list(j2.days(clock_date(clock), clock_date(clock)))
    assert [e["text"] for e in events] == ["第一条", "第二条"]
    assert events[-1]["seq"] == 2


def clock_date(clock):
    return datetime.fromtimestamp(clock(), CHINA).date()


# ---- plays -----------------------------------------------------------------------------------


def test_play_record_counts_watched_seconds_and_completion_at_90_percent(att, clock, tmp_path):
    pid = att.start_play("c-goose", "雨季养鹅技术", 600.0)
    clock.advance(700)  # 540 s watched, 160 s paused
    att.progress(pid, 540.0, 530.0)
    rec = att.end_play(pid, 545.0, 540.0)
    assert isinstance(rec, PlayRecord) and rec.course == "c-goose"
    assert rec.watched_s == 540.0 and rec.completed is True  # 540 / 600 = 90 %
    pid = att.start_play("c-goose", "雨季养鹅技术", 600.0)
    clock.advance(100)
    rec = att.end_play(pid, 100.0, 530.0)  # a player claiming more than the time that passed
    assert rec.watched_s <= 102 and rec.completed is False
    assert [e["kind"] for e in journal_lines(tmp_path, "2026-11-20")] == ["play", "play"]


def test_silent_player_is_closed_into_the_journal(att, clock, tmp_path):
    pid = att.start_play("c-goose", "雨季养鹅技术", 600.0)
    clock.advance(30)
    att.progress(pid, 30.0, 30.0)
    clock.advance(PLAY_IDLE_S + 1)
    closed = att.sweep()
    assert len(closed) == 1 and closed[0].watched_s == 30.0
    assert att.progress(pid, 40.0, 40.0) is False
    rice = att.start_play("c-rice", "水稻", 60.0)
    clock.advance(20)
    att.progress(rice, 20.0, 20.0)
    att.close_all()  # shutdown
    assert [e["course"] for e in journal_lines(tmp_path, "2026-11-20")] == ["c-goose", "c-rice"]


def test_resume_points_for_any_length_and_bounded(att, clock, monkeypatch):
    assert MAX_RESUME_POINTS == 300
    att.save_resume("c-short", 40.0, 90.0)  # a 90-second lesson still resumes
    assert att.resume_at("c-short", 90.0) == 40.0
    att.save_resume("c-short", 89.0, 90.0)  # at the end: start again next time
    assert att.resume_at("c-short", 90.0) == 0.0 and "c-short" not in att.resume_points()
    monkeypatch.setattr(attendance, "MAX_RESUME_POINTS", 8)  # the same rule, fewer fsync'd writes
    for i in range(12):
        clock.advance(1)
        att.save_resume(f"c-{i}", 30.0, 600.0)
    points = att.resume_points()
    assert len(points) == 8
    assert "c-3" not in points and "c-4" in points and "c-11" in points


# ---- study sessions --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["0", "", "十二", "-3", "12.5", "9" * 40])
def test_headcount_out_of_range_is_refused_with_the_range(bad):
    with pytest.raises(InputError) as exc:
        parse_headcount(bad)
    assert exc.value.params == {"min": 1, "max": 100}
    assert "1" in str(exc.value) and "100" in str(exc.value)


@pytest.mark.parametrize("capacity, ok, refused", [(None, 100, 101), (None, 100, 9999), (300, 300, 301)])
def test_headcount_above_the_room_is_refused_with_how_to_set_capacity(capacity, ok, refused):
    assert parse_headcount(str(ok), capacity) == ok
    with pytest.raises(LimitError) as exc:
        parse_headcount(str(refused), capacity)
    assert exc.value.status == 409 and exc.value.params == {"capacity": ok}
    assert "capacity in station.toml" in str(exc.value)


def test_session_owns_its_plays_and_ends_with_a_summary(att, clock, tmp_path):
    before = att.start_play("c-rice", "水稻病虫害防治", 60.0)
    session = att.start_session("农业技术", "李主任", "12", "张三\n李四")
    assert session.headcount == 12 and session.names == ("张三", "李四") and session.running
    assert att.journal.recent("session_start", 1)[0]["headcount"] == 12  # on disk from the start
    with pytest.raises(InputError):
        att.start_session("又一场", "", "5")
    clock.advance(60)
    att.end_play(before, 60.0, 60.0)  # started before the session: not its play
    pid = att.start_play("c-goose", "雨季养鹅技术", 600.0)
    clock.advance(300)
    att.end_play(pid, 300.0, 290.0)
    clock.advance(60)
    summary = att.end_session()
    assert summary.headcount == 12 and summary.duration_s == 420 and not summary.running
    assert summary.courses == (WatchedCourse("c-goose", "雨季养鹅技术", 290.0),)
    assert att.current_session() is None
    assert att.session(summary.id) == summary
    today, month = att.figures()
    assert today.sessions == 1 and today.session_person_times == 12
    assert today.individual_plays == 1 and today.person_times == 13
    assert round(today.watched_s) == 350 and month.sessions == 1


def test_a_session_summary_lists_the_live_class_watched_in_it_even_one_still_on(att, clock):
    session = att.start_session("党员教育", "李书记", "20")
    pid, in_session = att.start_live("dangke-1201", "网络党课", 3600.0, client="192.168.1.20")
    assert in_session == session.id
    clock.advance(1200)
    assert att.live_progress(pid, 1190.0)
    lesson = att.start_play("dangke-1201", "同名的课程", 600.0, client="192.168.1.21")  # a course of the same id
    clock.advance(300)
    att.end_play(lesson, 300.0, 300.0)
    summary = att.end_session()  # the class is still on the TV
    assert summary.courses == (  # what was recorded, then what is still open; kept apart by kind
        WatchedCourse("dangke-1201", "同名的课程", 300.0),
        WatchedCourse("dangke-1201", "网络党课", 1190.0),
    )
    assert summary.plays == 1  # the lesson; the class is still open
    clock.advance(60)
    rec = att.end_live(pid, 1250.0)
    assert (rec.session, rec.watched_s) == (session.id, 1250.0)
    today, _month = att.figures()
    assert (today.live_plays, today.live_watched_s, today.plays, today.session_person_times) == (1, 1250.0, 1, 20)
    assert today.individual_plays == 0  # both were watched in the session


def test_roll_without_headcount_counts_the_names(att):
    s = att.start_session("党员教育", "", "", "张三，李四，王五")
    assert s.headcount == 3


def test_figures_of_a_month(att, clock):
    att.write_log("设备正常")
    clock.advance(86400)  # the next day
    att.notice_view("n1", "ticker")
    assert att.notice_view("n1", "ticker") is False  # once a day on the ticker
    att.notice_view("n1", "page")
    today, month = att.figures()
    assert today.plays == 0 and month.plays == 0
    assert att.notice_views(clock_date(clock).replace(day=1), clock_date(clock)) == {"n1": 2}
    assert [(e.text, e.at is not None) for e in att.logbook()] == [("设备正常", True)]
    f = figures(
        [
            {"kind": "play", "watched_s": 1800, "completed": True, "course": "a"},
            {"kind": "play", "watched_s": 1800, "session": "s1", "course": "b"},
            {"kind": "session_end", "headcount": 30},
        ]
    )
    assert (f.hours, f.person_times, f.completed, f.sessions) == (1.0, 31, 1, 1)


def test_five_ones_self_check_is_kept(att, tmp_path):
    att.save_fives({"place": FiveAnswer(True, "村委会二楼"), "administrator": FiveAnswer(True, "李明 138")})
    again = Attendance(tmp_path)
    check = again.fives()
    assert check.answer("place") == FiveAnswer(True, "村委会二楼") and check.checked is not None
    assert check.answer("rules") == FiveAnswer(False, "") and again.administrator() == "李明 138"
    stored = json.loads((tmp_path / "local.json").read_text(encoding="utf-8"))["docs"]["3"]
    assert stored["place"] == {"ok": True, "note": "村委会二楼"} and stored["rules"] == {"ok": False, "note": ""}
    assert Attendance(tmp_path / "new").fives() == FivesCheck()  # never saved


# Lines the station wrote before the records were objects (copied from a real journal).
OLD_LINES = [
    {
        "seq": 1,
        "ts": "2026-11-20T19:30:00+08:00",
        "kind": "session_start",
        "id": "a1b2c3d4e5f6",
        "topic": "冬训",
        "facilitator": "李主任",
        "headcount": 25,
        "names": [],
        "started": "2026-11-20T19:30:00+08:00",
        "source": "admin",
    },
    {
        "seq": 2,
        "ts": "2026-11-20T19:45:00+08:00",
        "kind": "play",
        "course": "c-goose",
        "title": "雨季养鹅技术",
        "start": "2026-11-20T19:35:00+08:00",
        "end": "2026-11-20T19:45:00+08:00",
        "watched_s": 590.0,
        "position_s": 600.0,
        "duration_s": 600.0,
        "completed": True,
        "reached_end": True,
        "session": "a1b2c3d4e5f6",
        "channel": False,
    },
    {
        "seq": 3,
        "ts": "2026-11-20T20:10:00+08:00",
        "kind": "session_end",
        "id": "a1b2c3d4e5f6",
        "topic": "冬训",
        "facilitator": "李主任",
        "headcount": 25,
        "names": [],
        "started": "2026-11-20T19:30:00+08:00",
        "source": "admin",
        "ended": "2026-11-20T20:10:00+08:00",
        "duration_s": 2400,
        "courses": [{"id": "c-goose", "title": "雨季养鹅技术", "watched_s": 590.0}],
        "plays": 1,
    },
]


def test_a_journal_written_before_the_records_were_objects_loads(att, tmp_path):
    (tmp_path / "journal").mkdir(exist_ok=True)
    (tmp_path / "journal" / "2026-11-20.jsonl").write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in OLD_LINES), encoding="utf-8"
    )
    s = att.session("a1b2c3d4e5f6")
    assert s == StudySession(
        id="a1b2c3d4e5f6",
        topic="冬训",
        facilitator="李主任",
        headcount=25,
        started=datetime(2026, 11, 20, 19, 30, tzinfo=CHINA),
        ended=datetime(2026, 11, 20, 20, 10, tzinfo=CHINA),
        duration_s=2400,
        courses=(WatchedCourse("c-goose", "雨季养鹅技术", 590.0),),
        plays=1,
    )
    assert att.month_sessions() == [s]
