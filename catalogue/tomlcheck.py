"""Strict reading of the TOML files people write by hand: ``station.toml``, ``headend.toml``, the
headend's ``playlists/*.toml`` and ``notices/*.toml``, and courseware sidecars ``NAME.toml``.

Pure: it takes the file's bytes and its name and returns checked values; the program that owns
the file reads it from disk and turns ``SettingsError`` into its own configuration error.

One policy for every such file:

* unknown tables and keys are refused (a typo must not silently fall back to a default), naming
  the file, the line and the nearest known name;
* text may not hold a NUL character (no path, URL or name can);
* types are checked as TOML gives them: ``"false"`` is not a boolean, ``5`` is not a table, a
  whole number is accepted where a decimal is asked for, never the other way round;
* numbers must be finite and within the range the setting allows, and the message says it;
* dates and times (TOML dates, local or offset date-times, or ISO text) must fall in years
  2000-2099; a time without an offset is China time.

Usage::

    doc = Document.parse(raw_bytes, "station.toml")
    sync = doc.table("sync")
    interval = sync.float("interval_s", 300.0, min=10, unit="seconds")
    ...
    doc.finish()            # refuses the tables and keys nobody asked for
    doc.known()             # {"sync": {"interval_s", ...}, ...}: what the docs test checks

A file whose keys sit at the top (a playlist, a sidecar) is read through ``doc.root()``; its
sub-tables through ``table.table("audience")`` and arrays of tables (``[[schedule.weekly]]``)
through ``table.tables("weekly")``.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from datetime import date, datetime, time
from typing import Any

from catalogue.display import CHINA

REQUIRED: Any = object()
_NUL = "holds a NUL character (\\u0000); no setting can hold one, remove it"
FIRST_DAY = date(2000, 1, 1)  # the dates a settings file may give (China time)
LAST_DAY = date(2099, 12, 31)

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")


class SettingsError(ValueError):
    """A settings file is unreadable or a value is wrong: one line naming file, line and key."""


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "a whole number",
        float: "a decimal number",
        str: "text",
        list: "a list",
        dict: "a table",
        date: "a date",
        datetime: "a date and time",
        time: "a time of day",
    }.get(type(value), type(value).__name__)


def _nearest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class Document:
    """A parsed settings file that remembers which tables and keys were asked for."""

    def __init__(self, name: str, text: str, data: dict) -> None:
        self.name = name
        self._lines = text.splitlines()
        self._data = data
        self._tables: dict[str, Table] = {}
        self._root: Table | None = None

    @classmethod
    def parse(cls, raw: bytes, name: str) -> Document:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SettingsError(f"{name}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{name}: not valid TOML ({exc})") from exc
        return cls(name, text, data)

    def line_of(self, table: str, key: str | None = None) -> int | None:
        """The 1-based line where ``[table]`` (or ``key`` inside it) is written, if it can be found;
        the n-th ``[[a.b]]`` is table ``a.b[n]`` (from 0)."""
        current = ""
        counts: dict[str, int] = {}
        for number, line in enumerate(self._lines, start=1):
            array = _ARRAY_HEADER.match(line)
            header = array or _HEADER.match(line)
            if header:
                current = header[1].replace(" ", "")
                if array:
                    counts[current] = counts.get(current, -1) + 1
                    current = f"{current}[{counts[current]}]"
                if key is None and current == table:
                    return number
                continue
            m = _KEY.match(line)
            if m:
                name = m[1].strip("\"'")
                if key is None and current == "" and name == table:
                    return number  # "table = 5" at the top level
                if key is not None and current == table and name == key:
                    return number
        return None

    def where(self, table: str, key: str | None = None) -> str:
        """``file:line: [table] key``; top-level keys (table ``""``) are ``file:line: key``."""
        if not table:
            line = self.line_of(key) if key else None
            place = f"{self.name}:{line}" if line else self.name
            return f"{place}: {key}" if key else place
        line = self.line_of(table, key)
        place = f"{self.name}:{line}" if line else self.name
        return f"{place}: [{table}]" + (f" {key}" if key else "")

    def root(self) -> Table:
        """The top-level keys as one table (for files without ``[tables]`` of settings)."""
        if self._root is None:
            self._root = Table(self, "", self._data)
        return self._root

    def table(self, name: str, *, required: bool = False) -> Table:
        """The table ``[name]``; an empty one when absent and not required."""
        if name in self._tables:
            return self._tables[name]
        if name not in self._data:
            if required:
                raise SettingsError(f"{self.name}: missing table [{name}]")
            value: Any = {}
        else:
            value = self._data[name]
        if not isinstance(value, dict):
            raise SettingsError(
                f"{self.where(name)} must be a table (a [{name}] header with keys under it), not {_type_name(value)}"
            )
        self._tables[name] = Table(self, name, value)
        return self._tables[name]

    def finish(self) -> None:
        """Refuse every table and key that nothing asked for (typos, settings that do not exist)."""
        if self._root is not None:
            self._root.finish()
            return
        known = list(self._tables)
        for name in self._data:
            if name not in self._tables:
                line = self.line_of(name)
                place = f"{self.name}:{line}" if line else self.name
                raise SettingsError(
                    f"{place}: unknown table [{name}]{_nearest(name, known)} (the tables are "
                    + ", ".join(f"[{t}]" for t in known)
                    + ")"
                )
        for table in self._tables.values():
            table.finish()

    def known(self) -> dict[str, set[str]]:
        return {name: set(t.asked) for name, t in self._tables.items()}


class Table:
    """One table of a settings file; each getter checks type and range and records the key."""

    def __init__(self, doc: Document, name: str, data: dict) -> None:
        self.doc = doc
        self.name = name
        self._data = data
        self.asked: list[str] = []
        self._children: list[Table] = []

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def _child_name(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def table(self, key: str) -> Table:
        """The sub-table ``key`` (``[name.key]``, or ``[key]`` under the root); empty when absent."""
        value = self._raw(key, {}, "a table")
        if not isinstance(value, dict):
            raise self._fail(
                key, f"must be a table ([{self._child_name(key)}] with keys under it), not {_type_name(value)}"
            )
        child = Table(self.doc, self._child_name(key), value)
        self._children.append(child)
        return child

    def tables(self, key: str, *, max_items: int = 1000) -> list[Table]:
        """The array of tables ``key`` (``[[name.key]]`` headers); empty when absent."""
        value = self._raw(key, [], "a list of tables")
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self._fail(key, f"must be a list of tables, each under a [[{self._child_name(key)}]] header")
        if len(value) > max_items:
            raise self._fail(key, f"has {len(value)} entries; at most {max_items}")
        children = [Table(self.doc, f"{self._child_name(key)}[{i}]", v) for i, v in enumerate(value)]
        self._children += children
        return children

    def _raw(self, key: str, default: Any, kind: str) -> Any:
        if key not in self.asked:
            self.asked.append(key)
        if key not in self._data:
            if default is REQUIRED:
                typo = [k for k in self._data if k not in self.asked and k != key]
                close = difflib.get_close_matches(key, typo, n=1, cutoff=0.6)
                if close:  # a misspelt required key: name the line of the misspelling
                    raise SettingsError(
                        f"{self.doc.where(self.name, close[0])}: unknown key; did you mean '{key}'? ({key} is required: {kind})"
                    )
                raise SettingsError(f"{self.doc.where(self.name)}: missing key '{key}' ({kind})")
            return default
        return self._data[key]

    def _absent(self, key: str) -> bool:
        """The key is not in the file: its getter returns the caller's default as given (so
        ``None`` or ``0`` can mean "not set" without passing the checks a value must pass)."""
        return key not in self._data

    def _fail(self, key: str, problem: str) -> SettingsError:
        return SettingsError(f"{self.doc.where(self.name, key)} {problem}")

    def fail(self, key: str | None, problem: str) -> SettingsError:
        """A SettingsError for a rule of the caller's (``key`` None: about the whole table)."""
        if key is None:
            return SettingsError(f"{self.doc.where(self.name)}: {problem}")
        return self._fail(key, problem)

    def str(self, key: str, default: Any = REQUIRED, *, choices: tuple[str, ...] = (), max_len: int = 1000) -> str:
        value = self._raw(key, default, "text")
        if self._absent(key):
            return value
        if not isinstance(value, str):
            raise self._fail(key, f"must be text in quotes, not {_type_name(value)}")
        if "\x00" in value:
            raise self._fail(key, _NUL)
        if choices and value not in choices:
            raise self._fail(key, f"is {value!r}; choose one of " + ", ".join(f'"{c}"' for c in choices))
        if len(value) > max_len:
            raise self._fail(key, f"is longer than {max_len} characters")
        return value

    def bool(self, key: str, default: Any = REQUIRED) -> bool:
        value = self._raw(key, default, "true or false")
        if self._absent(key):
            return value
        if not isinstance(value, bool):
            raise self._fail(key, f"must be true or false (no quotes), not {_type_name(value)}")
        return value

    def int(
        self, key: str, default: Any = REQUIRED, *, min: int | None = None, max: int | None = None, unit: str = ""
    ) -> int:
        value = self._raw(key, default, "a whole number")
        if self._absent(key):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, f"must be a whole number, not {_type_name(value)}")
        self._check_range(key, value, min, max, unit)
        return value

    def float(
        self, key: str, default: Any = REQUIRED, *, min: float | None = None, max: float | None = None, unit: str = ""
    ) -> float:
        value = self._raw(key, default, "a number")
        if self._absent(key):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(key, f"must be a number, not {_type_name(value)}")
        if not math.isfinite(value):
            raise self._fail(key, f"is {value}; it must be a finite number{self._range_text(min, max, unit)}")
        self._check_range(key, value, min, max, unit)
        return float(value)

    def number_list(self, key: str, default: Any = REQUIRED, *, size: int, example: str) -> tuple[float, ...]:
        """Exactly ``size`` numbers, e.g. ``[40, 55, 70, 80, 90]``."""
        value = self._raw(key, default, f"a list of {size} numbers")
        if self._absent(key):
            return value if value is None else tuple(value)
        good = isinstance(value, list) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value
        )
        if not good or len(value) != size:
            raise self._fail(key, f"must be a list of {size} numbers, e.g. {example}")
        return tuple(float(x) for x in value)

    def number_pairs(
        self, key: str, default: Any = REQUIRED, *, max_items: int = 50, unit: str = ""
    ) -> tuple[tuple[float, float], ...]:
        """A list of ``[a, b]`` number pairs (e.g. ``[[2, 20], [1, 10]]``)."""
        value = self._raw(key, default, "a list of [number, number] pairs")
        if self._absent(key):
            return value if value is None else tuple(value)
        good = isinstance(value, list) and all(
            isinstance(p, list)
            and len(p) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in p)
            for p in value
        )
        if not good:
            raise self._fail(key, f"must be a list of [number, number] pairs, e.g. [[2, 20], [1, 10]]{unit}")
        if not 1 <= len(value) <= max_items:
            raise self._fail(key, f"must list 1 to {max_items} pairs, not {len(value)}")
        return tuple((float(a), float(b)) for a, b in value)

    def str_list(
        self, key: str, default: Any = REQUIRED, *, min_items: int = 0, max_items: int = 1000, max_len: int = 1000
    ) -> tuple[str, ...]:
        value = self._raw(key, default, "a list of texts")
        if self._absent(key):
            return value if value is None else tuple(value)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, 'must be a list of texts in quotes, e.g. ["a", "b"]')
        if not min_items <= len(value) <= max_items:
            raise self._fail(key, f"must list {min_items} to {max_items} items, not {len(value)}")
        if any(len(v) > max_len for v in value):
            raise self._fail(key, f"has an item longer than {max_len} characters")
        if any("\x00" in v for v in value):
            raise self._fail(key, f"has an item that {_NUL}")
        return tuple(value)

    def int_list(
        self, key: str, default: Any = REQUIRED, *, min: int, max: int, min_items: int = 0, max_items: int = 1000
    ) -> tuple[int, ...]:
        value = self._raw(key, default, "a list of whole numbers")
        if self._absent(key):
            return value if value is None else tuple(value)
        if (
            not isinstance(value, list)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or not all(min <= v <= max for v in value)
        ):
            raise self._fail(key, f"must be a list of whole numbers from {min} to {max}, e.g. [{min}, {max}]")
        if not min_items <= len(value) <= max_items:
            raise self._fail(key, f"must list {min_items} to {max_items} items, not {len(value)}")
        return tuple(value)

    def moment(self, key: str, default: Any = None, *, end_of_day: bool = False) -> datetime | None:
        """A date or a date and time (TOML's, or ISO text), as an aware datetime: China time when
        no offset is given; a bare date is the start of that day, or with ``end_of_day`` its last
        second. Years 2000-2099 only."""
        value = self._raw(key, default, "a date like 2026-11-23 or a date and time like 2026-11-23T19:30")
        if value is None:
            return None
        hint = "must be a date like 2026-11-23 or a date and time like 2026-11-23T19:30"
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
            except ValueError:
                raise self._fail(key, f"is {value[:40]!r}; it {hint}") from None
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=CHINA)
            day = value.date()
        elif isinstance(value, date):
            moment, day = datetime.combine(value, time(23, 59, 59) if end_of_day else time(0), CHINA), value
        else:
            raise self._fail(key, f"{hint} (no quotes needed), not {_type_name(value)}")
        self._check_day(key, day)
        return moment

    def day(self, key: str, default: Any = None) -> date | None:
        """A date (TOML's, or ISO text like "2026-11-23"), years 2000-2099; None when absent."""
        value = self._raw(key, default, "a date like 2026-11-23")
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise self._fail(key, f"is {value[:40]!r}; it must be a date like 2026-11-23") from None
        if isinstance(value, datetime) or not isinstance(value, date):
            raise self._fail(key, f"must be a date like 2026-11-23, not {_type_name(value)}")
        self._check_day(key, value)
        return value

    def _check_day(self, key: str, day: date) -> None:
        if not FIRST_DAY <= day <= LAST_DAY:
            raise self._fail(key, f"= {day.isoformat()} is out of range; give a date from {FIRST_DAY} to {LAST_DAY}")

    @staticmethod
    def _range_text(min: float | None, max: float | None, unit: str) -> str:
        u = f" {unit}" if unit else ""
        if min is not None and max is not None:
            return f" from {min:g} to {max:g}{u}"
        if min is not None:
            return f" of at least {min:g}{u}"
        if max is not None:
            return f" of at most {max:g}{u}"
        return ""

    def _check_range(self, key: str, value: float, min: float | None, max: float | None, unit: str) -> None:
        if (min is not None and value < min) or (max is not None and value > max):
            raise self._fail(key, f"= {value:g} is out of range; allowed{self._range_text(min, max, unit)}")

    def finish(self) -> None:
        for key in self._data:
            if key not in self.asked:
                of = f" of [{self.name}]" if self.name else ""
                raise SettingsError(
                    f"{self.doc.where(self.name, key)}: unknown key{_nearest(key, self.asked)} "
                    f"(the keys{of} are {', '.join(self.asked)}; see README.md)"
                )
        for child in self._children:
            child.finish()
