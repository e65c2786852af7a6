"""``RatingStore`` (``db.ratings``): what star ratings read and keep — each station's figures
over a period summed in SQL from the daily roll-up (``catalogue.plausibility.contribution`` in SQL),
the few days a plausibility rule may flag, the last complete five-ones check, clock readings,
inspection scores, flag overrides, rubric versions, and closed periods' ratings as computed.
Blocking; failures are DatabaseError."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from catalogue.clocks import CHINA
from catalogue.plausibility import DayFigures, Override, Sums
from catalogue.rating import Standing
from catalogue.rubric import FlagRules
from headend.db.engine import dialect_insert, transaction
from headend.db.schema import (
    flag_overrides,
    inspections,
    publications,
    rating_periods,
    ratings,
    report_clocks,
    rubrics,
    station_contacts,
    station_days,
    stations,
)
from headend.errors import DatabaseError

Steps = Sequence[tuple[str, int]]  # (first China day it is required, version), newest first


@dataclass(frozen=True)
class Inspection:
    id: int
    station: str
    item: str
    score: float
    note: str
    photo: str  # file name under <root>/evidence/ ("" none)
    inspected_on: str
    inspector: str
    created_at: str


@dataclass(frozen=True)
class FrozenPeriod:
    period: str
    frozen_at: str
    rubric_version: int
    stations: int


def china_day(iso: str) -> date:
    """The China date of an ISO time from the database (naive: UTC)."""
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(CHINA).date()


def _required(d: sa.ColumnElement, steps: Steps) -> sa.ColumnElement:
    """The version a station should have installed on day ``d``: the newest one published by the
    day before (0 before any)."""
    if not steps:
        return sa.literal(0)
    return sa.case(*((d >= day, version) for day, version in steps), else_=0)


def _current(steps: Steps) -> sa.ColumnElement:
    """1 on a day a heartbeat said the box had the version published the day before."""
    d = station_days.c
    return sa.case(((d.installed_version.is_not(None)) & (d.installed_version >= _required(d.day, steps)), 1), else_=0)


class RatingStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # ---- the period's figures ----------------------------------------------------------------

    def required_versions(self, last: date) -> list[tuple[str, int]]:
        """(day it is required from, version) for every version published up to ``last``, newest
        first: a version published on China day D is required from D + 1."""
        p = publications.c
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.select(p.version, p.published_at).order_by(p.version)).all()
        best: dict[str, int] = {}
        for r in rows:
            day = (china_day(r.published_at) + timedelta(days=1)).isoformat()
            if day <= last.isoformat():
                best[day] = max(best.get(day, 0), int(r.version))
        out, highest = [], 0
        for day in sorted(best):
            highest = max(highest, best[day])
            out.append((day, highest))
        return out[::-1]

    def sums(self, first: date, last: date, steps: Steps) -> tuple[dict[str, Sums], dict[str, date]]:
        """Every station's sums over [first, last] (only stations with a reported day), and the
        first day it reported in it (a box may report days before it was registered)."""
        d = station_days.c
        query = (
            sa.select(
                d.station,
                sa.func.sum(d.sessions),
                sa.func.sum(d.session_person_times),
                sa.func.sum(d.individual_plays),
                sa.func.sum(d.plays),
                sa.func.sum(d.watched_s),
                sa.func.sum(sa.case(((d.plays > 0) | (d.sessions > 0), 1), else_=0)),
                sa.func.sum(sa.case((d.online_minutes > 0, 1), else_=0)),
                sa.func.sum(d.logbook),
                sa.func.sum(d.notice_view_total),
                sa.func.sum(_current(steps)),
                sa.func.count(),
                sa.func.min(d.day),
            )
            .where(d.day >= first.isoformat(), d.day <= last.isoformat())
            .group_by(d.station)
        )
        out: dict[str, Sums] = {}
        firsts: dict[str, date] = {}
        with transaction(self.engine) as conn:
            for r in conn.execute(query):
                firsts[r[0]] = date.fromisoformat(r[12])
                out[r[0]] = Sums(
                    int(r[1]), int(r[2]), int(r[3]), int(r[4]), float(r[5]), int(r[6]), int(r[7]), int(r[8]),
                    int(r[9]), int(r[10]), int(r[11]),
                )  # fmt: skip
        return out, firsts

    def suspicious_days(
        self, first: date, last: date, steps: Steps, rules: FlagRules, open_s_floor: float | None
    ) -> list[tuple[str, DayFigures]]:
        """The station-days of [first, last] that may break a plausibility rule (a superset:
        ``catalogue.plausibility.day_flags`` decides), oldest first. ``open_s_floor``: the shortest
        opening of any station (None: no station has opening hours)."""
        d, s = station_days.c, stations.c
        maybe = []
        if rules.headcount_over_capacity:
            maybe.append(s.capacity.is_not(None) & (d.max_headcount > s.capacity))
        if rules.headcount_members_factor:
            maybe.append(s.members.is_not(None) & (d.max_headcount > rules.headcount_members_factor * s.members))
        hour_caps = [rules.max_hours_per_day * 3600] if rules.max_hours_per_day else []
        if rules.hours_over_opening and open_s_floor is not None:
            hour_caps.append(open_s_floor)
        if hour_caps:
            maybe.append(d.watched_s > min(hour_caps))
        if rules.watched_over_wall:
            maybe.append(d.overlong_plays > 0)
        if rules.plays_while_offline:
            maybe.append((d.plays > 0) & (d.online_minutes <= 0))
        if rules.overlapping_sessions:
            maybe.append(d.overlapping_sessions > 0)
        if rules.max_sessions_per_day:
            maybe.append(d.sessions > rules.max_sessions_per_day)
        if rules.max_clients_per_day:
            maybe.append(d.clients > rules.max_clients_per_day)
        if rules.time_uncertain:
            maybe.append(d.time_uncertain > 0)
        if rules.identical_events:
            maybe.append(d.identical_events >= rules.identical_events)
        if not maybe:
            return []
        query = (
            sa.select(
                d.station,
                d.day,
                d.sessions,
                d.session_person_times,
                d.individual_plays,
                d.plays,
                d.watched_s,
                d.logbook,
                d.notice_view_total,
                d.online_minutes,
                _current(steps),
                d.max_headcount,
                d.overlapping_sessions,
                d.overlong_plays,
                d.identical_events,
                d.time_uncertain,
                d.clients,
            )
            .select_from(station_days.join(stations, stations.c.id == d.station))
            .where(d.day >= first.isoformat(), d.day <= last.isoformat(), sa.or_(*maybe))
            .order_by(d.day, d.station)
        )
        with transaction(self.engine) as conn:
            return [
                (
                    r[0],
                    DayFigures(
                        r[1],
                        int(r[2]),
                        int(r[3]),
                        int(r[4]),
                        int(r[5]),
                        float(r[6]),
                        int(r[7]),
                        int(r[8]),
                        float(r[9]),
                        bool(r[10]),
                        int(r[11]),
                        int(r[12]),
                        int(r[13]),
                        int(r[14]),
                        int(r[15]),
                        int(r[16]),
                    ),
                )
                for r in conn.execute(query)
            ]

    def contact_days(self, first: date, last: date) -> dict[str, int]:
        """Each station's China days in [first, last] on which the headend received an upload."""
        c = station_contacts.c
        query = (
            sa.select(c.station, sa.func.count())
            .where(c.day >= first.isoformat(), c.day <= last.isoformat())
            .group_by(c.station)
        )
        with transaction(self.engine) as conn:
            return {r[0]: int(r[1]) for r in conn.execute(query)}

    def fives_complete(self, since: date, last: date, items: int) -> dict[str, date]:
        """Each station's last day in [since, last] whose last five-ones check met all ``items``
        (the rows are few and found through the ``station_days_fives`` index; SQLite would walk
        the whole table in key order for a GROUP BY, so the newest is picked here)."""
        d = station_days.c
        query = sa.select(d.station, d.day).where(
            d.fives_met >= items, d.day >= since.isoformat(), d.day <= last.isoformat()
        )
        newest: dict[str, str] = {}
        with transaction(self.engine) as conn:
            for station, day in conn.execute(query):
                if day > newest.get(station, ""):
                    newest[station] = day
        return {k: date.fromisoformat(v) for k, v in newest.items()}

    def clocks_measured(self, since_iso: str) -> set[str]:
        """Stations whose clock the headend measured (at an upload) since ``since_iso`` (ISO UTC;
        each boot keeps only its newest reading)."""
        c = report_clocks.c
        query = sa.select(c.station).where(c.received_at >= since_iso).distinct()
        with transaction(self.engine) as conn:
            return {r[0] for r in conn.execute(query)}

    # ---- inspections -------------------------------------------------------------------------

    def add_inspection(
        self, station: str, item: str, score: float, note: str, photo: str, on: date, inspector: str, now: str
    ) -> int:
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(
                inspections.insert().values(
                    station=station,
                    item=item,
                    score=score,
                    note=note,
                    photo=photo,
                    inspected_on=on.isoformat(),
                    inspector=inspector,
                    created_at=now,
                )
            )
            return int(res.inserted_primary_key[0])

    def inspections(
        self, station: str | None = None, since: date | None = None, until: date | None = None
    ) -> list[Inspection]:
        """Inspections (of one station, or all) visited in [since, until], newest first."""
        i = inspections.c
        query = sa.select(inspections).order_by(i.inspected_on.desc(), i.id.desc())
        if station is not None:
            query = query.where(i.station == station)
        if since is not None:
            query = query.where(i.inspected_on >= since.isoformat())
        if until is not None:
            query = query.where(i.inspected_on <= until.isoformat())
        with transaction(self.engine) as conn:
            return [Inspection(**r._mapping) for r in conn.execute(query)]

    # ---- overrides ---------------------------------------------------------------------------

    def overrides(self, first: str, last: str, period: str) -> dict[tuple[str, str, str], Override]:
        """(station, day, rule) → the override, for the days in [first, last] and the period."""
        o = flag_overrides.c
        query = sa.select(o.station, o.day, o.rule, o.actor, o.reason, o.at, o.evidence).where(
            ((o.day >= first) & (o.day <= last)) | (o.day == period)
        )
        with transaction(self.engine) as conn:
            return {(r[0], r[1], r[2]): Override(r[3], r[4], r[5], r[6]) for r in conn.execute(query)}

    def add_override(
        self, station: str, day: str, rule: str, actor: str, reason: str, now: str, *, evidence: str
    ) -> bool:
        """Keep an admin's override of the flag showing ``evidence``; False when that evidence was
        already judged (the first reason stands). Worse evidence later may be judged anew."""
        with transaction(self.engine, write=True) as conn:
            o = flag_overrides.c
            key = (o.station == station) & (o.day == day) & (o.rule == rule)
            held = conn.execute(sa.select(o.evidence).where(key)).scalar()
            if held == evidence:
                return False
            if held is not None:
                conn.execute(flag_overrides.delete().where(key))
            conn.execute(
                flag_overrides.insert().values(
                    station=station, day=day, rule=rule, actor=actor, reason=reason, at=now, evidence=evidence
                )
            )
            return True

    # ---- rubric versions and closed periods ------------------------------------------------------

    def rubric_version(self, sha256: str, text: str, now: str) -> tuple[int, bool]:
        """The version of the rubric with this content, and whether it was numbered just now (two
        processes meeting a new rubric at once agree on one number)."""
        r = rubrics.c
        with transaction(self.engine) as conn:  # the usual case: known, and no writer's turn taken
            held = conn.execute(sa.select(r.version).where(r.sha256 == sha256)).scalar()
        if held is not None:
            return int(held), False
        for _ in range(5):
            with transaction(self.engine, write=True) as conn:
                held = conn.execute(sa.select(r.version).where(r.sha256 == sha256)).scalar()
                if held is not None:
                    return int(held), False
                version = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(r.version), 0))).scalar()) + 1
                stmt = dialect_insert(conn.dialect.name, rubrics).on_conflict_do_nothing()
                stmt = stmt.values(version=version, sha256=sha256, text=text, created_at=now)
                if conn.execute(stmt.returning(r.version)).first() is not None:
                    return version, True
        raise DatabaseError(
            "the rubric's version could not be recorded (other processes kept taking the number); try again"
        )

    def first_enrolled(self) -> str | None:
        """When the first station still registered was enrolled (ISO), None without stations."""
        with transaction(self.engine) as conn:
            return conn.execute(sa.select(sa.func.min(stations.c.created_at))).scalar()

    def frozen_names(self) -> set[str]:
        with transaction(self.engine) as conn:
            return {r[0] for r in conn.execute(sa.select(rating_periods.c.period))}

    def rubric_text(self, version: int) -> str | None:
        with transaction(self.engine) as conn:
            return conn.execute(sa.select(rubrics.c.text).where(rubrics.c.version == version)).scalar()

    def frozen(self, period: str) -> FrozenPeriod | None:
        with transaction(self.engine) as conn:
            row = conn.execute(sa.select(rating_periods).where(rating_periods.c.period == period)).first()
        return FrozenPeriod(**row._mapping) if row else None

    def frozen_ratings(self, period: str, station_ids: Iterable[str] | None = None) -> dict[str, dict]:
        """station → the rating as frozen (``catalogue.rating.Rating.to_dict``)."""
        query = sa.select(ratings.c.station, ratings.c.detail).where(ratings.c.period == period)
        if station_ids is not None:
            query = query.where(ratings.c.station.in_(list(station_ids)))
        with transaction(self.engine) as conn:
            return {r[0]: json.loads(r[1]) for r in conn.execute(query)}

    def frozen_standings(self, period: str) -> dict[str, Standing]:
        """station → total, stars and status of a frozen period (no JSON read)."""
        r = ratings.c
        query = sa.select(r.station, r.total, r.stars, r.status).where(r.period == period)
        with transaction(self.engine) as conn:
            return {x[0]: Standing(float(x[1]), int(x[2]), x[3]) for x in conn.execute(query)}

    def freeze(self, period: str, version: int, rows: list[dict], now: str) -> bool:
        """Keep a closed period's ratings (``rows``: Rating.to_dict each); False when another
        process froze it first (its ratings stand)."""
        with transaction(self.engine, write=True) as conn:
            stmt = dialect_insert(conn.dialect.name, rating_periods).on_conflict_do_nothing()
            stmt = stmt.values(period=period, frozen_at=now, rubric_version=version, stations=len(rows))
            if conn.execute(stmt.returning(rating_periods.c.period)).first() is None:  # (rowcount: -1 on psycopg)
                return False
            for i in range(0, len(rows), 2000):
                conn.execute(
                    ratings.insert(),
                    [
                        {
                            "period": period,
                            "station": r["station"],
                            "total": r["total"],
                            "stars": r["stars"],
                            "status": r["status"],
                            "detail": json.dumps(r, ensure_ascii=False, separators=(",", ":")),
                        }
                        for r in rows[i : i + 2000]
                    ],
                )
            return True

    def history(self, station: str) -> list[tuple[str, float, int, str]]:
        """(period, total, stars, status) of every closed period rated, oldest first."""
        r = ratings.c
        query = sa.select(r.period, r.total, r.stars, r.status).where(r.station == station).order_by(r.period)
        with transaction(self.engine) as conn:
            return [(x[0], float(x[1]), int(x[2]), x[3]) for x in conn.execute(query)]
