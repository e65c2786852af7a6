"""What to download, in which order, and what waits — pure decisions from the verified playlists,
the store's contents, the clock, the download window and the quota.

Order: whatever a programme schedule needs soonest first, then by playlist priority and order.
Outside the download window only content due within ``due_ahead_h`` is fetched. When a quota
cannot hold everything, the soonest-needed courses are kept and the rest are reported with the
space they would need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from playlists import FileRef
from playlists.schedule import CHINA, Schedule


@dataclass(frozen=True)
class Wanted:
    course_id: str
    title: str
    files: tuple[FileRef, ...]  # rendition for this player, then poster
    rank: int  # position by playlist priority and order
    due: datetime | None = None  # next scheduled start, if any

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class Plan:
    fetch: list[Wanted] = field(default_factory=list)  # in order
    ready: list[Wanted] = field(default_factory=list)  # every file already in the store
    deferred: list[Wanted] = field(default_factory=list)  # waits for the download window
    no_space: list[Wanted] = field(default_factory=list)  # does not fit the quota
    space_needed: int = 0  # bytes more the quota would need to hold everything

    @property
    def bytes_to_fetch(self) -> int:
        return sum(w.size for w in self.fetch)


def window_open(window: tuple[int, int] | None, now: datetime) -> bool:
    """The download window (minutes after midnight, China time; None: any time) is open at ``now``."""
    if window is None:
        return True
    local = now.astimezone(CHINA)
    minute = local.hour * 60 + local.minute
    start, end = window
    return start <= minute < end if start < end else (minute >= start or minute < end)


def next_window_start(window: tuple[int, int] | None, now: datetime) -> datetime | None:
    """When the window next opens (now, if it is open)."""
    if window is None or window_open(window, now):
        return now
    local = now.astimezone(CHINA).replace(second=0, microsecond=0)
    opens = local.replace(hour=window[0] // 60, minute=window[0] % 60)
    if opens <= local:
        opens += timedelta(days=1)
    return opens


def due_times(schedules: list[Schedule], now: datetime, horizon: timedelta) -> dict[str, datetime]:
    """Each scheduled course's next start within the horizon."""
    due: dict[str, datetime] = {}
    for sched in schedules:
        for occ in sched.occurrences(now, now + horizon):
            if occ.course not in due or occ.start < due[occ.course]:
                due[occ.course] = occ.start
    return due


def make_plan(
    wanted: list[Wanted],
    have: set[str],
    now: datetime,
    window: tuple[int, int] | None,
    due_ahead: timedelta,
    quota_bytes: int,
) -> Plan:
    """``have``: sha256 of files verified in the store."""
    far = now + timedelta(days=3650)
    ordered = sorted(wanted, key=lambda w: (w.due or far, w.rank))
    plan = Plan()
    kept = 0
    counted: set[str] = set()
    open_now = window_open(window, now)
    for w in ordered:
        new_bytes = sum(f.size for f in w.files if f.sha256 not in counted)
        if quota_bytes and kept + new_bytes > quota_bytes:
            plan.no_space.append(w)
            plan.space_needed += new_bytes
            continue
        kept += new_bytes
        counted |= {f.sha256 for f in w.files}
        if all(f.sha256 in have for f in w.files):
            plan.ready.append(w)
        elif open_now or (w.due is not None and w.due <= now + due_ahead):
            plan.fetch.append(w)
        else:
            plan.deferred.append(w)
    return plan
