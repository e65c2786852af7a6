"""Clock correction of a report batch (docs/reporting.md "Clocks"), pure: from the batch, the
moment the headend received it, the boots measured at earlier uploads and the station's enrolment
time to each event's corrected time, its China day and whether the time is uncertain.

- the batch's own boot: ``R − (batch.mono − event.mono)`` (the monotonic clock survives a wall
  clock stepped mid-boot);
- an earlier boot measured at an earlier upload: ``R₀ − (mono₀ − event.mono)``;
- otherwise (an earlier unmeasured boot, or a line without ``mono``): the raw ``ts`` when it lies
  in [enrolment, the current boot's start] and the newest measured offset is within
  ``TRUSTED_OFFSET_S``; else ``time_uncertain``, placed at the nearest moment of that range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import NamedTuple

from catalogue.events import Batch, Event

CHINA = timezone(timedelta(hours=8), "CST")
TRUSTED_OFFSET_S = 600.0


@dataclass(frozen=True)
class Measure:
    """One upload's reading of a boot's clocks: received at ``received`` (headend time) while the
    box's monotonic clock read ``mono``; ``offset_s`` = headend time − box wall clock."""

    boot: str
    received: datetime
    mono: float
    offset_s: float


class Placed(NamedTuple):  # a tuple: made once per event, 500 a batch
    at: str  # corrected, UTC, to the second: 2026-12-02T01:41:07Z
    day: str  # its China date: 2026-12-02
    uncertain: bool


@dataclass(frozen=True)
class Correction:
    measure: Measure  # this upload's reading of the batch's boot (to store)
    events: tuple[Placed, ...]  # one per batch event, in order

    @property
    def offset_s(self) -> float:
        return self.measure.offset_s

    @property
    def uncertain(self) -> int:
        return sum(p.uncertain for p in self.events)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_S, _CHINA_S = 86400, 8 * 3600
_EPOCH_ORDINAL = EPOCH.toordinal()
_HOUR_MINUTE = [f"T{m // 60:02d}:{m % 60:02d}:" for m in range(1440)]  # the text of each minute of a day …
_SECOND = [f"{s:02d}Z" for s in range(60)]  # … and of each second of a minute


def _us(at: datetime) -> int:
    """Microseconds since 1970, exactly (whole numbers all the way: no float rounding)."""
    d = at - EPOCH
    return (d.days * _DAY_S + d.seconds) * 1_000_000 + d.microseconds


class _Placer:
    """Turns corrected times (µs since 1970) into ``Placed``, working out each day's text once
    and the time of day from tables (formatting datetimes cost more than all the rest of the
    correction)."""

    def __init__(self) -> None:
        self._dates: dict[int, str] = {}

    def _date(self, days: int) -> str:
        text = self._dates.get(days)
        if text is None:
            text = self._dates[days] = date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
        return text

    def __call__(self, at_us: int, uncertain: bool) -> Placed:
        s = at_us // 1_000_000  # the second it falls in
        days, in_day = divmod(s, _DAY_S)
        minute, second = divmod(in_day, 60)
        at = self._date(days) + _HOUR_MINUTE[minute] + _SECOND[second]
        return Placed(at, self._date((s + _CHINA_S) // _DAY_S), uncertain)


def measure(batch: Batch, received: datetime) -> Measure:
    return Measure(batch.boot, received, batch.mono, (received - batch.now).total_seconds())


def correct(batch: Batch, received: datetime, measured: Mapping[str, Measure], enrolled: datetime) -> Correction:
    """Each event of ``batch`` placed in time; ``measured``: earlier readings by boot id."""
    now = measure(batch, received)
    now_us = _us(received)
    readings = {m.boot: (_us(m.received), m.mono) for m in measured.values()}
    readings[now.boot] = (now_us, now.mono)
    placed = _Placer()
    events = []
    for e in batch.events:
        reading = readings.get(e.boot)
        if reading is None or e.mono is None:
            events.append(_by_wall_clock(e, now, enrolled, placed))
            continue
        at_us = reading[0] - round((reading[1] - e.mono) * 1_000_000)
        if at_us > now_us:  # a monotonic reading from the future of its boot: not believable
            events.append(placed(now_us, True))
        else:
            events.append(placed(at_us, False))
    return Correction(now, tuple(events))


def _by_wall_clock(e: Event, now: Measure, enrolled: datetime, placed: _Placer) -> Placed:
    """An event no monotonic reading places: its own ``ts`` when plausible, else the nearest
    plausible moment, uncertain."""
    boot_start = now.received - timedelta(seconds=now.mono)
    low, high = min(enrolled, boot_start), boot_start
    wall = e.wall
    if low <= wall <= high and abs(now.offset_s) <= TRUSTED_OFFSET_S:
        return placed(_us(wall), False)
    return placed(_us(min(max(wall, low), high)), True)
