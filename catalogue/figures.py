"""The figures of a run of journal events — sessions, person-times, plays, hours, wrong PINs,
logbook entries, notice views, online minutes, the five-ones at the end — as the station's admin
page shows them and the headend's daily roll-up stores them: one pure fold, so both agree.

A play outside any session counts as a person-time of individual study (自学) only once it watched
``COUNT_PLAY_S`` (or nearly all of a shorter lesson, ``counts_as_study``): zapping through lessons
is not study; and a client (one TV address) adds at most one such person-time per course a China
day, however often it replays it (its watched seconds still add). A session that ended too soon
(``counted`` false) adds no person-times, and a session is counted once however many
``session_end`` lines it has (a power cut between writing the end and clearing the session in
progress). Online minutes are health samples × their ``interval_s``, at most 1,440 a day.

The day of an event is a key function: the station takes its ``ts[:10]`` (the box's China date),
the headend the China date of the corrected time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

COUNT_PLAY_S = 60.0  # watched this long (or 90 % of a shorter lesson): a person-time of individual study
DAY_MINUTES = 1440
FIVES = ("place", "equipment", "administrator", "rules", "assessment")


def counts_as_study(watched_s: float, duration_s: float) -> bool:
    need = min(COUNT_PLAY_S, 0.9 * duration_s) if duration_s else COUNT_PLAY_S
    return watched_s >= max(need, 1.0)


def raw_day(e: Mapping) -> str:
    """The station's day of an event: the China date its box wrote (``ts[:10]``)."""
    return str(e.get("ts") or "")[:10]


def _never(_e: Mapping) -> bool:
    return False


@dataclass(frozen=True)
class Figures:
    sessions: int = 0
    session_person_times: int = 0  # 集中学习: sum of headcounts
    individual_plays: int = 0  # 自学: plays outside any session that count as study
    plays: int = 0
    completed: int = 0
    watched_s: float = 0.0
    failed_logins: int = 0  # wrong admin PINs
    short_sessions: int = 0  # ended too soon: kept, not counted
    courses: frozenset[str] = frozenset()
    logbook: int = 0  # logbook entries
    notice_views: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))  # by notice id
    online_minutes: float = 0.0  # health samples × interval, at most 1,440 a day
    fives: Mapping[str, bool] | None = None  # the last five-ones check: key → met
    events: int = 0
    uncertain: int = 0  # events whose time the headend could not correct

    @property
    def person_times(self) -> int:
        return self.session_person_times + self.individual_plays

    @property
    def hours(self) -> float:
        return self.watched_s / 3600


def figures(
    events: Iterable[Mapping],
    day: Callable[[Mapping], str] = raw_day,
    uncertain: Callable[[Mapping], bool] = _never,
) -> Figures:
    """The figures of ``events`` (in journal order); ``day`` gives an event's China date."""
    n = dict.fromkeys(
        ("sessions", "session_person_times", "individual_plays", "plays", "completed", "failed_logins"), 0
    )
    short = logbook = count = unsure = 0
    watched = 0.0
    courses: set[str] = set()
    notices: dict[str, int] = {}
    online: dict[str, float] = {}
    fives: dict[str, bool] | None = None
    ended: set[str] = set()
    viewers: set[tuple[str, str, str]] = set()  # (China day, client, course) already counted
    for e in events:
        count += 1
        unsure += bool(uncertain(e))
        kind = e.get("kind")
        if kind == "session_end":
            sid = str(e.get("id") or "")
            if sid and sid in ended:
                continue
            ended.add(sid)
            if e.get("counted") is False:
                short += 1
                continue
            n["sessions"] += 1
            n["session_person_times"] += _int(e.get("headcount"))
        elif kind == "admin_login" and not e.get("ok"):
            n["failed_logins"] += 1
        elif kind == "play":
            n["plays"] += 1
            seconds = _number(e.get("watched_s"))
            watched += seconds
            n["completed"] += bool(e.get("completed"))
            courses.add(str(e.get("course")))
            viewer = (day(e), str(e.get("client") or ""), str(e.get("course")))
            if (
                not e.get("session")
                and viewer not in viewers
                and counts_as_study(seconds, _number(e.get("duration_s")))
            ):
                viewers.add(viewer)
                n["individual_plays"] += 1
        elif kind == "logbook":
            logbook += 1
        elif kind == "notice_view":
            notice = str(e.get("notice") or "")
            notices[notice] = notices.get(notice, 0) + 1
        elif kind == "health":
            d = day(e)
            online[d] = online.get(d, 0.0) + _number(e.get("interval_s"))
        elif kind == "fives":
            fives = {k: bool(e[k].get("ok")) for k in FIVES if isinstance(e.get(k), Mapping)}
    return Figures(
        **n,
        watched_s=watched,
        short_sessions=short,
        courses=frozenset(courses),
        logbook=logbook,
        notice_views=MappingProxyType(dict(sorted(notices.items()))),
        online_minutes=sum(min(DAY_MINUTES, s / 60) for s in online.values()),
        fives=MappingProxyType(fives) if fives is not None else None,
        events=count,
        uncertain=unsure,
    )


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _int(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
