r"""Live classes through the station (issue 16): ``LiveRelay`` fetches a live lecture's HLS from
the station's mirrors and hands it to every TV and phone on the village LAN, so the TVs watching
one class share one stream over the village's uplink.

Where a mirror keeps live classes: beside its repository, ``http(s)://host/…/repo/`` →
``http(s)://host/…/live/`` (``live_bases``): the headend, a county cache or a neighbour station
(whose own relay answers). A ``file://`` mirror (a USB stick) and a URL not ending in ``/repo/``
have no live classes and are skipped.

The rules:

- Only ``master.m3u8``, ``<profile>/index.m3u8`` and ``<profile>/seg-<digits>.(ts|aac|m4s)`` of a
  live id, ids and profiles ``[a-z0-9][a-z0-9-]{0,63}`` (``parse_path``): anything else is refused
  before any fetch, so the relay is never a proxy for other URLs.
- Single flight: every viewer asking for a path while it is being fetched waits for that one
  fetch (a task per path, shielded from a viewer who goes away meanwhile).
- Segments (numbered, never reused) stay in a memory cache bounded by bytes, least recently used
  out first; playlists are kept ``playlist_fresh_s`` (the headend's ``max-age=1``) and fetched
  again after that, once for all viewers; a "not live" answer is kept as long.
- Mirrors in order. A connection error, a timeout, any status but 200 and 404 (redirects are not
  followed), an answer over the cap or a playlist that is not one → the next mirror, and the one
  that failed is tried last for ``retry_after_s`` (doubling up to ``retry_after_max_s``), so a
  dead mirror does not cost every segment a timeout. 404 from every mirror → ``NotLive``; any
  other failure of them all → ``LiveUnavailable``.
- Every answer is read whole into memory within its cap (a playlist 256 KB, a segment 32 MB);
  at most ``max_fetches`` upstream requests run at once and ``max_waiting`` paths wait: memory
  stays under ``cache_bytes + max_fetches × segment_max_bytes``.

Errors, under the station's ``DownloadError`` (station.errors), each with the HTTP status a
viewer gets and a message a TV page can show::

    DownloadError
     └─ LiveError               status
         ├─ NotLive             404: no mirror has it (the class has not started, or has ended)
         └─ LiveUnavailable     502: every mirror failed (each named, with why); 503: too busy
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from urllib.parse import urljoin, urlsplit

import aiohttp

from station.errors import DownloadError

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
NAME = r"[a-z0-9][a-z0-9-]{0,63}"  # a live id or a profile name
_NAME = re.compile(NAME)
_PATH = re.compile(rf"master\.m3u8|{NAME}/index\.m3u8|{NAME}/seg-[0-9]{{1,12}}\.(?:ts|aac|m4s)")
CONTENT_TYPES = {
    "m3u8": "application/vnd.apple.mpegurl",
    "ts": "video/mp2t",
    "aac": "audio/aac",
    "m4s": "video/iso.segment",
}
PLAYLIST_CACHE = "public, max-age=1"
SEGMENT_CACHE = "public, max-age=31536000, immutable"

UNAVAILABLE = "直播暂时中断，正在重试（live stream unavailable; retrying）"
NOT_LIVE = "直播还没有开始或已经结束（this live class has not started yet, or has ended）"
NO_MIRROR = (
    "本站没有可以转播直播的来源（no mirror of this station carries live classes: only http(s) mirrors "
    "ending in /repo/ do）"
)
BUSY = "直播请求太多，请稍候（too many live requests at once; retrying）"


class LiveError(DownloadError):
    """A live path this station cannot answer; ``status`` is the HTTP status viewers get."""

    status = 502


class NotLive(LiveError):
    status = 404


class LiveUnavailable(LiveError):
    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


class _NotHere(Exception):
    """One mirror answered 404."""


class _Failed(Exception):
    """One mirror failed (the message names it and says how)."""


@dataclass(frozen=True)
class LivePath:
    """A path the relay may fetch: ``path`` is ``master.m3u8``, ``hd/index.m3u8``, ``hd/seg-00001.ts``."""

    live_id: str
    path: str

    @property
    def key(self) -> str:
        return f"{self.live_id}/{self.path}"

    @property
    def is_playlist(self) -> bool:
        return self.path.endswith(".m3u8")

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.path.rsplit(".", 1)[1]]


def parse_path(live_id: str, path: str) -> LivePath | None:
    """The live path, or None for anything that is not one (ASCII only: no ``..``, no ``%``)."""
    if _NAME.fullmatch(live_id) and _PATH.fullmatch(path):
        return LivePath(live_id, path)
    return None


def live_bases(mirrors: Iterable[str]) -> tuple[str, ...]:
    """Each ``http(s)://…/repo/`` mirror's ``…/live/``, in order, once each; others skipped (a URL
    that cannot be read, such as ``http://[::1/``, too: the sync pass reports it)."""
    bases: list[str] = []
    for mirror in mirrors:
        try:
            parts = urlsplit(mirror)
            parts.port  # noqa: B018 - a port that is no number raises here, not at the first fetch
        except ValueError:
            continue
        if parts.scheme in ("http", "https") and parts.path.endswith("/repo/") and not (parts.query or parts.fragment):
            base = urljoin(mirror, "../live/")
            if base not in bases:
                bases.append(base)
    return tuple(bases)


