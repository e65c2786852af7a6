"""Questions from the villages (答疑): the topics a question may have, the shape of the number a
villager is told, and the limits both programs hold a question and its answer to. Pure.

A station numbers its questions by China day: ``20261207-01`` is the first asked there that day.
The number is unique per station, not across stations: the headend keys a question by (station,
number).
"""

from __future__ import annotations

import re
from datetime import date

TOPICS: dict[str, str] = {
    "policy": "政策法规",
    "agriculture": "农业技术",
    "health": "医疗卫生",
    "party": "党建党务",
    "other": "其他",
}
MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 2000
MAX_ASKER_CHARS = 40
NUMBER = re.compile(r"[0-9]{8}-[0-9]{2,4}\Z")
NUMBER_RULE = "a question number: the China day as YYYYMMDD, '-', a count (20261207-01)"

# Where a question stands at the headend (in this order); the station adds "waiting" (not uploaded).
NEW, ASSIGNED, ANSWERED, CLOSED = "new", "assigned", "answered", "closed"
STATUSES = (NEW, ASSIGNED, ANSWERED, CLOSED)


def question_number(day: date, n: int) -> str:
    """The number of the ``n``-th question (from 1) asked at a station on China day ``day``."""
    return f"{day:%Y%m%d}-{n:02d}"


def is_number(value: object) -> bool:
    return isinstance(value, str) and NUMBER.match(value) is not None
