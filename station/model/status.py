"""How the sync passes go: the last pass's status, the running pass's progress, each mirror's
health, and the disk."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from station.model.times import iso, moment, number, whole


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
        return {
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "files_total": self.files_total,
            "courses_total": self.courses_total,
            "current": self.current,
            "rate_bytes_per_s": self.rate_bytes_per_s,
            "eta_s": self.eta_s,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Progress:
        return cls(
            bytes_done=int(number(d.get("bytes_done")) or 0),
            bytes_total=int(number(d.get("bytes_total")) or 0),
            files_total=whole(d.get("files_total")) or 0,
            courses_total=whole(d.get("courses_total")) or 0,
            current=str(d.get("current") or ""),
            rate_bytes_per_s=int(r) if (r := number(d.get("rate_bytes_per_s"))) is not None else None,
            eta_s=int(e) if (e := number(d.get("eta_s"))) is not None else None,
        )


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
    bytes_downloaded: int | None = None  # by the last pass that downloaded anything (not by a later poll)
    files_downloaded: int | None = None
    downloaded_at: datetime | None = None  # when that pass ended
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
        return replace(
            self,
            state="failed",
            last_attempt=now,
            last_error=reason,
            progress=None,
            error_since=self.error_since if self.last_error and self.error_since else now,
        )

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
            "last_attempt": iso(self.last_attempt),
            "last_success": iso(self.last_success),
            "last_error": self.last_error,
            "error_since": iso(self.error_since),
            "index_version": self.index_version,
            "mirror": self.mirror,
            "courses_total": self.courses_total,
            "courses_installed": self.courses_installed,
            "bytes_downloaded": self.bytes_downloaded,
            "files_downloaded": self.files_downloaded,
            "downloaded_at": iso(self.downloaded_at),
            "failures": list(self.failures),
            "next_window": iso(self.next_window),
            "space_needed_bytes": self.space_needed_bytes,
        }
        if with_courses:
            d["courses"] = {
                c.id: {"title": c.title, "state": c.state, **({"reason": c.reason} if c.reason else {})}
                for c in self.courses
            }
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
            index_version=whole(d.get("index_version")),
            mirror=str(d.get("mirror") or ""),
            courses_total=whole(d.get("courses_total")),
            courses_installed=whole(d.get("courses_installed")),
            bytes_downloaded=whole(d.get("bytes_downloaded")),
            files_downloaded=whole(d.get("files_downloaded")),
            downloaded_at=moment(d.get("downloaded_at")),
            failures=tuple(str(f) for f in d.get("failures") or ()),
            courses=tuple(
                CourseState(str(cid), str(c.get("title") or cid), str(c.get("state") or ""), str(c.get("reason") or ""))
                for cid, c in courses.items()
                if isinstance(c, dict)
            ),
            next_window=moment(d.get("next_window")),
            space_needed_bytes=whole(d.get("space_needed_bytes")) or 0,
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
        d: dict[str, Any] = {
            k: v
            for k, v in (
                ("last_success", iso(self.last_success)),
                ("last_error", self.last_error),
                ("last_error_at", iso(self.last_error_at)),
            )
            if v
        }
        if with_validators and (self.etag or self.last_modified):
            d["validators"] = {"etag": self.etag, "last_modified": self.last_modified}
        return d

    @classmethod
    def from_dict(cls, d: Any) -> MirrorHealth:
        d = d if isinstance(d, dict) else {}
        v = d.get("validators") if isinstance(d.get("validators"), dict) else {}
        return cls(
            last_success=moment(d.get("last_success")),
            last_error=d.get("last_error") or None,
            last_error_at=moment(d.get("last_error_at")),
            etag=v.get("etag"),
            last_modified=v.get("last_modified"),
        )


@dataclass(frozen=True)
class DiskUsage:
    """The store's media files and the disk they are on."""

    media_bytes: int = 0
    media_files: int = 0
    free_bytes: int = 0

    def to_dict(self) -> dict:
        return {"media_bytes": self.media_bytes, "media_files": self.media_files, "free_bytes": self.free_bytes}
