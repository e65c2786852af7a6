"""Live classes as the repository carries them: each scheduled class is a playlist ``live-<id>``
for its audience whose schedule names the stream (``playlists.Live``: signed like any playlist;
the HLS segments are not) and, once its recording has been transcoded for every player, holds
that course as the replay (回看). A class is published from when it is scheduled until
``keep_days`` after it ends; a cancelled one is withdrawn at the next publish."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from headend.db import Database, LiveClass
from headend.repository.programming import PlaylistDef
from playlists import Audience, Live, Schedule
from playlists.times import parse_moment

PREFIX = "live-"  # playlist names of live classes; a playlist file may not use it


def playlist_name(live_id: str) -> str:
    return f"{PREFIX}{live_id}"


def start_of(x: LiveClass) -> datetime:
    return parse_moment(x.start_at, "start_at")


def end_of(x: LiveClass) -> datetime:
    return start_of(x) + timedelta(seconds=x.duration_s)


def audience_of(x: LiveClass) -> Audience:
    return Audience.from_dict({k: list(v) for k, v in x.audience.items()}, f"live class {x.id}")


def definitions(
    db: Database, now: datetime, keep_days: float, replay_ready: Callable[[str], bool]
) -> tuple[list[PlaylistDef], list[str]]:
    """The playlists of the live classes to publish now, and notes (a replay not ready yet).
    ``replay_ready(course_id)``: the course has a rendition for every player it goes to."""
    defs, notes = [], []
    for x in db.live.all():
        end = end_of(x)
        if x.cancelled_at or end + timedelta(days=keep_days) <= now:
            continue
        replay = x.replay_course if x.replay_course and replay_ready(x.replay_course) else None
        if x.replay_course and replay is None:
            notes.append(f"live class {x.id}: its replay {x.replay_course} is not transcoded for every player yet")
        live = Live(id=x.id, title=x.title, start=start_of(x), duration_s=x.duration_s, replay=replay)
        defs.append(
            PlaylistDef(
                name=playlist_name(x.id),
                title=x.title,
                items=(replay,) if replay else (),
                audience=audience_of(x),
                valid_until=end + timedelta(days=keep_days),
                schedule=Schedule(live=(live,)),
            )
        )
    return defs, notes
