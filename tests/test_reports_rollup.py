"""The daily roll-up stays exact whatever the link does (Hypothesis, both engines): random event
lists, split into random batches, sent in a random order with random re-sends and overlaps,
leave every (station, China day) row equal to the shared fold (``catalogue.figures``) of the
distinct events of that day — and held at the last seq once every batch has arrived in order."""

from __future__ import annotations

import random
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalogue.clocks import CHINA
from catalogue.events import parse_batch
from catalogue.figures import figures
from headend.db.reports import day_row
from headend.db.schema import station_days
from headend.service import open_root
from headend.service.stations import add_station
from tests.conftest import init_headend
from tests.report_batches import BOOT, batch, body, china_iso

RECEIVED = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
BATCH_MONO = 10 * 86400.0  # the box has been up ten days
KINDS = ["play", "live", "session_end", "logbook", "admin_login", "notice_view", "fives", "health"]


@pytest.fixture(scope="module")
def headend(tmp_path_factory, headend_db):
    root = init_headend(tmp_path_factory.mktemp("rollup") / "headend", headend_db)
    with open_root(root) as h:
        yield h


@st.composite
def journeys(draw):
    n = draw(st.integers(1, 40))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=n, max_size=n))
    gaps = draw(st.lists(st.floats(0, 8 * 3600), min_size=n, max_size=n))  # seconds between events
    seed = draw(st.integers(0, 2**32))
    rnd = random.Random(seed)
    evs, mono = [], 1000.0
    for seq, (kind, gap) in enumerate(zip(kinds, gaps, strict=True), start=1):
        mono += round(gap, 1)
        at = RECEIVED - timedelta(seconds=BATCH_MONO - mono)
        e = {"seq": seq, "ts": china_iso(at), "kind": kind, "mono": mono, **body(kind, at, rnd)}
        if kind == "session_end":
            e["id"] = rnd.choice(["aaaa00000001", "aaaa00000002"])  # the same session ended twice
        evs.append(e)
    cuts = sorted(set(draw(st.lists(st.integers(1, n - 1), max_size=6)) if n > 1 else []))
    parts = [(lo, hi) for lo, hi in zip([0, *cuts], [*cuts, n], strict=True)]
    sends = list(parts) + draw(st.lists(st.sampled_from(parts), max_size=4))  # re-sends
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, n)), max_size=3))
    sends += [(lo, hi) for lo, hi in extra if lo < hi]  # overlapping batches
    order = draw(st.permutations(range(len(sends))))
    # A stream starts with the first batch the headend sees of it (the station sends its next
    # batch only once that one is answered); after it, anything in any order, then all in order.
    return evs, [parts[0]] + [sends[i] for i in order] + parts


def expected(evs: list[dict], station: str) -> dict[str, dict]:
    def at(e):
        return RECEIVED - timedelta(seconds=BATCH_MONO - e["mono"])

    by_day: dict[str, list[dict]] = {}
    for e in sorted(evs, key=lambda e: (at(e), e["seq"])):
        by_day.setdefault(at(e).astimezone(CHINA).date().isoformat(), []).append(e)
    return {d: day_row(station, d, figures(es, day=lambda _e, d=d: d), "") for d, es in by_day.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(journey=journeys())
def test_the_roll_up_equals_the_fold_of_the_distinct_events(headend, journey):
    evs, sends = journey
    station = f"s{secrets.token_hex(5)}"  # (Hypothesis seeds random: not for ids)
    add_station(headend, station, None, "广东省/肇庆市", "stb-sd")
    enrolled = RECEIVED - timedelta(days=30)
    held = 0
    for lo, hi in sends:
        doc = batch(station, evs[lo:hi], after=evs[lo]["seq"] - 1, now=RECEIVED, mono=BATCH_MONO, boot=BOOT)
        held = headend.db.reports.store(parse_batch(doc), RECEIVED, enrolled).held
    assert held == len(evs)
    assert headend.db.reports.event_count(station) == len(evs)
    want = expected(evs, station)
    first, last = min(want), max(want)
    rows = headend.db.reports.days([station], datetime.fromisoformat(first).date(), datetime.fromisoformat(last).date())
    got = {r.day: day_row(station, r.day, _as_figures(r), "") for r in rows}
    assert got == want


@pytest.mark.parametrize("state", ["", "{not json", '{"plays": 1, "unknown": 2}'])
def test_a_day_whose_running_state_is_unreadable_is_folded_again_from_its_events(headend, state):
    """A roll-up row without a readable state (written by hand, by a repair, or damaged) does not
    turn the next batch into a 500: that day is folded again from what is held, then counted on."""
    station = f"s{secrets.token_hex(5)}"
    add_station(headend, station, None, "广东省/肇庆市", "stb-sd")
    rnd = random.Random(7)
    evs = []
    for seq in range(1, 13):  # one China day, every kind, a session ended twice
        mono = BATCH_MONO - 6 * 3600 + seq * 600.0
        at = RECEIVED - timedelta(seconds=BATCH_MONO - mono)
        kind = KINDS[seq % len(KINDS)]
        e = {"seq": seq, "ts": china_iso(at), "kind": kind, "mono": mono, **body(kind, at, rnd)}
        if kind == "session_end":
            e["id"] = "aaaa00000001"
        evs.append(e)
    enrolled = RECEIVED - timedelta(days=30)

    def send(lo: int, hi: int) -> int:
        doc = batch(station, evs[lo:hi], after=lo, now=RECEIVED, mono=BATCH_MONO, boot=BOOT)
        return headend.db.reports.store(parse_batch(doc), RECEIVED, enrolled).held

    send(0, 6)
    with headend.db.engine.begin() as conn:
        conn.execute(station_days.update().where(station_days.c.station == station).values(state=state))
    assert send(6, 12) == 12
    want = expected(evs, station)
    (day,) = want
    (row,) = headend.db.reports.days([station], *[datetime.fromisoformat(day).date()] * 2)
    assert day_row(station, day, _as_figures(row), "") == want[day]
    assert want[day]["events"] == 12


def _as_figures(r):
    """A roll-up row back in the fold's shape (``day_row`` compares what the table stores)."""
    from catalogue.figures import Figures

    return Figures(
        sessions=r.sessions,
        session_person_times=r.session_person_times,
        individual_plays=r.individual_plays,
        plays=r.plays,
        completed=r.completed,
        watched_s=r.watched_s,
        failed_logins=r.failed_logins,
        short_sessions=r.short_sessions,
        courses=frozenset(str(i) for i in range(r.courses)),
        logbook=r.logbook,
        notice_views=r.notice_views,
        online_minutes=r.online_minutes,
        fives=r.fives,
        events=r.events,
        uncertain=r.time_uncertain,
        max_headcount=r.max_headcount,
        overlapping_sessions=r.overlapping_sessions,
        overlong_plays=r.overlong_plays,
        identical=r.identical_events,
        installed_version=r.installed_version,
        clients=r.clients,
        live_plays=r.live_plays,
        live_watched_s=r.live_watched_s,
    )
