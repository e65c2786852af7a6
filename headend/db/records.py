"""The records the database layer hands out: frozen dataclasses, never rows or dicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Rendition:
    """One made file of a source for one profile definition (posters use profile 'poster')."""

    source_sha256: str
    profile: str
    fingerprint: str
    path: str  # relative to the data root: media/ab/<sha>.<ext>
    sha256: str
    size: int
    mime: str
    created_at: str


@dataclass(frozen=True)
class Station:
    id: str
    name: str
    region: tuple[str, ...]
    player: str
    created_at: str  # enrolment
    capacity: int | None = None  # seats in the study room
    members: int | None = None  # registered party members
    revoked_at: str | None = None
    token_rotated_at: str | None = None
    opening_hours: str | None = None  # "08:00-12:00,14:00-21:00" China time (None: always open)
    last_report_at: str | None = None  # the last batch stored from it

    def to_dict(self) -> dict:
        return dict(self.__dict__, region=list(self.region))


@dataclass(frozen=True)
class Stored:
    """What storing one report batch did (the collector's answer)."""

    stream: str
    held: int
    seen: int
    accepted: int
    duplicates: int
    time_uncertain: int
    offset_s: float


@dataclass(frozen=True)
class StationDay:
    """One station's roll-up row for one China day (``headend.db.reports``)."""

    station: str
    day: str
    plays: int
    watched_s: float
    completed: int
    individual_plays: int
    sessions: int
    session_person_times: int
    short_sessions: int
    logbook: int
    notice_views: Mapping[str, int]
    failed_logins: int
    online_minutes: float
    fives: Mapping[str, bool] | None
    courses: int
    events: int
    time_uncertain: int
    max_headcount: int = 0  # what the plausibility rules read (catalogue.figures)
    overlapping_sessions: int = 0
    overlong_plays: int = 0
    identical_events: int = 0
    installed_version: int | None = None
    clients: int = 0
    live_plays: int = 0  # live classes watched (``live`` events)
    live_watched_s: float = 0.0

    @property
    def person_times(self) -> int:
        return self.session_person_times + self.individual_plays

    def to_dict(self) -> dict:
        d = dict(self.__dict__, notice_views=dict(self.notice_views), person_times=self.person_times)
        d["fives"] = dict(self.fives) if self.fives is not None else None
        d["reported"] = True
        del d["station"]
        return d


@dataclass(frozen=True)
class Health:
    """A station's newest health sample (docs/reporting.md "health"), as the dashboard reads it:
    ``at`` its corrected time, ``received_at`` when the headend got it (both ISO UTC)."""

    at: str
    received_at: str
    interval_s: float
    uptime_s: float
    load1: float
    mem_used_mb: float
    mem_total_mb: float
    disk_free_mb: float
    disk_total_mb: float
    stored_mb: float
    installed_version: int | None
    newest_version: int | None
    sync_state: str
    sync_error: str
    backlog: int
    app_version: str
    tv_seen: str | None
    offset_s: float | None  # the offset the station last heard from the headend
    sync_ok_at: str | None = None  # these five: stations newer than the dashboard
    sync_failing_since: str | None = None
    courses_total: int | None = None
    courses_installed: int | None = None
    missing_mb: float | None = None

    @classmethod
    def from_event(cls, data: Mapping, at: str, received_at: str) -> Health:
        fields = {k: data.get(k) for k in cls.__dataclass_fields__ if k not in ("at", "received_at")}
        return cls(at=at, received_at=received_at, **fields)

    @property
    def disk_free_share(self) -> float | None:
        """Free disk as a share of the box's disk (None when the box did not say its size)."""
        return self.disk_free_mb / self.disk_total_mb if self.disk_total_mb else None


@dataclass(frozen=True)
class Activity:
    """A station's figures summed over a run of China days (from the daily roll-up)."""

    person_times: int = 0
    session_person_times: int = 0
    individual_plays: int = 0
    sessions: int = 0
    plays: int = 0
    watched_s: float = 0.0
    logbook: int = 0
    failed_logins: int = 0
    online_minutes: float = 0.0
    active_days: int = 0  # days with a play or a study session
    reported_days: int = 0  # days the station sent anything about
    last_day: str | None = None  # the newest reported day (ISO date)

    @property
    def hours(self) -> float:
        return self.watched_s / 3600


@dataclass(frozen=True)
class Publication:
    version: int
    published_at: str
    expires_at: str
    index_sha256: str
    courses: int


@dataclass(frozen=True)
class Job:
    """One accepted courseware file in the transcoding queue (see ``headend.db.jobs``)."""

    id: int
    source_path: str
    source_name: str
    source_sha256: str
    meta: Mapping[str, object]  # read-only
    origin: str
    state: str
    owner: str
    attempts: int
    stage: str
    percent: float
    eta_s: float | None
    message: str
    log_tail: str
    course_id: str | None
    transcoded: tuple[str, ...]
    created_at: str
    started_at: str | None
    finished_at: str | None
    heartbeat_at: str | None = None  # refreshed by the running process

    def to_dict(self) -> dict:
        return {**self.__dict__, "meta": dict(self.meta), "transcoded": list(self.transcoded)}


ROLES = ("viewer", "editor", "admin")  # each may do what the ones before it may


@dataclass(frozen=True)
class User:
    """A county staff account. ``region`` is the prefix it is bound to (() sees everything)."""

    name: str
    role: str
    region: tuple[str, ...]
    must_change: bool
    created_at: str
    password_set_at: str
    disabled_at: str | None = None
    last_login_at: str | None = None
    reviewer: bool = False  # may review notices (审核), a right apart from the role

    def can(self, role: str) -> bool:
        """May this account do what ``role`` may (admin ⊇ editor ⊇ viewer)?"""
        return self.disabled_at is None and ROLES.index(self.role) >= ROLES.index(role)

    def sees(self, region: tuple[str, ...] | list[str]) -> bool:
        """Is a station (or alert, report …) of ``region`` within this account's scope?"""
        return tuple(region[: len(self.region)]) == self.region

    def to_dict(self) -> dict:
        return dict(self.__dict__, region=list(self.region))


@dataclass(frozen=True)
class NoticeReview:
    """One version of a notice file (``sha256`` of its bytes) on its way out: drafted, reviewed
    (审核) by an account with the reviewer right, signed off (签发) by an admin. An empty
    ``drafted_by`` is a file nobody drafted through the headend (written by hand)."""

    notice_id: str
    sha256: str
    drafted_by: str
    drafted_at: str
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    signed_by: str | None = None
    signed_at: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One change: who, when, from where, what, to what (``detail``), in which region."""

    id: int
    at: str
    actor: str
    address: str
    action: str
    target: str
    detail: Mapping[str, object]
    region: tuple[str, ...]


@dataclass(frozen=True)
class Alert:
    """One station problem from when it opened to when it cleared (``headend.db.alerts``), with
    the station's name and region. ``detail`` holds ``words`` (what county staff read) and the
    facts behind them."""

    id: int
    station: str
    kind: str  # silent, never_connected, sync_failing, disk_low, clock_off, pin_failures, fives_failed
    opened_at: str
    cleared_at: str | None
    detail: Mapping[str, object]
    acknowledged_by: str | None
    acknowledged_at: str | None
    notified_at: str | None  # it went out in a digest: only then is its recovery sent
    recovery_notified_at: str | None
    station_name: str
    region: tuple[str, ...]

    @property
    def words(self) -> str:
        return str(self.detail.get("words", ""))


@dataclass(frozen=True)
class Delivery:
    """A digest or recovery message for the webhook: posted until it is answered 2xx."""

    id: int
    created_at: str
    kind: str  # digest, recovery
    region: tuple[str, ...]
    payload: str  # the JSON posted, exactly these bytes (UTF-8)
    attempts: int
    next_at: str
    delivered_at: str | None
    last_error: str


@dataclass(frozen=True)
class Question:
    """A village's question (答疑) as the headend holds it, with the asking station's name and
    region (read with it: the queue is scoped by region)."""

    station: str
    number: str
    topic: str
    text: str
    asker: str
    publishable: bool
    asked_at: str
    received_at: str
    status: str  # new, assigned, answered, closed
    stream: str
    seq: int
    assignee: str | None = None
    assigned_at: str | None = None
    answer: str = ""
    answered_by: str | None = None
    answered_at: str | None = None
    faq: bool = False
    faq_region: tuple[str, ...] = ()  # the FAQ entry's audience; () every station
    closed_by: str | None = None
    closed_at: str | None = None
    station_name: str = ""
    region: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """How pages and the command line name it: ``<station>/<number>``."""
        return f"{self.station}/{self.number}"


@dataclass(frozen=True)
class LiveClass:
    """A scheduled live class (``headend.db.live``); times are ISO 8601 UTC text."""

    id: str
    title: str
    category: str
    description: str
    start_at: str
    duration_s: float
    audience: Mapping[str, tuple[str, ...]]  # stations, regions ("a/b/c"), tags
    source: str
    created_by: str
    created_at: str
    cancelled_at: str | None = None
    recording_sha256: str | None = None
    replay_course: str | None = None
    replay_published_at: str | None = None
