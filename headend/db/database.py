"""``Database``: the catalogue, renditions, stations and publications (the job queue is
``headend.db.jobs``, reached as ``db.jobs``; reports ``db.reports``; accounts and the login
throttle ``db.users``; the audit log ``db.audit``; alerts, digests and webhook deliveries
``db.alerts``). Blocking: async code calls it through
``asyncio.to_thread``. Every failure is a ``DatabaseError`` that says what to do."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import sqlalchemy as sa

from catalogue import Course
from headend.config import database_url
from headend.db import migrate
from headend.db.alerts import AlertStore
from headend.db.archive import ArchiveStore
from headend.db.dashboard import DashboardStore
from headend.db.engine import create_engine, describe, now_iso, transaction, upsert
from headend.db.jobs import JobStore
from headend.db.live import LiveStore
from headend.db.notices import NoticeReviewStore
from headend.db.questions import QuestionStore
from headend.db.ratings import RatingStore
from headend.db.receipts import ReceiptStore
from headend.db.records import Publication, Rendition, Station
from headend.db.reports import ReportStore
from headend.db.schema import courses, publications, published_files, renditions, report_streams, stations
from headend.db.users import AuditStore, UserStore


def _course(r: sa.Row) -> Course:
    return Course(
        id=r.id,
        title=r.title,
        category=r.category,
        description=r.description,
        duration_s=r.duration_s,
        source_sha256=r.source_sha256,
        tags=tuple(json.loads(r.tags)),
        series=r.series,
        episode=r.episode,
        speaker=r.speaker,
    )


def _course_values(course: Course) -> dict:
    return {
        "id": course.id,
        "title": course.title,
        "category": course.category,
        "description": course.description,
        "duration_s": course.duration_s,
        "source_sha256": course.source_sha256,
        "tags": json.dumps(list(course.tags), ensure_ascii=False),
        "series": course.series,
        "episode": course.episode,
        "speaker": course.speaker,
    }


_STATION_COLUMNS = (
    "id",
    "name",
    "region",
    "player",
    "created_at",
    "capacity",
    "members",
    "revoked_at",
    "token_rotated_at",
    "opening_hours",
)


def _station(r: sa.Row) -> Station:
    m = r._mapping
    return Station(
        **{n: m[n] for n in _STATION_COLUMNS if n != "region"},
        region=tuple(json.loads(r.region)),
        last_report_at=m.get("last_report_at"),
    )


_COURSE_EDITABLE = [
    "title",
    "category",
    "description",
    "duration_s",
    "tags",
    "series",
    "episode",
    "speaker",
    "updated_at",
]


STILL_REFERENCED = "9999-12-31T23:59:59Z"  # published_files: referenced by the newest version


class Database:
    def __init__(self, url: sa.URL) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.jobs = JobStore(self.engine)
        self.reports = ReportStore(self.engine)
        self.users = UserStore(self.engine)
        self.dashboard = DashboardStore(self.engine)
        self.audit = AuditStore(self.engine)
        self.alerts = AlertStore(self.engine)
        self.ratings = RatingStore(self.engine)
        self.notice_reviews = NoticeReviewStore(self.engine)
        self.receipts = ReceiptStore(self.engine)
        self.questions = QuestionStore(self.engine)
        self.archive = ArchiveStore(self.engine)
        self.live = LiveStore(self.engine)

    @classmethod
    def open(cls, url: str, sqlite_path: Path) -> Database:
        """Open (and migrate once) the database at ``url`` — ``[database] url`` — or, when it is
        empty, the SQLite file ``sqlite_path``."""
        db = cls(database_url(url, sqlite_path))
        try:
            migrate.upgrade(db.engine)
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({describe(self.url)})"

    # ---- courses ---------------------------------------------------------------------------

    def upsert_courses(self, items: list[tuple[Course, str]]) -> None:
        """Add courses (with the file name each came from) or update the ones already there."""
        ts = now_iso()
        rows = [{**_course_values(c), "source_name": name, "created_at": ts, "updated_at": ts} for c, name in items]
        with transaction(self.engine, write=True) as conn:
            upsert(conn, courses, rows, ["id"], _COURSE_EDITABLE)

    def upsert_course(self, course: Course, source_name: str) -> None:
        self.upsert_courses([(course, source_name)])

    def update_course(self, course: Course) -> bool:
        """Save an edited course (its source file name stays); False if it is not there."""
        values = {k: v for k, v in _course_values(course).items() if k in _COURSE_EDITABLE}
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(courses.update().where(courses.c.id == course.id).values(**values, updated_at=now_iso()))
        return res.rowcount == 1

    def courses(self) -> list[Course]:
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.select(courses).order_by(courses.c.created_at, courses.c.id)).all()
        return [_course(r) for r in rows]

    def course(self, course_id: str) -> Course | None:
        with transaction(self.engine) as conn:
            row = conn.execute(sa.select(courses).where(courses.c.id == course_id)).first()
        return _course(row) if row else None

    # ---- renditions ------------------------------------------------------------------------

    def rendition(self, source_sha256: str, profile: str, fingerprint: str) -> Rendition | None:
        with transaction(self.engine) as conn:
            row = conn.execute(
                sa.select(renditions).where(
                    renditions.c.source_sha256 == source_sha256,
                    renditions.c.profile == profile,
                    renditions.c.fingerprint == fingerprint,
                )
            ).first()
        return Rendition(**row._mapping) if row else None

    def renditions(self) -> list[Rendition]:
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.select(renditions).order_by(renditions.c.created_at)).all()
        return [Rendition(**r._mapping) for r in rows]

    def rendition_files(self, profiles: Iterable[str]) -> Sequence[sa.Row[tuple[str, str, str, str, str, int, str]]]:
        """``(source_sha256, profile, fingerprint, path, sha256, size, mime)`` of the renditions of
        ``profiles``: plain rows, no records (a publish reads 20,000 of them)."""
        c = renditions.c
        stmt = sa.select(c.source_sha256, c.profile, c.fingerprint, c.path, c.sha256, c.size, c.mime).where(
            c.profile.in_(sorted(profiles))
        )
        with transaction(self.engine) as conn:
            return conn.execute(stmt).all()

    def add_renditions(self, items: list[Rendition]) -> None:
        rows = [r.__dict__ for r in items]
        with transaction(self.engine, write=True) as conn:
            upsert(
                conn,
                renditions,
                rows,
                ["source_sha256", "profile", "fingerprint"],
                ["path", "sha256", "size", "mime", "created_at"],
            )

    def add_rendition(
        self, source_sha256: str, profile: str, fingerprint: str, path: str, sha256: str, size: int, mime: str
    ) -> None:
        self.add_renditions([Rendition(source_sha256, profile, fingerprint, path, sha256, size, mime, now_iso())])

    # ---- stations --------------------------------------------------------------------------

    def add_station(
        self,
        station_id: str,
        name: str,
        region: list[str],
        player: str,
        token_sha256: str,
        capacity: int | None = None,
        members: int | None = None,
    ) -> bool:
        """False if the id is taken."""
        row = {
            "id": station_id,
            "name": name,
            "region": json.dumps(region, ensure_ascii=False),
            "player": player,
            "token_sha256": token_sha256,
            "created_at": now_iso(),
            "capacity": capacity,
            "members": members,
        }
        with transaction(self.engine, write=True) as conn:
            return upsert(conn, stations, [row], ["id"], None) == 1

    def edit_station(self, station_id: str, changes: dict) -> bool:
        """Change name, region (a list), player, capacity, members or opening hours; False if no such station."""
        values = {
            k: v
            for k, v in changes.items()
            if k in ("name", "region", "player", "capacity", "members", "opening_hours")
        }
        if "region" in values:
            values["region"] = json.dumps(values["region"], ensure_ascii=False)
        with transaction(self.engine, write=True) as conn:
            if not values:
                return conn.execute(sa.select(stations.c.id).where(stations.c.id == station_id)).first() is not None
            return conn.execute(stations.update().where(stations.c.id == station_id).values(**values)).rowcount == 1

    def set_station_token(self, station_id: str, token_sha256: str) -> bool:
        """A new token for the station (the old one stops working; a revoked station may report
        again); False if no such station."""
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(
                stations.update()
                .where(stations.c.id == station_id)
                .values(token_sha256=token_sha256, token_rotated_at=now_iso(), revoked_at=None)
            )
        return res.rowcount == 1

    def revoke_station(self, station_id: str) -> bool:
        """Its token no longer reports (kept, so the station is told it was revoked); False if no
        such station."""
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(
                stations.update()
                .where(stations.c.id == station_id, stations.c.revoked_at.is_(None))
                .values(revoked_at=now_iso())
            )
            if res.rowcount == 0:
                return conn.execute(sa.select(stations.c.id).where(stations.c.id == station_id)).first() is not None
        return True

    def stations(self, station_id: str | None = None) -> list[Station]:
        """Every registered station (or the one ``station_id`` names), with when it last reported."""
        last = sa.select(report_streams.c.station, sa.func.max(report_streams.c.updated_at).label("last_report_at"))
        if station_id is not None:
            last = last.where(report_streams.c.station == station_id)
        last = last.group_by(report_streams.c.station).subquery()
        query = (
            sa.select(*(stations.c[n] for n in _STATION_COLUMNS), last.c.last_report_at)
            .outerjoin(last, last.c.station == stations.c.id)
            .order_by(stations.c.id)
        )
        if station_id is not None:
            query = query.where(stations.c.id == station_id)
        with transaction(self.engine) as conn:
            return [_station(r) for r in conn.execute(query).all()]

    def station(self, station_id: str) -> Station | None:
        found = self.stations(station_id)
        return found[0] if found else None

    def station_by_token(self, token_sha256: str) -> Station | None:
        query = sa.select(*(stations.c[n] for n in _STATION_COLUMNS)).where(stations.c.token_sha256 == token_sha256)
        with transaction(self.engine) as conn:
            row = conn.execute(query).first()
        return _station(row) if row else None

    # ---- publications ----------------------------------------------------------------------

    def last_publication(self) -> Publication | None:
        with transaction(self.engine) as conn:
            row = conn.execute(sa.select(publications).order_by(publications.c.version.desc()).limit(1)).first()
        return Publication(**row._mapping) if row else None

    def add_publication(
        self, version: int, published_at: str, expires_at: str, index_sha256: str, courses: int
    ) -> None:
        with transaction(self.engine, write=True) as conn:
            conn.execute(
                publications.insert().values(
                    version=version,
                    published_at=published_at,
                    expires_at=expires_at,
                    index_sha256=index_sha256,
                    courses=courses,
                )
            )

    def reference_files(self, paths: set[str], stamp: str, since: str) -> tuple[set[str], list[str]]:
        """Record that the version published at ``stamp`` references ``paths``; return the files
        referenced since ``since`` (to keep in the tree) and those not (to collect). A file still
        referenced is marked ``STILL_REFERENCED``; one this version drops gets the time of the last
        version that referenced it, the newest recorded publication (``stamp`` if none): so a
        publish writes only the rows that changed, not one per file."""
        with transaction(self.engine, write=True) as conn:
            rows = dict(conn.execute(sa.select(published_files.c.path, published_files.c.last_referenced_at)).all())
            last = conn.execute(sa.select(sa.func.max(publications.c.published_at))).scalar() or stamp
            marked = [p for p in sorted(paths) if rows.get(p) != STILL_REFERENCED]
            if marked:
                upsert(
                    conn,
                    published_files,
                    [{"path": p, "last_referenced_at": STILL_REFERENCED} for p in marked],
                    ["path"],
                    ["last_referenced_at"],
                )
            dropped = sorted(p for p, t in rows.items() if t == STILL_REFERENCED and p not in paths)
            for i in range(0, len(dropped), 500):
                conn.execute(
                    published_files.update()
                    .where(published_files.c.path.in_(dropped[i : i + 500]))
                    .values(last_referenced_at=last)
                )
        rows.update(dict.fromkeys(marked, STILL_REFERENCED))
        rows.update(dict.fromkeys(dropped, last))
        return {p for p, t in rows.items() if t >= since}, sorted(p for p, t in rows.items() if t < since)

    def forget_files(self, since: str) -> None:
        """Collected: files no version has referenced since ``since``."""
        with transaction(self.engine, write=True) as conn:
            conn.execute(published_files.delete().where(published_files.c.last_referenced_at < since))
