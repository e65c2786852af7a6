"""One batch on the wire (docs/reporting.md ``POST <report.url>reports``): the body, gzip level 9,
one POST with the station's bearer token, and the headend's answer as an ``Answer``.

Every failure becomes an ``Answer`` with a ``kind`` (never an exception out of ``post``)::

    ok           200: held, seen, offset_s, headend_time, and the station's star rating when the
                 answer carries one of the documented shape (``rating``; otherwise
                 ``rating_problem`` says what was wrong with it)
    revoked      401 with "revoked": the token was revoked at the headend
    unknown      401: no such token (check [report] token)
    forbidden    403: the token belongs to another station
    refused      another 4xx: the batch was refused (``field`` names what); events are kept
    too_large    413: the caller halves the batch
    conflict     409: the event at ``conflict`` is not the one the headend holds under its key (a
                 restored journal went on writing seqs the headend holds): a new stream from there
    busy         429 / 503: try again after ``retry_after_s``
    unreachable  a network error, a timeout, a 5xx, an answer that is not the headend's JSON
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from playlists.schedule import CHINA
from station.model.rating import HeldRating, RatingShapeError, checked_rating
from station.model.times import moment

MAX_EVENTS = 500
MAX_GZIP_BYTES = 256 * 1024
MAX_RETRY_AFTER_S = 3600.0


@dataclass(frozen=True)
class Answer:
    kind: str
    status: int = 0
    held: int = 0
    seen: int = 0
    offset_s: float | None = None
    headend_time: datetime | None = None
    retry_after_s: float | None = None
    error: str = ""  # what the headend or the network said, in English
    field: str = ""
    conflict: int = 0  # 409: the first seq whose event differs from the headend's
    rating: HeldRating | None = None  # 200: the station's star rating, checked (None: none sent)
    rating_problem: str = ""  # 200: why the rating sent was ignored


def batch_body(
    station: str, stream: str, after: int, events: tuple[dict, ...], *, now: float, boot: str, mono: float
) -> bytes:
    """The gzip'd JSON body: events as journalled, ``boot`` left out where it is the batch's."""
    out = []
    for e in events:
        if e.get("boot") == boot:
            e = {k: v for k, v in e.items() if k != "boot"}
        out.append(e)
    body = {
        "v": 1,
        "station": station,
        "stream": stream,
        "after": after,
        "now": datetime.fromtimestamp(now, CHINA).isoformat(timespec="seconds"),
        "boot": boot,
        "mono": round(mono, 1),
        "events": out,
    }
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return gzip.compress(raw, compresslevel=9, mtime=0)


def retry_after(value: str | None, default: float) -> float:
    """``Retry-After`` as seconds (a number or an HTTP date), capped at an hour."""
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return default
    return min(max(seconds, 1.0), MAX_RETRY_AFTER_S) if seconds == seconds else default


async def post(session: aiohttp.ClientSession, url: str, token: str, body: bytes, timeout_s: float) -> Answer:
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    try:
        async with session.post(
            url + "reports", data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            text = await resp.content.read(1_000_000)
            return _answer(resp.status, text, resp.headers.get("Retry-After"))
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        return Answer("unreachable", error=f"{url}reports: {type(exc).__name__}: {exc}".rstrip(": "))


def _answer(status: int, text: bytes, retry: str | None) -> Answer:
    try:
        data = json.loads(text)
        data = data if isinstance(data, dict) else {}
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested beyond json's reach
        data = {}
    error = str(data.get("error") or "")[:300]
    field = str(data.get("field") or "")[:200]
    if status == 200:
        held, seen = data.get("held"), data.get("seen")
        if not (_count(held) and _count(seen)) or data.get("ok") is not True:
            return Answer(
                "unreachable", status, error="the answer is not the headend's (no held/seen): check [report] url"
            )
        offset = data.get("offset_s")
        offset = float(offset) if isinstance(offset, (int, float)) and not isinstance(offset, bool) else None
        rating, problem = _rating(data)
        return Answer(
            "ok",
            status,
            held,
            seen,
            offset,
            moment(data.get("now")) if data.get("now") else None,
            rating=rating,
            rating_problem=problem,
        )
    if status == 401:
        kind = "revoked" if data.get("revoked") is True else "unknown"
        return Answer(kind, status, error=error or "the headend does not accept this station's token")
    if status == 403:
        return Answer("forbidden", status, error=error or "the token belongs to another station")
    if status == 409 and _count(data.get("conflict")) and data["conflict"] > 0:
        return Answer("conflict", status, error=error or "a re-sent event differs", conflict=data["conflict"])
    if status == 413:
        return Answer("too_large", status, error=error or "the batch is too large")
    if status in (429, 503):
        return Answer("busy", status, retry_after_s=retry_after(retry, 60.0), error=error or f"HTTP {status}")
    if 400 <= status < 500:
        return Answer("refused", status, error=error or f"HTTP {status}", field=field)
    return Answer("unreachable", status, error=error or f"HTTP {status} from the headend")


def _rating(data: dict) -> tuple[HeldRating | None, str]:
    """The answer's ``rating`` if it is the documented shape; else (None, what was wrong)."""
    if data.get("rating") is None:
        return None, ""
    try:
        return checked_rating(data["rating"], received_at=datetime.now(UTC)), ""
    except RatingShapeError as exc:
        return None, str(exc)[:300]


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
