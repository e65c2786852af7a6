"""Reading and writing the times and numbers of stored documents (lenient: a value that does not
parse is absent, never an exception)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from playlists.schedule import CHINA
from playlists.times import utc_iso


def moment(value: Any) -> datetime | None:
    """A stored time (ISO 8601 text, an aware datetime, or epoch seconds) as an aware datetime;
    ``None`` for nothing or for what does not parse. A time without a zone is China time."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, datetime):
            dt = value
        elif isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, CHINA)
        else:
            dt = datetime.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError):
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=CHINA)


def iso(dt: datetime | None) -> str | None:
    return utc_iso(dt) if dt else None


def whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
