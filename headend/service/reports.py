"""The report collector's actions (docs/reporting.md): who sends (``authenticate``: the sha256 of
the Bearer token; a revoked one is told so), taking a batch (``accept``: checked strictly by
``catalogue.events``, for the token's own station only, stored in one transaction), a station's
per-day figures (``station_days``) and the rows ``headend report`` prints (``report_days``).
Blocking: the web layer calls these through ``asyncio.to_thread``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from catalogue.clocks import CHINA
from catalogue.events import ReportFormatError, parse_batch
from headend.db import Station
from headend.db.records import StationDay, Stored
from headend.db.reports import ReportStore
from headend.errors import Forbidden, NotFound, ReportRefused, Unauthorized
from headend.service.root import Headend

MAX_DAYS = 400
ASK_COUNTY = "ask the county (远教办) for a new token and put it in station.toml [report] token (or its token_file)"


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def authenticate(h: Headend, authorization: str | None) -> Station:
    """The station whose token ``Authorization: Bearer <token>`` carries; Unauthorized if none."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(f"no station token (send Authorization: Bearer <token>); {ASK_COUNTY}")
    station = h.db.station_by_token(token_sha256(token))
    if station is None:
        raise Unauthorized(f"this station token is not known (it may have been replaced); {ASK_COUNTY}")
    if station.revoked_at:
        raise Unauthorized(
            f"the county revoked this station's token ({station.revoked_at}); {ASK_COUNTY}", revoked=True
        )
    return station


def accept(h: Headend, station: Station, doc: Any, received: datetime | None = None) -> Stored:
    """Check and store one decoded batch sent with ``station``'s token."""
    return store_batch(h.db.reports, station.id, station.created_at, doc, received or datetime.now(UTC))


def store_batch(store: ReportStore, station: str, enrolled: str, doc: Any, received: datetime) -> Stored:
    """Check one decoded batch sent with the token of ``station`` (enrolled at ``enrolled``, ISO
    8601) and store it; what was stored."""
    try:
        batch = parse_batch(doc)
    except ReportFormatError as exc:
        raise ReportRefused(str(exc), exc.field) from exc
    if batch.station != station:
        raise Forbidden(
            f"this token reports for station {station}, not {batch.station}; "
            "check [station] id and [report] token in station.toml",
        )
    return store.store(batch, received, datetime.fromisoformat(enrolled.replace("Z", "+00:00")))


def china_today() -> date:
    return datetime.now(CHINA).date()


def day_range(first: date | None, last: date | None) -> tuple[date, date]:
    """The days asked for (default: today, China time); ReportRefused if backwards or too long."""
    first = first or last or china_today()
    last = last or first
    if first > last:
        raise ReportRefused(f"from {first} is after to {last}; give from ≤ to", "from")
    if (last - first).days + 1 > MAX_DAYS:
        raise ReportRefused(f"{(last - first).days + 1} days asked for; at most {MAX_DAYS} at a time", "to")
    return first, last


def parse_day(value: str | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise ReportRefused(f"{name}={value[:40]!r} is not a date; write YYYY-MM-DD, e.g. 2026-12-02", name) from None


@dataclass(frozen=True)
class Day:
    """One station's day: its roll-up row, or None when the station sent nothing about it."""

    station: Station
    day: date
    row: StationDay | None

    def to_dict(self) -> dict:
        if self.row is None:
            return {"day": self.day.isoformat(), "reported": False}
        return self.row.to_dict()


def report_days(
    h: Headend, first: date, last: date, station_id: str | None = None, region: str | None = None
) -> list[Day]:
    """Every day in [first, last] of each chosen station (by id, or under a region prefix like
    广东省/肇庆市), in station then day order; NotFound for an unknown station id."""
    stations = h.db.stations(station_id)
    if station_id is not None and not stations:
        raise NotFound(f"no station {station_id}; `headend station list` shows the registered ones")
    if region:
        prefix = [p for p in region.split("/") if p]
        stations = [s for s in stations if list(s.region[: len(prefix)]) == prefix]
    rows = {(r.station, r.day): r for r in h.db.reports.days([s.id for s in stations], first, last)}
    n = (last - first).days + 1
    days = [first + timedelta(days=i) for i in range(n)]
    return [Day(s, d, rows.get((s.id, d.isoformat()))) for s in stations for d in days]
