"""What people read, one way each: durations, the player's clock, sizes, and moments in China time.

Every time a person sees is China Standard Time (UTC+8, ``Asia/Shanghai``), whatever zone the
box's own clock is set to. ``_`` is a translator: the station passes gettext (its page's
language, or English on the command line); the headend's Chinese pages pass ``chinese``. Pure:
shared by both programs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

try:
    from zoneinfo import ZoneInfo

    CHINA = ZoneInfo("Asia/Shanghai")
except Exception:  # no tz database on the box: China has used UTC+8 without DST since 1991
    CHINA = timezone(timedelta(hours=8), "CST")

Gettext = Callable[..., str]
NONE = "—"  # what is shown where there is no value

_CHINESE = {"%(s)d s": "%(s)d 秒", "%(h)d h %(m)d min": "%(h)d 小时 %(m)d 分", "%(m)d min": "%(m)d 分钟"}


def chinese(message: str, **values: object) -> str:
    """The units above in Chinese, for pages that have no gettext catalogue (the headend's)."""
    return _CHINESE.get(message, message) % values


def clock(seconds: float | None) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour (the player's on-screen time has the same form)."""
    total = max(0, int(seconds or 0))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def minutes(seconds: float) -> int:
    """Whole minutes for a lesson's length; a short clip still reads "1 minute", never "0"."""
    return max(1, round(seconds / 60))


def duration(_: Gettext, seconds: float | None) -> str:
    """How long something takes or lasted: "1 h 5 min", "12 min", "40 s" (minutes rounded)."""
    if seconds is None or not math.isfinite(seconds):
        return NONE
    s = max(0, round(seconds))
    if s < 60:
        return _("%(s)d s", s=s)
    h, m = divmod(round(s / 60), 60)
    return _("%(h)d h %(m)d min", h=h, m=m) if h else _("%(m)d min", m=m)


def size(n: float | None) -> str:
    """Bytes for people: "512 B", "3.0 KB", "1.5 MB", "2.1 GB" (1 KB = 1024 bytes)."""
    if n is None or isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n):
        return NONE
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def china_time(value: datetime | float | None, *, seconds: bool = True) -> str:
    """A moment (aware datetime, or epoch seconds) as ``YYYY-MM-DD HH:MM[:SS]`` in China time.
    A naive datetime is taken as China time already."""
    if value is None or isinstance(value, bool):
        return NONE
    try:
        if isinstance(value, datetime):
            dt = value if value.tzinfo else value.replace(tzinfo=CHINA)
        else:
            dt = datetime.fromtimestamp(float(value), UTC)
        return dt.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):
        return NONE


def china_hhmm(value: datetime) -> str:
    """``HH:MM`` in China time (programme times, session start and end)."""
    dt = value if value.tzinfo else value.replace(tzinfo=CHINA)
    return dt.astimezone(CHINA).strftime("%H:%M")
