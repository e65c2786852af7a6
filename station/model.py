"""What the station keeps, as frozen dataclasses: the installed set (what the TV lists), how the
last sync pass went, the running pass's progress and each mirror's health.

Pages, ``station status``, ``/api/status`` and tests get these objects; only the store turns them
into documents and back (``to_dict``/``from_dict`` here give the stored form — the keys the
station has always written — and read documents written by older versions, where a missing key
takes its default). Times are aware datetimes; the stored form is ISO 8601 UTC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from catalogue import CatalogueError, Course
from playlists import Notice, RepositoryError, Schedule
from playlists.audience import in_window
from playlists.schedule import CHINA
from playlists.times import utc_iso

log = logging.getLogger(__name__)

# A course document written by hand (the TV tests do) may lack the headend's key for its source
# file; nothing on the station reads it, so such a document still loads.
_NO_SOURCE = "0" * 64


def moment(value: Any) -> datetime | None:
    """A stored time (ISO 8601 text, an aware datetime, or epoch seconds) as an aware datetime;
    ``None`` for nothing or for what does not parse. A time without a zone is China time."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, datetime):
            dt = value
        elif isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, CHINA)
        else:
            dt = datetime.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError):
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=CHINA)


def _iso(dt: datetime | None) -> str | None:
    return utc_iso(dt) if dt else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# ---- the installed set ---------------------------------------------------------------------------


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
        d = {**self.course.to_dict(), "kind": self.kind, "mime": self.mime, "media": self.media,
             "poster": self.poster, "playlists": list(self.playlists)}
        if self.update_pending:
            d["update_pending"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict) -> InstalledCourse:
        course = Course.from_dict({"source_sha256": _NO_SOURCE, **d})
        return cls(course=course, kind=str(d["kind"]), mime=str(d["mime"]), media=str(d["media"]),
                   poster=d.get("poster") or None, playlists=tuple(d.get("playlists") or ()),
                   update_pending=bool(d.get("update_pending")))


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

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "title": self.title, "priority": self.priority,
                "valid_from": _iso(self.valid_from), "valid_until": _iso(self.valid_until),
                "schedule": self.schedule.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> InstalledPlaylist:
        name = str(d.get("name", ""))
        try:
            schedule = Schedule.from_dict(d.get("schedule"), f"playlist {name}")
        except RepositoryError as exc:
            log.warning("schedule of playlist %s ignored: %s", name, exc)
            schedule = Schedule()
        return cls(name=name, version=_int(d.get("version")) or 0, title=str(d.get("title") or ""),
                   priority=_int(d.get("priority")) or 0, valid_from=moment(d.get("valid_from")),
                   valid_until=moment(d.get("valid_until")), schedule=schedule)


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

    def to_dict(self) -> dict:
        return {
            "index_version": self.index_version,
            "index_sha256": self.index_sha256,
            "expires": _iso(self.expires),
            "installed_at": _iso(self.installed_at),
            "complete": self.complete,
            "playlists": [p.to_dict() for p in self.playlists],
            "notices": [n.to_dict() for n in self.notices],
            "courses": [c.to_dict() for c in self.courses],
        }

    @classmethod
    def from_dict(cls, d: dict | None) -> InstalledSet:
        """The installed set from its document; an entry that no longer parses (say, a category
        this version does not know) is left out with a warning rather than stopping the TV."""
        d = d or {}
        return cls(
            index_version=_int(d.get("index_version")) or 0,
            index_sha256=str(d.get("index_sha256") or ""),
            expires=moment(d.get("expires")),
            installed_at=moment(d.get("installed_at")),
            complete=bool(d.get("complete")),
            playlists=tuple(_each(InstalledPlaylist.from_dict, d.get("playlists"), "playlist")),
            notices=tuple(n for n in _each(_notice, list(enumerate(d.get("notices") or [])), "notice") if n),
            courses=tuple(_each(InstalledCourse.from_dict, d.get("courses"), "course")),
        )


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


def _each(parse, items: Any, what: str) -> list:
    out = []
    for item in items if isinstance(items, list) else []:
        try:
            out.append(parse(item))
        except (CatalogueError, RepositoryError, KeyError, TypeError, ValueError) as exc:
            log.warning("installed %s left out, it does not parse: %s (%s)", what, exc, item if isinstance(item, str) else "")
    return out


# ---- sync status ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """The running pass's downloads, reported every few seconds."""

    bytes_done: int = 0
    bytes_total: int = 0
    files_total: int = 0
    courses_total: int = 0
    current: str = ""  # title of the course downloading now
    rate_bytes_per_s: int | None = None
    eta_s: int | None = None

    def to_dict(self) -> dict:
        return {"bytes_done": self.bytes_done, "bytes_total": self.bytes_total, "files_total": self.files_total,
                "courses_total": self.courses_total, "current": self.current,
                "rate_bytes_per_s": self.rate_bytes_per_s, "eta_s": self.eta_s}

    @classmethod
    def from_dict(cls, d: dict) -> Progress:
        return cls(bytes_done=int(_num(d.get("bytes_done")) or 0), bytes_total=int(_num(d.get("bytes_total")) or 0),
                   files_total=_int(d.get("files_total")) or 0, courses_total=_int(d.get("courses_total")) or 0,
                   current=str(d.get("current") or ""),
                   rate_bytes_per_s=int(r) if (r := _num(d.get("rate_bytes_per_s"))) is not None else None,
                   eta_s=int(e) if (e := _num(d.get("eta_s"))) is not None else None)


@dataclass(frozen=True)
class CourseState:
    """One course of the newest version as the last pass left it."""

    id: str
    title: str
    state: str  # "have", "queued", "downloading" or "failed"
    reason: str = ""


