"""What a pass installs, decided from what it verified and downloaded (pure: the store's
"is this file here" and the pass's "now" are passed in). A course whose new version is not
complete keeps its old one, which plays until the replacement is in; so does every course of a
playlist no mirror could give, and so do the installed answers when an answers document could not
be verified.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from playlists import Answer, CourseEntry, Index, Playlist, PlaylistRef, StationIdentity
from station.model import InstalledCourse, InstalledPlaylist, InstalledSet
from station.sync.report import SyncReport


@dataclass(frozen=True)
class Listed:
    """What the targeted playlists list, as verified this pass."""

    playlists: list[tuple[PlaylistRef, Playlist]]
    unavailable: set[str]  # targeted playlists no mirror could give this time
    entries: dict[str, CourseEntry]  # every course once, in priority and playlist order
    in_playlists: dict[str, list[str]]  # course id → the playlists that list it
    answers: tuple[Answer, ...] | None = ()  # this station's answers; None: not all verified, keep the old


def same_playlists(refs: list[PlaylistRef], previous: InstalledSet) -> bool:
    """The targeted playlists are exactly the files the complete installed set was made from
    (each pinned by the same sha256, with the same index entry): a new index that only re-signs
    them (a new version, a later expiry, other notices) changes no course."""
    if not previous.complete or len(refs) != len(previous.playlists):
        return False
    held = {p.name: p for p in previous.playlists}
    for ref in refs:
        p = held.get(ref.name)
        if (
            p is None
            or not p.sha256
            or (p.sha256, p.version, p.title, p.priority, p.valid_from, p.valid_until)
            != (
                ref.file.sha256,
                ref.version,
                ref.title,
                ref.priority,
                ref.valid_from,
                ref.valid_until,
            )
        ):
            return False
    return True


def reinstalled(
    index: Index,
    index_sha: str,
    previous: InstalledSet,
    answers: tuple[Answer, ...] | None,
    me: StationIdentity,
    now: datetime,
    report: SyncReport,
) -> InstalledSet:
    """The installed set under a new index that lists the same playlists (``same_playlists``):
    its courses and playlists as they are; the index's version, expiry and notices; the answers
    verified this pass (None: the installed ones stay)."""
    report.courses_total = report.courses_installed = len(previous.courses)
    return replace(
        previous,
        index_version=index.version,
        index_sha256=index_sha,
        expires=index.expires,
        installed_at=now,
        complete=report.complete,
        notices=_notices(index, me, now),
        answers=previous.answers if answers is None else answers,
    )


def _notices(index: Index, me: StationIdentity, now: datetime) -> tuple:
    return tuple(n for n in index.notices if n.audience.matches(me) and (n.valid_until is None or now < n.valid_until))


def next_installed(
    index: Index,
    index_sha: str,
    listed: Listed,
    ok: set[str],
    previous: InstalledSet,
    no_space: set[str],
    player: str,
    has_file: Callable[[str], bool],
    me: StationIdentity,
    now: datetime,
    report: SyncReport,
) -> InstalledSet:
    """The set to install; ``ok``: courses whose files are all verified in the store; ``now``
    (the pass's clock) is when it was installed and decides which notices are still in force."""
    courses: list[InstalledCourse] = []
    for cid, entry in listed.entries.items():
        if cid in ok:
            rendition = entry.renditions[player]
            courses.append(
                InstalledCourse(
                    course=entry.course,
                    kind="video" if rendition.mime.startswith("video/") else "audio",
                    mime=rendition.mime,
                    media=rendition.path,
                    poster=entry.poster.path if entry.poster else None,
                    playlists=tuple(listed.in_playlists[cid]),
                )
            )
        elif (old := previous.course(cid)) and cid not in no_space and has_file(old.media):
            courses.append(replace(old, playlists=tuple(listed.in_playlists[cid]), update_pending=True))
            state = report.courses[cid]
            report.courses[cid] = replace(state, reason=state.reason + " (the previous version still plays)")
    for old in previous.courses:
        if old.id not in listed.entries and listed.unavailable & set(old.playlists) and has_file(old.media):
            courses.append(replace(old, update_pending=True))
    report.courses_installed = len(courses)
    report.courses_total = max(report.courses_total, report.courses_installed)
    return InstalledSet(
        index_version=index.version,
        index_sha256=index_sha,
        expires=index.expires,
        installed_at=now,
        complete=report.complete,
        playlists=tuple(
            InstalledPlaylist(
                ref.name,
                ref.version,
                ref.title,
                ref.priority,
                ref.valid_from,
                ref.valid_until,
                pl.schedule,
                ref.file.sha256,
            )
            for ref, pl in listed.playlists
        )
        + tuple(p for p in previous.playlists if p.name in listed.unavailable),
        notices=_notices(index, me, now),
        courses=tuple(courses),
        answers=previous.answers if listed.answers is None else listed.answers,
    )
