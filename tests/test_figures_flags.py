"""What the shared fold (``catalogue.figures``) keeps for the county's plausibility rules — the
largest headcount of a counted session, sessions overlapping in time, plays claiming more watched
time than passed, the longest run of identical records, the newest installed version — exact
whether a day is folded at once or batch by batch through its saved state; and migration 0007,
which gives roll-up rows stored before it these figures from their events, on both engines, so
the rules see old days and the next upload adds to them."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from catalogue.clocks import CHINA, correct
from catalogue.events import parse_batch
from catalogue.figures import Tally, figures
from headend.config import database_url
from headend.db import Database, migrate
from headend.db.engine import create_engine
from headend.db.reports import EVENT_COLUMNS, ReportStore, day_row, iso
from headend.db.schema import station_days
from tests.report_batches import batch, body, china_iso

DAY = date(2026, 11, 16)
MIDNIGHT = datetime(2026, 11, 16, tzinfo=CHINA)


def at(hour: float) -> datetime:
    return MIDNIGHT + timedelta(hours=hour)


def session(sid: str, start: float, end: float, headcount: int, counted: bool = True, **kw) -> dict:
    return {
        "kind": "session_end",
        "ts": china_iso(at(end)),
        "id": sid,
        "topic": "党的二十大精神学习",
        "names": ["张三"],
        "headcount": headcount,
        "started": china_iso(at(start)),
        "ended": china_iso(at(end)),
        "counted": counted,
        **kw,
    }


def play(start: float, minutes: float, watched_s: float, course: str = "kc-1", client: str = "192.168.1.20") -> dict:
    end = at(start) + timedelta(minutes=minutes)
    return {
        "kind": "play",
        "ts": china_iso(end),
        "course": course,
        "start": china_iso(at(start)),
        "end": china_iso(end),
        "watched_s": watched_s,
        "duration_s": 1800.0,
        "client": client,
        "session": None,
    }


def health(hour: float, version) -> dict:
    return {"kind": "health", "ts": china_iso(at(hour)), "interval_s": 900, "installed_version": version}


def test_the_largest_headcount_is_of_counted_sessions_only():
    f = figures(
        [
            session("a", 9, 10, 20),
            session("b", 14, 14.05, 500, counted=False),  # ended too soon: kept, not counted
            session("c", 16, 17, 35),
        ]
    )
    assert (f.sessions, f.short_sessions, f.session_person_times, f.max_headcount) == (2, 1, 55, 35)
    assert figures([session("b", 14, 14.05, 500, counted=False)]).max_headcount == 0


def test_sessions_overlapping_in_time_are_counted():
    f = figures(
        [
            session("a", 9, 10.5, 20),
            session("b", 10, 11, 18),  # overlaps a
            session("c", 11, 12, 15),  # starts as b ends: no overlap
            session("d", 9.5, 9.75, 30, counted=False),  # overlaps a, but was not counted
        ]
    )
    assert f.overlapping_sessions == 2
    assert figures([session("a", 9, 10, 20), session("b", 10, 11, 18)]).overlapping_sessions == 0


def test_a_play_claiming_more_than_a_minute_beyond_its_start_to_end_is_overlong():
    ten_minutes = 600.0
    assert figures([play(9, 10, ten_minutes + 60)]).overlong_plays == 0  # clock steps: up to 60 s slack
    assert figures([play(9, 10, ten_minutes + 61)]).overlong_plays == 1
    assert figures([play(9, 10, 7200.0), play(11, 10, 300.0), play(12, 1, 3600.0)]).overlong_plays == 2
    no_times = {**play(9, 10, 7200.0), "start": None, "end": "yesterday"}
    assert figures([no_times]).overlong_plays == 0  # nothing to compare with


def live(start: float, minutes: float, watched_s: float, session: str | None = None, client: str = "192.168.1.20"):
    end = at(start) + timedelta(minutes=minutes)
    return {
        "kind": "live",
        "ts": china_iso(end),
        "live": "dangke-1201",
        "title": "网络党课",
        "start": china_iso(at(start)),
        "end": china_iso(end),
        "watched_s": watched_s,
        "session": session,
        "client": client,
    }


def test_live_watching_is_counted_apart_from_plays_and_person_times():
    f = figures([live(19.5, 60, 3540.0), live(19.5, 30, 1800.0, session="a1b2c3d4e5f6"), play(9, 10, 600.0)])
    assert (f.live_plays, f.live_watched_s) == (2, 5340.0)
    assert (f.plays, f.watched_s, f.individual_plays, f.person_times) == (1, 600.0, 1, 1)  # a play of 10 min: 1
    assert f.courses == frozenset({"kc-1"}) and f.overlong_plays == 0


def test_live_watching_claiming_more_than_a_minute_beyond_its_start_to_end_is_overlong_like_a_play():
    assert figures([live(19.5, 10, 660.0)]).overlong_plays == 0
    assert figures([live(19.5, 10, 661.0), play(9, 10, 7200.0)]).overlong_plays == 2
    same = live(19.5, 60, 3540.0)
    assert figures([same, same, live(19.5, 60, 3000.0)]).identical == 2


def test_a_saved_state_from_before_live_classes_reads_as_none_watched():
    t = Tally()
    t.add(play(9, 10, 600.0), DAY.isoformat(), [0])
    old = t.state()
    del old["live_plays"], old["live_watched_s"]
    back = Tally.from_state(json.loads(json.dumps(old)))
    assert (back.figures().live_plays, back.figures().live_watched_s) == (0, 0.0)
    back.add(live(19.5, 60, 3540.0), DAY.isoformat(), [1])
    again = Tally.from_state(json.loads(json.dumps(back.state())))
    assert again.figures() == figures([play(9, 10, 600.0), live(19.5, 60, 3540.0)])
    assert (again.figures().live_plays, again.figures().live_watched_s) == (1, 3540.0)


def test_identical_plays_session_ends_and_logbook_entries_are_counted():
    same = play(9, 20, 1200.0)
    assert figures([same, same, same, play(10, 20, 1200.0)]).identical == 3
    log = {"kind": "logbook", "ts": china_iso(at(18)), "text": "设备正常", "author": "王"}
    assert figures([log, {**log, "ts": china_iso(at(19))}, log, log]).identical == 4  # its time is not what it says
    # two sessions that say the very same thing under two ids: a script replaying one line
    twins = [session("a", 9, 10, 20), session("b", 9, 10, 20)]
    assert figures(twins).identical == 2 and figures(twins).sessions == 2
    assert figures([same]).identical == 1 and figures([]).identical == 0


def test_a_session_end_written_again_for_the_same_session_is_no_copy():
    # a power cut between writing the end and clearing the session in progress: the line again
    s = session("a", 9, 10, 20)
    f = figures([s, s, s])
    assert (f.identical, f.sessions, f.session_person_times) == (1, 1, 20)


def test_the_installed_version_is_the_newest_a_health_sample_reported():
    f = figures([health(8, 7), health(9, 12), health(10, 9), health(11, None), health(12, True)])
    assert f.installed_version == 12
    assert figures([health(8, None)]).installed_version is None and figures([]).installed_version is None


def test_folding_batch_by_batch_through_saved_state_gives_the_same_figures():
    """The headend adds each upload to the day's saved state (JSON): every new figure comes out as
    if the day had been folded at once, whatever the cut."""
    rnd = random.Random(7)
    day_events = [
        session("a", 9, 10.5, 20),
        play(9, 10, 900.0),
        play(9, 10, 900.0),
        health(9, 3),
        session("b", 10, 11, 25),
        session("a", 9, 10.5, 20),
        play(12, 10, 600.0),
        play(9, 10, 900.0),
        health(13, 5),
        session("c", 14, 15, 500, counted=False),
        {"kind": "logbook", "ts": china_iso(at(18)), "text": "记录", "author": "王"},
    ]
    whole = figures(day_events)
    assert (whole.overlapping_sessions, whole.identical, whole.installed_version, whole.max_headcount) == (2, 3, 5, 25)
    for cut in (1, 4, 7, 10):
        t = Tally()
        for i, e in enumerate(day_events):
            if i == cut:
                t = Tally.from_state(json.loads(json.dumps(t.state())))
            t.add(e, DAY.isoformat(), [i])
        assert t.figures() == whole, cut
    shuffled = list(enumerate(day_events))
    rnd.shuffle(shuffled)
    t = Tally()
    for i, e in shuffled:
        t.add(e, DAY.isoformat(), [i])
    assert t.figures() == whole


# ---- migration 0007 ------------------------------------------------------------------------------

RECEIVED = datetime(2026, 11, 16, 12, tzinfo=UTC)  # 20:00 in China
BOOTED = RECEIVED - timedelta(days=2)
NEW_COLUMNS = (
    "notice_view_total",
    "max_headcount",
    "overlapping_sessions",
    "overlong_plays",
    "identical_events",
    "installed_version",
    "fives_met",
)


LIVE_COLUMNS = ("live_plays", "live_watched_s")  # migration 0012


def journal(events: list[dict], first_seq: int = 1) -> list[dict]:
    """Journal lines of ``events`` (their times as written), with seq and mono."""
    rnd = random.Random(first_seq)
    out = []
    for seq, e in enumerate(events, start=first_seq):
        when = datetime.fromisoformat(e["ts"])
        out.append({"seq": seq, "mono": (when - BOOTED).total_seconds(), **body(e["kind"], when, rnd), **e})
    return out


def old_state(t: Tally) -> str:
    """The fold's state as the collector of revision 0006 saved it: no copies, no overlong plays,
    no installed version, and sessions without their times."""
    s = t.state()
    for k in ("overlong", "copies", "installed"):
        del s[k]
    s["ended"] = {k: v[:3] for k, v in s["ended"].items()}
    return json.dumps(s, ensure_ascii=False)


def test_migration_0007_gives_older_roll_up_rows_the_new_figures(tmp_path, headend_db):
    """A day stored by revision 0006's collector (events and roll-up row): opening the database
    brings it to 0007 with the new columns folded from the day's events, and an upload after the
    upgrade adds to them (a session overlapping one of before, one more copy of a play)."""
    from alembic import command

    raw_url = headend_db.new_url()  # "": SQLite in tmp_path
    url = database_url(raw_url, tmp_path / "headend.db")
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "0006")
    first = journal(
        [
            session("a", 9, 10.5, 20),
            session("b", 14, 14.05, 500, counted=False),
            play(11, 10, 900.0),  # 15 minutes claimed in 10
            play(12, 20, 1200.0, course="kc-2"),
            play(12, 20, 1200.0, course="kc-2"),
            health(8, 7),
            health(9, 11),
            {"kind": "notice_view", "ts": china_iso(at(13)), "notice": "tongzhi-1", "via": "tv"},
        ]
    )
    later = journal([session("c", 10, 11, 30), play(12, 20, 1200.0, course="kc-2"), health(15, 10)], len(first) + 1)
    mono = (RECEIVED - BOOTED).total_seconds()
    doc = batch("s1", first, after=0, now=RECEIVED, mono=mono)
    parsed = parse_batch(doc)
    fix = correct(parsed, RECEIVED, {}, RECEIVED - timedelta(days=30))
    assert {p.day for p in fix.events} == {DAY.isoformat()} and not any(p.uncertain for p in fix.events)
    tally = Tally()
    for e, p in zip(parsed.events, fix.events, strict=True):
        tally.add(e.raw, p.day, [p.at, e.seq, doc["stream"]], p.uncertain)
    meta = sa.MetaData()
    meta.reflect(engine)
    assert "max_headcount" not in meta.tables["station_days"].c
    new_row = day_row("s1", DAY.isoformat(), tally.figures(), iso(RECEIVED))
    old_row = {k: v for k, v in new_row.items() if k not in (*NEW_COLUMNS, *LIVE_COLUMNS)}
    with engine.begin() as conn:  # what 0006's collector wrote
        conn.execute(
            meta.tables["stations"].insert(),
            [{"id": "s1", "name": "s1", "region": "[]", "player": "stb-sd", "token_sha256": "x", "created_at": "x"}],
        )
        rows = ReportStore._rows(parsed, fix, iso(RECEIVED))
        conn.execute(meta.tables["report_events"].insert(), [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in rows])
        conn.execute(meta.tables["station_days"].insert(), [{**old_row, "state": old_state(tally)}])
    engine.dispose()

    db = Database.open(raw_url, tmp_path / "headend.db")
    try:
        got = _day(db)
        assert got == {
            "notice_view_total": 1,
            "max_headcount": 20,  # the 500 was a session that ended too soon
            "overlapping_sessions": 0,
            "overlong_plays": 1,
            "identical_events": 2,
            "installed_version": 11,
            "fives_met": None,
        }
        received = RECEIVED + timedelta(minutes=30)
        doc = batch("s1", first + later, after=0, now=received, mono=mono + 1800)
        stored = db.reports.store(parse_batch(doc), received, RECEIVED - timedelta(days=30))
        assert (stored.accepted, stored.duplicates) == (len(later), len(first))
        got = _day(db)
        (row,) = db.reports.days(["s1"], DAY, DAY)
    finally:
        db.close()
    assert (got["max_headcount"], got["overlapping_sessions"], got["identical_events"]) == (30, 2, 3)
    assert got["installed_version"] == 11 and got["overlong_plays"] == 1
    assert (row.sessions, row.session_person_times, row.plays) == (2, 50, 4)
    whole = figures(first + later)  # the whole day folded at once
    assert (row.sessions, row.session_person_times, row.plays, row.watched_s, row.individual_plays) == (
        whole.sessions,
        whole.session_person_times,
        whole.plays,
        whole.watched_s,
        whole.individual_plays,
    )
    assert (got["max_headcount"], got["overlapping_sessions"], got["identical_events"]) == (
        whole.max_headcount,
        whole.overlapping_sessions,
        whole.identical,
    )


def _day(db: Database) -> dict:
    c = station_days.c
    with db.engine.connect() as conn:
        r = conn.execute(sa.select(*(c[n] for n in NEW_COLUMNS)).where(c.station == "s1")).one()
    return dict(r._mapping)
