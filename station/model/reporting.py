"""How reporting to the headend stands (``station.upload`` writes it after every upload, in
``<data_dir>/report.json``): what the admin page, ``station status`` and the health sample show.
Pure."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from station.model.times import moment


@dataclass(frozen=True)
class UploadState:
    state: str = "never"  # never, ok (all acknowledged), partial (more to send), failed, revoked, off
    last_attempt: datetime | None = None
    last_success: datetime | None = None  # the last upload the headend answered 200
    last_error: str | None = None  # what went wrong, in English (the admin page translates kinds)
    error_kind: str | None = None  # refused, revoked, forbidden, unreachable, busy, full, malformed
    error_since: datetime | None = None
    sent_events: int = 0  # events the last run sent
    acknowledged_seq: int = 0
    backlog: int = 0  # events the headend has not acknowledged, when last counted
    stream: str = ""
    offset_s: float | None = None  # headend time − box time at the last upload (seconds)
    headend_time: datetime | None = None
    next_attempt: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for k, v in out.items():
            if isinstance(v, datetime):
                out[k] = v.isoformat()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UploadState:
        """Lenient: a missing or wrong key takes its default."""
        base = cls()
        values: dict[str, Any] = {}
        for k, default in base.__dict__.items():
            v = d.get(k, default)
            if k in _TIMES:
                v = moment(v)
            elif k == "offset_s":
                v = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
            elif isinstance(default, int):
                v = v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else default
            elif k in ("last_error", "error_kind"):
                v = str(v)[:500] if isinstance(v, str) and v else None
            else:
                v = str(v)[:200] if isinstance(v, str) else default
            values[k] = v
        return replace(base, **values)


_TIMES = ("last_attempt", "last_success", "error_since", "headend_time", "next_attempt")
