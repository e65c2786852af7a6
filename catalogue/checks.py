"""Field checks for the JSON a station sends (``catalogue.events``), each rule written once and
used two ways:

- ``Check.explain(value)`` returns for a good value and raises ``Bad`` saying what is wrong;
- ``Check.test`` is the same rule as a Python expression over ``{v}``, true exactly for a good
  value. ``record`` compiles the tests of all its fields into one function (``Record.good``), so a
  good record — nearly every record the collector reads — is checked without a call per field or
  a field path spelt out. Only a record that fails ``good`` is walked by ``Record.explain``, in
  the contract's order (required fields as listed, then the others as sent), to name its first
  bad field.

Pure: no I/O."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from catalogue.ids import ID_PATTERN, ID_RULE, is_id

FIRST_YEAR, LAST_YEAR = 1970, 2099  # a clock that never was set, to the end of the century


class Bad(Exception):
    """A check's refusal. ``where`` (``.name`` and ``[i]`` steps) is filled in by each enclosing
    record and list on the way out."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where


_MISSING = object()
_names = itertools.count()


def _name(prefix: str) -> str:
    """A fresh name for a value a compiled test refers to."""
    return f"_{prefix}{next(_names)}"


@dataclass(frozen=True)
class Check:
    explain: Callable[[Any], None]  # returns, or raises Bad
    test: str  # an expression over {v}: true exactly when ``explain`` returns
    env: Mapping[str, Any] = field(default_factory=dict)  # the names ``test`` uses

    def __call__(self, v: Any) -> None:
        self.explain(v)


def _is_number(v: Any) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    return isinstance(v, int) and not isinstance(v, bool)  # (an int too big for a float is still finite)


def integer(lo: int, hi: int) -> Check:
    def explain(v: Any) -> None:
        if not isinstance(v, int) or isinstance(v, bool):
            raise Bad(f"must be a whole number ({lo}–{hi})")
        if not lo <= v <= hi:
            raise Bad(f"{v} is out of range ({lo}–{hi})")

    return Check(explain, f"(type({{v}}) is int and {lo!r} <= {{v}} <= {hi!r})")


def number(lo: float, hi: float) -> Check:
    def explain(v: Any) -> None:
        if not _is_number(v):
            raise Bad(f"must be a number ({lo}–{hi})")
        if not lo <= v <= hi:
            raise Bad(f"{v} is out of range ({lo}–{hi})")

    # NaN and ±inf fail the range (every range is finite)
    return Check(explain, f"((type({{v}}) is float or type({{v}}) is int) and {lo!r} <= {{v}} <= {hi!r})")


def _boolean(v: Any) -> None:
    if not isinstance(v, bool):
        raise Bad("must be true or false")


boolean = Check(_boolean, "({v} is True or {v} is False)")


def text(limit: int, pattern: re.Pattern | None = None, rule: str = "") -> Check:
    def explain(v: Any) -> None:
        if not isinstance(v, str):
            raise Bad(f"must be a string of at most {limit} characters")
        if len(v) > limit:
            raise Bad(f"is {len(v)} characters long, at most {limit}")
        if pattern is not None and not pattern.match(v):
            raise Bad(f"must be {rule}")

    test = f"(type({{v}}) is str and len({{v}}) <= {limit})"
    if pattern is None:
        return Check(explain, test)
    p = _name("pattern")
    return Check(explain, f"({test} and {p}.match({{v}}) is not None)", {p: pattern})


def _ident(v: Any) -> None:
    if not is_id(v):
        raise Bad(f"must be an id: {ID_RULE}")


ident = Check(_ident, "(type({v}) is str and _ID_PATTERN.match({v}) is not None)", {"_ID_PATTERN": ID_PATTERN})


def moment_of(v: Any) -> datetime:
    if not isinstance(v, str) or len(v) > 40:
        raise Bad("must be an ISO 8601 time with its offset, e.g. 2026-12-02T09:41:07+08:00")
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise Bad(f"{v!r} is not an ISO 8601 time, e.g. 2026-12-02T09:41:07+08:00") from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise Bad(f"{v!r} has no UTC offset (write +08:00)")
    # A box without a real-time clock boots at 1970-01-01: its events are still its events (the
    # headend corrects or marks their times, catalogue.clocks); only nonsense years are refused.
    if not FIRST_YEAR <= dt.year <= LAST_YEAR:
        raise Bad(f"{v!r}: the year must be {FIRST_YEAR}–{LAST_YEAR}")
    return dt


