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

Both are read by the strict reader ``catalogue.tomlcheck`` (unknown keys refused with the line
and nearest name, types checked, numbers in range, dates in years 2000-2099); every mistake is
a ``PublishError`` naming the file, the line and the key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import tomli_w

from catalogue import Course
from catalogue.course import MAX_TITLE_CHARS
from catalogue.ids import ID_RULE, is_id
from catalogue.tomlcheck import REQUIRED, Document, SettingsError, Table
from headend.errors import PublishError
from playlists import Audience, Notice, Schedule
from playlists.atomic import atomic_write
from playlists.audience import MAX_NOTICE_BODY, MAX_NOTICE_TITLE
from playlists.errors import FormatError

MAX_PRIORITY = 1000  # playlists are ordered by priority on the TV, higher first


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

    def course_ids(self, catalogue: list[Course], by_id: dict[str, Course] | None = None) -> list[str]:
        """Items expanded (``series:NAME`` → its episodes in order) plus scheduled courses, in
        order, without repeats (``by_id``: the catalogue by id, when the caller has it).
        PublishError names the file and any unknown item."""
        by_id = by_id if by_id is not None else {c.id: c for c in catalogue}
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


def read_definition(path: Path) -> bytes:
    """A playlist or notice file's bytes; PublishError (naming it) if it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        where = f"{path.parent.name}/{path.name}"
        raise PublishError(f"{where}: cannot read it ({exc.strerror or exc}); check the file's permissions") from exc


def _document(path: Path, raw: bytes | None = None) -> tuple[Document, Table]:
    """A playlist or notice file (or ``raw``, its bytes as read), parsed by the strict reader
    (named ``playlists/NAME.toml``)."""
    doc = Document.parse(read_definition(path) if raw is None else raw, f"{path.parent.name}/{path.name}")
    return doc, doc.root()


def _common(t: Table) -> dict:
    """What playlists and notices share: audience and validity window."""
    aud = t.table("audience")
    what = t.doc.where("audience")
    try:
        audience = Audience.from_dict(
            {k: list(aud.str_list(k, [], max_len=200)) for k in ("stations", "regions", "tags")}, what
        )
    except FormatError as exc:
        raise aud.fail(None, str(exc).removeprefix(what).lstrip(".: ")) from exc
    out = {
        "audience": audience,
        "valid_from": t.moment("valid_from"),
        "valid_until": t.moment("valid_until", end_of_day=True),
    }
    if out["valid_from"] and out["valid_until"] and out["valid_until"] <= out["valid_from"]:
        raise t.fail("valid_until", "is not after valid_from")
    return out


def _schedule(t: Table) -> Schedule:
    """``[[schedule.slots]]`` and ``[[schedule.weekly]]``, each entry checked where it is written."""
    sched = t.table("schedule")
    slots, weekly = [], []
    for s in sched.tables("slots"):
        entry = {"course": s.str("course", max_len=64), "start": s.moment("start", REQUIRED)}
        slots += _entry(s, {"slots": [entry]}).slots
    for w in sched.tables("weekly"):
        entry = {
            "course": w.str("course", max_len=64),
            "days": list(w.int_list("days", min=1, max=7, min_items=1, max_items=7)),
            "time": w.str("time", max_len=5),
            "from": w.day("from"),
            "until": w.day("until"),
        }
        weekly += _entry(w, {"weekly": [entry]}).weekly
    return Schedule(slots=tuple(slots), weekly=tuple(weekly))


def _entry(t: Table, d: dict) -> Schedule:
    try:
        return Schedule.from_dict(d, "")
    except FormatError as exc:
        raise t.fail(None, str(exc).split(": ", 1)[-1]) from exc


def _checked(path: Path, read, raw: bytes | None = None):
    """``read(doc, root_table)`` on the strict reader; every mistake is one PublishError naming
    the file, the line, the key and what is wrong."""
    try:
        doc, t = _document(path, raw)
        value = read(doc, t)
        doc.finish()
    except SettingsError as exc:
        raise PublishError(f"{exc}; fix the file and publish again") from exc
    except FormatError as exc:  # a rule of the record itself (a notice's id or length)
        raise PublishError(f"{path.parent.name}/{path.name}: {exc}; fix the file and publish again") from exc
    return value


def load_playlist(path: Path) -> PlaylistDef:
    def read(doc: Document, t: Table) -> PlaylistDef:
        name = t.str("name", path.stem, max_len=64)
        if not is_id(name) or name == "all" or name.startswith("live-"):
            raise t.fail("name", f"{name!r}: use {ID_RULE} ('all' and names starting 'live-' are reserved)")
        title = t.str("title", max_len=MAX_TITLE_CHARS).strip()
        if not title:
            raise t.fail("title", "is empty; give the playlist a title")
        pdef = PlaylistDef(
            name=name,
            title=title,
            items=t.str_list("items", [], max_len=200),
            source=path,
            priority=t.int("priority", 0, min=-MAX_PRIORITY, max=MAX_PRIORITY),
            schedule=_schedule(t),
            **_common(t),
        )
        if not pdef.items and not pdef.schedule:
            raise t.fail(None, "lists no items and no schedule")
        return pdef

    return _checked(path, read)


def load_notice(path: Path, raw: bytes | None = None) -> Notice:
    def read(doc: Document, t: Table) -> Notice:
        return Notice(
            id=t.str("id", path.stem, max_len=64),
            title=t.str("title", max_len=MAX_NOTICE_TITLE),
            body=t.str("body", "", max_len=MAX_NOTICE_BODY),
            **_common(t),
        )

    return _checked(path, read, raw)


@dataclass(frozen=True)
class NoticeFile:
    """A notice as its file holds it now, with the sha256 of the file's bytes: the version a
    review (审核) and sign-off (签发) are bound to (``headend.service.notices``)."""

    notice: Notice
    sha256: str
    source: Path


def load_notice_file(path: Path) -> NoticeFile:
    """The notice and the sha256 of exactly the bytes it was read from."""
    raw = read_definition(path)
    return NoticeFile(load_notice(path, raw), hashlib.sha256(raw).hexdigest(), path)


def load_notice_files(root: Path) -> list[NoticeFile]:
    """Every notice file, checked; PublishError names a broken one, or two with the same id."""
    files = [load_notice_file(p) for p in sorted((root / "notices").glob("*.toml"))]
    ids = [f.notice.id for f in files]
    dup = {n for n in ids if ids.count(n) > 1}
    if dup:
        raise PublishError(f"notices/: the id {sorted(dup)[0]!r} is used by more than one file")
    return files


def load_all(root: Path) -> tuple[list[PlaylistDef], list[Notice]]:
    """Every playlist and every notice file (drafts too: ``headend.service.notices`` picks the
    signed ones)."""
    return load_playlists(root), [f.notice for f in load_notice_files(root)]


def load_playlists(root: Path) -> list[PlaylistDef]:
    """Every playlist file, checked; PublishError names a broken one, or two with the same name."""
    pls = [load_playlist(p) for p in sorted((root / "playlists").glob("*.toml"))]
    names = [p.name for p in pls]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise PublishError(f"playlists/: the name {sorted(dup)[0]!r} is used by more than one file")
    return pls


def check_definition_name(name: str) -> None:
    """A playlist's or notice's file name: an id of at most 64 characters (PublishError if not)."""
    if not is_id(name) or len(name) > 64:
        raise PublishError(f"{name[:80]!r}: use {ID_RULE}, at most 64 characters")


def write_definition(folder: Path, name: str, data: dict, replace: bool = False) -> Path:
    """Write a playlist or notice file for the CLI or the county page (refusing to overwrite one
    unless ``replace``)."""
    check_definition_name(name)
    path = folder / f"{name}.toml"
    if path.exists() and not replace:
        raise PublishError(f"{path} exists; edit it or choose another name")
    atomic_write(path, tomli_w.dumps({k: v for k, v in data.items() if v not in (None, [], {}, "")}).encode())
    return path
