"""What one sync pass did (``SyncReport``, filled in by the engine as it goes) and the
``SyncStatus`` record it leaves for the admin page and ``station status``. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from station.model import CourseState, SyncStatus


@dataclass
class SyncReport:
    index_version: int = 0
    mirror: str = ""
    up_to_date: bool = False
    courses_total: int = 0
    courses_installed: int = 0
    files_downloaded: int = 0
    bytes_downloaded: int = 0
    bytes_to_fetch: int = 0
    failures: list[str] = field(default_factory=list)
    courses: dict[str, CourseState] = field(default_factory=dict)  # id → how that course stands
    deferred: int = 0  # courses waiting for the download window
    next_window: datetime | None = None
    space_needed: int = 0
    collected: int = 0

    @property
    def complete(self) -> bool:
        return not self.failures and not self.deferred and self.courses_installed == self.courses_total

    def course(self, course_id: str, title: str, state: str, reason: str = "") -> None:
        self.courses[course_id] = CourseState(course_id, title, state, reason)

    def course_failed(self, course_id: str, reason: str) -> None:
        self.courses[course_id] = replace(self.courses[course_id], state="failed", reason=reason)


def status_after(report: SyncReport, previous: SyncStatus, now: datetime) -> SyncStatus:
    """The status a finished pass leaves: ok when everything is installed, else partial with
    what is not yet and why. An up-to-date poll keeps the per-course states it found before."""
    error = "; ".join(report.failures) or None
    # What was downloaded is the last pass that downloaded anything: the daemon's next poll (the
    # index unchanged, nothing to fetch) used to overwrite it with 0 B.
    downloaded = (
        {"bytes_downloaded": report.bytes_downloaded, "files_downloaded": report.files_downloaded, "downloaded_at": now}
        if report.bytes_downloaded or report.files_downloaded
        else {}
    )
    return replace(
        previous,
        state="ok" if report.complete else "partial",
        last_attempt=now,
        last_success=now,
        last_error=error,
        error_since=(previous.error_since if previous.last_error and previous.error_since else now) if error else None,
        index_version=report.index_version,
        mirror=report.mirror,
        courses_total=report.courses_total,
        courses_installed=report.courses_installed,
        **downloaded,
        failures=tuple(report.failures),
        courses=previous.courses if report.up_to_date else tuple(report.courses.values()),
        next_window=report.next_window,
        space_needed_bytes=report.space_needed,
        progress=None,
    )
