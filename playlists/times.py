"""Times in repository files: ISO 8601, UTC, whole seconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from playlists.errors import FormatError


def utc_iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any, what: str) -> datetime:
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise FormatError(f"{what}: {value!r} is not an ISO 8601 time") from exc
    if dt.tzinfo is None:
        raise FormatError(f"{what}: {value!r} has no time zone")
    check_in_range(dt, what)
    return dt


def check_in_range(dt: datetime, what: str) -> None:
    """Refuse an aware time that falls outside years 1-9999 in UTC (it could not be written)."""
    try:
        dt.astimezone(UTC)
    except OverflowError as exc:
        raise FormatError(f"{what}: {dt.isoformat()} is outside the calendar") from exc
