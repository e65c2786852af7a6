"""``DashboardStore`` (``db.dashboard``): what the county pages read — each station's newest
health sample and measured clock offset, its figures summed over a run of days (SQL aggregates
over the daily roll-up, never the raw events), per-month totals for the charts, and a station's
recent events of some kinds (sessions, logbook, five-ones checks) through the (station, kind,
day) index. Blocking; failures are DatabaseError."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date

import sqlalchemy as sa

from headend.db.engine import transaction
from headend.db.records import Activity, Health
from headend.db.schema import report_clocks, report_events, station_days, station_health

_CHUNK = 5000  # ids per IN (...): SQLite takes at most 32,766 parameters in one statement

Ids = Sequence[str] | None  # the stations asked about; None: every station (no IN list at all)


def _scoped(query: sa.Select, column: sa.Column, ids: Ids) -> Iterable[sa.Select]:
    """``query`` limited to ``ids`` in chunks (or once, unlimited, for None)."""
    if ids is None:
        yield query
        return
    ids = list(ids)
    for i in range(0, len(ids), _CHUNK):
        yield query.where(column.in_(ids[i : i + _CHUNK]))


class DashboardStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def health(self, station_ids: Ids = None) -> dict[str, Health]:
        """The newest health sample of each station that sent one (of ``station_ids``, or all)."""
        h = station_health.c
        out: dict[str, Health] = {}
        with transaction(self.engine) as conn:
            for query in _scoped(sa.select(h.station, h.at, h.received_at, h.data), h.station, station_ids):
                for r in conn.execute(query):
                    out[r.station] = Health.from_event(json.loads(r.data), r.at, r.received_at)
        return out

    def offsets(self, station_ids: Ids = None) -> dict[str, tuple[float, str]]:
        """Each station's newest measured clock offset (headend time minus box clock, seconds: > 0
        the box is slow) and when."""
        c = report_clocks.c
        newest = sa.select(c.station, sa.func.max(c.received_at).label("at")).group_by(c.station).subquery("newest")
        query = sa.select(c.station, c.offset_s, c.received_at).join(
            newest, (newest.c.station == c.station) & (newest.c.at == c.received_at)
        )
        wanted = None if station_ids is None else set(station_ids)
        out: dict[str, tuple[float, str]] = {}
        with transaction(self.engine) as conn:
            for r in conn.execute(query):
                if wanted is None or r.station in wanted:
                    out[r.station] = (float(r.offset_s), r.received_at)
        return out

    def activity(self, station_ids: Ids, first: date, last: date) -> dict[str, Activity]:
        """Each station's figures over [first, last] (stations with no reported day are absent)."""
        d = station_days.c
        active = sa.case(((d.plays > 0) | (d.sessions > 0), 1), else_=0)
        query = sa.select(
            d.station,
            sa.func.sum(d.session_person_times + d.individual_plays).label("person_times"),
            sa.func.sum(d.session_person_times).label("session_person_times"),
            sa.func.sum(d.individual_plays).label("individual_plays"),
            sa.func.sum(d.sessions).label("sessions"),
            sa.func.sum(d.plays).label("plays"),
            sa.func.sum(d.watched_s).label("watched_s"),
            sa.func.sum(d.logbook).label("logbook"),
            sa.func.sum(d.failed_logins).label("failed_logins"),
            sa.func.sum(d.online_minutes).label("online_minutes"),
            sa.func.sum(active).label("active_days"),
            sa.func.count().label("reported_days"),
            sa.func.max(d.day).label("last_day"),
        ).where(d.day >= first.isoformat(), d.day <= last.isoformat())
        out: dict[str, Activity] = {}
        with transaction(self.engine) as conn:
            for scoped in _scoped(query, d.station, station_ids):
                for r in conn.execute(scoped.group_by(d.station)):
                    m = dict(r._mapping)
                    station = m.pop("station")
                    out[station] = Activity(
                        **{k: (float(v) if k in ("watched_s", "online_minutes") else v) for k, v in m.items()}
                    )
        return out

    def daily(self, station_ids: Ids, first: date, last: date) -> dict[str, Activity]:
        """China day (ISO) → these stations' figures added up for that day, for the charts (the
        monthly trend and the daily online share both come from this one pass); in each,
        ``online_minutes`` counts the stations that sent a heartbeat that day and
        ``reported_days`` the stations that reported anything."""
        d = station_days.c
        active = sa.case(((d.plays > 0) | (d.sessions > 0), 1), else_=0)
        online = sa.case((d.online_minutes > 0, 1), else_=0)
        query = sa.select(
            d.day,
            sa.func.sum(d.session_person_times + d.individual_plays).label("person_times"),
            sa.func.sum(d.sessions).label("sessions"),
            sa.func.sum(d.watched_s).label("watched_s"),
            sa.func.sum(active).label("active_days"),
            sa.func.sum(online).label("online"),
            sa.func.count().label("reported"),
        ).where(d.day >= first.isoformat(), d.day <= last.isoformat())
        out: dict[str, Activity] = {}
        with transaction(self.engine) as conn:
            for scoped in _scoped(query, d.station, station_ids):
                for r in conn.execute(scoped.group_by(d.day)):
                    before = out.get(r.day, Activity())
                    out[r.day] = Activity(
                        person_times=before.person_times + int(r.person_times),
                        sessions=before.sessions + int(r.sessions),
                        watched_s=before.watched_s + float(r.watched_s),
                        active_days=before.active_days + int(r.active_days),
                        online_minutes=before.online_minutes + float(r.online),
                        reported_days=before.reported_days + int(r.reported),
                    )
        return out

    def daily_last(self, station_id: str, kind: str, first: date, last: date) -> list[dict]:
        """The last event of ``kind`` on each China day in [first, last] (e.g. the day's last
        health sample for the station page's history): at most one row a day, oldest first."""
        e = report_events.c
        rank = sa.func.row_number().over(partition_by=e.day, order_by=(e.at.desc(), e.seq.desc())).label("rank")
        ranked = (
            sa.select(e.day, e.at, e.data, rank)
            .where(e.station == station_id, e.kind == kind, e.day >= first.isoformat(), e.day <= last.isoformat())
            .subquery("ranked")
        )
        query = sa.select(ranked.c.day, ranked.c.at, ranked.c.data).where(ranked.c.rank == 1).order_by(ranked.c.day)
        with transaction(self.engine) as conn:
            seen: dict[str, dict] = {}
            for r in conn.execute(query):
                seen.setdefault(r.day, {"day": r.day, "at": r.at, "event": json.loads(r.data)})
        return list(seen.values())

    def events(self, station_id: str, kinds: Sequence[str], first: date, last: date, limit: int = 50) -> list[dict]:
        """A station's events of ``kinds`` in [first, last], newest first: each as sent, with its
        corrected time (``at``), China ``day`` and ``time_uncertain``."""
        e = report_events.c
        query = (
            sa.select(e.kind, e.at, e.day, e.time_uncertain, e.data)
            .where(
                e.station == station_id,
                e.kind.in_(list(kinds)),
                e.day >= first.isoformat(),
                e.day <= last.isoformat(),
            )
            .order_by(e.at.desc(), e.seq.desc())
            .limit(limit)
        )
        with transaction(self.engine) as conn:
            return [
                {
                    "kind": r.kind,
                    "at": r.at,
                    "day": r.day,
                    "time_uncertain": bool(r.time_uncertain),
                    "event": json.loads(r.data),
                }
                for r in conn.execute(query)
            ]