SYNC_STATES = ("running", "ok", "partial", "failed")  # "" is "never synced"


@dataclass(frozen=True)
class SyncStatus:
    """How the last sync pass went (or the one running now), as the admin page and ``station
    status`` show it. ``error_since`` is when the failures still going on began."""

    state: str = ""
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    error_since: datetime | None = None
    index_version: int | None = None
    mirror: str = ""
    courses_total: int | None = None
    courses_installed: int | None = None
    bytes_downloaded: int | None = None
    files_downloaded: int | None = None
    failures: tuple[str, ...] = ()
    courses: tuple[CourseState, ...] = ()
    next_window: datetime | None = None
    space_needed_bytes: int = 0
    progress: Progress | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"

    def started(self) -> SyncStatus:
        """The same record while a new pass runs (its progress arrives separately)."""
        return replace(self, state="running", progress=None)

    def failed(self, reason: str, now: datetime) -> SyncStatus:
        """A pass that could not complete: the reason, and since when things have been failing."""
        return replace(self, state="failed", last_attempt=now, last_error=reason, progress=None,
                       error_since=self.error_since if self.last_error and self.error_since else now)

    def fraction(self) -> tuple[float, float, bool]:
        """(done, total, in bytes) of a running pass: bytes when known, else installed courses of
        the total; (0, 0, False) when nothing is known."""
        p = self.progress
        if p is not None and p.bytes_total:
            return float(min(p.bytes_done, p.bytes_total)), float(p.bytes_total), True
        if self.courses_installed is not None and self.courses_total:
            return float(min(self.courses_installed, self.courses_total)), float(self.courses_total), False
        return 0.0, 0.0, False

    def to_dict(self, *, with_courses: bool = True) -> dict:
        d: dict[str, Any] = {
            "state": self.state,
            "last_attempt": _iso(self.last_attempt),
            "last_success": _iso(self.last_success),
            "last_error": self.last_error,
            "error_since": _iso(self.error_since),
            "index_version": self.index_version,
            "mirror": self.mirror,
            "courses_total": self.courses_total,
            "courses_installed": self.courses_installed,
            "bytes_downloaded": self.bytes_downloaded,
            "files_downloaded": self.files_downloaded,
            "failures": list(self.failures),
            "next_window": _iso(self.next_window),
            "space_needed_bytes": self.space_needed_bytes,
        }
        if with_courses:
            d["courses"] = {c.id: {"title": c.title, "state": c.state, **({"reason": c.reason} if c.reason else {})}
                            for c in self.courses}
        if self.progress is not None:
            d["progress"] = self.progress.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> SyncStatus:
        """Read a status document. Older records (and hand-written ones) may carry the running
        pass's bytes at the top level instead of under ``progress``."""
        d = d or {}
        state = d.get("state")
        prog = d.get("progress")
        if not isinstance(prog, dict) and "bytes_total" in d:
            prog = d
        courses = d.get("courses") if isinstance(d.get("courses"), dict) else {}
        return cls(
            state=state if state in SYNC_STATES else "",
            last_attempt=moment(d.get("last_attempt")),
            last_success=moment(d.get("last_success")),
            last_error=str(d["last_error"]) if d.get("last_error") else None,
            error_since=moment(d.get("error_since")),
            index_version=_int(d.get("index_version")),
            mirror=str(d.get("mirror") or ""),
            courses_total=_int(d.get("courses_total")),
            courses_installed=_int(d.get("courses_installed")),
            bytes_downloaded=_int(d.get("bytes_downloaded")),
            files_downloaded=_int(d.get("files_downloaded")),
            failures=tuple(str(f) for f in d.get("failures") or ()),
            courses=tuple(CourseState(str(cid), str(c.get("title") or cid), str(c.get("state") or ""),
                                      str(c.get("reason") or ""))
                          for cid, c in courses.items() if isinstance(c, dict)),
            next_window=moment(d.get("next_window")),
            space_needed_bytes=_int(d.get("space_needed_bytes")) or 0,
            progress=Progress.from_dict(prog) if isinstance(prog, dict) else None,
        )


# ---- mirrors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MirrorHealth:
    """One mirror as this station found it, and what its index.json looked like (for polls that
    cost one ``304 Not Modified``)."""

    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None

    def succeeded(self, now: datetime) -> MirrorHealth:
        return replace(self, last_success=now)

    def failed(self, error: str, now: datetime) -> MirrorHealth:
        return replace(self, last_error=error, last_error_at=now)

    def to_dict(self, *, with_validators: bool = True) -> dict:
        d: dict[str, Any] = {k: v for k, v in (("last_success", _iso(self.last_success)),
                                                ("last_error", self.last_error),
                                                ("last_error_at", _iso(self.last_error_at))) if v}
        if with_validators and (self.etag or self.last_modified):
            d["validators"] = {"etag": self.etag, "last_modified": self.last_modified}
        return d

    @classmethod
    def from_dict(cls, d: Any) -> MirrorHealth:
        d = d if isinstance(d, dict) else {}
        v = d.get("validators") if isinstance(d.get("validators"), dict) else {}
        return cls(last_success=moment(d.get("last_success")), last_error=d.get("last_error") or None,
                   last_error_at=moment(d.get("last_error_at")), etag=v.get("etag"),
                   last_modified=v.get("last_modified"))


@dataclass(frozen=True)
class DiskUsage:
    """The store's media files and the disk they are on."""

    media_bytes: int = 0
    media_files: int = 0
    free_bytes: int = 0

    def to_dict(self) -> dict:
        return {"media_bytes": self.media_bytes, "media_files": self.media_files, "free_bytes": self.free_bytes}
