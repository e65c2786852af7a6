"""``LiveStore`` (``db.live``): the live-class schedule. Each later step (cancel, the recording
handed on, the replay published) is one conditional UPDATE, so it happens once however many
processes try. Blocking; failures are DatabaseError."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import MappingProxyType

import orjson
import sqlalchemy as sa

from headend.db.engine import transaction
from headend.db.records import LiveClass
from headend.db.schema import live_classes
from playlists.schedule import LIVE_MAX_S

_T = live_classes.c


def _record(r: sa.Row) -> LiveClass:
    m = dict(r._mapping)
    aud = orjson.loads(m["audience"])
    m["audience"] = MappingProxyType({k: tuple(aud.get(k, ())) for k in ("stations", "regions", "tags")})
    return LiveClass(**m)


class LiveStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(self, live: LiveClass) -> bool:
        """Schedule a class; False when its id is taken."""
        row = dict(live.__dict__)
        row["audience"] = orjson.dumps({k: list(v) for k, v in live.audience.items()}).decode()
        with transaction(self.engine, write=True) as conn:
            if conn.execute(sa.select(_T.id).where(_T.id == live.id)).first():
                return False
            conn.execute(live_classes.insert().values(**row))
        return True

    def get(self, live_id: str) -> LiveClass | None:
        with transaction(self.engine) as conn:
            row = conn.execute(sa.select(live_classes).where(_T.id == live_id)).first()
        return _record(row) if row else None

    def all(self, ending_after: str = "") -> list[LiveClass]:
        """Every class (those ending after ``ending_after``, ISO UTC, when given), by start. The
        loop asks every few seconds: the index on start_at leaves out classes too old to matter."""
        query = sa.select(live_classes).order_by(_T.start_at, _T.id)
        if ending_after:
            earliest = _moment(ending_after) - timedelta(seconds=LIVE_MAX_S)
            query = query.where(_T.start_at >= earliest.strftime("%Y-%m-%dT%H:%M:%SZ"))
        with transaction(self.engine) as conn:
            rows = conn.execute(query).all()
        out = [_record(r) for r in rows]
        return [x for x in out if not ending_after or _end(x) > ending_after]

    def cancel(self, live_id: str, at: str) -> bool:
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(
                live_classes.update().where(_T.id == live_id, _T.cancelled_at.is_(None)).values(cancelled_at=at)
            )
        return res.rowcount == 1

    def recorded(self, live_id: str, sha256: str, course_id: str) -> bool:
        """The recording was handed to the inbox as the replay's source (once)."""
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(
                live_classes.update()
                .where(_T.id == live_id, _T.recording_sha256.is_(None))
                .values(recording_sha256=sha256, replay_course=course_id)
            )
        return res.rowcount == 1

    def replay_published(self, live_id: str, at: str) -> bool:
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(
                live_classes.update()
                .where(_T.id == live_id, _T.replay_published_at.is_(None))
                .values(replay_published_at=at)
            )
        return res.rowcount == 1


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _end(x: LiveClass) -> str:
    start = _moment(x.start_at)
    return (start + timedelta(seconds=x.duration_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
