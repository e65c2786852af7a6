"""Index and playlist models: built by the headend, parsed and checked by the station.

The index (``index.json``) is small, signed, versioned and expiring; it pins each playlist by
version, path, sha256 and size. A playlist (``playlists/<name>.<version>.json``) is immutable and
lists its courses with, per player profile, the rendition file pinned by sha256 and size.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, overload

import orjson

from catalogue import CatalogueError, Course
from catalogue.ids import is_id
from playlists.audience import Audience, Notice, StationIdentity
from playlists.canonical import canonical_json, canonical_text
from playlists.errors import FormatError
from playlists.schedule import Schedule
from playlists.times import parse_time, utc_iso

SPEC_VERSION = 1
INDEX_TYPE = "yuanjiao-index"
PLAYLIST_TYPE = "yuanjiao-playlist"
INDEX_NAME = "index.json"
MAX_INDEX_BYTES = 1 << 20  # 1 MiB
MAX_PLAYLIST_BYTES = 16 << 20  # 16 MiB
# Documents up to this size are parsed by orjson; past it by json.loads, because orjson holds a
# parse tree of about 15 times the document while it builds the objects (a 5,000-course
# playlist of 5 MB: 80 MB for a moment, against 26 MB; a station box counts its memory).
FAST_JSON_MAX_BYTES = 256 << 10

# Repository paths are relative, in a known folder, with no way out of the tree.
_PATH = re.compile(r"^(playlists|media|answers)/[A-Za-z0-9_-][A-Za-z0-9._/-]*\Z")
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
# What a mirror may serve of a tree: the index, keys, playlists, media, each with its signature.
_SERVED = re.compile(
    r"^(index\.json(\.minisig)?|keys/[A-Za-z0-9_-][A-Za-z0-9._-]*|(playlists|media|answers)/[A-Za-z0-9_-][A-Za-z0-9._/-]*)\Z"
)


def is_repository_path(rel: str) -> bool:
    """A path a repository tree holds and any mirror may serve (``index.json``, ``keys/…``,
    ``playlists/…``, ``media/…``, ``answers/…``, and their ``.minisig``): ASCII letters, digits and ``._-/`` only, no
    empty, ``..`` or hidden segment. Servers answer anything else 404 before touching the disk."""
    return (
        isinstance(rel, str)
        and bool(_SERVED.match(rel))
        and all(seg and not seg.startswith(".") for seg in rel.split("/"))
    )


def require_field(d: dict, key: str, typ: type | tuple, what: str) -> Any:
    if key not in d:
        raise FormatError(f"{what}: missing field {key!r}")
    value = d[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise FormatError(f"{what}: field {key!r} has the wrong type")
    return value


def optional_field(d: dict, key: str, typ: type, what: str) -> Any:
    """``d[key]`` checked like ``_require``, or None when absent or null."""
    return require_field(d, key, typ, what) if d.get(key) is not None else None


def load_json(data: bytes, what: str, max_bytes: int) -> dict:
    """A JSON object from untrusted bytes (a mirror's file, a page's POST body): FormatError for
    anything else, however malformed, deep or large."""
    if len(data) > max_bytes:
        raise FormatError(f"{what}: {len(data)} bytes is over the {max_bytes}-byte limit")
    if len(data) <= FAST_JSON_MAX_BYTES:
        try:
            # orjson: about half json.loads's time. What it refuses (NaN, a lone surrogate, 1,024
            # levels deep, bad UTF-8) goes through json.loads below, for the same answer and the
            # same message. (A whole number past 64 bits comes out a float, so a field that wants
            # a whole number refuses it: no version or size is that large.)
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        else:
            if isinstance(obj, dict):
                return obj
            raise FormatError(f"{what}: expected a JSON object")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, or a number of 5000 digits
        raise FormatError(f"{what}: not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise FormatError(f"{what}: JSON nested too deeply") from exc
    if not isinstance(obj, dict):
        raise FormatError(f"{what}: expected a JSON object")
    return obj


@dataclass(frozen=True)
class FileRef:
    """A file in the repository pinned by size and sha256."""

    path: str
    sha256: str
    size: int
    mime: str = "application/octet-stream"

    def to_dict(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "mime": self.mime}

    @classmethod
    def from_dict(cls, d: Any, what: str) -> FileRef:
        if not isinstance(d, dict):
            raise FormatError(f"{what}: expected an object")
        path = require_field(d, "path", str, what)
        if not _PATH.match(path) or ".." in path.split("/"):
            raise FormatError(f"{what}: path {path!r} is not a repository path")
        sha = require_field(d, "sha256", str, what)
        if not _SHA256.match(sha):
            raise FormatError(f"{what}: sha256 is not 64 lower-case hex digits")
        size = require_field(d, "size", int, what)
        if size < 0:
            raise FormatError(f"{what}: negative size")
        return cls(
            path=path, sha256=sha, size=size, mime=optional_field(d, "mime", str, what) or "application/octet-stream"
        )


@dataclass(frozen=True)
class PlaylistRef:
    """The index's entry for one playlist: where it is, its pin, and whom it is for (so a station
    fetches only what targets it)."""

    name: str
    version: int
    file: FileRef
    title: str = ""
    audience: Audience = field(default_factory=Audience)
    priority: int = 0
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "title": self.title,
            "audience": self.audience.to_dict(),
            "priority": self.priority,
            "valid_from": utc_iso(self.valid_from) if self.valid_from else None,
            "valid_until": utc_iso(self.valid_until) if self.valid_until else None,
            **self.file.to_dict(),
        }

    def targets(self, station: StationIdentity, now: datetime) -> bool:
        """In this station's audience and not past its validity window (a playlist that starts
        later is fetched ahead, so it is ready on the day)."""
        return self.audience.matches(station) and (self.valid_until is None or now < self.valid_until)


@dataclass(frozen=True)
class AnswersRef:
    """The index's entry for one answers document (``playlists.answers``): ``faq`` for the
    published answers, ``q-<hex>`` for the questions of the stations whose id hashes to that
    shard."""

    name: str
    version: int
    file: FileRef

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, **self.file.to_dict()}

    @classmethod
    def from_dict(cls, d: Any, what: str) -> AnswersRef:
        if not isinstance(d, dict):
            raise FormatError(f"{what}: expected an object")
        name = require_field(d, "name", str, what)
        if not ANSWERS_NAME.match(name):
            raise FormatError(f"{what}: {name!r} is not an answers document name (faq or q-<hex>)")
        return cls(name=name, version=require_field(d, "version", int, what), file=FileRef.from_dict(d, what))


FAQ_NAME = "faq"
SHARD_PREFIX = "q-"
ANSWERS_NAME = re.compile(r"(faq|q-[0-9a-f]{1,4})\Z")


@dataclass(frozen=True)
class Index:
    version: int
    timestamp: datetime
    expires: datetime
    playlists: tuple[PlaylistRef, ...]
    notices: tuple[Notice, ...] = ()
    answers: tuple[AnswersRef, ...] = ()  # since questions and answers; absent from older indexes

    def answers_for(self, station_id: str) -> tuple[AnswersRef, ...]:
        """The answers documents a station fetches: the FAQ and the shard its id hashes to."""
        digest = hashlib.sha256(station_id.encode()).hexdigest()
        return tuple(
            r
            for r in self.answers
            if r.name == FAQ_NAME or r.name == SHARD_PREFIX + digest[: len(r.name) - len(SHARD_PREFIX)]
        )

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "type": INDEX_TYPE,
                "spec_version": SPEC_VERSION,
                "version": self.version,
                "timestamp": utc_iso(self.timestamp),
                "expires": utc_iso(self.expires),
                "playlists": [p.to_dict() for p in self.playlists],
                "notices": [n.to_dict() for n in self.notices],
                **({"answers": [a.to_dict() for a in self.answers]} if self.answers else {}),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Index:
        what = INDEX_NAME
        d = load_json(data, what, MAX_INDEX_BYTES)
        if d.get("type") != INDEX_TYPE:
            raise FormatError(f"{what}: not a yuanjiao index (type {d.get('type')!r})")
        if require_field(d, "spec_version", int, what) > SPEC_VERSION:
            raise FormatError(
                f"{what}: format version {d['spec_version']} is newer than this station understands; update the station"
            )
        version = require_field(d, "version", int, what)
        refs = []
        names = set()
        for i, p in enumerate(require_field(d, "playlists", list, what)):
            pw = f"{what}: playlists[{i}]"
            if not isinstance(p, dict):
                raise FormatError(f"{pw}: expected an object")
            name = require_field(p, "name", str, pw)
            if not is_id(name) or name in names:
                raise FormatError(f"{pw}: bad or repeated playlist name {name!r}")
            names.add(name)
            refs.append(
                PlaylistRef(
                    name=name,
                    version=require_field(p, "version", int, pw),
                    title=optional_field(p, "title", str, pw) or "",
                    file=FileRef.from_dict(p, pw),
                    audience=Audience.from_dict(p.get("audience"), f"{pw}.audience"),
                    priority=optional_field(p, "priority", int, pw) or 0,
                    valid_from=parse_time(p["valid_from"], f"{pw}.valid_from") if p.get("valid_from") else None,
                    valid_until=parse_time(p["valid_until"], f"{pw}.valid_until") if p.get("valid_until") else None,
                )
            )
        return cls(
            version=version,
            timestamp=parse_time(require_field(d, "timestamp", str, what), f"{what}: timestamp"),
            expires=parse_time(require_field(d, "expires", str, what), f"{what}: expires"),
            playlists=tuple(refs),
            notices=tuple(
                Notice.from_dict(n, f"{what}: notices[{i}]")
                for i, n in enumerate(optional_field(d, "notices", list, what) or ())
            ),
            answers=_answer_refs(optional_field(d, "answers", list, what) or (), what),
        )


def _answer_refs(items: Any, what: str) -> tuple[AnswersRef, ...]:
    refs = tuple(AnswersRef.from_dict(a, f"{what}: answers[{i}]") for i, a in enumerate(items))
    names = [r.name for r in refs]
    if len(set(names)) != len(names):
        raise FormatError(f"{what}: an answers document is named twice")
    widths = {len(n) for n in names if n != FAQ_NAME}
    if len(widths) > 1:
        raise FormatError(f"{what}: answers shards of different widths")
    return refs


_COURSE_FIELDS = tuple(f.name for f in fields(Course))


def _course_dict(course: Course) -> dict:
    """``course.to_dict()`` without ``dataclasses.asdict``'s deep copy (its fields are text,
    numbers and a tuple of text): a publish of 5,000 courses writes each entry a few times."""
    d = {name: getattr(course, name) for name in _COURSE_FIELDS}
    d["tags"] = list(course.tags)
    return d


@dataclass(frozen=True)
class CourseEntry:
    """A course as a playlist carries it: the catalogue record plus its files."""

    course: Course
    poster: FileRef | None
    renditions: dict[str, FileRef] = field(default_factory=dict)  # profile name → file

    def to_dict(self) -> dict:
        return {
            **_course_dict(self.course),
            "poster": self.poster.to_dict() if self.poster else None,
            "renditions": {k: v.to_dict() for k, v in sorted(self.renditions.items())},
        }

    @classmethod
    def from_dict(cls, d: Any, what: str, player: str | None = None) -> CourseEntry:
        """A course entry from a playlist document. With ``player``, only that player's rendition
        (and the poster) is read: the others are files this station never fetches (the playlist's
        bytes, other renditions included, are covered by its signature and sha256 pin)."""
        if not isinstance(d, dict):
            raise FormatError(f"{what}: expected an object")
        try:
            course = Course.from_dict(d)
        except CatalogueError as exc:
            raise FormatError(f"{what}: {exc}") from exc
        except (TypeError, AttributeError) as exc:  # a text field holding a number, a list, ...
            raise FormatError(f"{what}: a course field has the wrong type ({exc})") from exc
        if not math.isfinite(course.duration_s):
            raise FormatError(f"{what}: duration_s must be a finite number of seconds")
        rends = require_field(d, "renditions", dict, what)
        if player is not None:
            rends = {player: rends[player]} if player in rends else {}
        return cls(
            course=course,
            poster=FileRef.from_dict(d["poster"], f"{what}.poster") if d.get("poster") else None,
            renditions={k: FileRef.from_dict(v, f"{what}.renditions.{k}") for k, v in rends.items()},
        )


class CourseEntries(Sequence[CourseEntry]):
    """A parsed playlist's course entries, read from the document when first used (a station
    with 5,000 courses verifies its playlists' signatures and pins without building 5,000
    entries it may not need this pass). With ``player``, each entry carries only that player's
    rendition. An entry that does not parse raises FormatError at that first use, naming it."""

    __slots__ = ("_parsed", "_player", "_raw", "_what")

    def __init__(self, raw: list, what: str, player: str | None = None) -> None:
        self._raw, self._what, self._player = raw, what, player
        self._parsed: tuple[CourseEntry, ...] | None = None

    def parsed(self) -> tuple[CourseEntry, ...]:
        """Every entry, parsed and checked (once): FormatError for the first that is wrong."""
        if self._parsed is None:
            what, player = self._what, self._player
            self._parsed = tuple(
                CourseEntry.from_dict(c, f"{what}: courses[{i}]", player) for i, c in enumerate(self._raw)
            )
            self._raw = []
        return self._parsed

    def __len__(self) -> int:
        return len(self._parsed) if self._parsed is not None else len(self._raw)

    @overload
    def __getitem__(self, i: int) -> CourseEntry: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[CourseEntry, ...]: ...
    def __getitem__(self, i):
        return self.parsed()[i]

    def __iter__(self) -> Iterator[CourseEntry]:
        return iter(self.parsed())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (CourseEntries, tuple)):
            return self.parsed() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.parsed())

    def __repr__(self) -> str:
        return f"CourseEntries({len(self)} entries{', parsed' if self._parsed is not None else ''})"


@dataclass(frozen=True)
class Playlist:
    name: str
    version: int
    title: str
    courses: Sequence[CourseEntry]  # a tuple when built; CourseEntries (parsed on first use) when read
    schedule: Schedule = field(default_factory=Schedule)

    @property
    def path(self) -> str:
        return playlist_path(self.name, self.version)

    def entries(self) -> tuple[CourseEntry, ...]:
        """Every course entry, parsed and checked now if it was not yet (FormatError, naming
        the entry, for the first that is wrong)."""
        c = self.courses
        return c.parsed() if isinstance(c, CourseEntries) else tuple(c)

    def to_bytes(self, encoded: dict[int, str] | None = None) -> bytes:
        """The canonical bytes. ``encoded``: a memo of course entries already encoded, by
        ``id(entry)`` (valid while those entries live), for a publish that puts one entry in
        many playlists; the bytes are the same either way."""
        head = {
            "type": PLAYLIST_TYPE,
            "spec_version": SPEC_VERSION,
            "name": self.name,
            "version": self.version,
            "title": self.title,
            **({"schedule": self.schedule.to_dict()} if self.schedule else {}),
        }
        if encoded is None:
            return canonical_json({**head, "courses": [c.to_dict() for c in self.courses]})
        # Canonical JSON is compositional (sorted keys, no white space): an object's text is its
        # members' texts joined, and "courses" sorts before every other member of a playlist.
        parts = []
        for c in self.courses:
            text = encoded.get(id(c))
            if text is None:
                text = encoded[id(c)] = canonical_text(c.to_dict())
            parts.append(text)
        rest = canonical_text(head)
        return f'{{"courses":[{",".join(parts)}],{rest[1:]}\n'.encode()

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "playlist", player: str | None = None, lazy: bool = False) -> Playlist:
        """Parse and check a playlist document: every course entry at once (FormatError for the
        first that is wrong), or with ``lazy`` when ``courses`` is first used. With ``player``,
        each entry carries only that player's rendition (the others are not read)."""
        d = load_json(data, what, MAX_PLAYLIST_BYTES)
        if d.get("type") != PLAYLIST_TYPE:
            raise FormatError(f"{what}: not a yuanjiao playlist (type {d.get('type')!r})")
        courses = CourseEntries(require_field(d, "courses", list, what), what, player)
        if not lazy:
            courses.parsed()
        return cls(
            name=require_field(d, "name", str, what),
            version=require_field(d, "version", int, what),
            title=optional_field(d, "title", str, what) or "",
            courses=courses,
            schedule=Schedule.from_dict(d.get("schedule"), f"{what}: schedule"),
        )


def playlist_path(name: str, version: int) -> str:
    return f"playlists/{name}.{version}.json"


def media_path(sha256: str, extension: str) -> str:
    """Media blobs are named by their sha256, fanned out by the first two hex digits."""
    return f"media/{sha256[:2]}/{sha256}.{extension}"
