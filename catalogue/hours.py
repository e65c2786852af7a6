"""A station's opening hours ("08:00-12:00,14:00-21:00", China time) and how much of a stretch of
time fell within them — so a station closed at night is not "silent" for the hours it was shut.
Pure: no I/O."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta

from catalogue.clocks import CHINA

_SPAN = re.compile(r"([01][0-9]|2[0-4]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])\Z")
MAX_SPANS = 8

Hours = tuple[tuple[int, int], ...]  # (start minute, end minute) of the China day, sorted, apart


class HoursError(ValueError):
    """Opening hours that cannot be read; the message says how to write them."""


def parse_hours(text: str) -> Hours:
    """ "08:00-12:00,14:00-21:00" → ((480, 720), (840, 1260)); "" → () (always open)."""
    text = text.strip()
    if not text:
        return ()
    spans = []
    for part in text.replace("，", ",").split(","):
        m = _SPAN.match(part.strip())
        if not m:
            raise HoursError(f"opening hours {text[:80]!r}: write them like 08:00-12:00,14:00-21:00 (China time)")
        start, end = int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])
        if not start < end <= 1440:
            raise HoursError(f"opening hours {part.strip()!r}: the end must come after the start, on the same day")
        spans.append((start, end))
    spans.sort()
    if len(spans) > MAX_SPANS or any(a[1] > b[0] for a, b in itertools.pairwise(spans)):
        raise HoursError(f"opening hours {text[:80]!r}: at most {MAX_SPANS} spans that do not overlap")
    return tuple(spans)


def format_hours(hours: Hours) -> str:
    return ",".join(f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in hours)


def open_seconds(hours: Hours, start: datetime, end: datetime) -> float:
    """Seconds of [start, end) that fell within the opening hours (all of them when ``hours`` is
    empty: always open)."""
    if end <= start:
        return 0.0
    if not hours:
        return (end - start).total_seconds()
    start, end = start.astimezone(CHINA), end.astimezone(CHINA)
    total = 0.0
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        for a, b in hours:
            lo, hi = max(start, day + timedelta(minutes=a)), min(end, day + timedelta(minutes=b))
            if hi > lo:
                total += (hi - lo).total_seconds()
        day = (day + timedelta(days=1, hours=2)).replace(hour=0)  # China has no DST; stay on midnight
    return total
