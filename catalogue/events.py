"""The report batch a station sends and the event kinds it carries (docs/reporting.md), checked
strictly: types, ranges and sizes; unknown kinds and unknown fields refused; a bool is not a
number; seqs strictly increasing after the batch's cursor; at most ``MAX_EVENTS`` events; a live
class watched no longer than passed from its start to its end (+ ``WALL_SLACK_S``).
``parse_batch`` returns a typed ``Batch`` or raises one ``ReportFormatError`` whose ``field``
names the first bad field (``events[3].watched_s``). Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from catalogue.checks import (
    Bad,
    Check,
    anything,
    boolean,
    fields,
    ident,
    integer,
    listing,
    moment,
    moment_of,
    nullable,
    number,
    one_of,
    record,
    text,
)
from catalogue.figures import WALL_SLACK_S
from catalogue.questions import MAX_ASKER_CHARS, MAX_QUESTION_CHARS, NUMBER, NUMBER_RULE, TOPICS

VERSION = 1
MAX_EVENTS = 500
MAX_SEQ = 2**53  # what a JSON number holds exactly
DAY_S = 86400
STREAM = re.compile(r"[0-9a-f]{16}\Z")
BOOT = re.compile(r"[0-9a-f]{32}\Z")
QUESTION_TEXT = re.compile(r"(?s).*\S")  # something besides white space


class ReportFormatError(ValueError):
    """A batch that breaks the contract; ``field`` is the first bad field's path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class Event(NamedTuple):  # a tuple: built 500 times a batch, twice as fast as a frozen dataclass
    seq: int
    kind: str
    ts: str  # the box's wall clock as sent (checked)
    boot: str  # the batch's boot when the event omits it
    mono: float | None  # None: a line written before the journal carried it
    raw: Mapping[str, Any]  # the event as sent (do not change it)

    @property
    def wall(self) -> datetime:
        """``ts`` parsed (aware); read only for events the monotonic clock cannot place."""
        return datetime.fromisoformat(self.ts)


@dataclass(frozen=True)
class Batch:
    station: str
    stream: str
    after: int
    now: datetime  # the box's wall clock at sending
    boot: str
    mono: float
    events: tuple[Event, ...]

    @property
    def last(self) -> int:
        """The last seq the batch covers (``after`` when it has no event)."""
        return self.events[-1].seq if self.events else self.after


SECONDS = number(0, DAY_S)
MB = number(0, 1e9)
NOTE = text(200)
FIVE = record({"ok": boolean, "note": NOTE})
FIVES = ("place", "equipment", "administrator", "rules", "assessment")

_SESSION = {
    "id": ident,
    "topic": text(80),
    "facilitator": text(40),
    "headcount": integer(1, 9999),
    "names": listing(text(40), 500),
    "started": moment,
    "source": one_of("admin", "tv"),
}

KINDS: dict[str, tuple[dict[str, Check], dict[str, Check]]] = {
    "play": (
        {
            "course": ident,
            "title": text(200),
            "start": moment,
            "end": moment,
            "watched_s": SECONDS,
            "position_s": SECONDS,
            "duration_s": SECONDS,
            "completed": boolean,
            "reached_end": boolean,
            "channel": boolean,
            "session": nullable(ident),
        },
        {"episode": integer(0, 9999), "client": text(64)},
    ),
    "live": (  # a live class watched (网络党课): written when the TV ends it, like a play
        {
            "live": ident,
            "title": text(200),
            "start": moment,
            "end": moment,
            "watched_s": SECONDS,  # and at most start→end + WALL_SLACK_S (_within_span)
            "session": nullable(ident),
        },
        {"client": text(64)},
    ),
    "session_start": (_SESSION, {}),
    "session_end": (
        {
            **_SESSION,
            "ended": moment,
            "duration_s": number(0, 7 * DAY_S),
            "courses": listing(record({"id": ident, "title": text(200), "watched_s": number(0, 7 * DAY_S)}), 200),
            "plays": integer(0, 100_000),
            "counted": boolean,
        },
        {},
    ),
    "logbook": ({"text": text(2000), "author": text(40)}, {}),
    "admin_login": ({"ok": boolean, "client": text(64)}, {}),
    "notice_view": ({"notice": ident, "via": text(16)}, {}),
    "fives": ({**dict.fromkeys(FIVES, FIVE), "checked": nullable(moment)}, {}),
    "question": (
        {
            "number": text(16, NUMBER, NUMBER_RULE),
            "topic": one_of(*TOPICS),
            "text": text(MAX_QUESTION_CHARS, QUESTION_TEXT, "1 to 500 characters, not only spaces"),
            "asker": text(MAX_ASKER_CHARS),
            "publish": boolean,
        },
        {},
    ),
    "health": (
        {
            "interval_s": number(1, DAY_S),
            "uptime_s": number(0, 100 * 365 * DAY_S),
            "load1": number(0, 10_000),
            "mem_used_mb": MB,
            "mem_total_mb": MB,
            "disk_free_mb": MB,
            "disk_total_mb": MB,
            "stored_mb": MB,
            "installed_version": nullable(integer(0, MAX_SEQ)),
            "newest_version": nullable(integer(0, MAX_SEQ)),
            "sync_state": text(32),
            "sync_error": text(300),
            "backlog": integer(0, MAX_SEQ),
            "app_version": text(32),
            "tv_seen": nullable(moment),
            "offset_s": nullable(number(-100 * 365 * DAY_S, 100 * 365 * DAY_S)),
        },
        {  # sent since the county dashboard (older stations leave them out)
            "sync_ok_at": nullable(moment),
            "sync_failing_since": nullable(moment),
            "courses_total": nullable(integer(0, 1_000_000)),
            "courses_installed": nullable(integer(0, 1_000_000)),
            "missing_mb": nullable(MB),
        },
    ),
}

