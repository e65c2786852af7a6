"""The collector checks nearly every event with each field rule's compiled test and only explains
the events that fail it (catalogue.checks): a test that passed a value its rule refuses would let
a bad event into the database. Each rule of each event kind is tried on the values either side of
every limit the contract sets (docs/reporting.md) and on every JSON type."""

from __future__ import annotations

import math

import pytest

from catalogue.checks import Bad, Check, Record
from catalogue.events import EVENT_FIELDS

LIMITS = [0, 1, 16, 32, 40, 64, 80, 200, 300, 500, 2000, 9999, 100_000, 86_400, 604_800, 10**9, 10**10, 2**53]
LIMITS += [100 * 365 * 86_400]
NUMBERS = [v for n in LIMITS for v in (n - 1, n, n + 1, n + 0.5, -n, float(n), -float(n) - 0.5)]
SPECIAL = [None, True, False, math.nan, math.inf, -math.inf, 10**400, -0.0]
TEXTS = [c * n for c in "a0A-" for n in sorted({0, *LIMITS[:12], *(n + 1 for n in LIMITS[:12])})]
TEXTS += [
    "kc-yangshu-2026",
    "-kc",
    "kc_a",
    "kc\n",
    "admin",
    "tv",
    "TV",
    "0123456789abcdef",
    "0123456789abcdeF",
    "b0" * 16,
    "2026-12-02T09:41:07+08:00",
    "2026-12-02T09:41:07Z",
    "2026-12-02T09:41:07",
    "2026-12-02",
    "1970-01-01T00:00:00+00:00",
    "1969-12-31T23:59:59+08:00",
    "2099-12-31T23:59:59+08:00",
    "2100-01-01T00:00:00+08:00",
    "2026-02-30T00:00:00+08:00",
    "2026-12-02T09:41:07.123456+08:00" + " " * 8,
]
COURSE = {"id": "kc-yangshu-2026", "title": "雨季养鹅", "watched_s": 10.0}
CONTAINERS = [
    [],
    ["张三"],
    ["a" * 41],
    ["a"] * 500,
    ["a"] * 501,
    [None],
    [COURSE],
    [COURSE] * 200,
    [COURSE] * 201,
    [{**COURSE, "watched_s": -1}],
    [{**COURSE, "extra": 1}],
    [{"id": "kc-a", "title": "t"}],
    {},
    {"ok": True, "note": ""},
    {"ok": 1, "note": ""},
    {"ok": True, "note": "a" * 201},
    {"ok": True, "note": "", "extra": 1},
    {"ok": True},
    COURSE,
]
VALUES = NUMBERS + SPECIAL + TEXTS + CONTAINERS

RULES = sorted(
    {
        f"{kind}.{name}": check
        for kind, record in EVENT_FIELDS.items()
        for name, check in {**record.required, **record.optional}.items()
    }.items()
)


def passes(check: Check | Record, value: object) -> bool:
    try:
        check.explain(value)
    except Bad:
        return False
    return True


@pytest.mark.parametrize("name,check", RULES, ids=[r[0] for r in RULES])
def test_each_rules_compiled_test_passes_exactly_what_the_rule_passes(name, check):
    compiled = eval(f"lambda v: {check.test.replace('{v}', 'v')}", dict(check.env))
    wrong = [v for v in VALUES if compiled(v) != passes(check, v)]
    assert not wrong, f"{name}: the compiled test and the rule disagree on {[repr(v)[:40] for v in wrong]}"


def test_a_record_with_a_field_missing_or_one_too_many_fails_its_compiled_test():
    good = {"seq": 1, "ts": "2026-12-02T09:41:07+08:00", "kind": "logbook", "text": "学习", "author": "王"}
    record = EVENT_FIELDS["logbook"]
    assert record.good(good) and passes(record, good)
    for name in good:
        less = {k: v for k, v in good.items() if k != name}
        assert not record.good(less) and not passes(record, less), name
    for extra in ({"mono": 1.0}, {"boot": "b0" * 16}, {"mono": 1.0, "boot": "b0" * 16}):
        assert record.good({**good, **extra}), extra
    for extra in ({"colour": "red"}, {"mono": -1}, {"boot": "B0" * 16}, {"mono": 1.0, "colour": 1}):
        assert not record.good({**good, **extra}) and not passes(record, {**good, **extra}), extra
