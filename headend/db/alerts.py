"""``AlertStore`` (``db.alerts``): station alerts, the daily digests made, and the webhook's
delivery queue (issue 12).

- An alert is one row per (station, kind) from when it opened to when it cleared; a partial
  unique index keeps at most one open, so two headend processes checking at once open it once.
  ``record_check`` writes one check's outcome in one transaction: alerts opened, their words
  updated, alerts cleared — and for a cleared alert that went out in a digest, its recovery
  message queued in the same transaction (never for one nobody was told about).
- A digest is claimed per China day and region prefix (``record_digest``): the alerts it listed
  are marked notified and its webhook delivery queued together, once.
- A delivery is claimed for a lease before it is posted (``claim_due``), so two processes never
  post it at once; delivered ones are never posted again; a failed one waits ``next_at``.

Blocking; failures are DatabaseError."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from headend.db.engine import transaction
from headend.db.records import Alert, Delivery
from headend.db.schema import alert_deliveries, alert_digests, alerts, station_days, stations

Region = tuple[str, ...]
Recovery = tuple[Region, str]  # the station's region and the JSON payload of its recovery message

_ALERT = (*alerts.columns, stations.c.name.label("station_name"), stations.c.region.label("station_region"))


def _alert(r: sa.Row) -> Alert:
    m = dict(r._mapping)
    region = tuple(json.loads(m.pop("station_region") or "[]"))
    return Alert(**{**m, "detail": MappingProxyType(json.loads(m["detail"] or "{}")), "region": region})


def _delivery(r: sa.Row) -> Delivery:
    m = dict(r._mapping)
    return Delivery(**{**m, "region": tuple(json.loads(m["region"]))})


def _region_text(region: Iterable[str]) -> str:
    return json.dumps(list(region), ensure_ascii=False)


class AlertStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def _insert(self, table: sa.Table):
        return (pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)(table)

    def _select(self) -> sa.Select:
        return sa.select(*_ALERT).join(stations, stations.c.id == alerts.c.station)

    # ---- reading ---------------------------------------------------------------------------

    def open_alerts(self) -> list[Alert]:
        """Every open alert, the newest first."""
        query = self._select().where(alerts.c.cleared_at.is_(None)).order_by(alerts.c.opened_at.desc(), alerts.c.id)
        with transaction(self.engine) as conn:
            return [_alert(r) for r in conn.execute(query)]

    def recent(self, cleared_since: str, station: str | None = None) -> list[Alert]:
        """The open alerts and those cleared at or after ``cleared_since`` (of one station, or
        all), the newest first."""
        query = self._select().where(sa.or_(alerts.c.cleared_at.is_(None), alerts.c.cleared_at >= cleared_since))
        if station is not None:
            query = query.where(alerts.c.station == station)
        with transaction(self.engine) as conn:
            return [_alert(r) for r in conn.execute(query.order_by(alerts.c.opened_at.desc(), alerts.c.id.desc()))]

    def get(self, alert_id: int) -> Alert | None:
        with transaction(self.engine) as conn:
            row = conn.execute(self._select().where(alerts.c.id == alert_id)).first()
        return _alert(row) if row else None

    def latest_fives(self) -> dict[str, tuple[str, Mapping[str, bool]]]:
        """Each station's newest five-ones check from the daily roll-up: (China day, item → met)."""
        d = station_days.c
        newest = (
            sa.select(d.station, sa.func.max(d.day).label("day"))
            .where(d.fives.is_not(None))
            .group_by(d.station)
            .subquery("newest")
        )
        query = sa.select(d.station, d.day, d.fives).join(
            newest, (newest.c.station == d.station) & (newest.c.day == d.day)
        )
        with transaction(self.engine) as conn:
            return {r.station: (r.day, MappingProxyType(json.loads(r.fives))) for r in conn.execute(query)}

    # ---- a check's outcome -----------------------------------------------------------------

    def record_check(
        self,
        at: str,
        opened: Sequence[tuple[str, str, Mapping]],
        changed: Mapping[int, Mapping],
        cleared: Mapping[int, Recovery | None],
    ) -> tuple[int, int, int]:
        """Open (station, kind, detail) unless already open, update open alerts' detail, clear
        alerts (queueing the given recovery message of each that was notified). Returns how many
        were opened, cleared and how many recoveries were queued."""
        insert = self._insert(alerts)
        stmt = insert.on_conflict_do_nothing(
            index_elements=["station", "kind"], index_where=alerts.c.cleared_at.is_(None)
        ).returning(alerts.c.id)
        n_opened = n_cleared = n_recoveries = 0
        with transaction(self.engine, write=True) as conn:
            for station, kind, detail in opened:
                row = {
                    "station": station,
                    "kind": kind,
                    "opened_at": at,
                    "detail": json.dumps(detail, ensure_ascii=False),
                }
                n_opened += conn.execute(stmt, row).first() is not None
            for alert_id, detail in changed.items():
                conn.execute(
                    alerts.update()
                    .where(alerts.c.id == alert_id, alerts.c.cleared_at.is_(None))
                    .values(detail=json.dumps(detail, ensure_ascii=False))
                )
            for alert_id, recovery in cleared.items():
                done = conn.execute(
                    alerts.update()
                    .where(alerts.c.id == alert_id, alerts.c.cleared_at.is_(None))
                    .values(cleared_at=at)
                    .returning(alerts.c.notified_at)
                ).first()
                if done is None:  # another process cleared it first
                    continue
                n_cleared += 1
                if done.notified_at is not None and recovery is not None:
                    self._enqueue(conn, at, "recovery", *recovery)
                    conn.execute(alerts.update().where(alerts.c.id == alert_id).values(recovery_notified_at=at))
                    n_recoveries += 1
        return n_opened, n_cleared, n_recoveries

    def acknowledge(self, alert_id: int, by: str, at: str) -> bool:
        """Mark the alert acknowledged by ``by``; False if it already was (the first one stays)."""
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(
                alerts.update()
                .where(alerts.c.id == alert_id, alerts.c.acknowledged_by.is_(None))
                .values(acknowledged_by=by, acknowledged_at=at)
            )
        return res.rowcount == 1

    # ---- digests ---------------------------------------------------------------------------

    def digest_made(self, day: str, region: Region) -> bool:
        query = sa.select(alert_digests.c.day).where(
            alert_digests.c.day == day, alert_digests.c.region == _region_text(region)
        )
        with transaction(self.engine) as conn:
            return conn.execute(query).first() is not None

    def last_digest_at(self, region: Region) -> str | None:
        """When the newest digest of ``region`` was made (None: never)."""
        query = sa.select(sa.func.max(alert_digests.c.made_at)).where(alert_digests.c.region == _region_text(region))
        with transaction(self.engine) as conn:
            return conn.execute(query).scalar()

    def record_digest(
        self, day: str, region: Region, at: str, file: str, alert_ids: Sequence[int], payload: str | None
    ) -> bool:
        """Claim the digest of ``day`` and ``region``: mark the alerts it lists notified and queue
        ``payload`` for the webhook (None: no webhook). False (and nothing changed) if another
        pass made it first."""
        stmt = (
            self._insert(alert_digests)
            .values(day=day, region=_region_text(region), made_at=at, alerts=len(alert_ids), file=file)
            .on_conflict_do_nothing(index_elements=["day", "region"])
            .returning(alert_digests.c.day)
        )
        with transaction(self.engine, write=True) as conn:
            if conn.execute(stmt).first() is None:
                return False
            if alert_ids:
                conn.execute(
                    alerts.update()
                    .where(alerts.c.id.in_(list(alert_ids)), alerts.c.notified_at.is_(None))
                    .values(notified_at=at)
                )
            if payload is not None:
                self._enqueue(conn, at, "digest", region, payload)
        return True

    # ---- the webhook's deliveries ----------------------------------------------------------

    @staticmethod
    def _enqueue(conn: sa.Connection, at: str, kind: str, region: Region, payload: str) -> None:
        conn.execute(
            alert_deliveries.insert().values(
                created_at=at, kind=kind, region=_region_text(region), payload=payload, next_at=at
            )
        )

    def claim_due(self, now: str, lease_until: str, limit: int = 20) -> list[Delivery]:
        """Deliveries due at ``now`` (oldest first), each held until ``lease_until`` so no other
        process posts it meanwhile; ``attempts`` counts this one."""
        d = alert_deliveries.c
        due = sa.select(d.id).where(d.delivered_at.is_(None), d.next_at <= now).order_by(d.next_at, d.id).limit(limit)
        claimed = []
        with transaction(self.engine, write=True) as conn:
            for delivery_id in conn.execute(due).scalars().all():
                row = conn.execute(
                    alert_deliveries.update()
                    .where(d.id == delivery_id, d.delivered_at.is_(None), d.next_at <= now)
                    .values(next_at=lease_until, attempts=d.attempts + 1)
                    .returning(*alert_deliveries.columns)
                ).first()
                if row is not None:
                    claimed.append(_delivery(row))
        return claimed

    def delivered(self, delivery_id: int, at: str) -> None:
        with transaction(self.engine, write=True) as conn:
            conn.execute(
                alert_deliveries.update()
                .where(alert_deliveries.c.id == delivery_id)
                .values(delivered_at=at, last_error="")
            )

    def failed(self, delivery_id: int, error: str, next_at: str) -> None:
        with transaction(self.engine, write=True) as conn:
            conn.execute(
                alert_deliveries.update()
                .where(alert_deliveries.c.id == delivery_id, alert_deliveries.c.delivered_at.is_(None))
                .values(next_at=next_at, last_error=error[:500])
            )

    def waiting(self) -> list[Delivery]:
        """Deliveries not delivered yet, the oldest first."""
        d = alert_deliveries.c
        query = sa.select(alert_deliveries).where(d.delivered_at.is_(None)).order_by(d.id)
        with transaction(self.engine) as conn:
            return [_delivery(r) for r in conn.execute(query)]
