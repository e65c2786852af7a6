"""``ArchiveStore`` (``db.archive``): moving old raw report events out of ``report_events``
(``headend db archive``). The roll-ups (``station_days``) keep every figure the dashboard and
ratings read; what leaves is the events themselves, written to a file first.

Only events a stream holds without a gap (seq up to its ``held``) are moved, and each stream's
``archived`` mark is raised in the transaction that deletes its rows: the collector then knows
every seq up to the mark as held (a re-sent one is a duplicate, never counted twice)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import orjson
import sqlalchemy as sa

from headend.db.engine import transaction
from headend.db.schema import report_events, report_streams

EXPORT_COLUMNS = (
    "station",
    "stream",
    "seq",
    "kind",
    "ts",
    "at",
    "day",
    "boot",
    "time_uncertain",
    "data",
    "received_at",
)
Run = tuple[str, str, int, int]  # (station, stream, first seq, last seq): contiguous keys


def _month_end(month: str) -> str:
    """The first China day after ``month`` ("2026-01" → "2026-02-01")."""
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}-01"


class ArchiveStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def months_before(self, first_kept_day: str) -> list[str]:
        """The months ("YYYY-MM") with events held before China day ``first_kept_day``, oldest first."""
        e = report_events.c
        month = sa.func.substr(e.day, 1, 7)
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.select(month).where(e.day < first_kept_day).group_by(month).order_by(month))
            return [r[0] for r in rows]

    def events_of_month(self, month: str, batch_rows: int = 5000) -> Iterator[dict]:
        """The month's events that may be archived (seq up to their stream's held), by station,
        stream and seq: each a dict of ``EXPORT_COLUMNS`` with ``data`` parsed. Read in one
        transaction (a consistent view), ``batch_rows`` at a time."""
        e, s = report_events.c, report_streams.c
        query = (
            sa.select(*(getattr(e, c) for c in EXPORT_COLUMNS))
            .join(report_streams, (s.station == e.station) & (s.stream == e.stream))
            .where(e.day >= f"{month}-01", e.day < _month_end(month), e.seq <= s.held)
            .order_by(e.station, e.stream, e.seq)
        )
        with transaction(self.engine) as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(query)
            for row in result:
                d = dict(zip(EXPORT_COLUMNS, row, strict=True))
                d["time_uncertain"] = bool(d["time_uncertain"])
                d["data"] = orjson.loads(d["data"])
                yield d

    def delete(self, runs: Sequence[Run]) -> int:
        """Delete these runs of events (each seq of a run held and written to an archive file)
        and raise their streams' archived marks, in one transaction; how many rows went."""
        marks: dict[tuple[str, str], int] = {}
        for station, stream, _, last in runs:
            marks[(station, stream)] = max(marks.get((station, stream), 0), last)
        e, s = report_events.c, report_streams.c
        gone = 0
        with transaction(self.engine, write=True) as conn:
            for station, stream, first, last in runs:
                res = conn.execute(
                    report_events.delete().where(
                        e.station == station, e.stream == stream, e.seq >= first, e.seq <= last
                    )
                )
                gone += res.rowcount
            for (station, stream), mark in marks.items():
                conn.execute(
                    report_streams.update()
                    .where(s.station == station, s.stream == stream, s.archived < mark)
                    .values(archived=mark)
                )
        return gone


def add_to_runs(runs: list[Run], station: str, stream: str, seq: int) -> None:
    """Extend ``runs`` (keys in order) by one key: a month of a province is millions of events but
    only as many runs as streams and gaps, so this is what is kept in memory."""
    if runs and runs[-1][0] == station and runs[-1][1] == stream and runs[-1][3] == seq - 1:
        runs[-1] = (station, stream, runs[-1][2], seq)
    else:
        runs.append((station, stream, seq, seq))

    def marks(self, station: str) -> dict[str, int]:
        """Stream → its archived mark, for one station."""
        s = report_streams.c
        with transaction(self.engine) as conn:
            return dict(conn.execute(sa.select(s.stream, s.archived).where(s.station == station)).all())
