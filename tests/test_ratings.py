"""Star ratings (issue 13) on both engines, on a generated county (``tests/rating_county.py``)
whose stations each follow a known pattern: what county staff see in the ranking — stars, ranks
(ties share a rank), 数据不全, flags with their evidence and the figures they keep out — and how
a rubric change, a frozen period, an admin's override and an inspection change it; and
``headend ratings`` as a user runs it, giving the same table."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from catalogue.clocks import CHINA
from catalogue.periods import period_of
from catalogue.rubric import DEFAULT_RUBRIC, RUBRIC_NAME
from headend.service import open_root
from headend.service.ratings import rated_period, ratings_table
from tests.conftest import init_headend, run_cli
from tests.rating_county import COUNTY, fill_county

NOW = datetime(2026, 12, 7, 4, tzinfo=UTC)  # noon in China on 7 December: November is provisional
NOVEMBER = rated_period("2026-11")
OCTOBER = rated_period("2026-10")
BUSY_TOTAL = 90.0  # every indicator but the three inspections (4 + 3 + 3 points) in full


@pytest.fixture(scope="module")
def county_template(tmp_path_factory, headend_db):
    """A headend root holding the generated county, never changed: tests copy it."""
    root = init_headend(tmp_path_factory.mktemp("county") / "headend", headend_db)
    with open_root(root) as h:
        ids = fill_county(h.db)
    return root, ids


@pytest.fixture
def county(tmp_path, county_template, headend_db):
    """A copy of the county a test may change: (Headend, pattern → station ids)."""
    src, ids = county_template
    with open_root(headend_db.copy(src, tmp_path / "headend")) as h:
        yield h, ids


@pytest.fixture(scope="module")
def november(tmp_path_factory, county_template, headend_db):
    """November's provisional table of an unchanged copy of the county, with that copy."""
    src, ids = county_template
    with open_root(headend_db.copy(src, tmp_path_factory.mktemp("november") / "headend")) as h:
        yield h, ids, ratings_table(h, NOVEMBER, now=NOW)


def days_of(h, station: str, period=NOVEMBER) -> dict:
    """The station's roll-up rows of the period, by day (what the collector stored)."""
    return {d.day: d for d in h.db.reports.days([station], period.first, period.last)}


def write_rubric(h, text: str) -> None:
    (h.cfg.root / RUBRIC_NAME).write_text(text, encoding="utf-8")


def score_of(entry, indicator: str):
    return next(s for s in entry.rating.scores if s.indicator == indicator)


# ---- stars, ranks, 数据不全 --------------------------------------------------------------------


def test_busy_stations_get_five_stars_and_share_the_first_rank(november):
    _h, ids, t = november
    assert t.state == "provisional" and t.closes_on == date(2026, 12, 15) and t.rubric_version == 1
    for sid in ids["busy"]:
        e = t.entry(sid)
        assert (e.rating.status, e.rating.total, e.rating.stars) == ("ranked", BUSY_TOTAL, 5), sid
        assert (e.county_rank, e.township_rank) == (1, 1), sid
    busy = t.entry(ids["busy"][0])
    # each indicator says in words what it found and what it gave
    said = score_of(busy, "sessions").reason
    assert said.startswith("集中学习场次 3 场，") and "每月 2 场" in said and said.endswith("20/20 分")
    assert score_of(busy, "place").reason == "固定场所：没有有效的实地检查记录，0/4 分"


def test_ranks_are_competition_ranks_within_the_county_and_the_township(november):
    _h, _ids, t = november
    ranked = [e for e in t.entries if e.rating.status == "ranked"]
    assert len(ranked) > 100
    for depth, attr in ((3, "county_rank"), (4, "township_rank")):
        for e in ranked:
            peers = [p for p in ranked if p.station.region[:depth] == e.station.region[:depth]]
            higher = sum(p.rating.total > e.rating.total for p in peers)
            assert getattr(e, attr) == higher + 1, (attr, e.station.id, e.rating.total)
    # ties really share a rank and the next rank skips them (1, 1, 3 — not 1, 1, 2)
    tied = sum(e.rating.total == BUSY_TOTAL for e in ranked)
    next_rank = min(e.county_rank for e in ranked if e.rating.total < BUSY_TOTAL)
    assert tied > 1 and next_rank == tied + 1
    assert [e.rating.total for e in ranked] == sorted((e.rating.total for e in ranked), reverse=True)


