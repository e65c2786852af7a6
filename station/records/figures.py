"""Today's and a month's figures (sessions, person-times, plays, hours, wrong PINs) from journal
events, as the admin page shows them. Pure.

A play outside any session counts as a person-time of individual study (自学) only once it watched
``rules.COUNT_PLAY_S`` (or nearly all of a shorter lesson): zapping through lessons is not study;
and a client (one TV address) adds at most one such person-time per course a China day, however
often it replays it (its watched seconds still add). A session that ended too soon (``counted``
false) adds no person-times, and a session is counted once however many ``session_end`` lines it
has (a power cut between writing the end and clearing the session in progress)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from station.records import rules


@dataclass
class Figures:
    sessions: int = 0
    session_person_times: int = 0  # 集中学习: sum of headcounts
    individual_plays: int = 0  # 自学: plays outside any session
    plays: int = 0
    completed: int = 0
    watched_s: float = 0.0
    failed_logins: int = 0  # wrong admin PINs
    short_sessions: int = 0  # ended too soon: kept, not counted
    courses: set[str] = field(default_factory=set)

    @property
    def person_times(self) -> int:
        return self.session_person_times + self.individual_plays

    @property
    def hours(self) -> float:
        return self.watched_s / 3600


def figures(events: Iterable[dict]) -> Figures:
    """Today's or a month's figures from journal events (pure)."""
    f = Figures()
    ended: set[str] = set()
    viewers: set[tuple[str, str, str]] = set()  # (China day, client, course) already counted
    for e in events:
        kind = e.get("kind")
        if kind == "session_end":
            sid = str(e.get("id") or "")
            if sid and sid in ended:
                continue
            ended.add(sid)
            if e.get("counted") is False:
                f.short_sessions += 1  # ended too soon to count (station.records.rules.MIN_SESSION_S)
                continue
            f.sessions += 1
            f.session_person_times += int(e.get("headcount") or 0)
        elif kind == "admin_login" and not e.get("ok"):
            f.failed_logins += 1
        elif kind == "play":
            f.plays += 1
            f.watched_s += _number(e.get("watched_s"))
            f.completed += bool(e.get("completed"))
            f.courses.add(str(e.get("course")))
            viewer = (str(e.get("ts") or "")[:10], str(e.get("client") or ""), str(e.get("course")))
            if (
                not e.get("session")
                and viewer not in viewers
                and rules.counts_as_study(_number(e.get("watched_s")), _number(e.get("duration_s")))
            ):
                viewers.add(viewer)
                f.individual_plays += 1
    return f


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
