"""The figures of a run of journal events — sessions, person-times, plays, hours, wrong PINs,
logbook entries, notice views, online minutes, the five-ones at the end — as the station's admin
page shows them and the headend's daily roll-up stores them: one pure fold, so both agree.

Watching a live class (a ``live`` event) is counted apart: ``live_plays`` and ``live_watched_s``;
one watched during a study session carries the session's id, and like a play within a session it
adds no person-time of individual study (the session's headcount counts the people there).

A play outside any session counts as a person-time of individual study (自学) only once it watched
``COUNT_PLAY_S`` (or nearly all of a shorter lesson, ``counts_as_study``): zapping through lessons
is not study; and a client (one TV address) adds at most one such person-time per course a China
day, however often it replays it (its watched seconds still add). A session that ended too soon
(``counted`` false) adds no person-times, and a session is counted once however many
``session_end`` lines it has (a power cut between writing the end and clearing the session in
progress). Online minutes are health samples × their ``interval_s``, at most 1,440 a day.

A session counts (its headcount adds person-times) only if it lasted ``MIN_SESSION_S`` by its
``duration_s`` and by its start and end, whatever its ``counted`` says.

Besides the figures, the fold keeps what the county's plausibility rules read (``headend``
ratings): the largest headcount of a counted session, counted sessions that overlap another,
plays (and live watching) that claim more watched time than passed between their start and end,
the longest run of identical plays, live watching, session ends or logbook entries (a script
replaying one line), and the newest repository version a health sample said was installed.

The day of an event is a key function: the station takes its ``ts[:10]`` (the box's China date),
the headend the China date of the corrected time."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

MIN_SESSION_S = 300  # a session ended sooner is kept, but its headcount is not counted
WALL_SLACK_S = 60.0  # a play may claim this much more watched time than start→end (clock steps)
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
    max_headcount: int = 0  # the largest headcount of a counted session
    overlapping_sessions: int = 0  # counted sessions whose time overlaps another counted one
    overlong_plays: int = 0  # plays and live watching whose watched time exceeds start→end (+ WALL_SLACK_S)
    identical: int = 0  # the most copies of one play, live watching, session end or logbook entry
    installed_version: int | None = None  # the newest version a health sample said was installed
    clients: int = 0  # TVs (addresses) with a play that counted as individual study
    live_plays: int = 0  # live classes watched (``live`` events)
    live_watched_s: float = 0.0  # seconds of live classes watched

    @property
    def person_times(self) -> int:
        return self.session_person_times + self.individual_plays

    @property
    def hours(self) -> float:
        return self.watched_s / 3600


@dataclass
class Tally:
    """The fold's running state: ``add`` one event at a time (with its China day and its place in
    order), ``figures`` at any point. ``state``/``from_state`` turn it into JSON and back, so the
    headend keeps one per station-day and adds only the events it newly holds (exact under
    re-sends); the order key decides which of two lines of a session counts and which five-ones
    check is the day's last, whatever order the events arrive in."""

    plays: int = 0
    completed: int = 0
    watched_s: float = 0.0
    failed_logins: int = 0
    logbook: int = 0
    events: int = 0
    uncertain: int = 0
    notice_views: dict[str, int] = field(default_factory=dict)
    online_s: dict[str, float] = field(default_factory=dict)  # by China day
    courses: set[str] = field(default_factory=set)
    viewers: set[tuple[str, str, str]] = field(default_factory=set)  # (day, client, course) counted
    ended: dict[str, list] = field(default_factory=dict)  # session id → [order, counted, headcount, started, ended]
    fives: list | None = None  # [order, {key: met}] of the last check
    overlong: int = 0
    copies: dict[str, int] = field(default_factory=dict)  # what an event says (hashed) → how often
    installed: int | None = None
    live_plays: int = 0  # (a state saved before live classes has neither: 0)
    live_watched_s: float = 0.0

    def add(self, e: Mapping, day: str, order: list, uncertain: bool = False) -> None:
        self.events += 1
        self.uncertain += bool(uncertain)
        kind = e.get("kind")
        if kind == "session_end":
            sid = str(e.get("id") or "") or f"\0{order}"  # no id: never the same session as another
            first = self.ended.get(sid)
            if first is None:  # another line of a session already ended is no copy of it
                self._copy(e, ("started", "ended", "headcount", "topic", "names"))
            if first is None or order < first[0]:
                counted = e.get("counted") is not False and _long_enough(e)
                self.ended[sid] = [order, counted, _int(e.get("headcount")), e.get("started"), e.get("ended")]
        elif kind == "admin_login" and not e.get("ok"):
            self.failed_logins += 1
        elif kind == "play":
            self.plays += 1
            seconds = _number(e.get("watched_s"))
            self.watched_s += seconds
            self.completed += bool(e.get("completed"))
            self.courses.add(str(e.get("course")))
            if not e.get("session") and counts_as_study(seconds, _number(e.get("duration_s"))):
                self.viewers.add((day, str(e.get("client") or ""), str(e.get("course"))))
            wall = _span_s(e.get("start"), e.get("end"))
            self.overlong += wall is not None and seconds > wall + WALL_SLACK_S
            self._copy(e, ("course", "start", "end", "watched_s", "client"))
        elif kind == "live":
            self.live_plays += 1
            seconds = _number(e.get("watched_s"))
            self.live_watched_s += seconds
            wall = _span_s(e.get("start"), e.get("end"))
            self.overlong += wall is not None and seconds > wall + WALL_SLACK_S
            self._copy(e, ("live", "start", "end", "watched_s", "client"))
        elif kind == "logbook":
            self.logbook += 1
            self._copy(e, ("text", "author"))
        elif kind == "notice_view":
            notice = str(e.get("notice") or "")
            self.notice_views[notice] = self.notice_views.get(notice, 0) + 1
        elif kind == "health":
            self.online_s[day] = self.online_s.get(day, 0.0) + _number(e.get("interval_s"))
            v = e.get("installed_version")
            if isinstance(v, int) and not isinstance(v, bool) and (self.installed is None or v > self.installed):
                self.installed = v
        elif kind == "fives" and (self.fives is None or order >= self.fives[0]):
            self.fives = [order, {k: bool(e[k].get("ok")) for k in FIVES if isinstance(e.get(k), Mapping)}]

    def _copy(self, e: Mapping, keys: tuple[str, ...]) -> None:
        said = repr((e.get("kind"), *(e.get(k) for k in keys)))
        key = hashlib.blake2b(said.encode(), digest_size=8).hexdigest()
        self.copies[key] = self.copies.get(key, 0) + 1

    def figures(self) -> Figures:
        counted = [v for v in self.ended.values() if v[1]]
        return Figures(
            sessions=len(counted),
            session_person_times=sum(v[2] for v in counted),
            individual_plays=len(self.viewers),
            plays=self.plays,
            completed=self.completed,
            watched_s=self.watched_s,
            failed_logins=self.failed_logins,
            short_sessions=len(self.ended) - len(counted),
            courses=frozenset(self.courses),
            logbook=self.logbook,
            notice_views=MappingProxyType(dict(sorted(self.notice_views.items()))),
            online_minutes=sum(min(DAY_MINUTES, s / 60) for s in self.online_s.values()),
            fives=MappingProxyType(dict(self.fives[1])) if self.fives is not None else None,
            events=self.events,
            uncertain=self.uncertain,
            max_headcount=max((v[2] for v in counted), default=0),
            overlapping_sessions=_overlapping(counted),
            overlong_plays=self.overlong,
            identical=max(self.copies.values(), default=0),
            installed_version=self.installed,
            clients=len({v[1] for v in self.viewers}),
            live_plays=self.live_plays,
            live_watched_s=self.live_watched_s,
        )

    def state(self) -> dict:
        d = dict(self.__dict__)
        d["courses"] = sorted(self.courses)
        d["viewers"] = sorted(list(v) for v in self.viewers)
        return d

    @classmethod
    def from_state(cls, d: Mapping) -> Tally:
        t = cls(**{k: v for k, v in d.items() if k not in ("courses", "viewers")})
        t.courses = set(d.get("courses", ()))
        t.viewers = {tuple(v) for v in d.get("viewers", ())}
        return t