def test_idle_stations_score_low_and_rank_below_every_busy_one(november):
    _h, ids, t = november
    worst_busy = min(t.entry(s).county_rank for s in ids["busy"])
    for sid in ids["idle"]:
        e = t.entry(sid)
        assert e.rating.status == "ranked" and e.rating.stars == 0 and e.rating.total <= 20, sid
        assert e.county_rank > worst_busy
    idle = t.entry(ids["idle"][0])
    assert score_of(idle, "sessions").points == 0 and "0 场" in score_of(idle, "sessions").reason
    assert score_of(idle, "uptime").points == 10  # it was on every day: that still counts


def test_silent_stations_are_incomplete_and_not_ranked(november):
    _h, ids, t = november
    for sid in ids["silent"]:
        e = t.entry(sid)
        assert (e.rating.status, e.rating.status_words, e.rating.stars) == ("incomplete", "数据不全", 0), sid
        assert (e.county_rank, e.township_rank) == (None, None)
        assert e.rating.coverage == 0
    ranked_part = [e.rating.status for e in t.entries[: -len(ids["silent"])]]
    assert set(ranked_part) == {"ranked"}, "the stations without enough data are listed after the ranked"


# ---- plausibility flags ----------------------------------------------------------------------


def test_a_crowded_session_is_flagged_and_its_person_times_not_counted(november):
    h, ids, t = november
    sid = ids["crowded"][0]
    e = t.entry(sid)
    flag = next(f for f in e.rating.flags if f.rule == "headcount_over_capacity")
    assert flag.day == "2026-11-15" and "500" in flag.evidence and "30" in flag.evidence and not flag.counted
    rows = days_of(h, sid)
    assert rows["2026-11-15"].session_person_times == 500  # stored as reported, shown, not counted
    s = e.rating.sums
    assert s.session_person_times == sum(r.session_person_times for d, r in rows.items() if d != "2026-11-15")
    assert s.sessions == sum(r.sessions for d, r in rows.items() if d != "2026-11-15") == 2
    assert s.individual_plays == sum(r.individual_plays for r in rows.values())  # only the sessions are void
    busy = t.entry(ids["busy"][0]).rating.sums
    assert (busy.sessions, busy.session_person_times) == (3, 60) and (s.sessions, s.session_person_times) == (2, 40)
    assert "2 场" in score_of(e, "sessions").reason


def test_a_25_hour_day_is_flagged_and_not_counted(november):
    h, ids, t = november
    sid = ids["marathon"][0]
    e = t.entry(sid)
    flag = next(f for f in e.rating.flags if f.rule == "hours_over_day")
    assert flag.day == "2026-11-20" and "25.0 小时" in flag.evidence and "16" in flag.evidence
    rows = days_of(h, sid)
    assert rows["2026-11-20"].watched_s == 25 * 3600
    s = e.rating.sums
    assert s.watched_s == sum(r.watched_s for d, r in rows.items() if d != "2026-11-20")
    assert s.plays == sum(r.plays for d, r in rows.items() if d != "2026-11-20")
    assert s.active_days == 29 and s.sessions == 3  # the day's plays are void, its sessions are not
    assert {f.rule for f in t.entry(ids["busy"][0]).rating.flags} == set()


def test_a_box_left_on_an_old_version_loses_the_freshness_points(november):
    _h, ids, t = november
    lagging, busy = t.entry(ids["lagging"][0]), t.entry(ids["busy"][0])
    assert lagging.rating.sums.current_days == 0 and busy.rating.sums.current_days == 30
    assert score_of(lagging, "freshness").points == 0 and score_of(busy, "freshness").points == 10
    assert (
        "内容落后天数 30 天" in score_of(lagging, "freshness").reason
        and "超过了" in score_of(lagging, "freshness").reason
    )
    assert (lagging.rating.total, lagging.rating.stars) == (BUSY_TOTAL - 10, 4)
    others = {s.indicator: s.points for s in lagging.rating.scores if s.indicator != "freshness"}
    assert others == {s.indicator: s.points for s in busy.rating.scores if s.indicator != "freshness"}


# ---- rubric versions, frozen periods, overrides, inspections ------------------------------------------


