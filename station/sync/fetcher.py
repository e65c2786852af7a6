"""The network behind one small interface (python-tuf's ``fetcher.py`` is the model).

``Fetcher.fetch`` returns a small file's bytes (optionally conditional on an ETag or
Last-Modified, answering None for "not modified"); ``Fetcher.download`` streams a pinned file to
a partial path, resuming with ``Range`` + ``If-Range`` when a partial file exists, capped at the
declared size, hashing as it goes, within a bandwidth cap. Mirrors are ``http(s)://`` URLs or
``file://`` folders (a USB stick). Every network failure becomes one ``DownloadError`` naming the
URL and the reason (a URL that cannot be used at all, too); a full disk becomes ``StoreError``.

A slow mirror (the "slow retrieval" attack of the TUF specification: one byte every few seconds
keeps ``sock_read`` from ever firing) is bounded by ``Pace``: a request may fall behind a minimum
rate by no more than a grace period's worth, so a file of ``n`` bytes takes at most
``grace + n / min_rate`` seconds; past that the request is abandoned with
``SlowRetrievalError``, what arrived stays in the partial file, and the caller tries the next
mirror. Small files are bounded the same way by their size cap.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import aiohttp

from playlists import FileRef
from station.config import StationConfig
from station.errors import DownloadError, SlowRetrievalError, StoreError

CHUNK = 64 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class RateLimiter:
    """A token bucket shared by every download of a pass: at most ``rate`` bytes per second on
    average, bursts of at most a quarter of a second's worth."""

    def __init__(self, rate_bytes_per_s: int) -> None:
        self.rate = rate_bytes_per_s
        self.capacity = max(rate_bytes_per_s / 4, CHUNK)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    @property
    def chunk(self) -> int:
        return CHUNK if not self.rate else max(4096, min(CHUNK, self.rate // 100))

    async def consume(self, n: int) -> None:
        if not self.rate:
            return
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= n
        if self.tokens < 0:
            await asyncio.sleep(-self.tokens / self.rate)


@dataclass
class Validators:
    """What a server said about a file, for conditional and resumed requests."""

    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def of(cls, resp: aiohttp.ClientResponse) -> Validators:
        return cls(resp.headers.get("ETag"), resp.headers.get("Last-Modified"))


def join(mirror: str, path: str) -> str:
    """The URL of a repository file on a mirror; DownloadError for a mirror URL that does not
    parse (station.toml refuses those, but a mirror list may come from elsewhere)."""
    try:
        return urljoin(mirror, path)
    except ValueError as exc:
        raise DownloadError(f"{mirror}: not a usable URL ({exc}); correct it in [sync] mirrors") from exc


def _is_file_url(url: str) -> bool:
    return url.startswith("file://")


def _local(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


def _open_plain_file(path: Path):
    """A file of a copied repository (a USB stick, a folder) opened for reading, if it is a plain
    file: a pipe or a device planted on a stick would block the read for ever."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise DownloadError(f"{path}: missing from the copy") from exc
    except OSError as exc:
        raise DownloadError(f"{path}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # a NUL byte in the path: the mirror's URL is wrong, not the program
        raise DownloadError(f"{path!r}: not a usable file path ({exc}); check [sync] mirrors") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DownloadError(f"{path}: not a plain file (a pipe, a device or a folder); copy the repository again")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


class Pace:
    """One request's deadline, as a leaky bucket of credit counted in bytes: it starts full at
    ``min_rate * grace_s`` (``grace_s`` to get going), drains at ``min_rate`` bytes per second,
    fills with every byte received and never holds more than it started with. The request is
    abandoned when it runs dry: when the bytes fall ``grace_s`` seconds' worth behind the
    floor. So a drip is cut about ``grace_s`` after it starts (a fast burst first buys no more
    than ``grace_s`` of silence), and ``n`` bytes take at most ``grace_s + n / min_rate``
    seconds. ``deadline(n)`` books ``n`` more bytes and says when the credit runs out: the
    request's timeout is moved there after every chunk, so it fires whether or not a byte comes."""

    def __init__(self, min_rate: float, grace_s: float) -> None:
        self.min_rate, self.grace_s = min_rate, grace_s
        self.start = self.stamp = asyncio.get_running_loop().time()
        self.cap = self.credit = min_rate * grace_s
        self.received = 0

    def deadline(self, n: int = 0) -> float | None:
        self.received += n
        if not self.min_rate:
            return None
        now = asyncio.get_running_loop().time()
        self.credit = min(self.cap, self.credit - (now - self.stamp) * self.min_rate + n)
        self.stamp = now
        return now + max(self.credit, 0.0) / self.min_rate

    def error(self, url: str, size: int) -> SlowRetrievalError:
        """This request fell behind; ``size``: the file's size (or its cap)."""
        spent = asyncio.get_running_loop().time() - self.start
        return SlowRetrievalError(
            f"{url}: too slow, {self.received} bytes of a {size}-byte file in {spent:.0f} s, "
            f"{self.grace_s:g} s behind the {self.min_rate:.0f} bytes/s of [sync] min_rate_bytes_per_s; "
            "abandoned for another mirror"
        )


class Fetcher:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        timeout_s: float = 30.0,
        max_rate_bytes_per_s: int = 0,
        *,
        min_rate_bytes_per_s: int = 0,
        slow_grace_s: float = 30.0,
    ) -> None:
        self.session = session
        # A stall is caught by sock_read; a drip that resets it with every byte, by Pace.
        self.timeout = aiohttp.ClientTimeout(total=None, connect=timeout_s, sock_read=timeout_s)
        self.limiter = RateLimiter(max_rate_bytes_per_s)
        # Our own cap must never make a mirror look slow: the floor stays under half of it.
        floor = min_rate_bytes_per_s
        if max_rate_bytes_per_s and floor:
            floor = min(floor, max_rate_bytes_per_s / 2)
        self.min_rate, self.slow_grace_s = floor, slow_grace_s
        self.bytes_received = 0
        self.requests = 0

    @classmethod
    def for_station(cls, session: aiohttp.ClientSession, cfg: StationConfig) -> Fetcher:
        """A fetcher with the [sync] settings of station.toml."""
        return cls(
            session,
            cfg.sync_timeout_s,
            cfg.max_rate_bytes_per_s,
            min_rate_bytes_per_s=cfg.min_rate_bytes_per_s,
            slow_grace_s=cfg.slow_grace_s,
        )

    def pace(self) -> Pace:
        return Pace(self.min_rate, self.slow_grace_s)

    async def fetch(
        self, url: str, max_bytes: int, validators: Validators | None = None
    ) -> tuple[bytes | None, Validators]:
        """The body (None when the server answers 304 Not Modified) and the server's validators."""
        if _is_file_url(url):
            return await asyncio.to_thread(self._read_local, url, max_bytes), Validators()
        headers = {}
        if validators and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        self.requests += 1
        pace, buf, declared = self.pace(), bytearray(), None
        bound = asyncio.timeout_at(pace.deadline())
        try:
            async with bound, self.session.get(url, headers=headers, timeout=self.timeout) as resp:
                if resp.status == 304 and headers:
                    return None, validators or Validators()
                if resp.status != 200:
                    raise DownloadError(f"{url}: HTTP {resp.status}")
                declared = resp.content_length
                if declared is not None and declared > max_bytes:
                    raise DownloadError(f"{url}: {declared} bytes is over the {max_bytes}-byte limit")
                async for chunk in resp.content.iter_chunked(CHUNK):
                    self.bytes_received += len(chunk)
                    buf += chunk
                    if len(buf) > max_bytes:
                        raise DownloadError(f"{url}: more than the {max_bytes}-byte limit; stopped reading")
                    bound.reschedule(pace.deadline(len(chunk)))
                return bytes(buf), Validators.of(resp)
        except TimeoutError as exc:
            if bound.expired():
                raise pace.error(url, declared or max_bytes) from exc
            raise DownloadError(f"{url}: {_describe(exc)}") from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise DownloadError(f"{url}: {_describe(exc)}") from exc

    def _read_local(self, url: str, max_bytes: int) -> bytes:
        path = _local(url)
        try:
            with _open_plain_file(path) as fh:
                data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise DownloadError(f"{path}: {exc.strerror or exc}") from exc
        if len(data) > max_bytes:
            raise DownloadError(f"{path}: more than the {max_bytes}-byte limit")
        return data

    async def download(self, url: str, dest: Path, ref: FileRef, on_bytes: Callable[[int], None] | None = None) -> str:
        """Fill ``dest`` with the pinned file; return the sha256 of the whole file (the caller
        compares it with the pin). Resumes from ``dest``'s size when the server honours ``Range``
        (``If-Range`` guards against a changed file); a server that ignores it sends the whole
        file and we start over."""
        on_bytes = on_bytes or (lambda n: None)
        meta_path = dest.with_name(dest.name + ".json")
        have = dest.stat().st_size if dest.exists() else 0
        if have > ref.size:
            dest.unlink()
            have = 0
        if have == ref.size:
            return (await asyncio.to_thread(_sha256_path, dest)).hexdigest()
        if _is_file_url(url):
            return await self._copy_local(url, dest, ref, on_bytes)
        headers = {}
        prefix = None
        if have > 0:
            # Hash what we have before asking: hashing after the answer arrives would leave the
            # body to pile up unread, and a link that drops meanwhile throws all of it away.
            prefix = await asyncio.to_thread(_sha256_path, dest)
            headers["Range"] = f"bytes={have}-"
            saved = _load_validators(meta_path, url)
            if saved.etag or saved.last_modified:
                headers["If-Range"] = saved.etag or saved.last_modified
        self.requests += 1
        pace = self.pace()
        bound = asyncio.timeout_at(pace.deadline())
        try:
            async with (
                bound,
                self.session.get(url, headers=headers, timeout=self.timeout, read_bufsize=self.limiter.chunk) as resp,
            ):
                if resp.status == 206 and "Range" in headers:
                    m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                    if not m or int(m.group(1)) != have or (m.group(3) != "*" and int(m.group(3)) != ref.size):
                        raise DownloadError(
                            f"{url}: Content-Range {resp.headers.get('Content-Range')!r} does not match the request"
                        )
                    mode, h = "ab", prefix
                elif resp.status == 200:
                    mode, h, have = "wb", hashlib.sha256(), 0
                else:
                    raise DownloadError(f"{url}: HTTP {resp.status}")
                _save_validators(meta_path, Validators.of(resp), url)
                with _CappedFile(dest, mode, h, have, ref.size, url) as out:
                    async for chunk in resp.content.iter_chunked(self.limiter.chunk):
                        self.bytes_received += len(chunk)
                        out.write(chunk)
                        on_bytes(len(chunk))
                        bound.reschedule(pace.deadline(len(chunk)))
                        await self.limiter.consume(len(chunk))
                    bound.reschedule(None)  # the bytes are in; the disk takes what it takes
                    await asyncio.to_thread(out.sync)  # a whole file's fsync: never on the loop
                if out.written != ref.size:
                    raise DownloadError(f"{url}: connection ended after {out.written} of {ref.size} bytes")
                return h.hexdigest()
        except TimeoutError as exc:
            if bound.expired():
                raise pace.error(url, ref.size) from exc
            raise DownloadError(f"{url}: {_describe(exc)}") from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise DownloadError(f"{url}: {_describe(exc)}") from exc
        except OSError as exc:
            raise _disk_error(dest, exc) from exc

    async def _copy_local(self, url: str, dest: Path, ref: FileRef, on_bytes: Callable[[int], None]) -> str:
        src = _local(url)

        def copy() -> str:
            h = hashlib.sha256()
            try:
                with _open_plain_file(src) as fin, _CappedFile(dest, "wb", h, 0, ref.size, str(src)) as out:
                    while block := fin.read(1 << 20):
                        out.write(block)
                        on_bytes(len(block))
                    out.sync()
            except FileNotFoundError as exc:
                raise DownloadError(f"{src}: missing from the copy") from exc
            except OSError as exc:
                raise _disk_error(dest, exc) from exc
            return h.hexdigest()

        return await asyncio.to_thread(copy)


class _CappedFile:
    """A download's destination: never more than the declared size, hashed as it is written
    (each write is a buffered write, cheap on the loop); ``sync`` flushes and fsyncs it, which
    takes as long as the disk needs for the whole file, so the loop calls it from a thread."""

    def __init__(self, path: Path, mode: str, digest: hashlib._Hash, have: int, limit: int, source: str) -> None:
        self.fh = open(path, mode)  # noqa: SIM115 — closed by __exit__
        self.digest, self.written, self.limit, self.source = digest, have, limit, source

    def write(self, chunk: bytes) -> None:
        if self.written + len(chunk) > self.limit:
            raise DownloadError(f"{self.source}: longer than the {self.limit} bytes the signed playlist declares")
        self.fh.write(chunk)
        self.digest.update(chunk)
        self.written += len(chunk)

    def sync(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def __enter__(self) -> _CappedFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.fh.close()


def _disk_error(dest: Path, exc: OSError) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreError(f"the disk is full writing {dest.name}; free space or lower [sync] quota_mb, then sync again")
    return StoreError(f"cannot write {dest} ({exc.strerror or exc})")


def _load_validators(path: Path, url: str) -> Validators:
    """What the server at ``url`` said about the partial file's first bytes. Another mirror's
    ETag means nothing here (as If-Range it makes a strict server send the whole file again):
    the file is immutable and its sha256 is checked at the end, so a plain Range is safe."""
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return Validators()
    return Validators(d.get("etag"), d.get("last_modified")) if d.get("url") == url else Validators()


def _save_validators(path: Path, v: Validators, url: str) -> None:
    try:
        path.write_text(json.dumps({"url": url, "etag": v.etag, "last_modified": v.last_modified}))
    except OSError:
        pass  # only an optimisation for resuming


def _sha256_path(path: Path) -> hashlib._Hash:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out (the mirror stalled)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror if exc.os_error else exc})"
    if isinstance(exc, (aiohttp.InvalidURL, ValueError)):
        return f"not a usable URL ({exc}); correct it in [sync] mirrors"
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)):
        return "the connection dropped before the end of the file (a flaky link or mirror)"
    return f"{type(exc).__name__}: {exc}"
