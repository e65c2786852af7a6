"""Times in repository files and in what the station stores: ISO 8601, UTC, whole seconds.

``parse_moment`` is the one parser of a stored or published moment (ISO 8601 text or an aware
datetime); ``parse_time`` and ``playlists.schedule.parse_local_datetime`` are it with the
repository's rules (a zone required; China time when absent). A value that does not parse is a
``FormatError`` naming what it is, never a bare ValueError.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from playlists.errors import FormatError


def utc_iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_moment(value: Any, what: str, *, naive: tzinfo | None = None, hint: str = "an ISO 8601 time") -> datetime:
    """An aware datetime from ISO 8601 text or a datetime. A time without a zone is in ``naive``
    (refused when None). FormatError for anything else, or for a time outside the calendar."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError as exc:
            raise FormatError(f"{what}: {value!r} is not {hint}") from exc
    else:
        raise FormatError(f"{what}: {value!r} is not {hint}")
    if dt.tzinfo is None:
        if naive is None:
            raise FormatError(f"{what}: {value!r} has no time zone")
        dt = dt.replace(tzinfo=naive)
    check_in_range(dt, what)
    return dt


def parse_time(value: Any, what: str) -> datetime:
    """A repository time: ISO 8601 with a zone."""
    return parse_moment(str(value) if not isinstance(value, datetime) else value, what)


def check_in_range(dt: datetime, what: str) -> None:
    """Refuse an aware time that falls outside years 1-9999 in UTC (it could not be written)."""
    try:
        dt.astimezone(UTC)
    except OverflowError as exc:
        raise FormatError(f"{what}: {dt.isoformat()} is outside the calendar") from exc
