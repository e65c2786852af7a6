"""``NoticeReviewStore`` (``db.notice_reviews``): each version of a notice file (its id and the
sha256 of its bytes) on its way from draft to review (审核) to sign-off (签发). A step is one
conditional UPDATE, so two people pressing the same button at once record it once. Blocking;
failures are DatabaseError."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from headend.db.engine import transaction
from headend.db.records import NoticeReview
from headend.db.schema import notice_reviews

_T = notice_reviews.c


class NoticeReviewStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def draft(self, notice_id: str, sha256: str, by: str, at: str) -> NoticeReview:
        """Record a version as drafted by ``by`` (kept as it is if that version has a row)."""
        insert = (pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)(notice_reviews)
        row = {"notice_id": notice_id, "sha256": sha256, "drafted_by": by, "drafted_at": at}
        with transaction(self.engine, write=True) as conn:
            conn.execute(insert.values(**row).on_conflict_do_nothing(index_elements=["notice_id", "sha256"]))
            found = conn.execute(sa.select(notice_reviews).where(_T.notice_id == notice_id, _T.sha256 == sha256))
            return NoticeReview(**found.one()._mapping)

    def get(self, notice_id: str, sha256: str) -> NoticeReview | None:
        with transaction(self.engine) as conn:
            row = conn.execute(sa.select(notice_reviews).where(_T.notice_id == notice_id, _T.sha256 == sha256)).first()
        return NoticeReview(**row._mapping) if row else None

    def all(self) -> list[NoticeReview]:
        """Every version of every notice recorded, oldest draft first."""
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.select(notice_reviews).order_by(_T.drafted_at, _T.notice_id)).all()
        return [NoticeReview(**r._mapping) for r in rows]

    def review(self, notice_id: str, sha256: str, by: str, at: str) -> bool:
        """Mark the version reviewed; False if it already was (or has no row)."""
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(
                notice_reviews.update()
                .where(_T.notice_id == notice_id, _T.sha256 == sha256, _T.reviewed_by.is_(None))
                .values(reviewed_by=by, reviewed_at=at)
            )
        return res.rowcount == 1

    def sign(self, notice_id: str, sha256: str, by: str, at: str) -> bool:
        """Mark a reviewed version signed off; False if it is not reviewed or already signed."""
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(
                notice_reviews.update()
                .where(
                    _T.notice_id == notice_id,
                    _T.sha256 == sha256,
                    _T.reviewed_by.is_not(None),
                    _T.signed_by.is_(None),
                )
                .values(signed_by=by, signed_at=at)
            )
        return res.rowcount == 1
