"""``UserStore`` (``db.users``): county staff accounts, the login throttle shared by every headend
process, and the audit log (``db.audit``). Blocking; failures are DatabaseError."""

from __future__ import annotations

import json
from collections.abc import Iterable
from types import MappingProxyType

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from headend.db.engine import transaction
from headend.db.records import AuditEntry, User
from headend.db.schema import audit_log, login_throttle, users

_USER_COLUMNS = [c for c in users.columns if c.name != "password_hash"]


def _user(r: sa.Row) -> User:
    m = dict(r._mapping)
    m.pop("password_hash", None)
    return User(
        **{
            **m,
            "region": tuple(json.loads(m["region"])),
            "must_change": bool(m["must_change"]),
            "reviewer": bool(m["reviewer"]),
        }
    )


class UserStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(
        self,
        name: str,
        role: str,
        region: tuple[str, ...],
        password_hash: str,
        must_change: bool,
        at: str,
        reviewer: bool = False,
    ) -> bool:
        """False if the name is taken."""
        row = {
            "name": name,
            "role": role,
            "reviewer": reviewer,
            "region": json.dumps(list(region), ensure_ascii=False),
            "password_hash": password_hash,
            "must_change": must_change,
            "created_at": at,
            "password_set_at": at,
        }
        insert = (pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)(users)
        with transaction(self.engine, write=True) as conn:
            res = conn.execute(insert.on_conflict_do_nothing(index_elements=["name"]).returning(users.c.name), row)
            return res.first() is not None

    def get(self, name: str) -> User | None:
        with transaction(self.engine) as conn:
            row = conn.execute(sa.select(*_USER_COLUMNS).where(users.c.name == name)).first()
        return _user(row) if row else None

    def password_hash(self, name: str) -> tuple[User, str] | None:
        with transaction(self.engine) as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        return (_user(row), row.password_hash) if row else None

    def all(self) -> list[User]:
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.select(*_USER_COLUMNS).order_by(users.c.name)).all()
        return [_user(r) for r in rows]

    def count(self) -> int:
        with transaction(self.engine) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar() or 0)

    def update(self, name: str, **values: object) -> bool:
        """Change role, region (a tuple), reviewer, password_hash (with password_set_at),
        must_change, disabled_at or last_login_at; False if there is no such account."""
        if "region" in values:
            values["region"] = json.dumps(list(values["region"]), ensure_ascii=False)  # type: ignore[arg-type]
        with transaction(self.engine, write=True) as conn:
            return conn.execute(users.update().where(users.c.name == name).values(**values)).rowcount == 1

    def active_regions(self) -> list[tuple[str, ...]]:
        """The distinct region prefixes of the accounts not disabled (() is the whole headend)."""
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.select(users.c.region).where(users.c.disabled_at.is_(None)).distinct()).scalars()
            return sorted({tuple(json.loads(r)) for r in rows})

    # ---- login throttle ------------------------------------------------------------------------

    def count_attempt(self, key: str, now: str, window_floor: str) -> tuple[int, str | None]:
        """Count one login attempt under ``key`` (before its password is checked, so concurrent
        attempts cannot all pass the limit); a window older than ``window_floor`` starts again.
        Returns (attempts in the window, locked_until). One atomic statement on either engine."""
        t = login_throttle.c
        insert = (pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)(login_throttle)
        stale = t.window_start < window_floor
        stmt = insert.values(key=key, failures=1, window_start=now, locked_until=None).on_conflict_do_update(
            index_elements=["key"],
            set_={
                "failures": sa.case((stale, 1), else_=t.failures + 1),
                "window_start": sa.case((stale, now), else_=t.window_start),
            },
        )
        with transaction(self.engine, write=True) as conn:
            row = conn.execute(stmt.returning(t.failures, t.locked_until)).first()
        return int(row.failures), row.locked_until

    def lock(self, key: str, until: str) -> None:
        with transaction(self.engine, write=True) as conn:
            conn.execute(login_throttle.update().where(login_throttle.c.key == key).values(locked_until=until))

    def clear_attempts(self, key: str) -> None:
        with transaction(self.engine, write=True) as conn:
            conn.execute(login_throttle.delete().where(login_throttle.c.key == key))


def _entry(r: sa.Row) -> AuditEntry:
    m = dict(r._mapping)
    return AuditEntry(
        **{**m, "detail": MappingProxyType(json.loads(m["detail"])), "region": tuple(json.loads(m["region"]))}
    )


class AuditStore:
    """The audit log (``db.audit``): appended, never changed."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def record(
        self, at: str, actor: str, address: str, action: str, target: str, detail: dict, region: Iterable[str]
    ) -> None:
        row = {
            "at": at,
            "actor": actor,
            "address": address,
            "action": action,
            "target": target,
            "detail": json.dumps(detail, ensure_ascii=False, default=str),
            "region": json.dumps(list(region), ensure_ascii=False),
        }
        with transaction(self.engine, write=True) as conn:
            conn.execute(audit_log.insert().values(**row))

    def recent(self, limit: int = 200, before_id: int | None = None) -> list[AuditEntry]:
        """The newest entries first (``before_id``: the page after an earlier one)."""
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(audit_log.c.id < before_id)
        with transaction(self.engine) as conn:
            return [_entry(r) for r in conn.execute(query).all()]
