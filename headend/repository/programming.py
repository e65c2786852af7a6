"""Playlists and notices as county staff define them: ``<root>/playlists/*.toml`` and
``<root>/notices/*.toml`` (written by hand or by ``headend playlist add`` / ``headend notice add``).

A playlist file::

    title = "2026年冬训专题"
    items = ["c-1768f5ab3e59", "series:雨季养鹅"]   # course ids, or every episode of a series
    priority = 10                                  # higher first on the TV; default 0
    valid_from = 2026-11-01                        # optional; dates are China time
    valid_until = 2027-03-01                       # through the end of that day
    [audience]                                     # omit for every station
    stations = ["gaoyao-xiangang-xianyi"]
    regions = ["广东省/肇庆市/高要市"]
    tags = ["party-school"]
    [[schedule.slots]]                             # 节目单 (optional)
    course = "c-1768f5ab3e59"
    start = 2026-11-23T19:30:00
    [[schedule.weekly]]
    course = "c-1768f5ab3e59"
    days = [1, 3]                                  # Monday, Wednesday
    time = "20:00"

A notice file: ``title``, ``body``, optional ``valid_from``, ``valid_until`` and ``[audience]``.
The file name (without ``.toml``) is the playlist's or notice's id unless ``name``/``id`` is set.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import tomli_w

from catalogue import Course
from catalogue.ids import ID_RULE, is_id
from headend.errors import PublishError
from playlists import Audience, Notice, Schedule
from playlists.atomic import atomic_write
from playlists.errors import FormatError
from playlists.schedule import CHINA

PLAYLIST_KEYS = {"name", "title", "items", "priority", "valid_from", "valid_until", "audience", "schedule"}
NOTICE_KEYS = {"id", "title", "body", "valid_from", "valid_until", "audience"}


@dataclass(frozen=True)
class PlaylistDef:
    name: str
    title: str
    items: tuple[str, ...]
    source: Path | None = None  # the TOML file, for messages
    audience: Audience = field(default_factory=Audience)
    priority: int = 0
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    schedule: Schedule = field(default_factory=Schedule)

    @property
    def where(self) -> str:
        return f"{self.source.parent.name}/{self.source.name}" if self.source else f"playlist {self.name}"

    def course_ids(self, catalogue: list[Course]) -> list[str]:
        """Items expanded (``series:NAME`` → its episodes in order) plus scheduled courses, in
        order, without repeats. PublishError names the file and any unknown item."""
        by_id = {c.id: c for c in catalogue}
        out: list[str] = []
        unknown = []
        for item in self.items:
            if item.startswith("series:"):
                series = item.split(":", 1)[1].strip()
                eps = sorted((c for c in catalogue if c.series == series), key=lambda c: (c.episode or 0, c.title))
                if not eps:
                    unknown.append(item)
                out += [c.id for c in eps]
            elif item in by_id:
                out.append(item)
            else:
                unknown.append(item)
        for occ_course in [s.course for s in self.schedule.slots] + [w.course for w in self.schedule.weekly]:
            if occ_course not in by_id:
                unknown.append(f"{occ_course} (in the schedule)")
            out.append(occ_course)
        if unknown:
            raise PublishError(
                f"{self.where}: {', '.join(repr(u) for u in unknown)} is not in the catalogue; "
                "see `headend course list` or the /county page for course ids and series"
            )
        return list(dict.fromkeys(out))


def _when(value: Any, what: str, end_of_day: bool = False) -> datetime | None:
    """TOML date, local or offset date-time, or ISO text; China time when no offset. A bare date
    is the start of that day, or with ``end_of_day`` (``valid_until``) its last second."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
        except ValueError as exc:
            raise FormatError(f"{what}: {value!r} is not a date like 2026-11-23 or 2026-11-23T19:30") from exc
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=CHINA)
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59) if end_of_day else time(0), CHINA)
    raise FormatError(f"{what}: expected a date")


def _read_definition(path: Path, keys: set[str]) -> tuple[dict, str]:
    """A playlist or notice file's table and its name for messages; PublishError when it is not
    valid TOML or has a key not in ``keys``."""
    where = f"{path.parent.name}/{path.name}"
    try:
        d = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PublishError(f"{path}: not valid TOML: {exc}; fix the file and publish again") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PublishError(f"{path}: cannot read ({exc})") from exc
    unknown = set(d) - keys
    if unknown:
        raise PublishError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(keys)}")
    return d, where


def _common(d: dict, where: str) -> dict:
    """What playlists and notices share: audience and validity window."""
    return {
        "audience": Audience.from_dict(d.get("audience"), f"{where} [audience]"),
        "valid_from": _when(d.get("valid_from"), f"{where}: valid_from"),
        "valid_until": _when(d.get("valid_until"), f"{where}: valid_until", end_of_day=True),
    }


def load_playlist(path: Path) -> PlaylistDef:
    d, where = _read_definition(path, PLAYLIST_KEYS)
    name = str(d.get("name", path.stem))
    if not is_id(name) or name == "all":
        raise PublishError(f"{where}: playlist name {name!r}: use {ID_RULE} ('all' is reserved)")
    title = d.get("title")
    if not isinstance(title, str) or not title.strip():
        raise PublishError(f"{where}: needs a title")
    items = d.get("items", [])
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise PublishError(f'{where}: items must be a list of course ids (or "series:NAME")')
    try:
        pdef = PlaylistDef(
            name=name,
            title=title.strip(),
            items=tuple(items),
            source=path,
            priority=int(d.get("priority", 0)),
            schedule=Schedule.from_dict(d.get("schedule"), f"{where} [schedule]"),
            **_common(d, where),
        )
    except (FormatError, ValueError, TypeError) as exc:
        raise PublishError(f"{where}: {exc}") from exc
    if pdef.valid_from and pdef.valid_until and pdef.valid_until <= pdef.valid_from:
        raise PublishError(f"{where}: valid_until is not after valid_from")
    if not pdef.items and not pdef.schedule:
        raise PublishError(f"{where}: lists no items and no schedule")
    return pdef


def load_notice(path: Path) -> Notice:
    d, where = _read_definition(path, NOTICE_KEYS)
    try:
        return Notice(
            id=str(d.get("id", path.stem)),
            title=str(d.get("title", "")),
            body=str(d.get("body", "")),
            **_common(d, where),
        )
    except FormatError as exc:
        raise PublishError(f"{where}: {exc}") from exc


def load_all(root: Path) -> tuple[list[PlaylistDef], list[Notice]]:
    pls = [load_playlist(p) for p in sorted((root / "playlists").glob("*.toml"))]
    names = [p.name for p in pls]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise PublishError(f"playlists/: the name {sorted(dup)[0]!r} is used by more than one file")
    notices = [load_notice(p) for p in sorted((root / "notices").glob("*.toml"))]
    return pls, notices


def write_definition(folder: Path, name: str, data: dict) -> Path:
    """Write a playlist or notice file for the CLI (refusing to overwrite one)."""
    if not is_id(name):
        raise PublishError(f"{name!r}: use {ID_RULE}")
    path = folder / f"{name}.toml"
    if path.exists():
        raise PublishError(f"{path} exists; edit it or choose another name")
    atomic_write(path, tomli_w.dumps({k: v for k, v in data.items() if v not in (None, [], {}, "")}).encode())
    return path
