"""One upload run: batches from the cursor until everything journalled (up to a seq) is
acknowledged or an answer stops it. Shared by the ``station serve`` loop and ``report --once``.

The rules (docs/reporting.md): a batch is at most 500 events and 256 KB gzip, all of one stream;
``after`` is the cursor (0 on a stream's first batch: no lower seq exists in it); the cursor
(``journal/acknowledged.json``) moves to ``held`` only, never backwards and never past the
batch's stream; when ``held`` stays below the batch's end the next batch re-sends from
``held + 1``; ``seen`` above the journal's last seq on the current stream renews the stream.
A 413 halves the batch; 429/503 end the run with ``Retry-After``; a refusal keeps the events.
One run at a time: an ``asyncio.Lock`` in this process and ``fcntl.flock`` on
``<data_dir>/report.lock`` against another. Reading and gzip run in a thread.
A held batch's answer may carry the station's star rating: checked by the client, a new one is
kept in ``<data_dir>/rating.json`` (``station.store.ratingfile``) for /admin — rewritten only when
its periods change, not for a new ``made_at`` alone; one that is not the
documented shape is ignored with one warning (until another problem, or a good one, comes).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from station.config import StationConfig
from station.errors import StoreError
from station.model.rating import HeldRating
from station.records.journal import Journal
from station.records.reader import JournalReader
from station.store.ratingfile import write_rating
from station.store.reportfile import read_upload_state, write_upload_state
from station.upload.client import MAX_EVENTS, MAX_GZIP_BYTES, Answer, batch_body, post

log = logging.getLogger(__name__)

LOCK_FILE = "report.lock"

# What each failure means for the administrator (English; the admin page translates the kind).
ADVICE = {
    "revoked": "the headend revoked this station's token: ask the county for a new one "
    "(`headend station token --rotate ID`) and put it in [report] token or token_file",
    "unknown": "the headend does not know this token: check [report] token (as `headend station add` printed it)",
    "forbidden": "the token belongs to another station: check [station] id and [report] token",
    "refused": "the headend refused a batch; the events are kept. Tell the county (the error names the field)",
    "busy": "the headend is busy; the station tries again later",
    "unreachable": "the headend cannot be reached; the station keeps the events and tries again",
    "stalled": "the headend did not hold the batch it was sent; the station tries again later",
    "too_large": "the headend refuses even one event as too large; the events are kept. Tell the county",
    "conflict": "the headend holds other events under this journal's seqs; the station starts a new stream",
}


_CONFLICT = "the headend holds another event under a seq this journal wrote (restored from a backup)"


@dataclass(frozen=True)
class RunResult:
    sent: int  # events sent in this run (duplicates included)
    remaining: int  # events not yet acknowledged
    answer: Answer | None  # the failure that ended the run, or None
    requests: int = 0
    bytes_sent: int = 0

    @property
    def ok(self) -> bool:
        return self.answer is None


class Busy(Exception):
    """Another process holds report.lock."""


class Uploader:
    def __init__(
        self,
        cfg: StationConfig,
        journal: Journal,
        *,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg, self.journal, self.mono = cfg, journal, mono
        self.reader = JournalReader(journal.root)
        self.lock = asyncio.Lock()
        self.state = read_upload_state(cfg.data_dir)
        self._next_send = 0.0  # monotonic time the rate cap allows the next request
        self._rating: HeldRating | None = None  # the star rating this process last kept
        self._rating_problem = ""  # what was wrong with the last one ignored (logged once)

    def backlog(self) -> int:
        """Events the headend has not acknowledged (reads the journal's files: call it in a thread)."""
        return self._position()[0]

    def _position(self) -> tuple[int, int, str]:
        """(backlog, acknowledged seq, current stream id), read from the journal's files once."""
        last, acked = self.journal.last_seq(), self.journal.acknowledged()
        stream = self.journal.stream_of(last or 1)
        return max(0, last - acked), acked, stream.id if stream else ""

    def _stream_at(self, seq: int):
        """The stream ``seq`` belongs to and its last seq (None: the current one)."""
        stream = self.journal.stream_of(seq) or self.journal.streams.current()[0]
        return stream, self.journal.stream_end(stream)

    async def run(self, session: aiohttp.ClientSession, up_to: int | None = None) -> RunResult:
        """Upload until every event up to ``up_to`` (None: the last one now) is acknowledged."""
        async with self.lock:
            fd = await asyncio.to_thread(_flock, self.cfg.data_dir / LOCK_FILE)
            try:
                return await self._run(session, up_to)
            finally:
                os.close(fd)

    async def _run(self, session: aiohttp.ClientSession, up_to: int | None) -> RunResult:
        j = self.journal
        if up_to is None:
            up_to = await asyncio.to_thread(j.last_seq)
        pos = await asyncio.to_thread(j.acknowledged)
        limit, sent, requests, wire = MAX_EVENTS, 0, 0, 0
        resent_from = -1
        conflicts = 0
        while pos < up_to:
            stream, end = await asyncio.to_thread(self._stream_at, pos + 1)  # stream.json: file I/O
            until = min(up_to, end) if end is not None else up_to
            body, events, last = await asyncio.to_thread(self._batch, stream, pos, limit, until)
            if not events:
                if end is not None and end < up_to:
                    pos = end  # the rest of this stream holds no event; go on with the next
                    continue
                break
            if len(body) > MAX_GZIP_BYTES and limit > 1:
                limit = max(1, limit // 2)
                continue
            await self._pace(len(body))
            answer = await post(session, self.cfg.report_url, self.cfg.report_token, body, self.cfg.report_timeout_s)
            requests, wire = requests + 1, wire + len(body)
            if answer.kind == "too_large" and limit > 1:
                limit = max(1, limit // 2)
                continue
            if answer.kind == "conflict" and stream.start <= answer.conflict <= last and conflicts < 3:
                conflicts += 1  # a new stream from the first event the headend holds otherwise
                new = await asyncio.to_thread(j.renew_stream, _CONFLICT, answer.conflict)
                log.warning("seq %d differs from the headend's: new stream %s from there", answer.conflict, new.id)
                continue
            if answer.kind != "ok":
                return await self._finish(sent, answer, requests, wire)
            sent += len(events)
            limit = MAX_EVENTS
            await self._keep_rating(answer)
            if end is None and answer.seen > await asyncio.to_thread(j.last_seq):
                new = await asyncio.to_thread(j.renew_stream)
                log.warning("the headend has seen seq %d on stream %s: new stream %s", answer.seen, stream.id, new.id)
            held = min(answer.held, last if end is None else end)  # never past the batch's stream
            if held > pos:
                await asyncio.to_thread(self._acknowledge, held)
            if held >= last:
                pos = last
            elif held != resent_from and held >= stream.start - 1:
                pos = resent_from = held  # the headend holds less than was sent: re-send from held + 1
            else:
                stalled = Answer("stalled", 200, error=f"the headend holds seq {held} after being sent up to {last}")
                return await self._finish(sent, stalled, requests, wire)
            await self._record(answer, sent)
        return await self._finish(sent, None, requests, wire)

    def _batch(self, stream, pos: int, limit: int, until: int) -> tuple[bytes, tuple[dict, ...], int]:
        piece = self.reader.read(pos, limit, until)
        if piece.gaps:
            log.warning("journal: %d seqs after %d are missing (lines lost); the batch says so", piece.gaps, pos)
        if not piece.events:
            return b"", (), pos
        after = pos if pos >= stream.start else 0
        body = batch_body(
            self.cfg.station_id,
            stream.id,
            after,
            piece.events,
            now=self.journal.clock(),
            boot=self.journal.boot,
            mono=self.mono(),
        )
        return body, piece.events, piece.events[-1]["seq"]

    async def _keep_rating(self, answer: Answer) -> None:
        """Keep the answer's star rating when it is new; say once why one was ignored."""
        problem = answer.rating_problem
        rating = answer.rating
        if rating is not None and rating.station != self.cfg.station_id:
            problem, rating = f"rating.station: {rating.station[:80]!r} is not this station", None
        if problem:
            if problem != self._rating_problem:
                log.warning("the headend's star rating was ignored (%s); the one held stays", problem)
                self._rating_problem = problem
            return
        if rating is None:
            return
        self._rating_problem = ""
        if _same_content(rating, self._rating):
            return
        try:
            await asyncio.to_thread(write_rating, self.cfg.data_dir, rating)
        except StoreError as exc:
            log.warning("%s", exc)
            return
        self._rating = rating

    def _acknowledge(self, held: int) -> None:
        self.journal.acknowledge(held)
        self.journal.retire(self.cfg.report_keep_days)

    async def _pace(self, size: int) -> None:
        rate = self.cfg.report_max_rate_bytes_per_s
        if not rate:
            return
        now = time.monotonic()
        if self._next_send > now:
            await asyncio.sleep(self._next_send - now)
        self._next_send = max(now, self._next_send) + size / rate

    async def _record(self, answer: Answer | None, sent: int) -> None:
        now = datetime.now(UTC)
        st = self.state
        backlog, acked, stream = await asyncio.to_thread(self._position)
        if answer is None or answer.kind == "ok":
            st = replace(st, last_attempt=now, last_success=now, last_error=None, error_kind=None, error_since=None)
            if answer is not None:
                st = replace(st, offset_s=answer.offset_s, headend_time=answer.headend_time)
            st = replace(st, state="ok" if backlog == 0 else "partial")
        else:
            kind = answer.kind
            advice = ADVICE.get(kind, "")
            field = f" ({answer.field})" if answer.field else ""
            st = replace(
                st,
                state="revoked" if kind == "revoked" else "failed",
                last_attempt=now,
                last_error=f"{answer.error}{field}; {advice}" if advice else f"{answer.error}{field}",
                error_kind=kind,
                error_since=st.error_since if st.error_kind == kind and st.error_since else now,
            )
        st = replace(st, sent_events=sent, acknowledged_seq=acked, backlog=backlog, stream=stream)
        self.state = st
        try:
            await asyncio.to_thread(write_upload_state, self.cfg.data_dir, st)
        except StoreError as exc:
            log.warning("%s", exc)

    async def _finish(self, sent: int, answer: Answer | None, requests: int, wire: int) -> RunResult:
        await self._record(answer, sent)
        return RunResult(sent, self.state.backlog, answer, requests, wire)

    def mark(self, **changes) -> None:
        """Record something about reporting that is not an upload (reporting off, the next try)."""
        self.state = replace(self.state, **changes)
        try:
            write_upload_state(self.cfg.data_dir, self.state)
        except StoreError as exc:
            log.warning("%s", exc)


def _same_content(new: HeldRating, held: HeldRating | None) -> bool:
    """The same station and periods as the rating last kept: the headend stamps ``made_at`` anew
    on every answer, so comparing it would rewrite ``rating.json`` on every upload."""
    return held is not None and (new.station, new.periods) == (held.station, held.periods)


def _flock(path: Path) -> int:
    """Wait for ``report.lock`` (another process's upload), then hold it until closed."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"{path}: cannot open the upload lock ({exc.strerror})") from exc
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd
