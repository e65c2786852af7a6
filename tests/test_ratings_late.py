"""Late reports and the close of a rating period, on both engines: a station's backlog for days of
a past month, stored through the collector's own path (``db.reports.store`` of real batches, as
``POST /api/v1/reports`` stores them), changes that month's rating while it is provisional; once
``[ratings] close_days`` have passed the first look freezes it, and a later backlog — though
stored and shown in the station's days — no longer changes it."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from catalogue.clocks import CHINA
from catalogue.events import parse_batch
from headend.service import open_root
from headend.service.ratings import compute, current_rubric, rated_period, ratings_table
from tests.conftest import init_headend
from tests.rating_county import fill_county
from tests.report_batches import BOOT, STREAM, batch, body, china_iso

NOVEMBER = rated_period("2026-11")
BOOTED = datetime(2026, 10, 31, 16, tzinfo=UTC)  # the box has run since midnight, 1 November (China)
ENROLLED = datetime(2026, 1, 1, tzinfo=UTC)
FIRST_LOOK = datetime(2026, 12, 8, 4, tzinfo=UTC)
LAST_PROVISIONAL = datetime(2026, 12, 15, 15, 59, tzinfo=UTC)  # 23:59 on 15 December, China
FIRST_CLOSED = datetime(2026, 12, 15, 16, 0, tzinfo=UTC)  # 00:00 on 16 December: 15 days after 30 November


@pytest.fixture
def county(tmp_path, headend_db):
    root = init_headend(tmp_path / "headend", headend_db)
    with open_root(root) as h:
        ids = fill_county(h.db, n=12)
        yield h, ids["silent"][0]  # reported in September only: nothing of November yet


def day_events(day: date, rnd: random.Random) -> list[dict]:
    """A day of a working station: two heartbeats, three lessons watched 20 minutes each on
    different courses, a logbook entry, and on the 5th and 15th a study session of 15 people."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=CHINA)
    out = []
    for hour in (8, 20):
        out.append(("health", noon.replace(hour=hour), {}))
    for k in range(3):
        start = noon.replace(hour=9 + k)
        end = start + timedelta(seconds=1200)
        play = {"course": f"kc-{k}", "start": china_iso(start), "end": china_iso(end), "watched_s": 1200.0}
        out.append(("play", end, {**play, "session": None, "duration_s": 1800.0, "completed": False}))
    out.append(("logbook", noon.replace(hour=18), {"text": f"{day} 设备正常"}))
    if day.day in (5, 15):
        started, ended = noon.replace(hour=14), noon.replace(hour=15, minute=30)
        session = {"id": f"s{day:%m%d}", "headcount": 15, "started": china_iso(started), "ended": china_iso(ended)}
        out.append(("session_end", ended, {**session, "counted": True}))
    return [{"kind": k, "at": at, **body(k, at, rnd), **extra} for k, at, extra in sorted(out, key=lambda x: x[1])]


def send_backlog(h, station: str, days: list[date], first_seq: int, received: datetime) -> int:
    """The station uploads its journal of ``days`` at ``received``, 500 events a batch, through the
    collector's store; the next seq."""
    rnd = random.Random(first_seq)
    evs = []
    for day in days:
        for e in day_events(day, rnd):
            at = e.pop("at")
            seq = first_seq + len(evs)
            evs.append({"seq": seq, "ts": china_iso(at), "mono": (at - BOOTED).total_seconds(), **e})
    mono = (received - BOOTED).total_seconds()
    for i in range(0, len(evs), 500):
        part = evs[i : i + 500]
        doc = batch(station, part, after=part[0]["seq"] - 1, now=received, mono=mono, boot=BOOT, stream=STREAM)
        stored = h.db.reports.store(parse_batch(doc), received, ENROLLED)
        assert (stored.accepted, stored.time_uncertain) == (len(part), 0)
    return first_seq + len(evs)


def november_days(first: int, last: int) -> list[date]:
    return [date(2026, 11, d) for d in range(first, last + 1)]


def test_a_backlog_before_the_close_changes_the_rating_and_one_after_it_does_not(county):
    h, sid = county
    before = ratings_table(h, NOVEMBER, now=FIRST_LOOK).entry(sid)
    assert before.rating.status == "incomplete" and before.rating.sums.reported_days == 0

    seq = send_backlog(h, sid, november_days(1, 20), 1, FIRST_LOOK)
    t = ratings_table(h, NOVEMBER, now=FIRST_LOOK)
    assert t.state == "provisional"
    late = t.entry(sid).rating
    s = late.sums
    assert (s.reported_days, s.online_days, s.active_days, s.logbook) == (20, 20, 20, 20)
    assert (s.sessions, s.session_person_times, s.individual_plays, s.watched_s) == (2, 30, 60, 20 * 3 * 1200)
    assert late.status == "ranked" and late.stars >= 1 and late.total > before.rating.total and late.flags == ()
    # a backlog of 20 November days sent in December: the headend heard from it on no day of November
    assert late.basis["contact_days"] == 0 and next(x for x in late.scores if x.indicator == "uptime").points == 0
    assert t.entry(sid).county_rank is not None

    # the last minute of 15 December (China) is still provisional: a look then computes afresh
    assert ratings_table(h, NOVEMBER, now=LAST_PROVISIONAL).state == "provisional"
    frozen = ratings_table(h, NOVEMBER, now=FIRST_CLOSED)
    assert frozen.state == "frozen" and frozen.entry(sid).rating.to_dict() == late.to_dict()
    assert h.db.ratings.frozen(NOVEMBER.name).rubric_version == frozen.rubric_version

    # the rest of the month arrives later still: stored and shown in the station's days ...
    received = FIRST_CLOSED + timedelta(days=2)
    send_backlog(h, sid, november_days(21, 30), seq, received)
    held = h.db.reports.days([sid], NOVEMBER.first, NOVEMBER.last)
    assert len(held) == 30
    # ... and it would have counted (the same figures computed afresh see all 30 days) ...
    stations = h.db.stations()
    afresh = {r.station: r for r in compute(h, current_rubric(h), stations, NOVEMBER, received)}[sid]
    assert afresh.sums.reported_days == 30 and afresh.total > late.total
    # ... but November's rating stands as frozen
    after = ratings_table(h, NOVEMBER, now=received)
    assert after.state == "frozen" and after.entry(sid).rating.to_dict() == late.to_dict()
    assert after.entry(sid).county_rank == frozen.entry(sid).county_rank


def test_a_period_another_process_froze_first_keeps_that_process_s_ratings(county):
    h, _ = county
    t = ratings_table(h, NOVEMBER, now=FIRST_LOOK)
    rows = [e.rating.to_dict() for e in t.entries]
    stamp = FIRST_CLOSED.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert h.db.ratings.freeze(NOVEMBER.name, t.rubric_version, rows, stamp)
    changed = [{**r, "total": 0.0, "stars": 0} for r in rows]
    assert not h.db.ratings.freeze(NOVEMBER.name, t.rubric_version, changed, stamp)  # the second is refused
    again = ratings_table(h, NOVEMBER, now=FIRST_CLOSED)
    assert again.state == "frozen"
    assert [e.rating.to_dict() for e in again.entries] == rows
    assert h.db.ratings.frozen(NOVEMBER.name).stations == len(rows)
