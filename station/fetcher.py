"""The network behind one small interface (python-tuf's ``fetcher.py`` is the model).

``Fetcher.fetch`` returns a small file's bytes; ``Fetcher.download`` streams a pinned file to a
partial path, resuming with ``Range`` when a partial file exists, capped at the declared size,
hashing as it goes. Every failure becomes one ``DownloadError`` naming the URL and the reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from pathlib import Path

import aiohttp

from playlists import FileRef
from station.errors import DownloadError

CHUNK = 64 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class Fetcher:
    def __init__(self, session: aiohttp.ClientSession, timeout_s: float = 30.0) -> None:
        self.session = session
        # Total time is unbounded for big files on slow links; a stall is caught by sock_read.
        self.timeout = aiohttp.ClientTimeout(total=None, connect=timeout_s, sock_read=timeout_s)
        self.bytes_received = 0

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        try:
            async with self.session.get(url, timeout=self.timeout) as resp:
                if resp.status != 200:
                    raise DownloadError(f"{url}: HTTP {resp.status}")
                declared = resp.content_length
                if declared is not None and declared > max_bytes:
                    raise DownloadError(f"{url}: {declared} bytes is over the {max_bytes}-byte limit")
                buf = bytearray()
                async for chunk in resp.content.iter_chunked(CHUNK):
                    self.bytes_received += len(chunk)
                    buf += chunk
                    if len(buf) > max_bytes:
                        raise DownloadError(f"{url}: more than the {max_bytes}-byte limit; stopped reading")
                return bytes(buf)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise DownloadError(f"{url}: {_describe(exc)}") from exc

    async def download(self, url: str, dest: Path, ref: FileRef) -> str:
        """Fill ``dest`` with the pinned file; return the sha256 of the whole file (the caller
        compares it with the pin). Resumes from ``dest``'s current size when the server honours
        ``Range``; a server that ignores it sends the whole file and we start over."""
        have = dest.stat().st_size if dest.exists() else 0
        if have > ref.size:
            dest.unlink()
            have = 0
        headers = {"Range": f"bytes={have}-"} if 0 < have < ref.size else {}
        if have == ref.size:
            return (await asyncio.to_thread(_sha256_path, dest)).hexdigest()
        try:
            async with self.session.get(url, headers=headers, timeout=self.timeout) as resp:
                if resp.status == 206 and headers:
                    m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                    if not m or int(m.group(1)) != have or (m.group(3) != "*" and int(m.group(3)) != ref.size):
                        raise DownloadError(f"{url}: Content-Range {resp.headers.get('Content-Range')!r} does not match the request")
                    mode, h = "ab", await asyncio.to_thread(_sha256_path, dest)
                elif resp.status == 200:
                    mode, h, have = "wb", hashlib.sha256(), 0
                else:
                    raise DownloadError(f"{url}: HTTP {resp.status}")
                written = have
                with open(dest, mode) as fh:
                    async for chunk in resp.content.iter_chunked(CHUNK):
                        self.bytes_received += len(chunk)
                        if written + len(chunk) > ref.size:
                            raise DownloadError(f"{url}: longer than the {ref.size} bytes the signed playlist declares")
                        fh.write(chunk)
                        h.update(chunk)
                        written += len(chunk)
                    fh.flush()
                    os.fsync(fh.fileno())
                if written != ref.size:
                    raise DownloadError(f"{url}: connection ended after {written} of {ref.size} bytes")
                return h.hexdigest()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise DownloadError(f"{url}: {_describe(exc)}") from exc
        except OSError as exc:
            raise DownloadError(f"{url}: cannot write {dest} ({exc.strerror})") from exc


def _sha256_path(path: Path) -> "hashlib._Hash":
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out (the mirror stalled)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror if exc.os_error else exc})"
    return f"{type(exc).__name__}: {exc}"
