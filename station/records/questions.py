"""Villagers' questions (群众提问), asked through the administrator: checked, numbered by China
day (``catalogue.questions.question_number``: ``20261207-01`` is the first asked here that day)
and written as a ``question`` journal line, which the report path uploads like every event; the
county's answer comes back in the signed repository (``InstalledSet.answers``).

Methods here block (journal reads, write + fsync): the web layer calls them through
``asyncio.to_thread``; ``Attendance`` holds the lock that keeps two numbers apart.
"""

from __future__ import annotations

from typing import Any

from catalogue.questions import MAX_ASKER_CHARS, MAX_QUESTION_CHARS, TOPICS, is_number, question_number
from station.errors import InputError, LimitError
from station.i18n import N_
from station.model import Question, moment
from station.records.journal import Journal, china_date

KIND = "question"
MAX_PER_DAY = 9999  # the widest count a question number holds
LIST_DAYS = 400  # the admin page lists the questions asked within this many days


def checked(topic: Any, text: Any, asker: Any) -> tuple[str, str, str]:
    """(topic, text, asker) as they are recorded, or InputError saying what is wrong."""
    text, asker, topic = str(text or "").strip(), str(asker or "").strip(), str(topic or "")
    if not text:
        raise InputError(N_("Write down the question."))
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(
            N_("A question can be at most %(max)d characters; this one has %(n)d."), max=MAX_QUESTION_CHARS, n=len(text)
        )
    if topic not in TOPICS:
        raise InputError(N_("Choose the topic of the question from the list."))
    if len(asker) > MAX_ASKER_CHARS:
        raise InputError(N_("The asker's name can be at most %(max)d characters."), max=MAX_ASKER_CHARS)
    return topic, text, asker


def ask(journal: Journal, now: float, topic: Any, text: Any, asker: Any, publish: bool) -> Question:
    """Number and journal one question (call under the records lock: the number counts the
    questions already journaled today)."""
    topic, text, asker = checked(topic, text, asker)
    today = china_date(now)
    prefix = f"{today:%Y%m%d}-"
    taken = [
        str(e.get("number"))
        for e in journal.days(today, today)
        if e.get("kind") == KIND and str(e.get("number") or "").startswith(prefix)
    ]
    # a count, and past the highest number of the day too (a line lost to a torn write is no gap to refill)
    n = 1 + max([len(taken), *(int(t[len(prefix) :]) for t in taken if is_number(t))])
    if n > MAX_PER_DAY:
        raise LimitError(N_("%(n)d questions have already been recorded today; record more tomorrow."), n=MAX_PER_DAY)
    number = question_number(today, n)
    event = journal.append(KIND, number=number, topic=topic, text=text, asker=asker, publish=bool(publish))
    return _question(event)


def recent(journal: Journal, limit: int = 50) -> list[Question]:
    """This station's questions, newest first (each number once)."""
    seen: set[str] = set()
    out = []
    for e in journal.recent(KIND, limit * 2, max_days=LIST_DAYS):
        q = _question(e)
        if q.number in seen or not is_number(q.number):
            continue
        seen.add(q.number)
        out.append(q)
    return out[:limit]


def _question(e: dict) -> Question:
    return Question(
        number=str(e.get("number") or ""),
        topic=str(e.get("topic") or "other"),
        text=str(e.get("text") or ""),
        asker=str(e.get("asker") or ""),
        publish=e.get("publish") is True,
        asked=moment(e.get("ts")),
    )
