"""The periods county staff count in — the seeds' cadence of daily registers, weekly statistics,
monthly bulletins, quarterly rankings, half-year ratings and annual summaries — as China dates.

``parse_period`` reads the names the pages and commands use::

    2026-12-07  a day          2026-W49  an ISO week (Monday to Sunday)
    2026-12     a month        2026-Q4   a quarter
    2026-H2     a half-year    2026      a year

and ``Period`` knows its first and last day, its Chinese label, the period before and after,
and how many of its days have begun by a given day. Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

KINDS = ("day", "week", "month", "quarter", "half", "year")
KIND_LABELS = {"day": "日", "week": "周", "month": "月", "quarter": "季度", "half": "半年", "year": "年"}
_QUARTERS = ("一", "二", "三", "四")
_PATTERNS = (
    ("day", re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")),
    ("week", re.compile(r"(\d{4})-W(\d{2})\Z")),
    ("month", re.compile(r"(\d{4})-(\d{2})\Z")),
    ("quarter", re.compile(r"(\d{4})-Q([1-4])\Z")),
    ("half", re.compile(r"(\d{4})-H([12])\Z")),
    ("year", re.compile(r"(\d{4})\Z")),
)
FIRST_YEAR, LAST_YEAR = 2000, 2099


class PeriodError(ValueError):
    """A period name that cannot be read; the message shows the accepted forms."""


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


@dataclass(frozen=True)
class Period:
    kind: str
    first: date
    last: date

    @property
    def name(self) -> str:
        """The form ``parse_period`` reads back."""
        f = self.first
        if self.kind == "day":
            return f.isoformat()
        if self.kind == "week":
            year, week, _ = f.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return f"{f.year}-{f.month:02d}"
        if self.kind == "quarter":
            return f"{f.year}-Q{(f.month - 1) // 3 + 1}"
        if self.kind == "half":
            return f"{f.year}-H{1 if f.month <= 6 else 2}"
        return str(f.year)

    @property
    def label(self) -> str:
        """How a person says it: 2026年12月7日, 2026年第49周（12月7日–12月13日）, 2026年第四季度 …"""
        f, last = self.first, self.last
        if self.kind == "day":
            return f"{f.year}年{f.month}月{f.day}日"
        if self.kind == "week":
            year, week, _ = f.isocalendar()
            return f"{year}年第{week}周（{f.month}月{f.day}日–{last.month}月{last.day}日）"
        if self.kind == "month":
            return f"{f.year}年{f.month}月"
        if self.kind == "quarter":
            return f"{f.year}年第{_QUARTERS[(f.month - 1) // 3]}季度"
        if self.kind == "half":
            return f"{f.year}年{'上' if f.month <= 6 else '下'}半年"
        return f"{f.year}年"

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def days_begun(self, today: date) -> int:
        """Days of the period up to and including ``today`` (all of them once it is over)."""
        if today < self.first:
            return 0
        return (min(today, self.last) - self.first).days + 1

    def contains(self, day: date) -> bool:
        return self.first <= day <= self.last

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.days)]

    def previous(self) -> Period:
        return period_of(self.kind, self.first - timedelta(days=1))

    def next(self) -> Period:
        return period_of(self.kind, self.last + timedelta(days=1))


def period_of(kind: str, day: date) -> Period:
    """The period of ``kind`` that holds ``day``."""
    if kind == "day":
        return Period(kind, day, day)
    if kind == "week":
        first = day - timedelta(days=day.weekday())
        return Period(kind, first, first + timedelta(days=6))
    if kind == "month":
        return Period(kind, day.replace(day=1), _month_end(day.year, day.month))
    if kind == "quarter":
        start = 3 * ((day.month - 1) // 3) + 1
        return Period(kind, date(day.year, start, 1), _month_end(day.year, start + 2))
    if kind == "half":
        start = 1 if day.month <= 6 else 7
        return Period(kind, date(day.year, start, 1), _month_end(day.year, start + 5))
    if kind == "year":
        return Period(kind, date(day.year, 1, 1), date(day.year, 12, 31))
    raise PeriodError(f"unknown kind of period {kind!r}; one of {', '.join(KINDS)}")


def parse_period(text: str) -> Period:
    """A period from its name; PeriodError names the accepted forms."""
    text = (text or "").strip()
    for kind, pattern in _PATTERNS:
        m = pattern.match(text)
        if not m:
            continue
        year = int(m[1])
        if not FIRST_YEAR <= year <= LAST_YEAR:
            break
        try:
            if kind == "day":
                return period_of(kind, date(year, int(m[2]), int(m[3])))
            if kind == "week":
                return period_of(kind, date.fromisocalendar(year, int(m[2]), 1))
            if kind == "month":
                return period_of(kind, date(year, int(m[2]), 1))
            if kind == "quarter":
                return period_of(kind, date(year, 3 * int(m[2]) - 2, 1))
            if kind == "half":
                return period_of(kind, date(year, 1 if m[2] == "1" else 7, 1))
            return period_of(kind, date(year, 1, 1))
        except ValueError:
            break
    raise PeriodError(
        f"period {text[:40]!r}: write a day 2026-12-07, a week 2026-W49, a month 2026-12, a quarter "
        f"2026-Q4, a half-year 2026-H2 or a year 2026 ({FIRST_YEAR}–{LAST_YEAR})"
    )
