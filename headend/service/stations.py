"""Station actions: register a station and hand out its enrolment token."""

from __future__ import annotations

import hashlib
import secrets

from catalogue.ids import ID_RULE, is_id
from headend.errors import StationRegistryError
from headend.service.root import Headend
from players import ProfileError, profile


def add_station(h: Headend, station_id: str, name: str | None, region: str | None, player: str) -> str:
    """Register a station (``region`` like 广东省/肇庆市/高要市); its enrolment token, shown once
    (only its sha256 is kept). StationRegistryError for a bad or taken id or an unknown player."""
    if not is_id(station_id):
        raise StationRegistryError(f"station id {station_id!r}: use {ID_RULE}")
    try:
        profile(player)
    except ProfileError as exc:
        raise StationRegistryError(str(exc)) from exc
    token = secrets.token_urlsafe(24)
    parts = [r for r in region.split("/") if r] if region else []
    if not h.db.add_station(station_id, name or station_id, parts, player, hashlib.sha256(token.encode()).hexdigest()):
        raise StationRegistryError(f"station {station_id} is already registered")
    return token
