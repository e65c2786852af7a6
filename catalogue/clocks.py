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


@dataclass(frozen=True)
class Placed:
    at: datetime  # corrected, UTC
    day: date  # its China date
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


def china_day(at: datetime) -> date:
    return at.astimezone(CHINA).date()


def _placed(at: datetime, uncertain: bool) -> Placed:
    at = at.astimezone(UTC)
    return Placed(at, china_day(at), uncertain)


def measure(batch: Batch, received: datetime) -> Measure:
    return Measure(batch.boot, received, batch.mono, (received - batch.now).total_seconds())


def correct(batch: Batch, received: datetime, measured: Mapping[str, Measure], enrolled: datetime) -> Correction:
    """Each event of ``batch`` placed in time; ``measured``: earlier readings by boot id."""
    now = measure(batch, received)
    boot_start = received - timedelta(seconds=batch.mono)
    return Correction(now, tuple(place(e, now, boot_start, measured, enrolled) for e in batch.events))


def place(e: Event, now: Measure, boot_start: datetime, measured: Mapping[str, Measure], enrolled: datetime) -> Placed:
    reading = now if e.boot == now.boot else measured.get(e.boot)
    if reading is not None and e.mono is not None:
        at = reading.received - timedelta(seconds=reading.mono - e.mono)
        if at > now.received:  # a monotonic reading from the future of its boot: not believable
            return _placed(now.received, True)
        return _placed(at, False)
    low, high = min(enrolled, boot_start), boot_start
    if low <= e.wall <= high and abs(now.offset_s) <= TRUSTED_OFFSET_S:
        return _placed(e.wall, False)
    return _placed(min(max(e.wall, low), high), True)
