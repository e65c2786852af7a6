"""Station actions: register a station and hand out its enrolment token, edit it, replace its
token (the old one stops working at once) or revoke it."""

from __future__ import annotations

import hashlib
import secrets

from catalogue.hours import HoursError, format_hours, parse_hours
from catalogue.ids import ID_RULE, is_id
from headend.db import Station
from headend.errors import NotFound, StationRegistryError
from headend.service.audit import Actor, audit
from headend.service.root import Headend
from players import ProfileError, profile

MAX_CAPACITY = 9999  # seats in a study room (the batch's headcount range)
MAX_MEMBERS = 1_000_000


def _token() -> tuple[str, str]:
    token = secrets.token_urlsafe(24)
    return token, hashlib.sha256(token.encode()).hexdigest()


def _player(player: str) -> None:
    try:
        profile(player)
    except ProfileError as exc:
        raise StationRegistryError(str(exc)) from exc


def _count(name: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise StationRegistryError(f"--{name} {value}: give a whole number from {low} to {high}")


def _region(region: str | None) -> list[str]:
    return [r for r in region.split("/") if r] if region else []


def add_station(
    h: Headend,
    station_id: str,
    name: str | None,
    region: str | None,
    player: str,
    capacity: int | None = None,
    members: int | None = None,
    actor: Actor | None = None,
) -> str:
    """Register a station (``region`` like 广东省/肇庆市/高要市); its enrolment token, shown once
    (only its sha256 is kept). StationRegistryError for a bad or taken id, an unknown player or a
    capacity or membership out of range."""
    if not is_id(station_id):
        raise StationRegistryError(f"station id {station_id!r}: use {ID_RULE}")
    _player(player)
    _count("capacity", capacity, 1, MAX_CAPACITY)
    _count("members", members, 0, MAX_MEMBERS)
    token, digest = _token()
    if not h.db.add_station(station_id, name or station_id, _region(region), player, digest, capacity, members):
        raise StationRegistryError(f"station {station_id} is already registered")
    detail = {"name": name or station_id, "player": player, "capacity": capacity, "members": members}
    audit(h, actor, "station.add", station_id, detail, _region(region))
    return token


def parse_opening_hours(text: str) -> str | None:
    """``--opening-hours``: "08:00-12:00,14:00-21:00" (China time) in its normal form, or None
    for "" (always open); StationRegistryError says how to write it."""
    try:
        return format_hours(parse_hours(text)) or None
    except HoursError as exc:
        raise StationRegistryError(str(exc)) from exc


def _unknown(station_id: str) -> NotFound:
    return NotFound(f"no station {station_id}; `headend station list` shows the registered ones")


def edit_station(
    h: Headend,
    station_id: str,
    name: str | None = None,
    region: str | None = None,
    player: str | None = None,
    capacity: int | None = None,
    members: int | None = None,
    opening_hours: str | None = None,
    actor: Actor | None = None,
) -> Station:
    """Change what is given (None: keep); the station as it is now."""
    changes: dict = {}
    if name is not None:
        changes["name"] = name or station_id
    if region is not None:
        changes["region"] = _region(region)
    if player is not None:
        _player(player)
        changes["player"] = player
    _count("capacity", capacity, 1, MAX_CAPACITY)
    _count("members", members, 0, MAX_MEMBERS)
    if capacity is not None:
        changes["capacity"] = capacity
    if members is not None:
        changes["members"] = members
    if opening_hours is not None:
        changes["opening_hours"] = parse_opening_hours(opening_hours)
    before = h.db.station(station_id)
    if before is None or not h.db.edit_station(station_id, changes):
        raise _unknown(station_id)
    after = h.db.station(station_id)
    if changes:
        audit(h, actor, "station.edit", station_id, changes, after.region)
    return after


def rotate_token(h: Headend, station_id: str, actor: Actor | None = None) -> str:
    """A new token for the station, shown once; the old one stops working at once (a revoked
    station reports again with the new one)."""
    token, digest = _token()
    if not h.db.set_station_token(station_id, digest):
        raise _unknown(station_id)
    audit(h, actor, "station.token_rotated", station_id, {}, h.db.station(station_id).region)
    return token


def revoke_station(h: Headend, station_id: str, actor: Actor | None = None) -> None:
    """The station's token no longer reports; the station is told to ask for a new one."""
    if not h.db.revoke_station(station_id):
        raise _unknown(station_id)
    audit(h, actor, "station.revoke", station_id, {}, h.db.station(station_id).region)
