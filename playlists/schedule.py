"""Programme schedules (节目单): dated slots and weekly recurrences, in China Standard Time.

A playlist may carry a schedule; the station plays it like a TV channel. Pure: expansion of
recurrences and overlap checks, no clock reads (callers pass ``now``).

JSON form inside a playlist::

    "schedule": {
      "slots":  [{"course": "c-…", "start": "2026-11-23T19:30:00+08:00"}],
      "weekly": [{"course": "c-…", "days": [1, 3, 5], "time": "19:30",
                  "from": "2026-11-01", "until": "2026-12-31"}]
    }

``days`` are ISO weekdays (1 = Monday … 7 = Sunday); ``from``/``until`` are optional, inclusive
dates in China time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from catalogue.display import CHINA
from playlists.errors import FormatError
from playlists.times import parse_moment

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_EXPAND_DAYS = 62


@dataclass(frozen=True)
class Slot:
    course: str
    start: datetime  # aware

    def to_dict(self) -> dict:
        return {"course": self.course, "start": self.start.astimezone(CHINA).isoformat()}


@dataclass(frozen=True)
class Weekly:
    course: str
    days: tuple[int, ...]
    at: time
    first: date | None = None
    last: date | None = None

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"course": self.course, "days": list(self.days), "time": self.at.strftime("%H:%M")}
        if self.first:
            d["from"] = self.first.isoformat()
        if self.last:
            d["until"] = self.last.isoformat()
        return d


@dataclass(frozen=True)
class Occurrence:
    start: datetime
    course: str


@dataclass(frozen=True)
class Schedule:
    slots: tuple[Slot, ...] = ()
    weekly: tuple[Weekly, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.slots or self.weekly)

    def to_dict(self) -> dict:
        return {"slots": [s.to_dict() for s in self.slots], "weekly": [w.to_dict() for w in self.weekly]}

    @classmethod
    def from_dict(cls, d: Any, what: str = "schedule") -> Schedule:
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise FormatError(f"{what}: expected an object")
        slots, weekly = [], []
        for i, s in enumerate(_list(d.get("slots"), f"{what}.slots")):
            w = f"{what}.slots[{i}]"
            if not isinstance(s, dict) or not isinstance(s.get("course"), str):
                raise FormatError(f"{w}: needs a course id")
            slots.append(Slot(course=s["course"], start=parse_local_datetime(s.get("start"), w)))
        for i, r in enumerate(_list(d.get("weekly"), f"{what}.weekly")):
            w = f"{what}.weekly[{i}]"
            if not isinstance(r, dict) or not isinstance(r.get("course"), str):
                raise FormatError(f"{w}: needs a course id")
            days = r.get("days")
            if (
                not isinstance(days, list)
                or not days
                or not all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 7 for x in days)
            ):
                raise FormatError(f"{w}: days must list weekdays 1 (Monday) to 7 (Sunday)")
            m = _TIME.match(str(r.get("time", "")))
            if not m:
                raise FormatError(f"{w}: time must be HH:MM (24-hour, China time)")
            weekly.append(
                Weekly(
                    course=r["course"],
                    days=tuple(sorted(set(days))),
                    at=time(int(m.group(1)), int(m.group(2))),
                    first=_date(r.get("from"), f"{w}.from"),
                    last=_date(r.get("until"), f"{w}.until"),
                )
            )
        return cls(slots=tuple(slots), weekly=tuple(weekly))

    def occurrences(self, start: datetime, end: datetime) -> list[Occurrence]:
        """Every programme start in [start, end), sorted by time."""
        out = [Occurrence(s.start, s.course) for s in self.slots if start <= s.start < end]
        if self.weekly:
            day = start.astimezone(CHINA).date()
            last_day = min(end.astimezone(CHINA).date(), day + timedelta(days=MAX_EXPAND_DAYS))
            while day <= last_day:
                for r in self.weekly:
                    if (
                        day.isoweekday() in r.days
                        and (r.first is None or day >= r.first)
                        and (r.last is None or day <= r.last)
                    ):
                        t = datetime.combine(day, r.at, CHINA)
                        if start <= t < end:
                            out.append(Occurrence(t, r.course))
                day += timedelta(days=1)
        return sorted(out, key=lambda o: (o.start, o.course))


def _list(value: Any, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FormatError(f"{what}: expected a list")
    return value


def parse_local_datetime(value: Any, what: str) -> datetime:
    """ISO 8601 date-time; without an offset it is China time."""
    text = value if isinstance(value, datetime) else str(value)
    return parse_moment(text, what, naive=CHINA, hint="a date and time like 2026-11-23T19:30")


def _date(value: Any, what: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise FormatError(f"{what}: {value!r} is not a date like 2026-11-23") from exc


def overlaps(occurrences: list[Occurrence], durations_s: dict[str, float]) -> list[tuple[Occurrence, Occurrence]]:
    """Pairs of programmes whose times overlap (each lasts its course's duration)."""
    ordered = sorted(occurrences, key=lambda o: o.start)
    pairs = []
    for i, a in enumerate(ordered):
        a_end = a.start + timedelta(seconds=durations_s.get(a.course, 0))
        for b in ordered[i + 1 :]:
            if b.start >= a_end:
                break
            pairs.append((a, b))
    return pairs
