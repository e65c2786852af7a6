"""The rubric county staff rate stations by (``ratings.toml``, ``catalogue.rubric``): the default
loads and adds up; every kind of mistake is refused in one line naming the file, the line and the
key (and what to write instead); a region's override scores only the stations under it, the
longest prefix winning; and no bytes at all make ``load_rubric`` raise anything but
SettingsError (Hypothesis)."""

from __future__ import annotations

import itertools
import math
import os
from datetime import date

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from catalogue.periods import parse_period
from catalogue.plausibility import Sums
from catalogue.rating import Context, rate
from catalogue.rubric import DEFAULT_RUBRIC, SOURCES, Rubric, default_rubric, load_rubric
from catalogue.tomlcheck import SettingsError

NAME = "/srv/headend/ratings.toml"
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "500")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_the_default_rubric_loads_and_adds_up_to_100():
    r = default_rubric()
    assert r.max_total == 100 and sum(i.weight for i in r.indicators) == 100
    assert len(r.stars) == 5 and all(a < b for a, b in itertools.pairwise(r.stars)) and r.stars[-1] <= 100
    assert [r.stars_for(t) for t in (0, 39.9, 40, 55, 70, 80, 90, 100)] == [0, 0, 1, 2, 3, 4, 5, 5]
    for i in r.indicators:
        assert i.label and i.explain, i.id
        assert i.source in SOURCES or r.inspection(i.inspection) is not None, i.id
        if i.scoring.steps:
            assert all(0 <= p <= i.weight for _, p in i.scoring.steps) and i.scoring.steps[0][1] == i.weight
    assert {i.inspection for i in r.indicators if i.inspection} == {i.id for i in r.inspections}
    assert r == load_rubric(DEFAULT_RUBRIC.encode(), "ratings.toml (the default)")
    assert r.sha256 == load_rubric(DEFAULT_RUBRIC.encode(), "elsewhere").sha256  # a version is its content


def line_of(text: str, needle: str | tuple[str, int]) -> int:
    """The line ``needle`` is on (a pair: the line that many lines after it)."""
    needle, delta = needle if isinstance(needle, tuple) else (needle, 0)
    return text[: text.index(needle)].count("\n") + 1 + delta


OVERRIDE = '\n[[override]]\nregion = "广东省/肇庆市"\nindicator = "{ind}"\n{extra}steps = [[1, 5]]\n'

