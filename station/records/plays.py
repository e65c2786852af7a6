"""Open plays, one per client, and how they become journal lines under ``station.records.rules``.

Watching a live class is a play of its own kind (``live``: an ``OpenPlay`` whose ``live`` is true,
``course`` the class's id): it takes the client's one play at a time and a screen, counts in the
client's day, and becomes a ``live`` line (``LiveRecord``) instead of a ``play``; the play API and
the live API each see only their own kind.

A play is open in memory while the TV's player reports progress; it becomes a journal line when the
player ends it, when the same client starts another play, when it has been silent for
``PLAY_IDLE_S``, or when the station shuts down. Each client's plays of the China day are tallied
(seeded from the day's journal after a restart), so its records never overlap and never add up to
more than the day. A play whose line cannot be written (a full disk) stays open and is written by
the next sweep; at the journal's budget a play is refused (``JournalFull``: what the headend has not
acknowledged is never deleted to make room). Methods block (fsync): call them from a thread.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from playlists.schedule import CHINA
from station.errors import LimitError, StoreError
from station.i18n import N_
from station.model.attendance import LiveRecord, PlayRecord
from station.records import rules
from station.records.forms import live_from_dict, live_to_dict, play_from_dict, play_to_dict
from station.records.journal import Journal, JournalFull, china_date

log = logging.getLogger(__name__)

COMPLETE_AT = 0.9  # a play counts as completed once 90 % of the lesson was actually watched
PLAY_IDLE_S = 90.0


@dataclass
class OpenPlay:
    id: str
    course: str
    title: str
    episode: int | None
    duration_s: float
    started: float  # epoch seconds
    session: str | None
    channel: bool
    last_seen: float
    client: str = ""
    position_s: float = 0.0
    watched_s: float = 0.0
    closed_at: float | None = None  # ended, but its line is still to be written (a full disk)
    reached_end: bool = False
    live: bool = False  # watching a live class (``course`` is its id): a ``live`` line


@dataclass
class _Tally:
    watched_s: float = 0.0
    last_end: float | None = None
    plays: int = 0


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(int(ts), CHINA)


class Plays:
    def __init__(self, journal: Journal, clock: Callable[[], float], screens: int = rules.DEFAULT_SCREENS) -> None:
        self.journal = journal
        self.clock = clock
        self.screens = screens  # clients with a play open at once ([station] screens)
        self._lock = threading.RLock()
        self._open: dict[str, OpenPlay] = {}
        self._day: str = ""
        self._tally: dict[str, _Tally] = {}

    def _client_tally(self, client: str, now: float) -> _Tally:
        """This client's plays of the China day so far (the day's journal is read once a day)."""
        day = china_date(now)
        if day.isoformat() != self._day:
            self._day, self._tally = day.isoformat(), {}
            for e in self.journal.days(day, day):
                kind = e.get("kind")
                if kind in ("play", "live"):
                    t = self._tally.setdefault(str(e.get("client") or ""), _Tally())
                    p = play_from_dict(e) if kind == "play" else live_from_dict(e)
                    t.watched_s += p.watched_s
                    t.plays += 1
                    t.last_end = max(t.last_end or 0.0, p.end.timestamp())
        return self._tally.setdefault(client, _Tally())

    def record(self, play: OpenPlay, ended: float) -> PlayRecord:
        """The journal line a play makes, under the rules (and counted in its client's day)."""
        tally = self._client_tally(play.client, ended)
        watched = rules.watched(play.watched_s, play.started, ended, play.duration_s, rules.DAY_S - tally.watched_s)
        return PlayRecord(
            course=play.course,
            title=play.title,
            start=_at(play.started),
            end=_at(max(ended, play.started)),
            watched_s=round(watched, 1),
            position_s=round(rules.position(play.position_s, play.duration_s), 1),
            duration_s=play.duration_s,
            completed=bool(play.duration_s) and watched >= COMPLETE_AT * play.duration_s,
            reached_end=play.reached_end,
            session=play.session,
            channel=play.channel,
            episode=play.episode,
            client=play.client,
        )

    def live_record(self, play: OpenPlay, ended: float) -> LiveRecord:
        """The journal line watching a live class makes, under the rules."""
        tally = self._client_tally(play.client, ended)
        watched = rules.live_watched(
            play.watched_s, play.started, ended, play.duration_s, rules.DAY_S - tally.watched_s
        )
        return LiveRecord(
            live=play.course,
            title=play.title,
            start=_at(play.started),
            end=_at(max(ended, play.started)),
            watched_s=round(watched, 1),
            session=play.session,
            client=play.client,
        )

    def _credit(self, play: OpenPlay, claimed_s: float, now: float) -> float:
        """What a heartbeat may credit an open play with (its kind's cap; the day is capped when
        the line is made)."""
        if play.live:
            return rules.live_watched(claimed_s, play.started, now, play.duration_s, rules.DAY_S)
        return rules.watched(claimed_s, play.started, now, play.duration_s, rules.DAY_S)

    def _write(self, play: OpenPlay, ended: float) -> PlayRecord | LiveRecord | None:
        """Journal a closed play; None when it was refused (the journal's budget, the client's plays
        of the day). A line that cannot be written keeps the play open for the next sweep."""
        with self._lock:
            rec = self.live_record(play, ended) if play.live else self.record(play, ended)
            tally = self._client_tally(play.client, ended)
            tally.last_end = max(tally.last_end or 0.0, rec.end.timestamp())
            if tally.plays >= rules.MAX_PLAYS_PER_DAY:
                return None
            try:
                if isinstance(rec, LiveRecord):
                    self.journal.append("live", sheddable=True, **live_to_dict(rec))
                else:
                    self.journal.append("play", sheddable=True, **play_to_dict(rec))
            except JournalFull:
                return None  # logged by the journal
            except StoreError:
                play.closed_at = ended
                self._open[play.id] = play
                raise
            tally.watched_s += rec.watched_s
            tally.plays += 1
            return rec

    def start(
        self,
        course_id: str,
        title: str,
        duration_s: float,
        *,
        episode: int | None,
        channel: bool,
        session: str | None,
        client: str,
        live: bool = False,
    ) -> str:
        """A new play for ``client`` (``live``: watching the live class ``course_id``): the one it
        still had open, of either kind, is closed first."""
        self.sweep()
        if self.journal.usage().full:
            raise LimitError(N_("The journal is full, so plays are not recorded for now. The lesson still plays."))
        with self._lock:
            now = self.clock()
            mine = [p for p in self._open.values() if p.client == client and p.closed_at is None]
            for old in mine:
                del self._open[old.id]
                try:
                    self._write(old, now)
                except StoreError as exc:  # kept (closed) for the next sweep; the new play goes on
                    log.warning("play %s kept open: %s", old.id, exc)
            clients = {p.client for p in self._open.values() if p.closed_at is None}
            if len(clients) >= self.screens:
                raise LimitError(N_("%(n)d screens are already playing; this play is not recorded."), n=self.screens)
            tally = self._client_tally(client, now)
            if tally.plays >= rules.MAX_PLAYS_PER_DAY:
                raise LimitError(
                    N_("This TV has made %(n)d play records today; more plays are not recorded before tomorrow."),
                    n=rules.MAX_PLAYS_PER_DAY,
                )
            started = rules.play_start(now, tally.last_end)
            play = OpenPlay(
                id=secrets.token_hex(8),
                course=course_id,
                title=title,
                episode=episode,
                duration_s=duration_s,
                started=started,
                session=session,
                channel=channel,
                last_seen=now,
                client=client,
                live=live,
            )
            self._open[play.id] = play
        return play.id

    def _get(self, play_id: str, live: bool) -> OpenPlay | None:
        play = self._open.get(play_id)
        if play is None or play.closed_at is not None or play.live != live:
            return None
        return play

    def progress(self, play_id: str, position_s: float, watched_s: float, *, live: bool = False) -> OpenPlay | None:
        """A heartbeat; the play as it stands, or None: no such open play (of this kind)."""
        with self._lock:
            play = self._get(play_id, live)
            if play is None:
                return None
            now = self.clock()
            cap = self._credit(play, watched_s, now)
            play.position_s = rules.position(position_s, play.duration_s)
            play.watched_s, play.last_seen = max(play.watched_s, cap), now
            return play

    def end(
        self, play_id: str, position_s: float, watched_s: float, ended: bool, *, live: bool = False
    ) -> tuple[OpenPlay, PlayRecord | LiveRecord | None]:
        """Close a play (KeyError: no such open play of this kind); the record, if it made one."""
        with self._lock:
            play = self._get(play_id, live)
            if play is None:
                raise KeyError(play_id)
            del self._open[play_id]
            play.position_s = rules.position(position_s, play.duration_s)
            play.watched_s, play.reached_end = max(play.watched_s, watched_s), ended
            return play, self._write(play, self.clock())

    def sweep(self) -> list[PlayRecord | LiveRecord]:
        """Close plays whose player went silent, and write those a full disk held back."""
        now = self.clock()
        out = []
        with self._lock:
            stale = [p for p in self._open.values() if p.closed_at is not None or now - p.last_seen > PLAY_IDLE_S]
            for p in stale:
                del self._open[p.id]
            for p in stale:
                try:
                    rec = self._write(p, p.closed_at if p.closed_at is not None else p.last_seen)
                except StoreError as exc:
                    log.warning("play %s kept open: %s", p.id, exc)
                    continue
                if rec:
                    out.append(rec)
        return out

    def close_all(self) -> None:
        with self._lock:
            plays, self._open = list(self._open.values()), {}
            for p in plays:
                try:
                    self._write(p, p.closed_at if p.closed_at is not None else max(p.last_seen, p.started))
                except StoreError as exc:
                    log.warning("play %s lost at shutdown: %s", p.id, exc)

    def open_plays(self, live: bool | None = False) -> list[OpenPlay]:
        """The plays open now: of lessons, of live classes (``live``), or both (None)."""
        with self._lock:
            return [p for p in self._open.values() if p.closed_at is None and live in (None, p.live)]
