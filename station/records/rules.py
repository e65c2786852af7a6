"""What a real station can produce, as pure rules (times are epoch seconds passed in; no I/O).

County staff rank stations on these figures, and any client on the village LAN can read the TV
page and post what its script posts. So a record holds only what a real TV and a real study room
could have produced:

- a play cannot outlast the wall clock: seconds watched are capped by the time the play was open,
  by the lesson's length (+5 %), and by what is left of the China day for that client;
- a client (one TV, one address) plays one thing at a time: its plays never overlap, and it makes
  at most ``MAX_PLAYS_PER_DAY`` play records a China day (a real TV makes a few dozen);
- at most ``[station] screens`` clients (``DEFAULT_SCREENS`` when not set) have a play open at once;
- a position never lies beyond the end of the lesson;
- a live class (网络党课) is watched only while it is on air by the station's clock, from
  ``LIVE_EARLY_S`` before its start to ``LIVE_LATE_S`` after its end; its seconds watched are capped
  like a play's, by the class's length (a stream plays no faster than it is sent); watching it is one
  of the client's plays (one thing at a time, the screens, the day's records and seconds);
- a play outside a session is a person-time of individual study only once it watched
  ``COUNT_PLAY_S``, or 90 % of a shorter lesson (``catalogue.figures.counts_as_study``), and a client adds at most one
  such person-time per course a China day (one TV replaying a lesson is one viewer);
- a study session's headcount is within the room's capacity (``[station] capacity``; when not set,
  ``DEFAULT_CAPACITY``: a village study room, not a stadium);
  at most ``MAX_SESSIONS_PER_DAY`` sessions start in a China day from each place (the TV, the
  admin page: a flood from the TV cannot lock the administrator out), one at a time; a session shorter
  than ``MIN_SESSION_S`` is kept, but its person-times do not count (``session_counts``); a session
  never starts before the previous one ended (a clock set back).
"""

from __future__ import annotations

from catalogue.figures import MIN_SESSION_S  # a session ended sooner is recorded, its headcount not counted

DAY_S = 86400.0
MAX_PLAYS_PER_DAY = 500  # play records per client a China day; further plays are refused
OVERRUN = 1.05  # a lesson plays at most this share of its length (a seek back, a rebuffer)
DEFAULT_SCREENS = 2  # clients with a play open at once when [station] screens is not set
MAX_SESSIONS_PER_DAY = 8
MIN_HEADCOUNT = 1
DEFAULT_CAPACITY = 100  # the most a session's headcount can be when [station] capacity is not set
MAX_CAPACITY = 9999  # what [station] capacity may say
LIVE_EARLY_S = 300.0  # a live class may be joined this long before its start …
LIVE_LATE_S = 300.0  # … until this long after its end


def play_start(now: float, last_end: float | None) -> float:
    """When a client's new play starts: never before its previous play ended (a clock set back)."""
    return max(now, last_end) if last_end is not None else now


def watched(claimed_s: float, started: float, ended: float, duration_s: float, day_left_s: float) -> float:
    """Seconds a play may be credited with: what the player claimed, capped by the wall-clock span,
    the lesson's length and what is left of the client's day."""
    wall = max(0.0, ended - started)
    cap = min(wall, max(0.0, day_left_s))
    if duration_s:
        cap = min(cap, duration_s * OVERRUN)
    return max(0.0, min(claimed_s, cap))


def live_watched(claimed_s: float, started: float, ended: float, duration_s: float, day_left_s: float) -> float:
    """Seconds watching a live class may be credited with: what the TV claimed, capped by the
    wall-clock span, the class's length and what is left of the client's day."""
    return min(watched(claimed_s, started, ended, 0.0, day_left_s), max(0.0, duration_s))


def live_window(now: float, start: float, end: float) -> int:
    """Where ``now`` lies against a live class from ``start`` to ``end``: -1 before it may be
    joined, 0 on air (with the margins), 1 once it is over."""
    if now < start - LIVE_EARLY_S:
        return -1
    return 1 if now > end + LIVE_LATE_S else 0


def position(claimed_s: float, duration_s: float) -> float:
    """A position within the lesson (a lesson of unknown length takes the claim)."""
    return max(0.0, min(claimed_s, duration_s)) if duration_s else max(0.0, claimed_s)


def max_headcount(capacity: int | None) -> int:
    """The most a session's headcount can be: the room's capacity, or ``DEFAULT_CAPACITY``."""
    return min(capacity, MAX_CAPACITY) if capacity else DEFAULT_CAPACITY


def session_counts(duration_s: float) -> bool:
    """Whether a finished session's headcount counts as person-times."""
    return duration_s >= MIN_SESSION_S