_COMMON = {"seq": integer(1, MAX_SEQ), "ts": moment, "kind": text(32)}
_COMMON_OPTIONAL = {"boot": text(32, BOOT, "32 lowercase hex characters"), "mono": number(0, 1e10)}
_BATCH = {
    "v": integer(VERSION, VERSION),
    "station": ident,
    "stream": text(16, STREAM, "16 lowercase hex characters"),
    "after": integer(0, MAX_SEQ),
    "now": moment,
    "boot": text(32, BOOT, "32 lowercase hex characters"),
    "mono": number(0, 1e10),
    "events": listing(anything, MAX_EVENTS),  # each event is checked below
}


EVENT_FIELDS = {k: fields({**_COMMON, **req}, {**_COMMON_OPTIONAL, **opt}) for k, (req, opt) in KINDS.items()}


def _within_span(v: dict) -> None:
    """Seconds watched no more than passed from ``start`` to ``end`` (+ the slack the fold allows a
    play for a clock step): what a real TV could have watched of a live class."""
    span = (moment_of(v["end"]) - moment_of(v["start"])).total_seconds()
    if v["watched_s"] > span + WALL_SLACK_S:
        raise Bad(
            f"{v['watched_s']} seconds watched, but only {span:g} passed from start to end "
            f"(at most {WALL_SLACK_S:g} more are allowed)",
            ".watched_s",
        )


ACROSS: dict[str, Callable[[dict], None]] = {"live": _within_span}  # rules over several fields of a kind
_UNKNOWN = fields(_COMMON, _COMMON_OPTIONAL)  # an event without a kind: names what else is wrong first
_TOP = fields(_BATCH)


def parse_event(v: Any, boot: str) -> Event:
    if type(v) is not dict:
        raise Bad("must be an object")
    kind = v.get("kind")
    spec = EVENT_FIELDS.get(kind) if type(kind) is str else None
    if spec is None or not spec.good(v):
        if "kind" in v and spec is None:
            raise Bad(f"unknown kind {str(kind)[:32]!r} (known: {', '.join(KINDS)})", ".kind")
        (spec or _UNKNOWN).explain(v)
    across = ACROSS.get(kind)
    if across is not None:
        across(v)
    mono = v.get("mono")
    return Event(
        seq=v["seq"],
        kind=kind,
        ts=v["ts"],
        boot=v.get("boot", boot),
        mono=float(mono) if mono is not None else None,
        raw=v,
    )


def parse_batch(doc: Any) -> Batch:
    """The batch a station sent, checked (``doc`` is the decoded JSON); ReportFormatError naming
    the first bad field."""
    where = ""
    try:
        if not isinstance(doc, dict):
            raise Bad("the body must be a JSON object (see docs/reporting.md)")
        _TOP.explain(doc)
        events = []
        last = doc["after"]
        boot = doc["boot"]
        for i, raw in enumerate(doc["events"]):
            where = f"events[{i}]"
            e = parse_event(raw, boot)
            if e.seq <= last:
                raise Bad(f"{e.seq} does not follow {last}: seqs must increase after 'after'", ".seq")
            last = e.seq
            events.append(e)
        where = ""
        now = moment_of(doc["now"])
    except Bad as exc:
        raise ReportFormatError((where + exc.where).removeprefix("."), exc.message) from None
    return Batch(
        station=doc["station"],
        stream=doc["stream"],
        after=doc["after"],
        now=now,
        boot=doc["boot"],
        mono=float(doc["mono"]),
        events=tuple(events),
    )