def test_a_changed_rubric_rescores_open_periods_and_leaves_frozen_ones(county):
    h, ids = county
    busy = ids["busy"][0]
    october = ratings_table(h, OCTOBER, now=NOW)  # closed on 15 November: frozen at this first look
    assert (october.state, october.rubric_version, october.entry(busy).rating.total) == ("frozen", 1, BUSY_TOTAL)
    stricter = DEFAULT_RUBRIC.replace("steps = [[2, 20], [1, 10]]", "steps = [[4, 20], [3, 10]]")
    assert stricter != DEFAULT_RUBRIC
    write_rubric(h, stricter)

    nov = ratings_table(h, NOVEMBER, now=NOW)
    assert (nov.state, nov.rubric_version) == ("provisional", 2)
    e = nov.entry(busy)
    assert (e.rating.total, e.rating.stars) == (BUSY_TOTAL - 10, 4)
    said = score_of(e, "sessions").reason
    assert said.startswith("集中学习场次 3 场，") and "每月 3 场" in said and said.endswith("10/20 分")
    assert e.previous is not None and e.previous.total == BUSY_TOTAL  # October as frozen

    october = ratings_table(h, OCTOBER, now=NOW)
    assert (october.state, october.rubric_version) == ("frozen", 1)
    assert october.entry(busy).rating.total == BUSY_TOTAL and october.entry(busy).rating.stars == 5
    assert october.rubric.indicators[0].scoring.steps == ((2.0, 20.0), (1.0, 10.0))
    assert h.db.ratings.rubric_text(1) == DEFAULT_RUBRIC and h.db.ratings.rubric_text(2) == stricter

    write_rubric(h, DEFAULT_RUBRIC)  # a version is its content: the old text is the old version
    assert ratings_table(h, NOVEMBER, now=NOW).rubric_version == 1


def test_an_admin_override_makes_the_flagged_figures_count_again(county):
    h, ids = county
    crowded, marathon = ids["crowded"][0], ids["marathon"][0]
    stamp = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    before = ratings_table(h, NOVEMBER, now=NOW)
    assert before.entry(crowded).rating.sums.session_person_times == 40

    why = "现场核实：当天全村大会，借用村委会礼堂"
    shown = {f.rule: f.evidence for f in ratings_table(h, NOVEMBER, now=NOW).entry(crowded).rating.flags}
    marathon_shown = {f.rule: f.evidence for f in ratings_table(h, NOVEMBER, now=NOW).entry(marathon).rating.flags}
    over = "headcount_over_capacity"
    assert h.db.ratings.add_override(crowded, "2026-11-15", over, "admin", why, stamp, evidence=shown[over])
    assert not h.db.ratings.add_override(crowded, "2026-11-15", over, "other", "x", stamp, evidence=shown[over])
    t = ratings_table(h, NOVEMBER, now=NOW)
    flags = {f.rule: f for f in t.entry(crowded).rating.flags}
    o = flags[over].override
    assert (o.by, o.reason, o.at) == ("admin", why, stamp)
    # the same day is also over 1.5 × its 30 members: still void until that flag is overridden too
    assert not flags["headcount_over_members"].counted
    assert t.entry(crowded).rating.sums.session_person_times == 40

    members = "headcount_over_members"
    h.db.ratings.add_override(crowded, "2026-11-15", members, "admin", why, stamp, evidence=shown[members])
    h.db.ratings.add_override(
        marathon, "2026-11-20", "hours_over_day", "admin", "全天循环播放，已核实", stamp,
        evidence=marathon_shown["hours_over_day"],
    )  # fmt: skip
    t = ratings_table(h, NOVEMBER, now=NOW)
    rows = days_of(h, crowded)
    s = t.entry(crowded).rating.sums
    assert s.session_person_times == sum(r.session_person_times for r in rows.values()) == 540
    assert s.sessions == 3 and all(f.counted for f in t.entry(crowded).rating.flags)
    m = t.entry(marathon).rating
    assert m.sums.watched_s == sum(r.watched_s for r in days_of(h, marathon).values())
    assert m.sums.active_days == 30
    assert m.to_dict()["flags"][0]["override"] == {"by": "admin", "reason": "全天循环播放，已核实", "at": stamp}


