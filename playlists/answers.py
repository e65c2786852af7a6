"""Answers documents (问答): the county's answers to villages' questions, published in the signed
repository like playlists, so a station verifies them and keeps them offline. Pure.

``answers/faq.<version>.json`` holds the answers the county published as FAQ entries, each with
its audience; ``answers/q-<hex>.<version>.json`` holds every recent question (answered or not, with
its status) of the stations whose id's sha256 starts with ``<hex>``: a station fetches the FAQ and
its own shard, both pinned by the index (``playlists.models.AnswersRef``) and signed.

The repository is readable by whoever can reach a mirror: a question's text and its answer travel
in it (never the asker's name). "Not for publishing" keeps a question off every other station's
TV, not secret.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from catalogue.ids import is_id
from catalogue.questions import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS, STATUSES, TOPICS, is_number
from playlists.audience import Audience, StationIdentity
from playlists.canonical import canonical_json
from playlists.errors import FormatError
from playlists.models import FAQ_NAME, SHARD_PREFIX, SPEC_VERSION, load_json, optional_field, require_field
from playlists.times import parse_time, utc_iso

ANSWERS_TYPE = "yuanjiao-answers"
MAX_ANSWERS_BYTES = 8 << 20  # 8 MiB: ~6,000 answered questions of full length


def answers_path(name: str, version: int) -> str:
    return f"answers/{name}.{version}.json"


def shard_of(station_id: str, digits: int) -> str:
    """The answers shard holding a station's questions when shards have ``digits`` hex digits."""
    return SHARD_PREFIX + hashlib.sha256(station_id.encode()).hexdigest()[:digits]


@dataclass(frozen=True)
class Answer:
    """One question as the county holds it: its status and, once answered, the answer."""

    station: str
    number: str
    topic: str
    question: str
    asked: datetime
    status: str
    answer: str = ""
    answered: datetime | None = None
    faq: bool = False  # published to ``audience`` as an FAQ entry
    audience: Audience = field(default_factory=Audience)

    def __post_init__(self) -> None:
        what = f"question {self.station}/{self.number}"
        if not is_id(self.station) or not is_number(self.number):
            raise FormatError(f"{what}: not a station id and a question number")
        if self.topic not in TOPICS:
            raise FormatError(f"{what}: unknown topic {self.topic!r} (known: {', '.join(TOPICS)})")
        if self.status not in STATUSES:
            raise FormatError(f"{what}: unknown status {self.status!r} (known: {', '.join(STATUSES)})")
        if not self.question.strip() or len(self.question) > MAX_QUESTION_CHARS:
            raise FormatError(f"{what}: the question must be 1-{MAX_QUESTION_CHARS} characters")
        if len(self.answer) > MAX_ANSWER_CHARS:
            raise FormatError(f"{what}: the answer is over {MAX_ANSWER_CHARS} characters")
        if (self.answered is None) != (not self.answer):
            raise FormatError(f"{what}: an answer needs its time, and a time its answer")

    @property
    def key(self) -> tuple[str, str]:
        return self.station, self.number

    def to_dict(self) -> dict:
        return {
            "station": self.station,
            "number": self.number,
            "topic": self.topic,
            "question": self.question,
            "asked": utc_iso(self.asked),
            "status": self.status,
            "answer": self.answer,
            "answered": utc_iso(self.answered) if self.answered else None,
            "faq": self.faq,
            "audience": self.audience.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Any, what: str) -> Answer:
        if not isinstance(d, dict):
            raise FormatError(f"{what}: expected an object")
        answered = optional_field(d, "answered", str, what)
        return cls(
            station=require_field(d, "station", str, what),
            number=require_field(d, "number", str, what),
            topic=require_field(d, "topic", str, what),
            question=require_field(d, "question", str, what),
            asked=parse_time(require_field(d, "asked", str, what), f"{what}.asked"),
            status=require_field(d, "status", str, what),
            answer=optional_field(d, "answer", str, what) or "",
            answered=parse_time(answered, f"{what}.answered") if answered else None,
            faq=optional_field(d, "faq", bool, what) or False,
            audience=Audience.from_dict(d.get("audience"), f"{what}.audience"),
        )


@dataclass(frozen=True)
class Answers:
    """One answers document: the FAQ, or one shard of stations' questions."""

    name: str
    version: int
    entries: tuple[Answer, ...] = ()

    @property
    def path(self) -> str:
        return answers_path(self.name, self.version)

    def for_station(self, me: StationIdentity) -> tuple[Answer, ...]:
        """What this station shows: its own questions (a shard) or the FAQ entries for it."""
        if self.name == FAQ_NAME:
            return tuple(a for a in self.entries if a.faq and a.audience.matches(me))
        return tuple(a for a in self.entries if a.station == me.id)

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "type": ANSWERS_TYPE,
                "spec_version": SPEC_VERSION,
                "name": self.name,
                "version": self.version,
                "entries": [a.to_dict() for a in self.entries],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "answers") -> Answers:
        d = load_json(data, what, MAX_ANSWERS_BYTES)
        if d.get("type") != ANSWERS_TYPE:
            raise FormatError(f"{what}: not a yuanjiao answers document (type {d.get('type')!r})")
        entries = tuple(
            Answer.from_dict(a, f"{what}: entries[{i}]") for i, a in enumerate(require_field(d, "entries", list, what))
        )
        keys = {a.key for a in entries}
        if len(keys) != len(entries):
            raise FormatError(f"{what}: a question is listed twice")
        return cls(
            name=require_field(d, "name", str, what), version=require_field(d, "version", int, what), entries=entries
        )