def figures(
    events: Iterable[Mapping],
    day: Callable[[Mapping], str] = raw_day,
    uncertain: Callable[[Mapping], bool] = _never,
) -> Figures:
    """The figures of ``events`` (in journal order); ``day`` gives an event's China date."""
    t = Tally()
    for i, e in enumerate(events):
        t.add(e, day(e), [i], uncertain(e))
    return t.figures()


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else None


def _span_s(start: object, end: object) -> float | None:
    """Seconds from ``start`` to ``end`` (None when either is not an aware ISO time)."""
    a, b = _moment(start), _moment(end)
    return (b - a).total_seconds() if a and b else None


def _long_enough(e: Mapping) -> bool:
    """A session counts only if it lasted ``MIN_SESSION_S`` by the box's own measure and by its
    start and end, as far as it says them (a zero-length session with a large ``duration_s`` is
    no session)."""
    duration = e.get("duration_s")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool) and duration < MIN_SESSION_S:
        return False  # (a line written before sessions carried their length says nothing here)
    span = _span_s(e.get("started"), e.get("ended"))
    return span is None or span >= MIN_SESSION_S - WALL_SLACK_S


def _overlapping(sessions: list[list]) -> int:
    """How many of these sessions (entries of ``Tally.ended``) overlap another in time."""
    spans = []
    for v in sessions:
        if len(v) >= 5:
            a, b = _moment(v[3]), _moment(v[4])
            if a and b and b > a:
                spans.append((a, b))
    spans.sort()
    hit: set[int] = set()
    for i in range(len(spans)):
        j = i + 1
        while j < len(spans) and spans[j][0] < spans[i][1]:
            hit.update((i, j))
            j += 1
    return len(hit)


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _int(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
