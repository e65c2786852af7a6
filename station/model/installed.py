"""The installed set: everything the TV lists, each course with its full catalogue record, the
notices in force and the county's answers (问答) this station shows: its own questions from its
answers shard and the FAQ entries published to it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from catalogue import CatalogueError, Course
from playlists import Answer, Notice, RepositoryError, Schedule
from playlists.audience import in_window
from playlists.schedule import CHINA
from station.model.times import iso, moment, whole

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstalledCourse:
    """A course on this box: the full catalogue record and the local files this player plays."""

    course: Course
    kind: str  # "video" or "audio": what the local rendition holds
    mime: str
    media: str  # repository path of the rendition, e.g. media/ab/<sha>.mp4
    poster: str | None = None  # repository path of the poster JPEG
    playlists: tuple[str, ...] = ()
    update_pending: bool = False  # a newer version is listed but not yet complete; this one plays

    id = property(lambda self: self.course.id)
    title = property(lambda self: self.course.title)
    category = property(lambda self: self.course.category)
    description = property(lambda self: self.course.description)
    duration_s = property(lambda self: float(self.course.duration_s))
    series = property(lambda self: self.course.series)
    episode = property(lambda self: self.course.episode)
    speaker = property(lambda self: self.course.speaker)

    def files(self) -> tuple[str, ...]:
        """Repository paths of the store files this course needs."""
        return (self.media, self.poster) if self.poster else (self.media,)

    def to_dict(self) -> dict:
        d = {
            **self.course.to_dict(),
            "kind": self.kind,
            "mime": self.mime,
            "media": self.media,
            "poster": self.poster,
            "playlists": list(self.playlists),
        }
        if self.update_pending:
            d["update_pending"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict) -> InstalledCourse:
        course = Course.from_dict(d)
        return cls(
            course=course,
            kind=str(d["kind"]),
            mime=str(d["mime"]),
            media=str(d["media"]),
            poster=d.get("poster") or None,
            playlists=tuple(d.get("playlists") or ()),
            update_pending=bool(d.get("update_pending")),
        )


@dataclass(frozen=True)
class InstalledPlaylist:
    """What the station keeps of a playlist it installed: the index entry and the schedule."""

    name: str
    version: int = 0
    title: str = ""
    priority: int = 0
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    schedule: Schedule = field(default_factory=Schedule)
    sha256: str = ""  # the pin of the file it was installed from ("" in sets written before it was kept)

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "version": self.version,
            "title": self.title,
            "priority": self.priority,
            "valid_from": iso(self.valid_from),
            "valid_until": iso(self.valid_until),
            "schedule": self.schedule.to_dict(),
        }
        if self.sha256:
            d["sha256"] = self.sha256
        return d

    @classmethod
    def from_dict(cls, d: dict) -> InstalledPlaylist:
        name = str(d.get("name", ""))
        try:
            schedule = Schedule.from_dict(d.get("schedule"), f"playlist {name}")
        except RepositoryError as exc:
            log.warning("schedule of playlist %s ignored: %s", name, exc)
            schedule = Schedule()
        return cls(
            name=name,
            version=whole(d.get("version")) or 0,
            title=str(d.get("title") or ""),
            priority=whole(d.get("priority")) or 0,
            valid_from=moment(d.get("valid_from")),
            valid_until=moment(d.get("valid_until")),
            schedule=schedule,
            sha256=str(d.get("sha256") or ""),
        )


@dataclass(frozen=True)
class InstalledSet:
    """Everything the TV lists, written in one atomic install once every file it names is verified."""

    index_version: int = 0
    index_sha256: str = ""
    expires: datetime | None = None
    installed_at: datetime | None = None
    complete: bool = False
    playlists: tuple[InstalledPlaylist, ...] = ()
    notices: tuple[Notice, ...] = ()
    courses: tuple[InstalledCourse, ...] = ()
    answers: tuple[Answer, ...] = ()  # this station's own questions and the FAQ entries for it

    @cached_property
    def _by_id(self) -> dict[str, InstalledCourse]:
        return {c.id: c for c in self.courses}

    def course(self, course_id: str) -> InstalledCourse | None:
        return self._by_id.get(course_id)

    def files(self) -> set[str]:
        """Repository paths of every store file an installed course needs."""
        return {p for c in self.courses for p in c.files()}

    def notices_in_force(self, now: datetime) -> list[Notice]:
        """Notices valid now, the newest (by start) first."""
        active = [n for n in self.notices if in_window(now, n.valid_from, n.valid_until)]
        return sorted(active, key=lambda n: n.valid_from or datetime.min.replace(tzinfo=CHINA), reverse=True)

    def own_answers(self, station_id: str) -> dict[str, Answer]:
        """Question number → how the county holds this station's own question."""
        return {a.number: a for a in self.answers if a.station == station_id}

    def faq_count(self) -> int:
        """FAQ entries published to this station (its own questions among them)."""
        return sum(1 for a in self.answers if a.faq)

    def answered(self) -> list[Answer]:
        """What the TV shows: every installed entry with an answer, the newest answer first."""
        floor = datetime.min.replace(tzinfo=CHINA)
        return sorted((a for a in self.answers if a.answered), key=lambda a: a.answered or floor, reverse=True)

    def answer(self, station: str, number: str) -> Answer | None:
        return next((a for a in self.answers if a.station == station and a.number == number and a.answered), None)

    def to_dict(self) -> dict:
        return {
            "index_version": self.index_version,
            "index_sha256": self.index_sha256,
            "expires": iso(self.expires),
            "installed_at": iso(self.installed_at),
            "complete": self.complete,
            "playlists": [p.to_dict() for p in self.playlists],
            "notices": [n.to_dict() for n in self.notices],
            "courses": [c.to_dict() for c in self.courses],
            **({"answers": [a.to_dict() for a in self.answers]} if self.answers else {}),
        }

    @classmethod
    def from_dict(cls, d: dict | None) -> InstalledSet:
        """The installed set from its document; an entry that no longer parses (say, a category
        this version does not know) is left out with a warning rather than stopping the TV."""
        d = d or {}
        return cls(
            index_version=whole(d.get("index_version")) or 0,
            index_sha256=str(d.get("index_sha256") or ""),
            expires=moment(d.get("expires")),
            installed_at=moment(d.get("installed_at")),
            complete=bool(d.get("complete")),
            playlists=tuple(_each(InstalledPlaylist.from_dict, d.get("playlists"), "playlist")),
            notices=tuple(n for n in _each(_notice, _numbered(d.get("notices")), "notice") if n),
            courses=tuple(_each(InstalledCourse.from_dict, d.get("courses"), "course")),
            answers=tuple(_each(_answer, d.get("answers"), "answer")),
        )


def _numbered(items: Any) -> list[tuple[int, Any]]:
    """A stored list with each item's place; anything but a list (a damaged file) is none."""
    return list(enumerate(items)) if isinstance(items, list) else []


def _notice(item: tuple[int, Any]) -> Notice | None:
    """A stored notice; one without an id or a title is shown with what it has (the headend
    always gives both, a hand-written document may not), one with neither title nor body not."""
    i, d = item
    d = dict(d)
    title, body = str(d.get("title") or "").strip(), str(d.get("body") or "").strip()
    if not title and not body:
        return None
    d.update(id=d.get("id") or f"notice-{i}", title=title or body[:30], body=body)
    return Notice.from_dict(d, "installed notice")


def _answer(d: Any) -> Answer:
    return Answer.from_dict(d, "installed answer")


def _each(parse, items: Any, what: str) -> list:
    out = []
    for item in items if isinstance(items, list) else []:
        try:
            out.append(parse(item))
        except (CatalogueError, RepositoryError, AttributeError, KeyError, TypeError, ValueError) as exc:
            # AttributeError: an item that is not a table at all (null, a number) in a damaged file
            log.warning(
                "installed %s left out, it does not parse: %s (%s)", what, exc, item if isinstance(item, str) else ""
            )
    return out
