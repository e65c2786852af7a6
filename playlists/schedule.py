"""Programme schedules (节目单): dated slots and weekly recurrences, in China Standard Time.

A playlist may carry a schedule; the station plays it like a TV channel. Pure: expansion of
recurrences and overlap checks, no clock reads (callers pass ``now``).

JSON form inside a playlist::

    "schedule": {
      "slots":  [{"course": "c-…", "start": "2026-11-23T19:30:00+08:00"}],
      "weekly": [{"course": "c-…", "days": [1, 3, 5], "time": "19:30",
                  "from": "2026-11-01", "until": "2026-12-31"}],
      "live":   [{"id": "dangke-1201", "title": "…", "start": "2026-12-01T19:30:00+08:00",
                  "duration_s": 3600, "path": "live/dangke-1201/master.m3u8", "replay": "c-…"}]
    }

``days`` are ISO weekdays (1 = Monday … 7 = Sunday); ``from``/``until`` are optional, inclusive
dates in China time.

``live`` lists live classes (网络党课): streamed from the headend at their time under ``path``
(always ``live/<id>/master.m3u8``: the signed entry names the stream, the segments are not
signed), and once recorded, kept as the course ``replay`` (回看). Written only when present, so a
playlist without live classes keeps its bytes; a station that does not know the key ignores it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from catalogue.display import CHINA
from catalogue.ids import ID_RULE, is_id
from playlists.errors import FormatError
from playlists.times import parse_moment

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_EXPAND_DAYS = 62
LIVE_MIN_S, LIVE_MAX_S = 60, 12 * 3600  # a live class lasts a minute to twelve hours


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


def live_path(live_id: str) -> str:
    """The repository-relative path of a live class's master playlist."""
    return f"live/{live_id}/master.m3u8"


@dataclass(frozen=True)
class Live:
    """A live class: streamed at ``start`` for ``duration_s``; ``replay`` its recording's course."""

    id: str
    title: str
    start: datetime  # aware
    duration_s: float
    replay: str | None = None

    @property
    def path(self) -> str:
        return live_path(self.id)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_s)

    def to_dict(self) -> dict:
        d: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "start": self.start.astimezone(CHINA).isoformat(),
            "duration_s": self.duration_s,
            "path": self.path,
        }
        if self.replay:
            d["replay"] = self.replay
        return d

    @classmethod
    def from_dict(cls, d: Any, what: str) -> Live:
        if not isinstance(d, dict):
            raise FormatError(f"{what}: expected an object")
        if not is_id(d.get("id")):
            raise FormatError(f"{what}.id: {ID_RULE}")
        title = d.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > 200:
            raise FormatError(f"{what}.title: 1-200 characters of text")
        duration = d.get("duration_s")
        if (
            not isinstance(duration, (int, float))
            or isinstance(duration, bool)
            or not LIVE_MIN_S <= duration <= LIVE_MAX_S
        ):
            raise FormatError(f"{what}.duration_s: seconds from {LIVE_MIN_S} to {LIVE_MAX_S}")
        if d.get("path") != live_path(d["id"]):
            raise FormatError(f"{what}.path: must be {live_path(d['id'])!r}")
        replay = d.get("replay")
        if replay is not None and not is_id(replay):
            raise FormatError(f"{what}.replay: a course id ({ID_RULE})")
        return cls(
            id=d["id"],
            title=title,
            start=parse_local_datetime(d.get("start"), f"{what}.start"),
            duration_s=float(duration),
            replay=replay,
        )


@dataclass(frozen=True)
class Occurrence:
    start: datetime
    course: str


@dataclass(frozen=True)
class Schedule:
    slots: tuple[Slot, ...] = ()
    weekly: tuple[Weekly, ...] = ()
    live: tuple[Live, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.slots or self.weekly or self.live)

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"slots": [s.to_dict() for s in self.slots], "weekly": [w.to_dict() for w in self.weekly]}
        if self.live:
            d["live"] = [x.to_dict() for x in self.live]
        return d

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
        live = tuple(Live.from_dict(x, f"{what}.live[{i}]") for i, x in enumerate(_list(d.get("live"), f"{what}.live")))
        if len({x.id for x in live}) != len(live):
            raise FormatError(f"{what}.live: a live class is listed twice")
        return cls(slots=tuple(slots), weekly=tuple(weekly), live=live)

    def lives(self, start: datetime, end: datetime) -> list[Live]:
        """The live classes on air at some moment of [start, end), by start."""
        return sorted((x for x in self.live if x.start < end and x.end > start), key=lambda x: (x.start, x.id))

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
