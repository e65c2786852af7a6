"""Who a playlist or notice is for, and the notices themselves. Pure.

An audience names station ids, region prefixes (``广东省/肇庆市/高要市`` matches every station whose
region starts with those parts) and tags; a station is in the audience if it matches any of them.
An empty audience means every station.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from catalogue.ids import is_id
from playlists.errors import FormatError
from playlists.times import parse_time, utc_iso

MAX_NOTICE_TITLE = 60
MAX_NOTICE_BODY = 500


@dataclass(frozen=True)
class StationIdentity:
    """What a station says about itself for audience matching."""

    id: str
    region: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Audience:
    stations: tuple[str, ...] = ()
    regions: tuple[tuple[str, ...], ...] = ()  # each a prefix: (province, city, county, …)
    tags: tuple[str, ...] = ()

    @property
    def everyone(self) -> bool:
        return not (self.stations or self.regions or self.tags)

    def matches(self, station: StationIdentity) -> bool:
        if self.everyone:
            return True
        if station.id in self.stations:
            return True
        if any(tuple(station.region[: len(r)]) == r for r in self.regions):
            return True
        return bool(set(self.tags) & set(station.tags))

    def to_dict(self) -> dict:
        return {
            "stations": list(self.stations),
            "regions": ["/".join(r) for r in self.regions],
            "tags": list(self.tags),
        }

    def describe(self) -> str:
        if self.everyone:
            return "every station"
        parts = [*self.stations, *("/".join(r) for r in self.regions), *(f"#{t}" for t in self.tags)]
        return ", ".join(parts)

    @classmethod
    def from_dict(cls, d: Any, what: str) -> Audience:
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise FormatError(f"{what}: audience must be a table/object")
        unknown = set(d) - {"stations", "regions", "tags"}
        if unknown:
            raise FormatError(f"{what}: unknown audience keys {sorted(unknown)}; use stations, regions, tags")
        stations = _str_list(d.get("stations"), f"{what}.stations")
        bad = [s for s in stations if not is_id(s)]
        if bad:
            raise FormatError(f"{what}.stations: {bad[0]!r} is not a station id")
        regions = []
        for r in _str_list(d.get("regions"), f"{what}.regions"):
            parts = tuple(p.strip() for p in r.split("/") if p.strip())
            if not parts:
                raise FormatError(f"{what}.regions: empty region")
            regions.append(parts)
        return cls(
            stations=tuple(stations), regions=tuple(regions), tags=tuple(_str_list(d.get("tags"), f"{what}.tags"))
        )


def _str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FormatError(f"{what}: expected a list of strings")
    return value


def _text(d: dict, key: str, what: str) -> str:
    """A text field ("" when absent or null); FormatError for anything else (a list is not text)."""
    value = d.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FormatError(f"{what}: field {key!r} must be text")
    return value


def in_window(now: datetime, valid_from: datetime | None, valid_until: datetime | None) -> bool:
    return (valid_from is None or now >= valid_from) and (valid_until is None or now < valid_until)


@dataclass(frozen=True)
class Notice:
    """活动通知: a short announcement for the TV and the admin page of every targeted station."""

    id: str
    title: str
    body: str
    audience: Audience = field(default_factory=Audience)
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def __post_init__(self) -> None:
        if not is_id(self.id):
            raise FormatError(f"notice id {self.id!r}: use a-z, 0-9 and '-'")
        if not self.title.strip() or len(self.title) > MAX_NOTICE_TITLE:
            raise FormatError(f"notice {self.id}: title must be 1-{MAX_NOTICE_TITLE} characters")
        if len(self.body) > MAX_NOTICE_BODY:
            raise FormatError(f"notice {self.id}: body is {len(self.body)} characters; at most {MAX_NOTICE_BODY}")

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "audience": self.audience.to_dict(),
            "valid_from": utc_iso(self.valid_from) if self.valid_from else None,
            "valid_until": utc_iso(self.valid_until) if self.valid_until else None,
        }

    @classmethod
    def from_dict(cls, d: Any, what: str) -> Notice:
        if not isinstance(d, dict):
            raise FormatError(f"{what}: expected an object")
        return cls(
            id=_text(d, "id", what),
            title=_text(d, "title", what),
            body=_text(d, "body", what),
            audience=Audience.from_dict(d.get("audience"), f"{what}.audience"),
            valid_from=parse_time(d["valid_from"], f"{what}.valid_from") if d.get("valid_from") else None,
            valid_until=parse_time(d["valid_until"], f"{what}.valid_until") if d.get("valid_until") else None,
        )
