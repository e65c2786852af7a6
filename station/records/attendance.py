"""Local attendance: play records, organised study sessions (集中学习), administrator logins,
logbook entries, notice views, resume points, the five-ones self-check and villagers' questions.

Where each lives (DESIGN.md "Storage")::

    journal/<date>[.N].jsonl (station.records.journal)  append-only segments, fsync'd: every event below
        play           course, episode, start, end, watched_s (pauses and seeks excluded), completed,
                       client (the TV's address)
        live           a live class watched: live (its id), title, start, end, watched_s, session,
                       client
        session_start  a study session began (topic, facilitator, headcount, roll)
        session_end    the whole summary of a finished study session; counted false: too short
        logbook        one entry written by the administrator
        admin_login    ok or not, client address
        notice_view    notice id, where it was seen
        fives          a saved five-ones self-check
        question       a villager's question: number, topic, text, asker, publish (station.records.questions)
    local.json   (TinyDB, small bounded documents only; station.records.local, which starts it
                 again from the journal when it is damaged)
        resume         course id -> position; at most MAX_RESUME_POINTS, oldest dropped
        session        the study session in progress, if any
        fives          the current five-ones self-check

Open plays live in ``station.records.plays``; every record is bounded by ``station.records.rules``
(a headcount within ``capacity``, sessions a day, short sessions not counted).
Methods here block (file writes, fsync): the web layer calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from catalogue.figures import Figures, figures
from playlists.schedule import CHINA
from station.errors import InputError, LimitError, StoreError
from station.i18n import N_
from station.model.attendance import (
    FiveAnswer,
    FivesCheck,
    JournalUsage,
    LiveRecord,
    LogEntry,
    PlayRecord,
    ResumePoint,
    StudySession,
    WatchedCourse,
)
from station.model.questions import Question
from station.records import local, questions, rules
from station.records.forms import (
    fives_from_dict,
    fives_to_dict,
    live_from_dict,
    log_entry_from_dict,
    play_from_dict,
    resume_from_dict,
    resume_to_dict,
    session_from_dict,
    session_to_dict,
)
from station.records.journal import DEFAULT_BUDGET_BYTES, Journal, china_date
from station.records.plays import OpenPlay, Plays
from station.records.rules import MIN_HEADCOUNT, max_headcount

log = logging.getLogger(__name__)

MAX_RESUME_POINTS = 300
RESUME_MIN_S = 3.0  # closer than this to either end: start from the beginning
MAX_ROLL = 500
FIVES = ("place", "equipment", "administrator", "rules", "assessment")


def parse_headcount(text: Any, capacity: int | None = None) -> int:
    """A session's headcount: a whole number from 1 to the room's capacity (``DEFAULT_CAPACITY``
    when ``[station] capacity`` is not set); LimitError (409, how to change it) above it."""
    raw = str(text if text is not None else "").strip()
    try:
        n = int(raw) if len(raw) <= 12 else None
    except ValueError:
        n = None
    limit = max_headcount(capacity)
    if n is not None and n > limit:
        if capacity:
            raise LimitError(
                N_(
                    "The study room has %(capacity)d seats, so the headcount can be at most %(capacity)d. "
                    "If the room has more seats, the administrator can change capacity in station.toml."
                ),
                capacity=capacity,
            )
        raise LimitError(
            N_(
                "The headcount can be at most %(capacity)d while the room's seats are not set. "
                "If more people really attend, the administrator can set capacity in station.toml."
            ),
            capacity=limit,
        )
    if n is None or n < MIN_HEADCOUNT:
        raise InputError(
            N_("The headcount must be a whole number from %(min)d to %(max)d."),
            min=MIN_HEADCOUNT,
            max=limit,
        )
    return n


def parse_roll(text: Any) -> list[str]:
    names = [n.strip() for n in str(text or "").replace("，", ",").replace(",", "\n").splitlines()]
    names = [n[:40] for n in names if n]
    if len(names) > MAX_ROLL:
        raise InputError(N_("The roll can list at most %(max)d names."), max=MAX_ROLL)
    return names


def resume_position(position_s: float, duration_s: float) -> float:
    """Where a lesson reopens: the saved position, unless it is at the very start or the end."""
    if position_s < RESUME_MIN_S or (duration_s and position_s > duration_s - RESUME_MIN_S):
        return 0.0
    return position_s


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(int(ts), CHINA)


class Attendance:
    _RESUME, _SESSION, _FIVES = local.RESUME, local.SESSION, local.FIVES

    def __init__(
        self,
        data_dir: Path,
        clock: Callable[[], float] = time.time,
        *,
        capacity: int | None = None,
        screens: int = rules.DEFAULT_SCREENS,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
    ) -> None:
        self.clock = clock
        self.capacity = capacity or None  # seats in the study room ([station] capacity); None: not set
        self.journal = Journal(Path(data_dir) / "journal", clock, budget_bytes)
        self._docs = local.LocalDocs(Path(data_dir) / "local.json", self.journal)
        self._lock = threading.RLock()
        self._plays = Plays(self.journal, clock, screens)
        self._seen_notices: set[tuple[str, str]] = set()

    @property
    def max_headcount(self) -> int:
        return max_headcount(self.capacity)

    def journal_usage(self) -> JournalUsage:
        return self.journal.usage()

    # ---- small documents -------------------------------------------------------------------

    def _doc(self, doc_id: int) -> dict:
        return self._docs.get(doc_id)

    def _put(self, doc_id: int, doc: dict) -> None:
        self._docs.put(doc_id, doc)

    # ---- resume points ---------------------------------------------------------------------

    def resume_points(self) -> dict[str, ResumePoint]:
        """Course id → where it stopped."""
        return {cid: resume_from_dict(p) for cid, p in self._stored_points().items() if isinstance(p, dict)}

    def _stored_points(self) -> dict[str, dict]:
        points = self._doc(self._RESUME).get("points")
        return points if isinstance(points, dict) else {}

    def resume_at(self, course_id: str, duration_s: float) -> float:
        p = self.resume_points().get(course_id)
        return resume_position(p.position_s, duration_s) if p else 0.0

    def save_resume(self, course_id: str, position_s: float, duration_s: float) -> None:
        with self._lock:
            points = self._stored_points()
            if resume_position(position_s, duration_s) == 0.0:
                if points.pop(course_id, None) is None:
                    return
            else:
                points[course_id] = resume_to_dict(
                    ResumePoint(round(position_s, 1), duration_s, round(self.clock(), 1))
                )
                if len(points) > MAX_RESUME_POINTS:
                    by_age = sorted(points, key=lambda k: float(points[k].get("updated") or 0))
                    for old in by_age[: len(points) - MAX_RESUME_POINTS]:
                        del points[old]
            self._put(self._RESUME, {"points": points})

    # ---- plays (station.records.plays) ----------------------------------------------------------

    def start_play(
        self,
        course_id: str,
        title: str,
        duration_s: float,
        *,
        episode: int | None = None,
        channel: bool = False,
        client: str = "",
    ) -> str:
        """A play starts on ``client`` (the TV's address); LimitError: at the journal's budget, or
        too many screens already playing."""
        session = self.current_session()
        return self._plays.start(
            course_id,
            title,
            duration_s,
            episode=episode,
            channel=channel,
            session=session.id if session else None,
            client=client,
        )

    def progress(self, play_id: str, position_s: float, watched_s: float) -> bool:
        """A heartbeat from the player; saves the resume point. False: no such open play."""
        play = self._plays.progress(play_id, position_s, watched_s)
        if play is None:
            return False
        self.save_resume(play.course, play.position_s, play.duration_s)
        return True

    def end_play(self, play_id: str, position_s: float, watched_s: float, ended: bool = False) -> PlayRecord | None:
        """The play's record; None when there is no such open play. A play that came at the
        journal's budget, or past the client's plays of the day, makes no journal line."""
        try:
            play, rec = self._plays.end(play_id, position_s, watched_s, ended)
        except KeyError:
            return None
        self.save_resume(play.course, 0.0 if ended else play.position_s, play.duration_s)
        return rec or self._plays.record(play, self.clock())

    # ---- live classes watched (plays of their own kind: station.records.plays) ----------------

    def start_live(self, live_id: str, title: str, duration_s: float, *, client: str = "") -> tuple[str, str | None]:
        """Watching the live class ``live_id`` starts on ``client``: (its id, the study session it
        belongs to or None). LimitError as ``start_play``; the caller checks the class is on air."""
        session = self.current_session()
        play_id = self._plays.start(
            live_id,
            title,
            duration_s,
            episode=None,
            channel=False,
            session=session.id if session else None,
            client=client,
            live=True,
        )
        return play_id, session.id if session else None

    def live_progress(self, play_id: str, watched_s: float) -> bool:
        """A heartbeat from the live page. False: no such live class being watched."""
        return self._plays.progress(play_id, 0.0, watched_s, live=True) is not None

    def end_live(self, play_id: str, watched_s: float) -> LiveRecord | None:
        """The record of watching a live class; None when there is no such one open. One that came
        at the journal's budget, or past the client's plays of the day, makes no journal line."""
        try:
            play, rec = self._plays.end(play_id, 0.0, watched_s, False, live=True)
        except KeyError:
            return None
        return rec if isinstance(rec, LiveRecord) else self._plays.live_record(play, self.clock())

    def open_live(self) -> list[OpenPlay]:
        return self._plays.open_plays(live=True)

    def sweep(self) -> list[PlayRecord | LiveRecord]:
        """Close plays whose player went silent (the TV was switched off, the page crashed)."""
        return self._plays.sweep()

    def close_all(self) -> None:
        self._plays.close_all()

    def open_plays(self) -> list[OpenPlay]:
        return self._plays.open_plays()

    # ---- organised study sessions ------------------------------------------------------------

    def current_session(self) -> StudySession | None:
        current = self._doc(self._SESSION).get("current")
        return session_from_dict(current) if isinstance(current, dict) and current else None

    def start_session(
        self, topic: str, facilitator: str, headcount: Any, names: Any = "", source: str = "admin"
    ) -> StudySession:
        topic = str(topic or "").strip()[:80]
        if not topic:
            raise InputError(N_("Give the session a topic."))
        roll = parse_roll(names)
        if roll and not str(headcount or "").strip():
            headcount = len(roll)
        n = parse_headcount(headcount, self.capacity)
        with self._lock:
            if self.current_session():
                raise InputError(N_("A study session is already in progress; end it first."))
            now = self.clock()
            today = china_date(now)
            events = list(self.journal.days(today, today))
            started = sum(1 for e in events if e.get("kind") == "session_start" and e.get("source") == source)
            last_end = max(
                (
                    s.ended.timestamp()
                    for s in map(session_from_dict, (e for e in events if e.get("kind") == "session_end"))
                    if s.ended
                ),
                default=now,
            )
            if started >= rules.MAX_SESSIONS_PER_DAY:
                raise LimitError(
                    N_("%(n)d study sessions have already been held today; no more can start before tomorrow."),
                    n=rules.MAX_SESSIONS_PER_DAY,
                )
            session = StudySession(
                id=secrets.token_hex(6),
                topic=topic,
                facilitator=str(facilitator or "").strip()[:40],
                headcount=n,
                names=tuple(roll),
                started=_at(max(now, last_end)),  # never overlapping the last one (a clock set back)
                source=source,
            )
            doc = session_to_dict(session)
            self._put(self._SESSION, {"current": doc})
            self.journal.append("session_start", **doc)
        return session

    def end_session(self) -> StudySession:
        with self._lock:
            session = self.current_session()
            if not session:
                raise InputError(N_("No study session is in progress."))
            now = self.clock()
            started = session.started.timestamp()
            events = list(self.journal.days(china_date(started), china_date(max(now, started))))
            for e in events:
                if e.get("kind") == "session_end" and e.get("id") == session.id:
                    # already ended (a power cut before the session in progress was cleared)
                    self._put(self._SESSION, {"current": None})
                    return session_from_dict(e)
            mine = [e for e in events if e.get("kind") in ("play", "live") and e.get("session") == session.id]
            plays = [play_from_dict(e) for e in mine if e["kind"] == "play"]
            lives = [live_from_dict(e) for e in mine if e["kind"] == "live"]
            # what was watched: lessons and live classes (keyed apart: a live id may be a course's)
            watched: dict[tuple[bool, str], WatchedCourse] = {}
            done = [(False, p.course, p.title, p.watched_s) for p in plays]
            done += [(True, x.live, x.title, x.watched_s) for x in lives]
            still_open = [
                (p.live, p.course, p.title, p.watched_s)
                for p in self._plays.open_plays(live=None)
                if p.session == session.id
            ]
            for live, course, title, seconds in done + still_open:
                c = watched.get((live, course)) or WatchedCourse(course, title)
                watched[(live, course)] = replace(c, watched_s=c.watched_s + seconds)
            duration_s = round(max(0.0, now - started))
            summary = replace(
                session,
                ended=_at(now),
                duration_s=duration_s,
                courses=tuple(watched.values()),
                plays=len(plays) + len(lives),
                counted=rules.session_counts(duration_s),
            )
            self.journal.append("session_end", **session_to_dict(summary))
            self._put(self._SESSION, {"current": None})
        return summary

    def session(self, session_id: str) -> StudySession | None:
        for e in self.journal.recent("session_end", limit=1000, max_days=366):
            if e.get("id") == session_id:
                return session_from_dict(e)
        return None

    def sessions_between(self, first: date, last: date) -> list[StudySession]:
        """Finished sessions, each once (a power cut can leave two ``session_end`` lines for one)."""
        ended = {}
        for e in self.journal.days(first, last):
            if e.get("kind") == "session_end":
                ended.setdefault(e.get("id") or len(ended), e)
        return [session_from_dict(e) for e in ended.values()]

    # ---- logbook, logins, notices ----------------------------------------------------------

    def write_log(self, text: str, author: str = "") -> LogEntry:
        text = str(text or "").strip()
        if not text:
            raise InputError(N_("Write something in the logbook entry."))
        if len(text) > 2000:
            raise InputError(N_("A logbook entry can be at most %(max)d characters."), max=2000)
        return log_entry_from_dict(self.journal.append("logbook", text=text, author=str(author or "")[:40]))

    def logbook(self, limit: int = 30) -> list[LogEntry]:
        return [log_entry_from_dict(e) for e in self.journal.recent("logbook", limit)]

    def admin_login(self, ok: bool, client: str) -> None:
        """A wrong PIN can come from anyone on the LAN: at the journal's budget it is not recorded."""
        self.journal.append("admin_login", sheddable=not ok, ok=ok, client=client)

    def notice_view(self, notice_id: str, via: str, client: str = "") -> bool:
        """Record a notice seen on the TV: once per notice, place and client a day."""
        key = (china_date(self.clock()).isoformat(), f"{via}:{client}:{notice_id}")
        with self._lock:
            if key in self._seen_notices:
                return False
            if len(self._seen_notices) > 10_000:
                self._seen_notices.clear()
            self._seen_notices.add(key)
        try:
            self.journal.append("notice_view", sheddable=True, notice=notice_id, via=via)
        except StoreError as exc:  # a full disk or journal must not stop the TV page showing the notice
            log.warning("notice view not recorded: %s", exc)
            return False
        return True

    def notice_views(self, first: date, last: date) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.journal.days(first, last):
            if e.get("kind") == "notice_view":
                counts[str(e.get("notice"))] = counts.get(str(e.get("notice")), 0) + 1
        return counts

    # ---- villagers' questions (station.records.questions) ----------------------------------

    def ask_question(self, topic: Any, text: Any, asker: Any = "", publish: bool = False) -> Question:
        """Record a question and give it its number (InputError: refused, nothing recorded)."""
        with self._lock:
            return questions.ask(self.journal, self.clock(), topic, text, asker, publish)

    def questions(self, limit: int = 50) -> list[Question]:
        """This station's recent questions, newest first."""
        return questions.recent(self.journal, limit)

    # ---- five-ones self-check --------------------------------------------------------------

    def fives(self) -> FivesCheck:
        return fives_from_dict(self._doc(self._FIVES), FIVES)

    def administrator(self) -> str:
        """Who the five-ones self-check names as the information administrator (their note)."""
        return self.fives().answer("administrator").note

    def save_fives(self, answers: dict[str, FiveAnswer]) -> FivesCheck:
        check = FivesCheck(
            {k: FiveAnswer(answers[k].ok, answers[k].note[:200]) if k in answers else FiveAnswer() for k in FIVES},
            _at(self.clock()),
        )
        doc = fives_to_dict(check, FIVES)
        self._put(self._FIVES, doc)
        self.journal.append("fives", **doc)
        return check

    # ---- figures ---------------------------------------------------------------------------

    def figures(self) -> tuple[Figures, Figures]:
        """(today, this month), China dates."""
        today = china_date(self.clock())
        month = list(self.journal.days(today.replace(day=1), today))
        return figures(e for e in month if e.get("ts", "").startswith(today.isoformat())), figures(month)

    def month_sessions(self) -> list[StudySession]:
        today = china_date(self.clock())
        return list(reversed(self.sessions_between(today.replace(day=1), today)))
