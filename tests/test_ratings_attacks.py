"""Attacks on the star ratings by someone who wants five stars, one test per rule (issue 13:
"think like someone who would fake them"): a flag or silence must never raise a score, a backlog
from before enrolment is not divided by fewer days, an override covers only the evidence it
judged, zero-length and piled-up sessions and a crowd of made-up TVs are not counted, and a
closed period cannot be reshaped afterwards — by moving a station, by looking at periods before
any station existed, or by a headend that was down when it closed. On both engines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from catalogue.figures import figures
from headend.db.schema import report_clocks, station_contacts, station_days, stations
from headend.errors import BadRequest
from headend.service import open_root
from headend.service.ratings import freeze_closed, rated_period, ratings_table
from tests.conftest import init_headend
from tests.rating_county import fill_county

NOW = datetime(2026, 12, 7, 4, tzinfo=UTC)  # noon in China on 7 December: November is provisional
NOVEMBER = rated_period("2026-11")
STAMP = "2026-12-07T04:00:00Z"


@pytest.fixture(scope="module")
def template(tmp_path_factory, headend_db):
    root = init_headend(tmp_path_factory.mktemp("attacks") / "headend", headend_db)
    with open_root(root) as h:
        ids = fill_county(h.db, n=24)
    return root, ids


@pytest.fixture
def county(tmp_path, template, headend_db):
    src, ids = template
    with open_root(headend_db.copy(src, tmp_path / "headend")) as h:
        yield h, ids


def update_days(h, station: str, first: str, last: str, **values) -> None:
    d = station_days.c
    with h.db.engine.begin() as conn:
        conn.execute(station_days.update().where(d.station == station, d.day >= first, d.day <= last).values(**values))


def score_of(t, station: str, indicator: str):
    return next(s for s in t.entry(station).rating.scores if s.indicator == indicator)


def test_a_flagged_day_never_improves_content_freshness(county):
    h, ids = county
    lagging = ids["lagging"][0]
    before = score_of(ratings_table(h, NOVEMBER, now=NOW), lagging, "freshness")
    # 20 days made "time uncertain" (their figures are voided) and the box's clock never measured
    update_days(h, lagging, "2026-11-01", "2026-11-20", time_uncertain=1)
    with h.db.engine.begin() as conn:
        conn.execute(report_clocks.delete().where(report_clocks.c.station == lagging))
    t = ratings_table(h, NOVEMBER, now=NOW)
    after = score_of(t, lagging, "freshness")
    assert {f.rule for f in t.entry(lagging).rating.flags} >= {"time_uncertain", "clock_unmeasured"}
    assert before.points == after.points == 0 and "内容落后天数 30 天" in after.reason


def test_days_without_a_heartbeat_of_the_version_count_as_behind(county):
    h, ids = county
    busy = ids["busy"][0]
    update_days(h, busy, "2026-11-01", "2026-11-10", installed_version=None)  # a box that strips the field
    t = ratings_table(h, NOVEMBER, now=NOW)
    assert "内容落后天数 10 天" in score_of(t, busy, "freshness").reason
    assert score_of(t, busy, "freshness").points == 0


def test_a_backlog_from_before_enrolment_is_not_divided_by_fewer_days(county):
    h, ids = county
    idle = ids["idle"][0]
    update_days(h, idle, "2026-11-05", "2026-11-06", sessions=1, session_person_times=20, max_headcount=20)
    with h.db.engine.begin() as conn:  # registered on 28 November, after its box had run all month
        conn.execute(stations.update().where(stations.c.id == idle).values(created_at="2026-11-28T02:00:00Z"))
    t = ratings_table(h, NOVEMBER, now=NOW)
    s = score_of(t, idle, "sessions")
    assert s.value == 2 and "（每月" not in s.reason  # 2 sessions over the whole month, not "20 a month"
    assert t.entry(idle).rating.coverage == 1.0


def test_an_override_does_not_cover_worse_evidence_sent_later(county):
    h, ids = county
    crowded = ids["crowded"][0]
    t = ratings_table(h, NOVEMBER, now=NOW)
    shown = {f.rule: f.evidence for f in t.entry(crowded).rating.flags}
    for rule, evidence in shown.items():
        assert h.db.ratings.add_override(crowded, "2026-11-15", rule, "admin", "核实过", STAMP, evidence=evidence)
    assert all(f.counted for f in ratings_table(h, NOVEMBER, now=NOW).entry(crowded).rating.flags)
    # a late backlog makes the same day worse: the override judged other figures
    update_days(h, crowded, "2026-11-15", "2026-11-15", max_headcount=900, session_person_times=920)
    flags = ratings_table(h, NOVEMBER, now=NOW).entry(crowded).rating.flags
    assert flags and not any(f.counted for f in flags) and "900 人" in flags[0].evidence
    # judging the new evidence counts it again, with the new reason
    for f in flags:
        assert h.db.ratings.add_override(crowded, f.day, f.rule, "admin", "再次核实", STAMP, evidence=f.evidence)
    assert all(f.counted for f in ratings_table(h, NOVEMBER, now=NOW).entry(crowded).rating.flags)


def test_a_session_of_no_length_is_not_counted_whatever_it_claims():
    base = {"kind": "session_end", "ts": "2026-11-05T10:00:00+08:00", "counted": True, "headcount": 44}
    fake = [
        {**base, "id": f"s{i}", "started": "2026-11-05T10:00:00+08:00", "ended": "2026-11-05T10:00:00+08:00"}
        | {"duration_s": 3600}
        for i in range(10)
    ]
    assert figures(fake).sessions == 0 and figures(fake).session_person_times == 0
    real = {**base, "id": "r", "started": "2026-11-05T10:00:00+08:00", "ended": "2026-11-05T11:00:00+08:00"}
    assert figures([real | {"duration_s": 3600}]).session_person_times == 44
    assert figures([real | {"duration_s": 120}]).sessions == 0  # the box itself says it was too short


def test_sessions_piled_into_one_day_are_flagged_and_not_counted(county):
    h, ids = county
    busy = ids["busy"][0]
    update_days(h, busy, "2026-11-05", "2026-11-05", sessions=10, session_person_times=400, max_headcount=40)
    t = ratings_table(h, NOVEMBER, now=NOW)
    flags = {f.rule: f for f in t.entry(busy).rating.flags}
    assert "sessions_over_day" in flags and "10 场" in flags["sessions_over_day"].evidence
    assert t.entry(busy).rating.sums.sessions == 2  # the 15th and the 25th


def test_a_crowd_of_made_up_tvs_is_flagged_and_its_plays_not_counted(county):
    h, ids = county
    busy = ids["busy"][0]
    update_days(h, busy, "2026-11-07", "2026-11-07", clients=200, individual_plays=200, plays=200)
    t = ratings_table(h, NOVEMBER, now=NOW)
    flags = {f.rule: f for f in t.entry(busy).rating.flags}
    assert "clients_over_day" in flags and "200 台" in flags["clients_over_day"].evidence
    rows = h.db.reports.days([busy], NOVEMBER.first, NOVEMBER.last)
    assert t.entry(busy).rating.sums.individual_plays == sum(r.individual_plays for r in rows) - 200


def test_a_period_before_any_station_was_enrolled_is_refused(county):
    h, _ids = county
    with pytest.raises(BadRequest, match="before the first station was enrolled"):
        ratings_table(h, rated_period("2001-03"), now=NOW)
    assert h.db.ratings.frozen("2001-03") is None


def test_every_closed_period_is_frozen_even_with_a_long_close(county, tmp_path):
    h, _ids = county
    text = (h.cfg.root / "headend.toml").read_text()
    (h.cfg.root / "headend.toml").write_text(text.replace("close_days = 15", "close_days = 45"))
    with open_root(h.cfg.root) as h45:
        done = freeze_closed(h45, datetime(2027, 1, 20, 4, tzinfo=UTC))
        # stations were enrolled on 1 January 2026: every month to November has closed by 20 January
        assert {f"2026-{m:02d}" for m in range(1, 12)} <= set(done)
        assert "2026-12" not in done and h45.db.ratings.frozen("2026-10") is not None
        assert freeze_closed(h45, datetime(2027, 1, 20, 5, tzinfo=UTC)) == []  # nothing twice


def test_a_closed_period_keeps_the_ranks_of_the_regions_it_was_rated_in(county):
    h, ids = county
    october = rated_period("2026-10")
    before = ratings_table(h, october, now=NOW)  # closed on 15 November: frozen at this look
    assert before.state == "frozen"
    moved = ids["busy"][0]
    ranks = {e.station.id: (e.county_rank, e.township_rank) for e in before.entries}
    with h.db.engine.begin() as conn:  # the station is moved to another county afterwards
        region = json.dumps(["广东省", "肇庆市", "四会市", "城中街道", "新村"], ensure_ascii=False)
        conn.execute(stations.update().where(stations.c.id == moved).values(region=region))
    after = ratings_table(h, october, now=NOW)
    assert {e.station.id: (e.county_rank, e.township_rank) for e in after.entries} == ranks
    assert after.entry(moved).rating.region[2] == "高要市"


def test_a_new_rubric_version_is_in_the_audit_log(county):
    h, _ids = county
    ratings_table(h, NOVEMBER, now=NOW)
    text = (h.cfg.root / "ratings.toml").read_text(encoding="utf-8")
    (h.cfg.root / "ratings.toml").write_text(text.replace("min_coverage = 0.6", "min_coverage = 0.5"), "utf-8")
    ratings_table(h, NOVEMBER, now=NOW + timedelta(minutes=1))
    logged = [e for e in h.db.audit.recent() if e.action == "rating.rubric"]
    assert [e.target for e in logged][:2] == ["version 2", "version 1"]
    with h.db.engine.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(sa.table("rubrics"))).scalar() == 2


def test_heartbeats_written_while_offline_do_not_make_a_station_online(county):
    h, ids = county
    busy = ids["busy"][0]
    # its journal says it was up every day (online minutes in every row), but the headend heard
    # from it on 10 days of November only
    with h.db.engine.begin() as conn:
        c = station_contacts.c
        conn.execute(station_contacts.delete().where(c.station == busy, c.day > "2026-11-10", c.day <= "2026-11-30"))
    t = ratings_table(h, NOVEMBER, now=NOW)
    s = score_of(t, busy, "uptime")
    assert s.points == 0 and s.reason.startswith("联网上报率 33%")
    assert score_of(t, ids["busy"][1], "uptime").points == 10
