"""Attendance records as the pages and reports get them: organised study sessions (集中学习),
finished plays, live classes watched, resume points, logbook entries and the five-ones self-check. Pure:
``station.records`` keeps them (journal lines, TinyDB documents) and turns them into these
objects and back (``station.records.forms``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar


@dataclass(frozen=True)
class WatchedCourse:
    """A course watched during a study session, and for how long (pauses and seeks excluded)."""

    id: str
    title: str
    watched_s: float = 0.0


@dataclass(frozen=True)
class StudySession:
    """An organised study session: while it runs (``ended`` is None) and once it has ended,
    with what was watched."""

    id: str
    topic: str
    facilitator: str
    headcount: int
    started: datetime
    names: tuple[str, ...] = ()  # the roll, when the administrator typed one
    source: str = "admin"  # where it was started: "admin" (the admin page) or "tv"
    ended: datetime | None = None
    duration_s: int = 0
    courses: tuple[WatchedCourse, ...] = ()
    plays: int = 0
    counted: bool = True  # False: ended too soon (station.records.rules.MIN_SESSION_S), headcount not counted

    @property
    def running(self) -> bool:
        return self.ended is None


@dataclass(frozen=True)
class PlayRecord:
    """One play of a lesson, as the journal keeps it once the player ended it (or went silent)."""

    course: str
    title: str
    start: datetime
    end: datetime
    watched_s: float  # seconds of playback that advanced, capped by the time that passed
    position_s: float
    duration_s: float
    completed: bool  # at least 90 % of the lesson actually watched
    reached_end: bool = False
    session: str | None = None  # the study session it belonged to
    channel: bool = False  # played as a scheduled programme
    episode: int | None = None
    client: str = ""  # the address of the TV that played it: one play at a time per client


@dataclass(frozen=True)
class LiveRecord:
    """A live class (网络党课) watched on one TV, as the journal keeps it once the TV ended it
    (or went silent, or started something else)."""

    live: str  # the live class's id (playlists.schedule.Live)
    title: str
    start: datetime
    end: datetime
    watched_s: float  # seconds of the stream actually played, capped by the time that passed and the class's length
    session: str | None = None  # the study session it was watched in
    client: str = ""  # the address of the TV: one thing at a time per client


@dataclass(frozen=True)
class ResumePoint:
    """Where a lesson stopped, for "continue watching"."""

    position_s: float
    duration_s: float
    updated: float  # epoch seconds (the box clock, floored at the newest signed timestamp)


@dataclass(frozen=True)
class LogEntry:
    """One entry of the station's logbook, written by the administrator."""

    text: str
    author: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class FiveAnswer:
    """One of the five-ones (一处固定场所 …): met or not, and the administrator's note."""

    ok: bool = False
    note: str = ""


@dataclass(frozen=True)
class FivesCheck:
    """The five-ones self-check as last saved: an answer per item (``station.records.attendance.FIVES``)."""

    answers: dict[str, FiveAnswer] = field(default_factory=dict)
    checked: datetime | None = None  # None: never saved

    def answer(self, key: str) -> FiveAnswer:
        return self.answers.get(key) or FiveAnswer()


@dataclass(frozen=True)
class JournalUsage:
    """How full the attendance journal is (``station.records.journal``): what the admin page warns
    about and ``station status`` prints."""

    WARN_AT: ClassVar[float] = 0.8  # the admin page warns above this share of the budget

    bytes: int
    budget_bytes: int
    segments: int
    last_seq: int
    acknowledged_seq: int  # 0: the headend has acknowledged nothing yet

    @property
    def share(self) -> float:
        return self.bytes / self.budget_bytes if self.budget_bytes else 0.0

    @property
    def near(self) -> bool:
        return self.share >= self.WARN_AT

    @property
    def full(self) -> bool:
        return self.bytes >= self.budget_bytes

    @property
    def unreported(self) -> int:
        return max(0, self.last_seq - self.acknowledged_seq)
