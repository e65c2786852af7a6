"""A question a villager asked at this station (群众提问), as the admin page records it. Pure:
``station.records.questions`` keeps it (a ``question`` journal line, which the report path uploads)
and the county's answer comes back in the installed set (``InstalledSet.answers``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Question:
    number: str  # catalogue.questions.question_number: what the villager is told, e.g. 20261207-01
    topic: str  # a key of catalogue.questions.TOPICS
    text: str
    asker: str = ""  # may be empty; never published
    publish: bool = False  # the villager agreed that it may become an FAQ entry for other stations
    asked: datetime | None = None
