"""``QuestionStore`` (``db.questions``): the villages' questions and the county's answers. The
collector adds a question inside the transaction that keeps its batch (``add``), once per
(station, number) whatever is re-sent; each step after that (assign, answer, close) is one
conditional UPDATE, so two staff pressing at once record it once. Blocking; failures are
DatabaseError."""

from __future__ import annotations

import functools
import json

import sqlalchemy as sa

from headend.db.engine import dialect_insert, transaction
from headend.db.records import Question
from headend.db.schema import questions, stations

_Q = questions.c
_COLUMNS = [c for c in questions.columns]
_SELECT = sa.select(*_COLUMNS, stations.c.name.label("station_name"), stations.c.region).select_from(
    questions.join(stations, stations.c.id == _Q.station)
)
OPEN = ("new", "assigned")


@functools.cache
def _add_statement(dialect: str) -> sa.Insert:
    return dialect_insert(dialect, questions).on_conflict_do_nothing(index_elements=["station", "number"])


def _question(r: sa.Row) -> Question:
    m = dict(r._mapping)
    m["region"] = tuple(json.loads(m["region"] or "[]"))
    m["faq_region"] = tuple(json.loads(m["faq_region"] or "[]"))
    m["station_name"] = m["station_name"] or ""
    m["publishable"], m["faq"] = bool(m["publishable"]), bool(m["faq"])
    return Question(**m)


class QuestionStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @staticmethod
    def add(conn: sa.Connection, rows: list[dict]) -> None:
        """Keep new questions (in the collector's transaction); one already held stays as it is."""
        if rows:
            conn.execute(_add_statement(conn.dialect.name), rows)

    def get(self, station: str, number: str) -> Question | None:
        with transaction(self.engine) as conn:
            row = conn.execute(_SELECT.where(_Q.station == station, _Q.number == number)).first()
        return _question(row) if row else None

    def listing(self, received_since: str | None = None, station: str | None = None) -> list[Question]:
        """Questions received since ``received_since`` (all when None) and every one still open,
        oldest first (of one station, or all)."""
        query = _SELECT
        if received_since is not None:
            query = query.where(sa.or_(_Q.received_at >= received_since, _Q.status.in_(OPEN)))
        if station is not None:
            query = query.where(_Q.station == station)
        with transaction(self.engine) as conn:
            rows = conn.execute(query.order_by(_Q.received_at, _Q.station, _Q.number)).all()
        return [_question(r) for r in rows]

    def received_between(self, first: str, last: str) -> list[Question]:
        """Questions the headend received in [first, last) (UTC ISO text), for the figures."""
        query = _SELECT.where(_Q.received_at >= first, _Q.received_at < last)
        with transaction(self.engine) as conn:
            return [_question(r) for r in conn.execute(query.order_by(_Q.received_at))]

    def in_repository(self, answered_since: str, faq_since: str) -> list[Question]:
        """What the next publish carries: every question not answered yet, those answered since
        ``answered_since``, and FAQ entries answered since ``faq_since``."""
        query = _SELECT.where(
            sa.or_(
                _Q.answered_at.is_(None),
                _Q.answered_at >= answered_since,
                sa.and_(_Q.faq.is_(True), _Q.answered_at >= faq_since),
            )
        )
        with transaction(self.engine) as conn:
            return [_question(r) for r in conn.execute(query.order_by(_Q.received_at, _Q.station, _Q.number))]

    def assign(self, station: str, number: str, assignee: str, at: str) -> bool:
        """Give an open question to ``assignee``; False when it is answered or closed."""
        return self._step(station, number, _Q.status.in_(OPEN), status="assigned", assignee=assignee, assigned_at=at)

    def answer(self, station: str, number: str, text: str, by: str, at: str, faq: bool, faq_region: tuple) -> bool:
        """Write (or correct) the answer of a question not closed; its first answer's time stays:
        the time to answer counts to it. False when the question is closed."""
        return self._step(
            station,
            number,
            _Q.status != "closed",
            status="answered",
            answer=text,
            answered_by=by,
            answered_at=sa.func.coalesce(_Q.answered_at, at),
            faq=faq,
            faq_region=json.dumps(list(faq_region), ensure_ascii=False),
        )

    def close(self, station: str, number: str, by: str, at: str) -> bool:
        """Close an answered question; False when it is not answered (or already closed)."""
        return self._step(station, number, _Q.status == "answered", status="closed", closed_by=by, closed_at=at)

    def _step(self, station: str, number: str, allowed, **values) -> bool:
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(
                questions.update().where(_Q.station == station, _Q.number == number, allowed).values(**values)
            )
        return res.rowcount == 1