@dataclass(frozen=True)
class Answer:
    """What viewers get for a path: the upstream's bytes, our content type, the upstream's
    Cache-Control (or the headend's for that kind of file)."""

    body: bytes
    content_type: str
    cache_control: str


@dataclass(frozen=True)
class RelayLimits:
    connect_timeout_s: float = 3.0
    playlist_timeout_s: float = 5.0  # the whole request, connecting included
    segment_timeout_s: float = 15.0
    playlist_max_bytes: int = 256 * 1024
    segment_max_bytes: int = 32 * 1024 * 1024
    cache_bytes: int = 64 * 1024 * 1024  # segments (and playlists) kept in memory
    playlist_fresh_s: float = 1.0  # a playlist (or "not live") is fetched again after this long
    retry_after_s: float = 5.0  # a failed mirror is tried last for this long, doubling each time
    retry_after_max_s: float = 60.0
    max_fetches: int = 4  # upstream requests at once
    max_waiting: int = 64  # paths being fetched or waiting for a slot
    max_counted_paths: int = 4096  # ``fetches`` forgets the oldest paths beyond this


_NOT_LIVE = Answer(b"", "", "")  # held like an answer: every mirror said 404


class _Memory:
    """Answers by key, at most ``max_bytes`` of bodies, the least recently used dropped first;
    an entry may expire."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[str, tuple[Answer, float]] = OrderedDict()

    @staticmethod
    def _size(answer: Answer) -> int:
        return 256 + len(answer.body)

    def get(self, key: str, now: float) -> Answer | None:
        """The answer held for ``key``, or None."""
        item = self._items.get(key)
        if item is None:
            return None
        answer, expires = item
        if now >= expires:
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return answer

    def put(self, key: str, answer: Answer, expires: float) -> None:
        self._drop(key)
        size = self._size(answer)
        if size > self.max_bytes:
            return
        self._items[key] = (answer, expires)
        self.bytes += size
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.bytes -= self._size(item[0])


class LiveRelay:
    """One per station: ``get(path)`` answers a live path from memory or from the first mirror
    that has it. Its ``ClientSession`` opens at the first fetch (inside the event loop); ``close()``
    it."""

    def __init__(
        self, mirrors: Iterable[str], limits: RelayLimits | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or RelayLimits()
        self.bases = live_bases(mirrors)
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None  # opened by the first fetch, in the loop
        self._memory = _Memory(self.limits.cache_bytes)
        self._inflight: dict[str, asyncio.Task[Answer]] = {}
        self._slots = asyncio.Semaphore(self.limits.max_fetches)
        self._down_until = [0.0] * len(self.bases)
        self._backoff_s = [0.0] * len(self.bases)
        self.fetches: Counter[str] = Counter()  # upstream requests per live path ("id/hd/seg-00001.ts")
        self.attempts: Counter[str] = Counter()  # upstream requests per mirror (live base URL)
        self.served = 0  # answers given to viewers

    def stats(self) -> dict[str, object]:
        """For tests, the bench and the logs: what was fetched, from where, what is held."""
        return {
            "served": self.served,
            "fetches": sum(self.fetches.values()),
            "attempts": dict(self.attempts),
            "cached_bytes": self._memory.bytes,
            "in_flight": len(self._inflight),
            "mirrors_down": [b for b, until in zip(self.bases, self._down_until, strict=True) if until > self._clock()],
        }

    async def get(self, path: LivePath) -> Answer:
        """The answer for ``path``; raises ``NotLive`` or ``LiveUnavailable``."""
        held = self._memory.get(path.key, self._clock())
        if held is None:
            task = self._inflight.get(path.key)
            if task is None:
                if len(self._inflight) >= self.limits.max_waiting:
                    raise LiveUnavailable(BUSY, status=503)
                # Owned, not fire-and-forget: kept in _inflight until done, cancelled by close().
                task = asyncio.create_task(self._fetch(path), name=f"live {path.key}")
                self._inflight[path.key] = task
                task.add_done_callback(partial(self._done, path.key))
            held = await asyncio.shield(task)
        if held is _NOT_LIVE:
            raise NotLive(NOT_LIVE)
        self.served += 1
        return held

    async def close(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- one fetch, for every viewer ---------------------------------------------------------

    def _done(self, key: str, task: asyncio.Task[Answer]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # the viewers who asked may all have gone: nobody else retrieves it

    async def _fetch(self, path: LivePath) -> Answer:
        if not self.bases:
            raise NotLive(NO_MIRROR)
        failures: list[str] = []
        async with self._slots:
            for i in self._order():
                try:
                    answer = await self._get_from(self.bases[i], path)
                except _NotHere:
                    continue
                except _Failed as exc:
                    failures.append(str(exc))
                    self._failed(i, str(exc))
                    continue
                self._worked(i)
                fresh = self.limits.playlist_fresh_s if path.is_playlist else float("inf")
                self._memory.put(path.key, answer, self._clock() + fresh)
                return answer
        if failures:
            raise LiveUnavailable(f"{UNAVAILABLE}: {path.key}: " + "; ".join(failures))
        self._memory.put(path.key, _NOT_LIVE, self._clock() + self.limits.playlist_fresh_s)
        return _NOT_LIVE

    async def _get_from(self, base: str, path: LivePath) -> Answer:
        lim = self.limits
        cap, total = (
            (lim.playlist_max_bytes, lim.playlist_timeout_s)
            if path.is_playlist
            else (lim.segment_max_bytes, lim.segment_timeout_s)
        )
        self._count(path.key)
        self.attempts[base] += 1
        url = base + path.key
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=lim.connect_timeout_s)
        try:
            if self._session is None:
                self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2 * self.limits.max_fetches))
            async with self._session.get(url, timeout=timeout, allow_redirects=False) as resp:
                if resp.status == 404:
                    raise _NotHere()
                if resp.status != 200:
                    raise _Failed(f"{base}: HTTP {resp.status}")
                if resp.content_length is not None and resp.content_length > cap:
                    resp.close()
                    raise _Failed(f"{base}: {resp.content_length} bytes, more than the {_mb(cap)} a file may be")
                body = bytearray()
                async for chunk in resp.content.iter_chunked(CHUNK):
                    body += chunk
                    if len(body) > cap:
                        resp.close()  # stop reading: the rest is never fetched
                        raise _Failed(f"{base}: more than the {_mb(cap)} a file may be; stopped reading")
                cache_control = resp.headers.get("Cache-Control", "")
        except TimeoutError as exc:
            raise _Failed(f"{base}: no answer within {total:g} s") from exc
        except aiohttp.ClientError as exc:
            raise _Failed(f"{base}: {type(exc).__name__} {exc}".rstrip()) from exc
        data = bytes(body)
        if path.is_playlist and not data.removeprefix(b"\xef\xbb\xbf").startswith(b"#EXTM3U"):
            raise _Failed(f"{base}: not an HLS playlist (a login page of the internet provider?)")
        if path.path.endswith(".ts") and data[:1] != b"\x47":
            raise _Failed(f"{base}: not an MPEG-TS segment")
        default = PLAYLIST_CACHE if path.is_playlist else SEGMENT_CACHE
        ok = 0 < len(cache_control) <= 200 and cache_control.isascii() and cache_control.isprintable()
        return Answer(data, path.content_type, cache_control if ok else default)

    def _count(self, key: str) -> None:
        self.fetches[key] += 1
        if len(self.fetches) > self.limits.max_counted_paths:
            del self.fetches[next(iter(self.fetches))]

    # ---- which mirror first ------------------------------------------------------------------

    def _order(self) -> list[int]:
        """Mirrors in the configured order, those that failed lately last (soonest retried first)."""
        now = self._clock()
        up = [i for i, until in enumerate(self._down_until) if until <= now]
        down = sorted((i for i, until in enumerate(self._down_until) if until > now), key=self._down_until.__getitem__)
        return up + down

    def _failed(self, i: int, why: str) -> None:
        now = self._clock()
        if self._down_until[i] > now:  # already set aside (another fetch failed on it first)
            return
        first = not self._backoff_s[i]
        self._backoff_s[i] = min(self._backoff_s[i] * 2, self.limits.retry_after_max_s) or self.limits.retry_after_s
        self._down_until[i] = now + self._backoff_s[i]
        if first:
            log.warning("live classes: %s; trying the other mirrors first", why)

    def _worked(self, i: int) -> None:
        if self._backoff_s[i]:
            log.info("live classes: %s answers again", self.bases[i])
        self._backoff_s[i] = self._down_until[i] = 0.0


def _mb(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"
