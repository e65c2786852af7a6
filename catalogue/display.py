"""What people read, one way each: durations, the player's clock, sizes, and moments in China time.

Every time a person sees is China Standard Time (UTC+8, ``Asia/Shanghai``), whatever zone the
box's own clock is set to. ``_`` is a translator: the station passes gettext (its page's
language, or English on the command line); the headend's Chinese pages pass ``chinese``. Pure:
shared by both programs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

try:
    from zoneinfo import ZoneInfo

    CHINA = ZoneInfo("Asia/Shanghai")
except Exception:  # no tz database on the box: China has used UTC+8 without DST since 1991
    CHINA = timezone(timedelta(hours=8), "CST")

Gettext = Callable[..., str]
NONE = "—"  # what is shown where there is no value

# The weekday names and date pattern below are gettext msgids too (the station's catalogue
# translates them); ``chinese`` below gives the headend the same words.


def N_(message: str) -> str:
    """Marks a message for extraction (``make messages``) where it is not translated yet."""
    return message


WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
_CHINESE = {
    "%(s)d s": "%(s)d 秒",
    "%(h)d h %(m)d min": "%(h)d 小时 %(m)d 分",
    "%(m)d min": "%(m)d 分钟",
    "under a minute": "不到1分钟",
    "%(month)d/%(day)d %(weekday)s": "%(month)d月%(day)d日 %(weekday)s",
    **dict(zip(WEEKDAYS, ("周一", "周二", "周三", "周四", "周五", "周六", "周日"), strict=True)),
}


def chinese(message: str, **values: object) -> str:
    """The words above in Chinese, for pages that have no gettext catalogue (the headend's)."""
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
    """How long something takes or lasted: "1 h 5 min", "12 min", "40 s" (minutes rounded);
    "under a minute" for less than a second (never "0 min" or "0 s")."""
    if seconds is None or not math.isfinite(seconds):
        return NONE
    s = max(0, round(seconds))
    if s < 1:
        return _("under a minute")
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


def _china(value: datetime | float) -> datetime:
    """An aware datetime (a naive one is taken as China time already) or epoch seconds, in China time."""
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=CHINA)
    else:
        dt = datetime.fromtimestamp(float(value), UTC)
    return dt.astimezone(CHINA)


def china_day(_: Gettext, value: datetime | date | float | None) -> str:
    """A China date with its weekday, as people say it: "11月25日 周三" (a ``date`` is taken as is)."""
    if value is None or isinstance(value, bool):
        return NONE
    try:
        d = value if isinstance(value, date) and not isinstance(value, datetime) else _china(value).date()
    except (ValueError, OverflowError, OSError):
        return NONE
    return _("%(month)d/%(day)d %(weekday)s", month=d.month, day=d.day, weekday=_(WEEKDAYS[d.weekday()]))


def china_time(value: datetime | float | None, *, seconds: bool = True) -> str:
    """A moment (aware datetime, or epoch seconds) as ``YYYY-MM-DD HH:MM[:SS]`` in China time.
    A naive datetime is taken as China time already."""
    if value is None or isinstance(value, bool):
        return NONE
    try:
        return _china(value).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):
        return NONE


def china_hhmm(value: datetime) -> str:
    """``HH:MM`` in China time (programme times, session start and end)."""
    dt = value if value.tzinfo else value.replace(tzinfo=CHINA)
    return dt.astimezone(CHINA).strftime("%H:%M")


def people_time(value: datetime | float | None, now: datetime | None = None) -> str:
    """A moment as county staff read it, in China time: "11月22日 22:11" this year, "2025年11月22日
    22:11" another year."""
    if value is None or isinstance(value, bool):
        return NONE
    try:
        dt = _china(value)
    except (ValueError, OverflowError, OSError):
        return NONE
    this_year = _china(now or datetime.now(UTC)).year
    year = "" if dt.year == this_year else f"{dt.year}年"
    return f"{year}{dt.month}月{dt.day}日 {dt:%H:%M}"


def people_day(value: date | None, today: date | None = None) -> str:
    """A China date as people write it: "11月22日" this year, "2025年11月22日" another."""
    if value is None:
        return NONE
    this_year = (today or datetime.now(CHINA).date()).year
    return f"{'' if value.year == this_year else f'{value.year}年'}{value.month}月{value.day}日"
