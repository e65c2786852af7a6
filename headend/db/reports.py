"""``ReportStore`` (``db.reports``): the statements of the report collector. ``store`` keeps one
checked batch in one transaction: its events once under (station, stream, seq) — duplicates
ignored on both engines — each stream's held/seen, the boot's clock reading, the newest health
sample, and the daily roll-up rows of the (station, China day)s the batch touched: each row keeps
the shared fold's state (``catalogue.figures.Tally``) and only the events newly held (found
under the station's lock) are added to it, so a row is exact whatever was re-sent. ``days`` reads the roll-up. Blocking; failures are DatabaseError."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, date, datetime
from types import MappingProxyType

import orjson
import sqlalchemy as sa

from catalogue.clocks import CHINA, Correction, Measure, correct
from catalogue.events import Batch
from catalogue.figures import Figures, Tally
from headend.db.engine import bulk_insert, dialect_insert, transaction, upsert
from headend.db.questions import QuestionStore
from headend.db.records import StationDay, Stored
from headend.db.schema import (
    report_clocks,
    report_events,
    report_streams,
    station_contacts,
    station_days,
    station_health,
    stations,
)
from headend.errors import StreamConflict

_DAY_COLUMNS = [c.name for c in station_days.columns if c.name not in ("station", "day")]
EVENT_COLUMNS = ("station", "stream", "seq", "kind", "ts", "at", "day", "boot", "time_uncertain", "data", "received_at")

# The statements ``store`` runs for every batch, built once with their values as parameters:
# building a statement and its cache key cost more than running it (~1 ms for the stream's upsert).
_P = sa.bindparam
_LOCK_STATION = sa.select(stations.c.id).where(stations.c.id == _P("p_station")).with_for_update()
_HELD_SEQS = sa.select(report_events.c.seq).where(
    report_events.c.station == _P("p_station"),
    report_events.c.stream == _P("p_stream"),
    report_events.c.seq.between(_P("p_first"), _P("p_last")),
)
_ARCHIVED = sa.select(report_streams.c.archived).where(
    report_streams.c.station == _P("p_station"), report_streams.c.stream == _P("p_stream")
)
_DAY_STATES = sa.select(station_days.c.day, station_days.c.state).where(
    station_days.c.station == _P("p_station"), station_days.c.day.in_(_P("p_days", expanding=True))
)


@functools.cache
def _advance_statement(dialect: str) -> sa.Insert:
    """Move a stream's held and seen on, or start it; RETURNING the new (held, seen). A stream never
    seen starts where its first batch says it starts; held moves only over a batch that starts at
    or before it (no gap), to the batch's last seq when that is further."""
    c = report_streams.c
    after, last = _P("p_after", type_=sa.BigInteger), _P("p_last", type_=sa.BigInteger)
    stmt = dialect_insert(dialect, report_streams).values(
        station=_P("p_station"), stream=_P("p_stream"), held=last, seen=last, updated_at=_P("p_stamp")
    )
    return stmt.on_conflict_do_update(
        index_elements=["station", "stream"],
        set_={
            "held": sa.case(((after <= c.held) & (c.held < last), last), else_=c.held),
            "seen": sa.case((c.seen < last, last), else_=c.seen),
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(c.held, c.seen)


@functools.cache
def _health_statement(dialect: str) -> sa.Insert:
    """Keep a station's newest health sample unless the one held is newer."""
    stmt = dialect_insert(dialect, station_health)
    return stmt.on_conflict_do_update(
        index_elements=["station"],
        set_={c: stmt.excluded[c] for c in ("stream", "seq", "at", "data", "received_at")},
        where=station_health.c.at <= stmt.excluded.at,
    )


@functools.cache
def _contact_statement(dialect: str) -> sa.Insert:
    return dialect_insert(dialect, station_contacts).on_conflict_do_nothing()


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _tally(state: str) -> Tally | None:
    """A station-day's running fold from its stored state; None when there is none to read."""
    try:
        return Tally.from_state(orjson.loads(state))
    except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
        return None


def _fold_day(conn: sa.Connection, station: str, day: str) -> Tally:
    """The fold of every event held of ``station`` on China ``day``, in the order batches add them."""
    c = report_events.c
    tally = Tally()
    rows = conn.execute(
        sa.select(c.stream, c.seq, c.at, c.time_uncertain, c.data)
        .where(c.station == station, c.day == day)
        .order_by(c.at, c.seq, c.stream)
    )
    for r in rows:
        tally.add(orjson.loads(r.data), day, [r.at, r.seq, r.stream], bool(r.time_uncertain))
    return tally


def _dumps(value: object) -> str:
    """Compact UTF-8 JSON text (orjson: a fifth of the time of json.dumps; what the checks passed
    holds no NaN, no int past 64 bits and no lone surrogate, so it always encodes)."""
    return orjson.dumps(value).decode()


def day_row(station: str, day: str, f: Figures, stamp: str) -> dict:
    return {
        "station": station,
        "day": day,
        "plays": f.plays,
        "watched_s": f.watched_s,
        "completed": f.completed,
        "individual_plays": f.individual_plays,
        "sessions": f.sessions,
        "session_person_times": f.session_person_times,
        "short_sessions": f.short_sessions,
        "logbook": f.logbook,
        "notice_views": _dumps(dict(f.notice_views)),
        "failed_logins": f.failed_logins,
        "online_minutes": f.online_minutes,
        "fives": _dumps(dict(f.fives)) if f.fives is not None else None,
        "courses": len(f.courses),
        "events": f.events,
        "time_uncertain": f.uncertain,
        "updated_at": stamp,
        "notice_view_total": sum(f.notice_views.values()),
        "max_headcount": f.max_headcount,
        "overlapping_sessions": f.overlapping_sessions,
        "overlong_plays": f.overlong_plays,
        "identical_events": f.identical,
        "clients": f.clients,
        "installed_version": f.installed_version,
        "fives_met": sum(f.fives.values()) if f.fives is not None else None,
        "live_plays": f.live_plays,
        "live_watched_s": f.live_watched_s,
    }


_RATING_COLUMNS = ("notice_view_total", "fives_met")  # the record derives these from its own fields


def _station_day(r: sa.Row) -> StationDay:
    m = dict(r._mapping)
    for k in ("updated_at", "state", *_RATING_COLUMNS):
        m.pop(k)
    m["notice_views"] = MappingProxyType(orjson.loads(m["notice_views"]))
    m["fives"] = MappingProxyType(orjson.loads(m["fives"])) if m["fives"] is not None else None
    return StationDay(**m)


class ReportStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def store(self, batch: Batch, received: datetime, enrolled: datetime) -> Stored:
        """Keep one checked batch (its station registered and allowed); what it did."""
        stamp = iso(received)
        # Placed and written out before the write transaction, which then holds its lock only for
        # the statements (earlier boots' readings only change at their own uploads).
        measured = self._measures(batch)
        fix = correct(batch, received, measured, enrolled)
        rows = self._rows(batch, fix, stamp)
        with transaction(self.engine, write=True) as conn:
            if conn.dialect.name == "postgresql":  # one batch of a station at a time: exact roll-ups
                conn.execute(_LOCK_STATION, {"p_station": batch.station})
            new = self._insert(conn, batch, rows)
            held, seen = self._advance(conn, batch, stamp)
            self._measure(conn, batch.station, fix.measure)
            self._health(conn, batch, fix, new, stamp)
            self._roll_up(conn, batch, fix, new, stamp)
            self._contact(conn, batch.station, received)
            QuestionStore.add(conn, self._questions(batch, fix, new, stamp))
        return Stored(
            stream=batch.stream,
            held=held,
            seen=seen,
            accepted=len(new),
            duplicates=len(batch.events) - len(new),
            time_uncertain=sum(fix.events[i].uncertain for i in new),
            offset_s=round(fix.offset_s, 1),
        )

    @staticmethod
    def _contact(conn: sa.Connection, station: str, received: datetime) -> None:
        """The China day the headend heard from the station (its own clock: the box cannot say it)."""
        day = received.astimezone(CHINA).date().isoformat()
        conn.execute(_contact_statement(conn.dialect.name), {"station": station, "day": day})

    @staticmethod
    def _questions(batch: Batch, fix: Correction, new: list[int], stamp: str) -> list[dict]:
        """The questions among the events newly held (``db.questions``)."""
        out = []
        for i in new:
            e = batch.events[i]
            if e.kind != "question":
                continue
            r = e.raw
            out.append(
                {
                    "station": batch.station,
                    "number": r["number"],
                    "topic": r["topic"],
                    "text": r["text"].strip(),
                    "asker": r["asker"].strip(),
                    "publishable": r["publish"],
                    "asked_at": fix.events[i].at,
                    "received_at": stamp,
                    "status": "new",
                    "stream": batch.stream,
                    "seq": e.seq,
                }
            )
        return out

    def _measures(self, batch: Batch) -> dict[str, Measure]:
        boots = {e.boot for e in batch.events} - {batch.boot}
        if not boots:
            return {}
        with transaction(self.engine) as conn:
            rows = conn.execute(
                sa.select(report_clocks).where(
                    report_clocks.c.station == batch.station, report_clocks.c.boot.in_(boots)
                )
            ).all()
        return {r.boot: Measure(r.boot, _moment(r.received_at), r.mono, r.offset_s) for r in rows}

    @staticmethod
    def _rows(batch: Batch, fix: Correction, stamp: str) -> list[tuple]:
        """The batch's event rows, in ``EVENT_COLUMNS`` order."""
        station, stream = batch.station, batch.stream
        return [
            (station, stream, e.seq, e.kind, e.ts, p.at, p.day, e.boot, p.uncertain, _dumps(e.raw), stamp)
            for e, p in zip(batch.events, fix.events, strict=True)
        ]

    def _insert(self, conn: sa.Connection, batch: Batch, rows: list[dict]) -> list[int]:
        """Insert the events not yet held; the indexes (into batch.events) of those inserted."""
        if not batch.events:
            return []
        span = {"p_station": batch.station, "p_stream": batch.stream}
        span.update(p_first=batch.events[0].seq, p_last=batch.events[-1].seq)
        have = set(conn.execute(_HELD_SEQS, span).scalars())
        if have:
            self._same_as_held(conn, batch, have)
        # Seqs up to the stream's archived mark were held, and their rows moved to an archive
        # file (``headend db archive``): duplicates, though they cannot be compared any more.
        archived = conn.execute(_ARCHIVED, {"p_station": batch.station, "p_stream": batch.stream}).scalar() or 0
        new = [i for i, e in enumerate(batch.events) if e.seq not in have and e.seq > archived]
        # Only this transaction adds to the stream now (SQLite: one writer; PostgreSQL: the
        # station's row is locked), so the events not held are new: no ON CONFLICT needed.
        bulk_insert(conn, report_events, EVENT_COLUMNS, rows if len(new) == len(rows) else [rows[i] for i in new])
        return new

    def _same_as_held(self, conn: sa.Connection, batch: Batch, have: set[int]) -> None:
        """A re-sent event must be the one held under its key (``boot`` filled in: the station
        leaves it out where it equals its batch's); StreamConflict at the first that is not."""
        cols = report_events.c
        held = {
            r.seq: (r.boot, r.data)
            for r in conn.execute(
                sa.select(cols.seq, cols.boot, cols.data).where(
                    cols.station == batch.station, cols.stream == batch.stream, cols.seq.in_(sorted(have))
                )
            )
        }
        for e in batch.events:
            if e.seq not in held:
                continue
            boot, data = held[e.seq]
            if {**orjson.loads(data), "boot": boot} != {**e.raw, "boot": e.boot}:
                raise StreamConflict(
                    f"seq {e.seq} of stream {batch.stream} is not the event the headend holds under it "
                    "(the box's journal was restored or copied and went on writing); start a new stream "
                    f"at seq {e.seq} and send again",
                    e.seq,
                )

    def _advance(self, conn: sa.Connection, batch: Batch, stamp: str) -> tuple[int, int]:
        """The stream's held and seen after this batch (``_advance_statement``)."""
        values = {"p_station": batch.station, "p_stream": batch.stream, "p_stamp": stamp}
        values.update(p_after=batch.after, p_last=batch.last)
        held, seen = conn.execute(_advance_statement(conn.dialect.name), values).one()
        return held, seen

    def _measure(self, conn: sa.Connection, station: str, m: Measure) -> None:
        row = {
            "station": station,
            "boot": m.boot,
            "received_at": iso(m.received),
            "mono": m.mono,
            "offset_s": m.offset_s,
        }
        upsert(conn, report_clocks, [row], ["station", "boot"], ["received_at", "mono", "offset_s"])

    def _health(self, conn: sa.Connection, batch: Batch, fix: Correction, new: list[int], stamp: str) -> None:
        """Keep the batch's newest health sample unless the one held is newer."""
        samples = [i for i in new if batch.events[i].kind == "health"]
        if not samples:
            return
        i = max(samples, key=lambda i: (fix.events[i].at, batch.events[i].seq))
        row = {
            "station": batch.station,
            "stream": batch.stream,
            "seq": batch.events[i].seq,
            "at": fix.events[i].at,
            "data": _dumps(batch.events[i].raw),
            "received_at": stamp,
        }
        conn.execute(_health_statement(conn.dialect.name), row)

    def _roll_up(self, conn: sa.Connection, batch: Batch, fix: Correction, new: list[int], stamp: str) -> None:
        """Add the events newly held to their station-days' running folds."""
        if not new:
            return
        days = sorted({fix.events[i].day for i in new})
        rows = conn.execute(_DAY_STATES, {"p_station": batch.station, "p_days": days}).all()
        tallies, rebuilt = {}, set()
        for r in rows:
            tally = _tally(r.state)
            if tally is None:  # written by hand or lost: folded again from the day's held events
                tally = _fold_day(conn, batch.station, r.day)
                rebuilt.add(r.day)
            tallies[r.day] = tally
        for i in new:
            e, p = batch.events[i], fix.events[i]
            if p.day in rebuilt:  # (already held, so already in that fold)
                continue
            tally = tallies.get(p.day)
            if tally is None:
                tally = tallies[p.day] = Tally()
            tally.add(e.raw, p.day, [p.at, e.seq, batch.stream], p.uncertain)
        out = [
            {**day_row(batch.station, d, t.figures(), stamp), "state": _dumps(t.state())} for d, t in tallies.items()
        ]
        upsert(conn, station_days, out, ["station", "day"], _DAY_COLUMNS)

    # ---- reading -------------------------------------------------------------------------------

    def days(self, station_ids: Iterable[str], first: date, last: date) -> list[StationDay]:
        """The roll-up rows of these stations in [first, last] (days without a row are absent)."""
        ids = list(station_ids)
        if not ids:
            return []
        with transaction(self.engine) as conn:
            rows = conn.execute(
                sa.select(*(c for c in station_days.columns))
                .where(
                    station_days.c.station.in_(ids),
                    station_days.c.day >= first.isoformat(),
                    station_days.c.day <= last.isoformat(),
                )
                .order_by(station_days.c.station, station_days.c.day)
            ).all()
        return [_station_day(r) for r in rows]

    def health(self, station_id: str) -> dict | None:
        """The newest health sample the station sent (as sent, with ``at``: its corrected time)."""
        with transaction(self.engine) as conn:
            row = conn.execute(sa.select(station_health).where(station_health.c.station == station_id)).first()
        return {**orjson.loads(row.data), "at": row.at} if row else None

    def stream(self, station_id: str, stream: str) -> tuple[int, int] | None:
        """(held, seen) of one stream, None if never seen."""
        key = (report_streams.c.station == station_id) & (report_streams.c.stream == stream)
        with transaction(self.engine) as conn:
            row = conn.execute(sa.select(report_streams.c.held, report_streams.c.seen).where(key)).first()
        return (row.held, row.seen) if row else None

    def event_count(self, station_id: str | None = None) -> int:
        """How many events are held (of one station, or all)."""
        query = sa.select(sa.func.count()).select_from(report_events)
        if station_id is not None:
            query = query.where(report_events.c.station == station_id)
        with transaction(self.engine) as conn:
            return int(conn.execute(query).scalar() or 0)

    def events(self, station_id: str) -> list[dict]:
        """Every event held of a station, with its key and corrected placing (tests, exports)."""
        cols = report_events.c
        with transaction(self.engine) as conn:
            rows = conn.execute(
                sa.select(cols.stream, cols.seq, cols.at, cols.day, cols.time_uncertain, cols.data)
                .where(cols.station == station_id)
                .order_by(cols.day, cols.at, cols.seq, cols.stream)
            ).all()
        return [
            {
                "stream": r.stream,
                "seq": r.seq,
                "at": r.at,
                "day": r.day,
                "time_uncertain": bool(r.time_uncertain),
                "event": orjson.loads(r.data),
            }
            for r in rows
        ]
