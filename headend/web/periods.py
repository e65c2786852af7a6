"""The period a star-rating page shows (the ranking, a station's rating, the bulletin) and the
links to the periods either side — one reading of ``?period=`` and ``?kind=`` for all of them:
the month before this one (China time) by default, a 400 that lists the accepted forms otherwise.
"""

from __future__ import annotations

from aiohttp import web

from catalogue.periods import FIRST_YEAR, Period, period_of
from headend.errors import BadRequest
from headend.service.ratings import RATED_KINDS, rated_period
from headend.web.dashboard import Nav, china_today

__all__ = ["china_today", "last_month", "neighbours", "period_from"]


def last_month() -> Period:
    """The month before this one (China time): the newest a county circulates."""
    return period_of("month", china_today()).previous()


def period_from(request: web.Request) -> Period:
    """``period=2026-11`` (a month, quarter, half-year or year; 400 otherwise) or ``kind=quarter``
    (the one holding last month); last month by default."""
    text = request.query.get("period", "")
    if text:
        try:
            return rated_period(text[:20])
        except BadRequest as exc:
            raise BadRequest(
                f"时段无法识别或不能评定：{exc}。评定按月（2026-11）、季度（2026-Q4）、半年（2026-H2）或年（2026）",
                field="period",
            ) from None
    kind = request.query.get("kind", "month")
    return period_of(kind if kind in RATED_KINDS else "month", last_month().last)


def neighbours(nav: Nav, period: Period) -> dict[str, str | None]:
    """Links to the period before (none before the year 2000, which no page accepts) and after
    (none once it has not begun yet)."""
    before, after = period.previous(), period.next()
    return {
        "previous": nav.url(period=before.name) if before.first.year >= FIRST_YEAR else None,
        "next": nav.url(period=after.name) if after.first <= china_today() else None,
    }