# (what is wrong, the text changed: old → new, the line to blame (its text), words the message has)
MISTAKES = [
    (
        "unknown key",
        ("min_coverage = 0.6", "min_coverag = 0.6"),
        "min_coverag = 0.6",
        ["[rubric] min_coverag", "unknown key", "did you mean 'min_coverage'"],
    ),
    (
        "unknown key in an indicator",
        ('per = "month"\nweight = 20', 'per = "month"\nwieght = 20'),
        "wieght = 20",  # the misspelling's line, though the required key is looked for first
        ["[indicator[0]] wieght", "did you mean 'weight'"],
    ),
    (
        "unknown source",
        ('source = "logbook"', 'source = "logbooks"'),
        'source = "logbooks"',
        ["[indicator[6]] source", "'logbooks' is no figure", "inspection:<item>"],
    ),
    (
        "unknown inspection item",
        ('source = "inspection:rules"', 'source = "inspection:walls"'),
        'source = "inspection:walls"',
        ["source", "names no [[inspection]] item", "place, rules, equipment"],
    ),
    (
        "steps out of order",
        ("steps = [[2, 20], [1, 10]]", "steps = [[1, 10], [2, 20]]"),
        "steps = [[1, 10], [2, 20]]",
        ["[indicator[0]] steps", "best step first"],
    ),
    (
        "a step that can never be reached (the same value twice)",
        ("steps = [[2, 20], [1, 10]]", "steps = [[2, 20], [2, 10]]"),
        "steps = [[2, 20], [2, 10]]",
        ["[indicator[0]] steps", "each value once"],
    ),
    (
        "lower-is-better steps out of order",
        ("steps = [[1, 10], [3, 6], [7, 3]]", "steps = [[7, 3], [3, 6], [1, 10]]"),
        "steps = [[7, 3], [3, 6], [1, 10]]",
        ["steps", 'smallest first when better = "lower"'],
    ),
    (
        "points above weight",
        ("steps = [[2, 20], [1, 10]]", "steps = [[2, 25], [1, 10]]"),
        "steps = [[2, 25], [1, 10]]",
        ["steps", "gives 25 points", "weight (20)"],
    ),
    (
        "linear with equal ends",
        ("linear = [0, 20]", "linear = [20, 20]"),
        "linear = [20, 20]",
        ["[indicator[2]] linear", "two different values"],
    ),
    (
        "both steps and linear",
        ("linear = [0, 20]", "linear = [0, 20]\nsteps = [[20, 10]]"),
        ('id = "hours"', -1),
        ["[indicator[2]]", "exactly one of steps"],
    ),
    (
        "stars not increasing",
        ("stars = [40, 55, 70, 80, 90]", "stars = [40, 55, 50, 80, 90]"),
        "stars = [40, 55, 50, 80, 90]",
        ["[rubric] stars", "five increasing totals"],
    ),
    (
        "stars out of reach",
        ("stars = [40, 55, 70, 80, 90]", "stars = [101, 102, 103, 104, 105]"),
        "stars = [101",
        ["[rubric] stars", "1 star needs 101 points", "at most 100", "lower the cut-offs"],
    ),
    (
        "a weight that is text",
        ("weight = 20", 'weight = "20"'),
        'weight = "20"',
        ["weight", "must be a number"],
    ),
    (
        "an indicator listed twice",
        ('id = "hours"', 'id = "sessions"'),
        'id = "sessions"\nlabel = "学习时长"',
        ["id", "'sessions' is listed twice"],
    ),
    (
        "an override of an unknown indicator",
        ("", OVERRIDE.format(ind="attendance", extra="")),
        'indicator = "attendance"',
        ["[override[0]] indicator", "'attendance' is no [[indicator]] id", "ids: sessions"],
    ),
    (
        "an override changing the weight",
        ("", OVERRIDE.format(ind="logbook", extra="weight = 6\n")),
        "weight = 6",
        ["[override[0]] weight", "cannot change in one region"],
    ),
    (
        "an override without a region",
        ("", OVERRIDE.format(ind="logbook", extra="").replace("广东省/肇庆市", " / ")),
        'region = " / "',
        ["[override[0]] region", "must name a region"],
    ),
    (
        "an unknown plausibility rule",
        ("clock_unmeasured = true", "clock_unmeasured = true\nclock_unmeasure = false"),
        "clock_unmeasure = false",
        ["[flags] clock_unmeasure", "did you mean 'clock_unmeasured'"],
    ),
]