def _is_moment(v: Any) -> bool:
    """``moment_of(v)`` would return (``fromisoformat`` gives a fixed offset whenever it gives a
    zone, so ``utcoffset()`` need not be asked)."""
    if type(v) is not str or len(v) > 40:
        return False
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        return False
    return dt.tzinfo is not None and FIRST_YEAR <= dt.year <= LAST_YEAR


moment = Check(moment_of, "_is_moment({v})", {"_is_moment": _is_moment})


def nullable(check: Check) -> Check:
    def explain(v: Any) -> None:
        if v is not None:
            check.explain(v)

    return Check(explain, f"({{v}} is None or {check.test})", check.env)


def one_of(*choices: str) -> Check:
    def explain(v: Any) -> None:
        if v not in choices or not isinstance(v, str):
            raise Bad(f"must be one of {', '.join(choices)}")

    return Check(explain, f"(type({{v}}) is str and {{v}} in {choices!r})")


anything = Check(lambda v: None, "True")


def listing(item: Check, limit: int) -> Check:
    def explain(v: Any) -> None:
        if not isinstance(v, list):
            raise Bad(f"must be a list of at most {limit} items")
        if len(v) > limit:
            raise Bad(f"has {len(v)} items, at most {limit}")
        for i, x in enumerate(v):
            try:
                item.explain(x)
            except Bad as exc:
                exc.where = f"[{i}]{exc.where}"
                raise

    y = _name("item")
    each = "" if item.test == "True" else f" and all({item.test.replace('{v}', y)} for {y} in {{v}})"
    return Check(explain, f"(type({{v}}) is list and len({{v}}) <= {limit}{each})", item.env)


@dataclass(frozen=True)
class Record:
    """A JSON object's fields: ``required`` (in the order their faults are named), ``optional``;
    any other field is refused. ``good`` is the compiled test, ``explain`` names the first fault."""

    required: Mapping[str, Check]
    optional: Mapping[str, Check]
    good: Callable[[dict], bool]

    def explain(self, v: dict) -> None:
        name: Any = ""
        try:
            for name, check in self.required.items():
                value = v.get(name, _MISSING)
                if value is _MISSING:
                    raise Bad("is missing")
                check.explain(value)
            if len(v) > len(self.required):  # every required field is there: the rest are extra
                for name, value in v.items():
                    if name in self.required:
                        continue
                    check = self.optional.get(name)
                    if check is None:
                        name = str(name)[:64]
                        raise Bad("is not a field of this record (unknown fields are refused)")
                    check.explain(value)
        except Bad as exc:
            exc.where = f".{name}{exc.where}"
            raise


def fields(required: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> Record:
    """The ``Record`` of these fields, its ``good`` compiled: one function that reads each field
    once and is true exactly when ``explain`` returns (for a dict)."""
    optional = dict(optional or {})
    env: dict[str, Any] = {}
    lines = ["def good(r):", "    try:"]
    for name, check in required.items():
        env.update(check.env)
        lines += [
            f"        v = r[{name!r}]",
            f"        if not {check.test.replace('{v}', 'v')}:",
            "            return False",
        ]
    lines += ["    except KeyError:", "        return False", "    n = 0"]
    for name, check in optional.items():
        env.update(check.env)
        lines += [
            f"    if {name!r} in r:",
            f"        v = r[{name!r}]",
            f"        if not {check.test.replace('{v}', 'v')}:",
        ]
        lines += ["            return False", "        n += 1"]
    lines.append(f"    return len(r) == {len(required)} + n  # no field but these")
    exec("\n".join(lines), env)  # source built above from this module's own tests, never from input
    return Record(dict(required), optional, env["good"])


def record(required: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> Check:
    """A field holding a JSON object of these fields."""
    r = fields(required, optional)

    def explain(v: Any) -> None:
        if not isinstance(v, dict):
            raise Bad("must be an object")
        r.explain(v)

    g = _name("record")
    return Check(explain, f"(type({{v}}) is dict and {g}({{v}}))", {g: r.good})
