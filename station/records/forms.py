"""The stored forms of the attendance records (``station.model.attendance``): the journal's lines
and the TinyDB documents, as the station has always written them. Only ``station.records``
turns records into these dicts and back; reading is lenient where older lines lack a key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from playlists.schedule import CHINA
from station.model import moment
from station.model.attendance import (
    FiveAnswer,
    FivesCheck,
    LiveRecord,
    LogEntry,
    PlayRecord,
    ResumePoint,
    StudySession,
    WatchedCourse,
)


def china_iso(dt: datetime) -> str:
    return dt.astimezone(CHINA).isoformat(timespec="seconds")


def _when(value: Any) -> datetime:
    return moment(value) or datetime.fromtimestamp(0, CHINA)


def session_to_dict(s: StudySession) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": s.id,
        "topic": s.topic,
        "facilitator": s.facilitator,
        "headcount": s.headcount,
        "names": list(s.names),
        "started": china_iso(s.started),
        "source": s.source,
    }
    if s.ended is not None:
        d.update(
            ended=china_iso(s.ended),
            duration_s=s.duration_s,
            courses=[{"id": c.id, "title": c.title, "watched_s": c.watched_s} for c in s.courses],
            plays=s.plays,
            counted=s.counted,
        )
    return d


def session_from_dict(d: dict[str, Any]) -> StudySession:
    """A session from its document or its journal line (``session_start``, ``session_end``)."""
    return StudySession(
        id=str(d.get("id") or ""),
        topic=str(d.get("topic") or ""),
        facilitator=str(d.get("facilitator") or ""),
        headcount=int(d.get("headcount") or 0),
        started=_when(d.get("started")),
        names=tuple(str(n) for n in d.get("names") or ()),
        source=str(d.get("source") or "admin"),
        ended=moment(d.get("ended")),
        duration_s=int(d.get("duration_s") or 0),
        courses=tuple(
            WatchedCourse(str(c.get("id")), str(c.get("title") or c.get("id")), float(c.get("watched_s") or 0))
            for c in d.get("courses") or ()
            if isinstance(c, dict)
        ),
        plays=int(d.get("plays") or 0),
        counted=d.get("counted") is not False,  # older lines lack it: they counted
    )


def play_to_dict(p: PlayRecord) -> dict[str, Any]:
    d: dict[str, Any] = {
        "course": p.course,
        "title": p.title,
        "start": china_iso(p.start),
        "end": china_iso(p.end),
        "watched_s": p.watched_s,
        "position_s": p.position_s,
        "duration_s": p.duration_s,
        "completed": p.completed,
        "reached_end": p.reached_end,
        "session": p.session,
        "channel": p.channel,
    }
    if p.episode is not None:
        d["episode"] = p.episode
    if p.client:
        d["client"] = p.client
    return d


def play_from_dict(d: dict[str, Any]) -> PlayRecord:
    episode = d.get("episode")
    return PlayRecord(
        course=str(d.get("course") or ""),
        title=str(d.get("title") or d.get("course") or ""),
        start=_when(d.get("start")),
        end=_when(d.get("end")),
        watched_s=float(d.get("watched_s") or 0),
        position_s=float(d.get("position_s") or 0),
        duration_s=float(d.get("duration_s") or 0),
        completed=bool(d.get("completed")),
        reached_end=bool(d.get("reached_end")),
        session=str(d["session"]) if d.get("session") else None,
        channel=bool(d.get("channel")),
        episode=episode if isinstance(episode, int) and not isinstance(episode, bool) else None,
        client=str(d.get("client") or ""),
    )


def live_to_dict(x: LiveRecord) -> dict[str, Any]:
    d: dict[str, Any] = {
        "live": x.live,
        "title": x.title,
        "start": china_iso(x.start),
        "end": china_iso(x.end),
        "watched_s": x.watched_s,
        "session": x.session,
    }
    if x.client:
        d["client"] = x.client
    return d


def live_from_dict(d: dict[str, Any]) -> LiveRecord:
    return LiveRecord(
        live=str(d.get("live") or ""),
        title=str(d.get("title") or d.get("live") or ""),
        start=_when(d.get("start")),
        end=_when(d.get("end")),
        watched_s=float(d.get("watched_s") or 0),
        session=str(d["session"]) if d.get("session") else None,
        client=str(d.get("client") or ""),
    )


def resume_to_dict(p: ResumePoint) -> dict[str, Any]:
    return {"position_s": p.position_s, "duration_s": p.duration_s, "updated": p.updated}


def resume_from_dict(d: dict[str, Any]) -> ResumePoint:
    return ResumePoint(float(d.get("position_s") or 0), float(d.get("duration_s") or 0), float(d.get("updated") or 0))


def log_entry_from_dict(d: dict[str, Any]) -> LogEntry:
    """A logbook entry from its journal line (``ts`` is when it was written)."""
    return LogEntry(text=str(d.get("text") or ""), author=str(d.get("author") or ""), at=moment(d.get("ts")))


def fives_to_dict(f: FivesCheck, keys: tuple[str, ...]) -> dict[str, Any]:
    d: dict[str, Any] = {k: {"ok": f.answer(k).ok, "note": f.answer(k).note} for k in keys}
    d["checked"] = china_iso(f.checked) if f.checked else None
    return d


def fives_from_dict(d: dict[str, Any], keys: tuple[str, ...]) -> FivesCheck:
    answers = {
        k: FiveAnswer(bool(d[k].get("ok")), str(d[k].get("note") or "")) for k in keys if isinstance(d.get(k), dict)
    }
    return FivesCheck(answers, moment(d.get("checked")))
