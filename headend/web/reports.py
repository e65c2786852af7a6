"""The report collector's HTTP side (docs/reporting.md): ``POST /api/v1/reports`` checks the
station's token, limits each station's rate, reads the body with a cap (512 KB as sent), hands it
to the intake processes (``service.intake``: gzip inflated with an 8 MB cap — a gzip bomb is
refused without inflating it all —, strict UTF-8 JSON, checked, stored) and answers held/seen or
a refusal ``{"ok": false, "error", "field"}`` — never a 500; a held batch's answer carries the
station's star rating (``"rating"``) once the rating loop (``headend.loops.ratings``) has one.
``GET /api/v1/stations/{id}/days`` gives a station's figures per China day (a logged-in account,
within its region). Every answer carries the headend's time (``now``)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

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
from headend.loops.ratings import RatingLoop
from headend.service.intake import IntakePool
from headend.service.reports import authenticate, day_range, parse_day, report_days
from headend.web.auth import token_auth, visible_station
from headend.web.keys import CONFIG, HEADEND

MAX_BODY = 512 * 1024
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
INTAKE = web.AppKey("report_intake", IntakePool)
RATINGS = web.AppKey("report_ratings", RatingLoop)  # each station's rating summary (headend.web.app)


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
        received = datetime.now(UTC)
        stored = await request.app[INTAKE].take(station.id, station.created_at, encoding == "gzip", raw, received)
    except HeadendError as exc:
        return refusal(exc)
    body = {"ok": True, **stored.__dict__, "now": now_z()}
    ratings = request.app.get(RATINGS)
    rating = ratings.summary(station.id) if ratings is not None else None  # in memory: never waits
    if rating is not None:
        body["rating"] = rating
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

    async def intake_ctx(app: web.Application):  # after the app's root_ctx: HEADEND is open
        h, cfg = app[HEADEND], app[CONFIG]
        app[INTAKE] = IntakePool(h.db.reports, cfg.database_url, cfg.db_path, cfg.intake_workers)
        try:
            yield
        finally:
            await asyncio.to_thread(app[INTAKE].close)

    app.cleanup_ctx.append(intake_ctx)
    app.router.add_post("/api/v1/reports", post_reports)
    app.router.add_get("/api/v1/stations/{id}/days", get_days)