@pytest.mark.parametrize("change,blame,words", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_a_mistake_is_refused_naming_file_line_and_key(change, blame, words):
    old, new = change
    text = DEFAULT_RUBRIC + new if old == "" else DEFAULT_RUBRIC.replace(old, new, 1)
    assert text != DEFAULT_RUBRIC
    with pytest.raises(SettingsError) as info:
        load_rubric(text.encode(), NAME)
    message = str(info.value)
    assert message.startswith(f"{NAME}:{line_of(text, blame)}: "), message
    assert "\n" not in message
    for w in words:
        assert w in message, (w, message)


@pytest.mark.parametrize(
    "text,words",
    [
        (DEFAULT_RUBRIC.replace("[rubric]", "[rubrics]"), ["[rubric]", "title, stars and min_coverage"]),
        (DEFAULT_RUBRIC[DEFAULT_RUBRIC.index("[[indicator]]") :], ["missing table [rubric]"]),
        ('[rubric]\ntitle = "空"\n', ["no [[indicator]]"]),
        (DEFAULT_RUBRIC.replace("[rubric]", "[rubric"), ["not valid TOML", "line 5"]),
    ],
    ids=["misspelt [rubric]", "no [rubric]", "no indicators", "not TOML"],
)
def test_a_rubric_missing_a_part_is_refused_naming_the_file_and_the_part(text, words):
    with pytest.raises(SettingsError) as info:
        load_rubric(text.encode(), NAME)
    message = str(info.value)
    assert message.startswith(f"{NAME}") and "\n" not in message
    for w in words:
        assert w in message, (w, message)


# ---- region overrides -----------------------------------------------------------------------

REGIONAL = (
    DEFAULT_RUBRIC
    + """
[[override]]                   # the city asks for 2 log entries a month
region = "广东省/肇庆市"
indicator = "logbook"
steps = [[2, 5], [1, 2]]

[[override]]                   # the county for 8 (written with a full-width slash)
region = "广东省／肇庆市／高要市"
indicator = "logbook"
steps = [[8, 5]]
"""
)
NOVEMBER = parse_period("2026-11")


def logbook_points(rubric: Rubric, region: tuple[str, ...], entries: int) -> float:
    ctx = Context(period=NOVEMBER, days=30, as_of=date(2026, 11, 30), members=30)
    r = rate(rubric, "s", region, Sums(logbook=entries, reported_days=30, online_days=30), ctx)
    return next(s.points for s in r.scores if s.indicator == "logbook")


@pytest.mark.parametrize(
    "region,points",
    [
        (("广东省", "肇庆市", "高要市", "蚬岗镇", "蚬一村"), {1: 0, 2: 0, 4: 0, 8: 5}),  # the longest prefix
        (("广东省", "肇庆市", "四会市", "东城街道", "某村"), {1: 2, 2: 5, 4: 5, 8: 5}),  # the city's
        (("广东省", "肇庆市"), {1: 2, 2: 5, 4: 5, 8: 5}),
        (("广东省", "广州市", "从化区", "某镇", "某村"), {1: 1, 2: 3, 4: 5, 8: 5}),  # the default
        (("广东省", "肇庆", "高要市"), {1: 1, 2: 3, 4: 5, 8: 5}),  # a prefix is whole names, not text
        ((), {1: 1, 2: 3, 4: 5, 8: 5}),
    ],
)
def test_a_region_override_scores_only_the_stations_under_it(region, points):
    rubric = load_rubric(REGIONAL.encode(), NAME)
    assert {n: logbook_points(rubric, region, n) for n in points} == points
    others = {i.id: i.scoring for i in rubric.indicators_for(region) if i.id != "logbook"}
    assert others == {i.id: i.scoring for i in rubric.indicators if i.id != "logbook"}
    assert sum(i.weight for i in rubric.indicators_for(region)) == 100  # totals still compare


# ---- fuzz ------------------------------------------------------------------------------------------

LINES = DEFAULT_RUBRIC.splitlines(keepends=True)
VALUES = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12).map(lambda s: '"' + s.replace("\\", "").replace('"', "") + '"'),
    st.sampled_from(
        ["true", "false", "[]", "[[]]", "[1]", "[[1, 2], [3]]", "{}", "[0, 0]", "nan", "-inf", "1979-05-27"]
    ),
    st.lists(st.integers(-5, 200), max_size=6).map(str),
    st.lists(st.lists(st.floats(-10, 200, allow_nan=False), max_size=3), max_size=4).map(str),
)


@st.composite
def mutated(draw) -> bytes:
    """The default rubric with a few lines dropped, duplicated, swapped or given another value."""
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["drop", "copy", "swap", "value", "key", "bytes"]))
        if how == "drop":
            del lines[i]
        elif how == "copy":
            lines.insert(i, lines[i])
        elif how == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif how == "value" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {draw(VALUES)}\n"
        elif how == "key" and "=" in lines[i]:
            lines[i] = draw(st.sampled_from(["weight", "steps", "linear", "source", "per", "better", "region"])) + (
                " =" + lines[i].split("=", 1)[1]
            )
        else:
            lines.insert(i, draw(st.text(max_size=20)))
        if not lines:
            break
    return "".join(lines).encode()


def loads_or_refuses(raw: bytes) -> None:
    try:
        r = load_rubric(raw, NAME)
    except SettingsError as exc:
        assert str(exc).startswith(NAME) and "\n" not in str(exc), str(exc)
        return
    # what loads can be rated by: finite weights, five increasing cut-offs within reach
    assert math.isfinite(r.max_total) and r.indicators
    assert all(a < b for a, b in itertools.pairwise(r.stars)) and r.stars[0] <= r.max_total
    for i in r.indicators:
        for value in (0.0, 1.0, 1e9):
            assert 0 <= i.scoring.points(value) <= i.weight


@pytest.mark.fuzz
@FUZZ
@given(raw=st.binary(max_size=400))
@example(raw=b"\xff\xfe[rubric]")
@example(raw=b"[rubric]\ntitle = 1\n")
@example(raw=b'[rubric]\ntitle = "t"\n[[indicator]]\n')
def test_any_bytes_load_or_are_refused_with_settings_error(raw):
    loads_or_refuses(raw)


@pytest.mark.fuzz
@FUZZ
@given(raw=mutated())
def test_an_edited_default_loads_or_is_refused_with_settings_error(raw):
    loads_or_refuses(raw)
