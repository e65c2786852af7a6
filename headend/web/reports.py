"""The report collector's HTTP side (docs/reporting.md): ``POST /api/v1/reports`` reads the body
with a cap (512 KB as sent), inflates gzip in steps with a cap (8 MB: a gzip bomb is refused
without inflating it all), decodes strict UTF-8 JSON, limits each station's rate, and answers
held/seen or a refusal ``{"ok": false, "error", "field"}`` — never a 500.
``GET /api/v1/stations/{id}/days`` gives a station's figures per China day (a logged-in account,
within its region). Every answer carries the headend's time (``now``)."""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from datetime import UTC, datetime

import orjson
from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from headend.errors import (
    DatabaseError,
    HeadendError,
    RateLimited,
    ReportRefused,
    StreamConflict,
    TooLarge,
    Unauthorized,
    Unsupported,
)
from headend.service.reports import accept, authenticate, day_range, parse_day, report_days
from headend.web.auth import token_auth, visible_station
from headend.web.keys import HEADEND

MAX_BODY = 512 * 1024
MAX_JSON = 8 * 1024 * 1024
RETRY_AFTER_S = 30  # when the database is unavailable
BURST = 60  # batches a station may send at once …
PER_S = 1.0  # … and then this many a second


def now_z() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RateLimit:
    """A token bucket per station: ``BURST`` at once, then ``PER_S`` a second."""

    def __init__(self, burst: float = BURST, per_s: float = PER_S) -> None:
        self.burst, self.per_s = burst, per_s
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, station: str) -> None:
        now = time.monotonic()
        level, then = self._buckets.get(station, (self.burst, now))
        level = min(self.burst, level + (now - then) * self.per_s)
        if level < 1:
            wait = max(1, int((1 - level) / self.per_s + 0.999))
            raise RateLimited(f"station {station} sends too often; wait {wait} s and send again", wait)
        self._buckets[station] = (level - 1, now)
        if len(self._buckets) > 100_000:  # stations long full again need no entry
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] + (now - v[1]) * self.per_s < self.burst}


RATE = web.AppKey("report_rate", RateLimit)


def refusal(exc: HeadendError) -> web.Response:
    body: dict = {"ok": False, "error": str(exc), "field": getattr(exc, "field", ""), "now": now_z()}
    headers = {}
    if isinstance(exc, Unauthorized):
        body["revoked"] = exc.revoked
        headers["WWW-Authenticate"] = 'Bearer realm="yuanjiao"'
    if isinstance(exc, StreamConflict):
        body["conflict"] = exc.seq
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, DatabaseError):
        headers["Retry-After"] = str(RETRY_AFTER_S)
    return web.json_response(body, status=exc.status, headers=headers)


async def read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise TooLarge(f"the body is {request.content_length} bytes; send at most {MAX_BODY} (fewer events a batch)")
    chunks, size = [], 0
    while True:
        try:
            chunk = await request.content.read(64 * 1024)
        except (ConnectionError, HttpProcessingError, ClientPayloadError) as exc:
            raise ReportRefused(f"the body could not be read ({type(exc).__name__}); send the batch again", "") from exc
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge(f"the body is over {MAX_BODY} bytes; send fewer events a batch")
        chunks.append(chunk)
    return b"".join(chunks)


def inflate(data: bytes) -> bytes:
    """gunzip ``data`` in steps, refusing at ``MAX_JSON`` bytes (nothing more is inflated)."""
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out, size, rest = [], 0, data
    try:
        while not d.eof:
            piece = d.decompress(rest, 256 * 1024)
            rest = d.unconsumed_tail
            if not piece and not rest:
                break  # all input taken and nothing more comes out: cut short
            size += len(piece)
            if size > MAX_JSON:
                raise TooLarge(f"the body inflates to over {MAX_JSON} bytes; send fewer events a batch")
            out.append(piece)
        if not d.eof:
            raise ReportRefused("the gzip body is cut short; send the whole batch again", "")
    except zlib.error as exc:
        raise ReportRefused(f"the body is not valid gzip ({exc}); send gzip or plain JSON", "") from exc
    if d.unused_data.strip(b"\0"):
        raise ReportRefused("there are bytes after the gzip stream; send one gzip member", "")
    return b"".join(out)


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def decode(raw: bytes) -> object:
    try:
        return orjson.loads(raw)  # about four times as fast as json.loads
    except orjson.JSONDecodeError:
        pass  # refused, or one of the few documents only the standard library reads: which?
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReportRefused(f"the body is not UTF-8 (byte {exc.start}); send UTF-8 JSON", "") from exc
    try:
        doc = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise ReportRefused(f"the body is not JSON ({str(exc)[:120]}); see docs/reporting.md", "") from exc
    # Numbers past a float's range (1e400) read here and are refused by the checks, naming the
    # field; a lone surrogate escape (\ud800) reads too but is no text: it cannot be stored.
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ReportRefused(
            f"the body has a lone UTF-16 surrogate ({exc.object[exc.start]!a}) in a string; send UTF-8 text", ""
        ) from exc
    except RecursionError as exc:
        raise ReportRefused("the body nests too deep to be a batch; see docs/reporting.md", "") from exc
    return doc


@token_auth
async def post_reports(request: web.Request) -> web.Response:
    try:
        if request.content_type != "application/json":
            raise Unsupported(f"Content-Type {request.content_type or 'none'}: send application/json")
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("gzip", "identity", ""):
            raise Unsupported(f"Content-Encoding {encoding[:40]}: send gzip or identity")
        h = request.app[HEADEND]
        station = await asyncio.to_thread(authenticate, h, request.headers.get("Authorization"))
        request.app[RATE].take(station.id)
        raw = await read_body(request)

        def intake():
            doc = decode(inflate(raw) if encoding == "gzip" else raw)
            return accept(h, station, doc)

        stored = await asyncio.to_thread(intake)
    except HeadendError as exc:
        return refusal(exc)
    body = {"ok": True, **stored.__dict__, "now": now_z()}
    return web.json_response(body)


async def get_days(request: web.Request) -> web.Response:
    station_id = request.match_info["id"]
    await visible_station(request, station_id)  # 404 outside the account's region, as for no station
    try:
        q = request.query
        first, last = day_range(parse_day(q.get("from"), "from"), parse_day(q.get("to"), "to"))
        days = await asyncio.to_thread(report_days, request.app[HEADEND], first, last, station_id)
    except HeadendError as exc:
        return refusal(exc)
    return web.json_response(
        {
            "ok": True,
            "station": station_id,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "days": [d.to_dict() for d in days],
            "now": now_z(),
        }
    )


def setup_reports(app: web.Application) -> None:
    app[RATE] = RateLimit()
    app.router.add_post("/api/v1/reports", post_reports)
    app.router.add_get("/api/v1/stations/{id}/days", get_days)