def test_inspections_raise_their_indicators_until_they_expire(county):
    h, ids = county
    busy, other = ids["busy"][0], ids["busy"][1]
    stamp = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    add = h.db.ratings.add_inspection
    add(busy, "place", 2, "场所较小", "", date(2026, 11, 10), "县远教办 王", stamp)
    add(busy, "place", 4, "已整改", "", date(2026, 11, 20), "县远教办 王", stamp)  # the latest visit counts
    add(busy, "rules", 3, "制度上墙", "", date(2025, 11, 20), "县远教办 王", stamp)  # 375 days before 30 November
    add(busy, "equipment", 3, "完好", "", date(2025, 12, 1), "县远教办 王", stamp)  # 364 days: still valid
    t = ratings_table(h, NOVEMBER, now=NOW)
    e = t.entry(busy)
    assert score_of(e, "place").points == 4 and "2026年11月20日" in score_of(e, "place").reason
    assert score_of(e, "rules").points == 0 and "没有有效的实地检查记录" in score_of(e, "rules").reason
    assert score_of(e, "equipment").points == 3
    assert e.rating.total == BUSY_TOTAL + 7 and t.entry(other).rating.total == BUSY_TOTAL
    assert (e.county_rank, t.entry(other).county_rank) == (1, 2)

    # the rubric says how long a visit counts: place for 5 days now, so the 20 November visit has expired
    write_rubric(
        h,
        DEFAULT_RUBRIC.replace(
            'label = "固定场所"\nmax = 4\nvalid_days = 365', 'label = "固定场所"\nmax = 4\nvalid_days = 5'
        ),
    )
    e = ratings_table(h, NOVEMBER, now=NOW).entry(busy)
    assert score_of(e, "place").points == 0 and e.rating.total == BUSY_TOTAL + 3


# ---- the command line ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def county_today(tmp_path_factory, headend_db):
    """A county reported up to yesterday (the command rates as of the machine's clock), and the
    month before this one."""
    today = datetime.now(CHINA).date()
    root = init_headend(tmp_path_factory.mktemp("county-today") / "headend", headend_db)
    with open_root(root) as h:
        fill_county(h.db, n=40, last_day=today - timedelta(days=1))
    return root, period_of("month", today).previous()


def test_the_command_gives_every_station_its_stars_and_reasons_as_the_table_does(county_today):
    root, period = county_today
    res = run_cli("headend", "ratings", "--root", str(root), "--period", period.name, "--json")
    assert res.returncode == 0, res.stderr
    said = json.loads(res.stdout)
    with open_root(root) as h:
        t = ratings_table(h, period, now=datetime.now(UTC))
        indicators = [i.id for i in t.rubric.indicators]
    assert said == json.loads(json.dumps(t.to_dict(), ensure_ascii=False))
    assert said["period"] == period.name and len(said["stations"]) == 40
    for s in said["stations"]:
        assert s["stars"] in range(6) and s["region"][:3] == list(COUNTY)
        assert [i["indicator"] for i in s["indicators"]] == indicators
        assert all(i["reason"].endswith(f"/{i['weight']:g} 分") for i in s["indicators"]), s["station"]
    assert {s["status"] for s in said["stations"]} == {"ranked", "incomplete"}

    res = run_cli("headend", "ratings", "--root", str(root), "--period", period.name, "--csv")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("\ufeff县内排名,")  # Excel reads it as UTF-8 only with the BOM
    assert len(res.stdout.strip().splitlines()) == 1 + 40 and "数据不全" in res.stdout


@pytest.mark.parametrize(
    "period,says",
    [
        ("2026-13", "write a day"),
        ("2026-W45", "ratings are for a month"),
        ("2099-01", "has not begun yet"),
    ],
)
def test_a_bad_period_exits_2_saying_what_to_write(county_today, period, says):
    root, _ = county_today
    res = run_cli("headend", "ratings", "--root", str(root), "--period", period)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith("headend ratings: ") and says in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_a_malformed_rubric_exits_2_naming_its_line_and_key(county_today):
    root, _ = county_today
    this_month = period_of("month", datetime.now(CHINA).date())  # still open: rated under the file as it is
    path = root / RUBRIC_NAME
    path.write_text(DEFAULT_RUBRIC.replace("min_coverage = 0.6", "min_coverag = 0.6"), encoding="utf-8")
    try:
        res = run_cli("headend", "ratings", "--root", str(root), "--period", this_month.name, "--json")
    finally:
        path.unlink()
    assert res.returncode == 2 and res.stdout == ""
    assert f"{path}:8:" in res.stderr and "min_coverag" in res.stderr and "did you mean 'min_coverage'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
