"""``ReceiptStore`` (``db.receipts``): which stations displayed which notice, for the read receipts
page (issue 14). Stations report every display as a ``notice_view`` event (notice id, via); the
notice id lives only in the event's JSON, so a notice's displays are found in two indexed steps,
never by reading a station's whole history:

1. ``viewed_days``: the daily roll-up rows (station, day) that count any notice view in the day
   range — each with its views per notice id (``station_days.notice_views``);
2. ``view_events``: the ``notice_view`` events of exactly those (station, day) pairs, through
   the (station, kind, day) index, with their corrected time; the caller keeps the notice's.

Blocking; failures are DatabaseError."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

import orjson
import sqlalchemy as sa

from headend.db.engine import transaction
from headend.db.schema import publications, report_events, station_days

_CHUNK = 500  # stations per IN (...), with their days beside them: well under SQLite's 32,766 parameters


@dataclass(frozen=True)
class ViewedDay:
    """One station's China day with notice views: views per notice id (the roll-up's count)."""

    station: str
    day: str  # ISO date
    views: Mapping[str, int]


@dataclass(frozen=True)
class ViewEvent:
    """One ``notice_view`` event as held: which notice, where it was seen, its corrected time."""

    station: str
    notice: str
    via: str
    at: str  # corrected, ISO 8601 UTC
    day: str
    time_uncertain: bool
    seq: int


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class ReceiptStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def first_published_at(self) -> str | None:
        """When the headend first published anything (no notice was on a TV before); None: never."""
        with transaction(self.engine) as conn:
            return conn.execute(sa.select(sa.func.min(publications.c.published_at))).scalar()

    def viewed_days(self, station_ids: Sequence[str], first: date, last: date) -> list[ViewedDay]:
        """The roll-up rows of these stations in [first, last] with at least one notice view."""
        d = station_days.c
        out: list[ViewedDay] = []
        with transaction(self.engine) as conn:
            for ids in _chunks(list(station_ids)):
                query = sa.select(d.station, d.day, d.notice_views).where(
                    d.station.in_(list(ids)),
                    d.day >= first.isoformat(),
                    d.day <= last.isoformat(),
                    d.notice_view_total > 0,
                )
                for r in conn.execute(query):
                    views = {str(k): int(v) for k, v in orjson.loads(r.notice_views).items()}
                    out.append(ViewedDay(r.station, r.day, MappingProxyType(views)))
        return out

    def view_events(self, days: Iterable[tuple[str, str]]) -> list[ViewEvent]:
        """The ``notice_view`` events of these (station, China day) pairs, oldest first per station."""
        by_station: dict[str, set[str]] = {}
        for station, day in days:
            by_station.setdefault(station, set()).add(day)
        e = report_events.c
        out: list[ViewEvent] = []
        with transaction(self.engine) as conn:
            for ids in _chunks(sorted(by_station), 50):
                wanted = {(s, day) for s in ids for day in by_station[s]}
                all_days = sorted({day for s in ids for day in by_station[s]})
                for some_days in _chunks(all_days, 1000):
                    query = sa.select(e.station, e.seq, e.at, e.day, e.time_uncertain, e.data).where(
                        e.station.in_(list(ids)), e.kind == "notice_view", e.day.in_(list(some_days))
                    )
                    for r in conn.execute(query):
                        if (r.station, r.day) not in wanted:
                            continue
                        data = orjson.loads(r.data)
                        out.append(
                            ViewEvent(
                                station=r.station,
                                notice=str(data.get("notice") or ""),
                                via=str(data.get("via") or ""),
                                at=r.at,
                                day=r.day,
                                time_uncertain=bool(r.time_uncertain),
                                seq=int(r.seq),
                            )
                        )
        out.sort(key=lambda v: (v.station, v.at, v.seq))
        return out
