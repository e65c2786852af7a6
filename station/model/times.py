"""Reading and writing the times and numbers of stored documents (lenient: a value that does not
parse is absent, with a warning, never an exception). Times go through ``playlists.times``, the
one parser of stored moments."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from playlists.errors import FormatError
from playlists.schedule import CHINA
from playlists.times import parse_moment, utc_iso

log = logging.getLogger(__name__)


def moment(value: Any) -> datetime | None:
    """A stored time (ISO 8601 text, an aware datetime, or epoch seconds) as an aware datetime,
    read by ``playlists.times.parse_moment`` (a time without a zone is China time); ``None``
    for nothing, and for what does not parse (logged: a damaged record shows "never", it does
    not stop the page)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, CHINA)
        return parse_moment(value, "stored time", naive=CHINA)
    except (FormatError, ValueError, OverflowError, OSError) as exc:
        log.warning("%s; left out", exc)
        return None


def iso(dt: datetime | None) -> str | None:
    return utc_iso(dt) if dt else None


def whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
