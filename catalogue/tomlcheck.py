"""Strict reading of the TOML files people write by hand: ``station.toml``, ``headend.toml``.

Pure: it takes the file's bytes and its name and returns checked values; the program that owns
the file reads it from disk and turns ``SettingsError`` into its own configuration error.

One policy for every such file:

* unknown tables and keys are refused (a typo must not silently fall back to a default), naming
  the file, the line and the nearest known name;
* types are checked as TOML gives them: ``"false"`` is not a boolean, ``5`` is not a table, a
  whole number is accepted where a decimal is asked for, never the other way round;
* numbers must be finite and within the range the setting allows, and the message says it.

Usage::

    doc = Document.parse(raw_bytes, "station.toml")
    sync = doc.table("sync")
    interval = sync.float("interval_s", 300.0, min=10, unit="seconds")
    ...
    doc.finish()            # refuses the tables and keys nobody asked for
    doc.known()             # {"sync": {"interval_s", ...}, ...}: what the docs test checks
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from typing import Any

REQUIRED: Any = object()

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
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
        """The 1-based line where ``[table]`` (or ``key`` inside it) is written, if it can be found."""
        current = ""
        for number, line in enumerate(self._lines, start=1):
            header = _HEADER.match(line)
            if header:
                current = header[1].replace(" ", "")
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
        line = self.line_of(table, key)
        place = f"{self.name}:{line}" if line else self.name
        return f"{place}: [{table}]" + (f" {key}" if key else "")

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

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def _raw(self, key: str, default: Any, kind: str) -> Any:
        if key not in self.asked:
            self.asked.append(key)
        if key not in self._data:
            if default is REQUIRED:
                raise SettingsError(f"{self.doc.where(self.name)}: missing key '{key}' ({kind})")
            return default
        return self._data[key]

    def _fail(self, key: str, problem: str) -> SettingsError:
        return SettingsError(f"{self.doc.where(self.name, key)} {problem}")

    def str(self, key: str, default: Any = REQUIRED, *, choices: tuple[str, ...] = (), max_len: int = 1000) -> str:
        value = self._raw(key, default, "text")
        if not isinstance(value, str):
            raise self._fail(key, f"must be text in quotes, not {_type_name(value)}")
        if choices and value not in choices:
            raise self._fail(key, f"is {value!r}; choose one of " + ", ".join(f'"{c}"' for c in choices))
        if len(value) > max_len:
            raise self._fail(key, f"is longer than {max_len} characters")
        return value

    def bool(self, key: str, default: Any = REQUIRED) -> bool:
        value = self._raw(key, default, "true or false")
        if not isinstance(value, bool):
            raise self._fail(key, f"must be true or false (no quotes), not {_type_name(value)}")
        return value

    def int(
        self, key: str, default: Any = REQUIRED, *, min: int | None = None, max: int | None = None, unit: str = ""
    ) -> int:
        value = self._raw(key, default, "a whole number")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, f"must be a whole number, not {_type_name(value)}")
        self._check_range(key, value, min, max, unit)
        return value

    def float(
        self, key: str, default: Any = REQUIRED, *, min: float | None = None, max: float | None = None, unit: str = ""
    ) -> float:
        value = self._raw(key, default, "a number")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(key, f"must be a number, not {_type_name(value)}")
        if not math.isfinite(value):
            raise self._fail(key, f"is {value}; it must be a finite number{self._range_text(min, max, unit)}")
        self._check_range(key, value, min, max, unit)
        return float(value)

    def str_list(
        self, key: str, default: Any = REQUIRED, *, min_items: int = 0, max_items: int = 1000, max_len: int = 1000
    ) -> tuple[str, ...]:
        value = self._raw(key, default, "a list of texts")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, 'must be a list of texts in quotes, e.g. ["a", "b"]')
        if not min_items <= len(value) <= max_items:
            raise self._fail(key, f"must list {min_items} to {max_items} items, not {len(value)}")
        if any(len(v) > max_len for v in value):
            raise self._fail(key, f"has an item longer than {max_len} characters")
        return tuple(value)

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
                raise SettingsError(
                    f"{self.doc.where(self.name, key)}: unknown key{_nearest(key, self.asked)} "
                    f"(the keys of [{self.name}] are {', '.join(self.asked)}; see README.md)"
                )
