"""The course record and its validation."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from catalogue.categories import CATEGORIES, find_category

_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
_COURSE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}\Z")
MAX_TITLE_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
MAX_EPISODE = 9999


class CatalogueError(ValueError):
    """A course field is missing or wrong; the message names the field and what is allowed."""


class UnknownCategory(CatalogueError):
    @staticmethod
    def describe(value: str) -> str:
        allowed = ", ".join(f"{c.id} ({c.label})" for c in CATEGORIES)
        return f"unknown category {value!r}; choose one of: {allowed}"


def course_id_for(source_sha256: str) -> str:
    """The course id the headend gives a source file: stable, so re-ingesting finds the course."""
    return "c-" + source_sha256[:12]


@dataclass(frozen=True)
class Course:
    id: str
    title: str
    category: str
    duration_s: float
    source_sha256: str
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    series: str = ""  # e.g. "雨季养鹅"; courses of one series are its episodes
    episode: int | None = None  # 1, 2, … within the series
    speaker: str = ""  # who teaches it, e.g. "县农技站 王技术员"

    def __post_init__(self) -> None:
        if not _COURSE_ID.match(self.id):
            raise CatalogueError(f"course id {self.id!r}: use 3-64 characters a-z, 0-9 and '-'")
        title = self.title.strip()
        if not title:
            raise CatalogueError("title is empty: give --title or a title in the sidecar")
        if len(title) > MAX_TITLE_CHARS:
            raise CatalogueError(f"title is {len(title)} characters; at most {MAX_TITLE_CHARS}")
        if any(ch in title for ch in "\n\r\t"):
            raise CatalogueError("title must be one line")
        object.__setattr__(self, "title", title)
        cat = find_category(self.category)
        if cat is None:
            raise UnknownCategory(UnknownCategory.describe(self.category))
        object.__setattr__(self, "category", cat.id)
        if len(self.description) > MAX_DESCRIPTION_CHARS:
            raise CatalogueError(f"description is {len(self.description)} characters; at most {MAX_DESCRIPTION_CHARS}")
        if not (isinstance(self.duration_s, (int, float)) and self.duration_s > 0):
            raise CatalogueError(f"duration must be a positive number of seconds, not {self.duration_s!r}")
        if not _SHA256.match(self.source_sha256):
            raise CatalogueError("source_sha256 must be 64 lower-case hex digits")
        object.__setattr__(self, "tags", tuple(self.tags))
        for name in ("series", "speaker"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > MAX_TITLE_CHARS or any(ch in value for ch in "\n\r\t"):
                raise CatalogueError(f"{name} must be one line of at most {MAX_TITLE_CHARS} characters")
            object.__setattr__(self, name, value.strip())
        if self.episode is not None and (
            isinstance(self.episode, bool) or not isinstance(self.episode, int) or not 1 <= self.episode <= MAX_EPISODE
        ):
            raise CatalogueError(f"episode must be a whole number from 1 to {MAX_EPISODE}, not {self.episode!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tags"] = list(self.tags)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Course:
        try:
            return cls(
                id=d["id"],
                title=d["title"],
                category=d["category"],
                duration_s=d["duration_s"],
                source_sha256=d["source_sha256"],
                description=d.get("description", ""),
                tags=tuple(d.get("tags", ())),
                series=d.get("series") or "",
                episode=d.get("episode"),
                speaker=d.get("speaker") or "",
            )
        except KeyError as exc:
            raise CatalogueError(f"course record is missing {exc.args[0]!r}") from exc
