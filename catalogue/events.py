"""The report batch a station sends and the event kinds it carries (docs/reporting.md), checked
strictly: types, ranges and sizes; unknown kinds and unknown fields refused; a bool is not a
number; seqs strictly increasing after the batch's cursor; at most ``MAX_EVENTS`` events.
``parse_batch`` returns a typed ``Batch`` or raises one ``ReportFormatError`` whose ``field``
names the first bad field (``events[3].watched_s``). Pure: no I/O."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from catalogue.ids import ID_RULE, is_id

VERSION = 1
MAX_EVENTS = 500
MAX_SEQ = 2**53  # what a JSON number holds exactly
DAY_S = 86400
STREAM = re.compile(r"[0-9a-f]{16}\Z")
BOOT = re.compile(r"[0-9a-f]{32}\Z")


class ReportFormatError(ValueError):
    """A batch that breaks the contract; ``field`` is the first bad field's path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str
    ts: str  # the box's wall clock as sent
    wall: datetime  # ``ts`` parsed (aware)
    boot: str  # the batch's boot when the event omits it
    mono: float | None  # None: a line written before the journal carried it
    raw: Mapping[str, Any]  # the event as sent (do not change it)


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


Check = Callable[[Any, str], None]


def _fail(path: str, message: str):
    raise ReportFormatError(path, message)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def integer(lo: int, hi: int) -> Check:
    def check(v: Any, path: str) -> None:
        if not isinstance(v, int) or isinstance(v, bool):
            _fail(path, f"must be a whole number ({lo}–{hi})")
        if not lo <= v <= hi:
            _fail(path, f"{v} is out of range ({lo}–{hi})")

    return check


def number(lo: float, hi: float) -> Check:
    def check(v: Any, path: str) -> None:
        if not _is_number(v):
            _fail(path, f"must be a number ({lo}–{hi})")
        if not lo <= v <= hi:
            _fail(path, f"{v} is out of range ({lo}–{hi})")

    return check


def boolean(v: Any, path: str) -> None:
    if not isinstance(v, bool):
        _fail(path, "must be true or false")


def text(limit: int, pattern: re.Pattern | None = None, rule: str = "") -> Check:
    def check(v: Any, path: str) -> None:
        if not isinstance(v, str):
            _fail(path, f"must be a string of at most {limit} characters")
        if len(v) > limit:
            _fail(path, f"is {len(v)} characters long, at most {limit}")
        if pattern is not None and not pattern.match(v):
            _fail(path, f"must be {rule}")

    return check


def ident(v: Any, path: str) -> None:
    if not is_id(v):
        _fail(path, f"must be an id: {ID_RULE}")


FIRST_YEAR, LAST_YEAR = 1970, 2099  # a clock that never was set, to the end of the century


def moment_of(v: Any, path: str) -> datetime:
    if not isinstance(v, str) or len(v) > 40:
        _fail(path, "must be an ISO 8601 time with its offset, e.g. 2026-12-02T09:41:07+08:00")
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        _fail(path, f"{v!r} is not an ISO 8601 time, e.g. 2026-12-02T09:41:07+08:00")
    if dt.tzinfo is None or dt.utcoffset() is None:
        _fail(path, f"{v!r} has no UTC offset (write +08:00)")
    # A box without a real-time clock boots at 1970-01-01: its events are still its events (the
    # headend corrects or marks their times, catalogue.clocks); only nonsense years are refused.
    if not FIRST_YEAR <= dt.year <= LAST_YEAR:
        _fail(path, f"{v!r}: the year must be {FIRST_YEAR}–{LAST_YEAR}")
    return dt


def moment(v: Any, path: str) -> None:
    moment_of(v, path)


def nullable(check: Check) -> Check:
    def inner(v: Any, path: str) -> None:
        if v is not None:
            check(v, path)

    return inner


def one_of(*choices: str) -> Check:
    def check(v: Any, path: str) -> None:
        if v not in choices or not isinstance(v, str):
            _fail(path, f"must be one of {', '.join(choices)}")

    return check


def listing(item: Check, limit: int) -> Check:
    def check(v: Any, path: str) -> None:
        if not isinstance(v, list):
            _fail(path, f"must be a list of at most {limit} items")
        if len(v) > limit:
            _fail(path, f"has {len(v)} items, at most {limit}")
        for i, x in enumerate(v):
            item(x, f"{path}[{i}]")

    return check


def record(required: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> Check:
    optional = optional or {}

    def check(v: Any, path: str) -> None:
        if not isinstance(v, dict):
            _fail(path, "must be an object")
        _fields(v, path, required, optional)

    return check


def _fields(v: dict, path: str, required: Mapping[str, Check], optional: Mapping[str, Check]) -> None:
    prefix = f"{path}." if path else ""
    for name, check in required.items():
        if name not in v:
            _fail(prefix + name, "is missing")
        check(v[name], prefix + name)
    for name, value in v.items():
        if name in required:
            continue
        check = optional.get(name)
        if check is None:
            _fail(prefix + str(name)[:64], "is not a field of this record (unknown fields are refused)")
        check(value, prefix + name)


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
    "events": listing(lambda v, path: None, MAX_EVENTS),  # each event is checked below
}


_SPECS = {k: ({**_COMMON, **req}, {**_COMMON_OPTIONAL, **opt}) for k, (req, opt) in KINDS.items()}
_UNKNOWN = (_COMMON, _COMMON_OPTIONAL)


def parse_event(v: Any, path: str, boot: str) -> Event:
    if not isinstance(v, dict):
        _fail(path, "must be an object")
    kind = v.get("kind")
    if "kind" in v and (not isinstance(kind, str) or kind not in KINDS):
        _fail(f"{path}.kind", f"unknown kind {str(kind)[:32]!r} (known: {', '.join(KINDS)})")
    required, optional = _SPECS.get(kind, _UNKNOWN)
    _fields(v, path, required, optional)
    mono = v.get("mono")
    return Event(
        seq=v["seq"],
        kind=kind,
        ts=v["ts"],
        wall=datetime.fromisoformat(v["ts"]),  # checked above
        boot=v.get("boot", boot),
        mono=float(mono) if mono is not None else None,
        raw=v,
    )


def parse_batch(doc: Any) -> Batch:
    """The batch a station sent, checked (``doc`` is the decoded JSON); ReportFormatError naming
    the first bad field."""
    if not isinstance(doc, dict):
        _fail("", "the body must be a JSON object (see docs/reporting.md)")
    _fields(doc, "", _BATCH, {})
    events = []
    last = doc["after"]
    for i, raw in enumerate(doc["events"]):
        path = f"events[{i}]"
        e = parse_event(raw, path, doc["boot"])
        if e.seq <= last:
            _fail(f"{path}.seq", f"{e.seq} does not follow {last}: seqs must increase after 'after'")
        last = e.seq
        events.append(e)
    return Batch(
        station=doc["station"],
        stream=doc["stream"],
        after=doc["after"],
        now=moment_of(doc["now"], "now"),
        boot=doc["boot"],
        mono=float(doc["mono"]),
        events=tuple(events),
    )
