"""Course metadata for a courseware file: from an optional sidecar ``NAME.toml``, the command line,
or defaults taken from the file name. Pure: takes text, returns decisions; no disk, no ffmpeg.

A sidecar (all keys optional)::

    title = "雨季养鹅技术 第3集"
    category = "agriculture"        # id or zh-CN label
    series = "雨季养鹅技术"
    episode = 3
    description = "……"
    speaker = "县农技站 王技术员"
    tags = ["养殖", "雨季"]
    allow_silent = false            # true: accept a video without sound (a silent track is added)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from catalogue import Course
from catalogue.categories import find_category
from catalogue.course import MAX_DESCRIPTION_CHARS, MAX_EPISODE, MAX_TITLE_CHARS, UnknownCategory
from catalogue.tomlcheck import Document, SettingsError
from headend.errors import SidecarError

# The fields a course keeps in the catalogue (and an editor may change there).
CATALOGUE_FIELDS = ("title", "category", "series", "episode", "description", "speaker", "tags")
MAX_TAGS = 20

# "雨季养鹅 第3集", "雨季养鹅-第03讲", "Goose farming EP03", "雨季养鹅_03"
_EPISODE_PATTERNS = (
    re.compile(r"^(?P<series>.+?)[\s_\-·.]*第\s*(?P<n>\d{1,4})\s*[集讲课期回节]$"),
    re.compile(r"^(?P<series>.+?)[\s_\-·.]*(?:ep|e|part)\s*(?P<n>\d{1,4})$", re.IGNORECASE),
    re.compile(r"^(?P<series>.*\D)[\s_\-·.]+(?P<n>\d{1,3})$"),
)


@dataclass(frozen=True)
class Metadata:
    title: str
    category: str = ""  # a category id; "" = not given
    series: str = ""
    episode: int | None = None
    description: str = ""
    speaker: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    allow_silent: bool = False
    # the catalogue fields a sidecar or the command line set (the rest are file-name defaults)
    given: tuple[str, ...] = field(default=(), compare=False)

    def merged(self, *, explicit: bool = True, **overrides) -> Metadata:
        """This metadata with the given non-None values replacing its own; ``explicit`` values
        (a sidecar's, the command line's) are remembered in ``given``."""
        values = {k: v for k, v in overrides.items() if v is not None}
        given = set(self.given) | ({k for k in values if k in CATALOGUE_FIELDS} if explicit else set())
        return replace(self, **values, given=tuple(sorted(given)))

    def keeping(self, existing: Course) -> tuple[Metadata, list[str], list[str]]:
        """A re-ingest of a course already in the catalogue: its catalogue values (an editor's
        edits) stay unless a sidecar or the command line gave that field. (metadata, fields kept
        that differ from this file's defaults, fields the sidecar or command line changed)"""
        kept, changed, values = [], [], {}
        for name in CATALOGUE_FIELDS:
            mine, theirs = getattr(self, name), getattr(existing, name)
            if mine == theirs:
                continue
            if name in self.given:
                changed.append(name)
            else:
                kept.append(name)
                values[name] = theirs
        return replace(self, **values), kept, changed


def defaults_from_filename(file_name: str) -> Metadata:
    """Title from the file name; series and episode when the name says "第3集", "EP03", "_03"."""
    stem = file_name.rsplit(".", 1)[0] if "." in file_name.lstrip(".") else file_name
    title = " ".join(stem.replace("_", " ").split()) or file_name
    for pat in _EPISODE_PATTERNS:
        m = pat.match(title)
        if m and m.group("series").strip(" -_·."):
            n = int(m.group("n"))
            if 1 <= n <= MAX_EPISODE:
                return Metadata(
                    title=title[:MAX_TITLE_CHARS], series=m.group("series").strip(" -_·.")[:MAX_TITLE_CHARS], episode=n
                )
    return Metadata(title=title[:MAX_TITLE_CHARS])


def _looks_like_path(value: str) -> bool:
    return "/" in value or "\\" in value or value.startswith("~") or "\x00" in value


def check_text(where: str, key: str, value: object, *, multiline: bool = False, limit: int = MAX_TITLE_CHARS) -> str:
    """A metadata text value, or SidecarError saying what is wrong with it."""
    if not isinstance(value, str):
        raise SidecarError(f"{where}: {key} must be text in quotes, not {type(value).__name__} {value!r}")
    value = value.strip()
    if multiline:
        if "../" in value or "..\\" in value or value.startswith(("/", "~", "\\")):
            raise SidecarError(
                f"{where}: {key} looks like a file path ({value[:40]!r}); write the text itself, not where it is"
            )
        bad = [ch for ch in value if ord(ch) < 32 and ch not in "\n\t"]
    else:
        if _looks_like_path(value):
            raise SidecarError(f"{where}: {key} {value!r} looks like a file path; give plain text without '/' or '\\'")
        bad = [ch for ch in value if ord(ch) < 32]
    if bad:
        raise SidecarError(f"{where}: {key} contains control characters; one line of plain text please")
    if len(value) > limit:
        raise SidecarError(f"{where}: {key} is {len(value)} characters; at most {limit}")
    return value


def check_category(where: str, value: object) -> str:
    cat = find_category(check_text(where, "category", value)) if isinstance(value, str) else None
    if cat is None:
        raise SidecarError(f"{where}: {UnknownCategory.describe(str(value))}")
    return cat.id


def check_episode(where: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EPISODE:
        raise SidecarError(f"{where}: episode must be a whole number from 1 to {MAX_EPISODE}, not {value!r}")
    return value


def parse_sidecar(text: str, where: str, base: Metadata) -> Metadata:
    """The metadata a sidecar's TOML ``text`` gives, on top of ``base`` (the file-name defaults).
    ``where`` names the sidecar in messages. Read by the strict reader (``catalogue.tomlcheck``:
    unknown keys with the nearest name, types, line numbers), then by the same text rules as the
    command line's values."""
    try:
        doc = Document.parse(text.encode("utf-8"), where)
        t = doc.root()
        raw = {
            "title": t.str("title", None, max_len=MAX_TITLE_CHARS * 2),
            "category": t.str("category", None, max_len=64),
            "series": t.str("series", None, max_len=MAX_TITLE_CHARS * 2),
            "episode": t.int("episode", None, min=1, max=MAX_EPISODE),
            "description": t.str("description", None, max_len=MAX_DESCRIPTION_CHARS * 2),
            "speaker": t.str("speaker", None, max_len=MAX_TITLE_CHARS * 2),
            "tags": t.str_list("tags", None, max_items=MAX_TAGS, max_len=60),
            "allow_silent": t.bool("allow_silent", None),
        }
        doc.finish()
    except SettingsError as exc:
        raise SidecarError(str(exc)) from exc
    out: dict = {}
    if raw["title"] is not None:
        out["title"] = check_text(where, "title", raw["title"])
        if not out["title"]:
            raise SidecarError(f"{where}: title is empty; give the course title or remove the key")
    if raw["category"] is not None:
        out["category"] = check_category(where, raw["category"])
    for key in ("series", "speaker"):
        if raw[key] is not None:
            out[key] = check_text(where, key, raw[key])
    if raw["description"] is not None:
        out["description"] = check_text(
            where, "description", raw["description"], multiline=True, limit=MAX_DESCRIPTION_CHARS
        )
    if raw["episode"] is not None:
        out["episode"] = raw["episode"]
    if raw["tags"] is not None:
        out["tags"] = tuple(t for t in (check_text(where, "tag", t, limit=30) for t in raw["tags"]) if t)
    if raw["allow_silent"] is not None:
        out["allow_silent"] = raw["allow_silent"]
    return base.merged(**out)
