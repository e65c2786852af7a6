"""A TCP proxy on loopback that behaves like a village link, and counts every byte it relays, so a
test or benchmark can compare bytes on the wire with bytes stored.

How the link misbehaves (each off at 0):

- ``cut_after``: every connection is cut after that many bytes towards the client (headers
  included) — a download that dies halfway;
- ``cut_every``: the link drops every that many bytes relayed, in either direction, counted over
  the proxy's whole life — whichever connection carries the byte that crosses the next multiple is
  cut there, request or answer (a small request can pass, then the next is cut halfway);
  ``first_cut_after`` puts the first drop earlier (the link's phase);
- ``drop_responses``: the next that many answers never reach the client — the request reaches the
  server whole, and as soon as the server starts answering (it has done its work) the proxy closes
  the client's connection before writing a byte of it (the lost acknowledgement);
- ``rate_bytes_per_s``: both directions are paced to that rate (a slow link).

``requests`` lists the request line of every HTTP/1.1 request that reached the server whole
(bodies framed by ``Content-Length``), ``bytes_to_server`` / ``bytes_to_client`` every byte
relayed each way."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlparse


class _RequestCounter:
    """Finds the requests in one connection's bytes towards the server (HTTP/1.1 with
    ``Content-Length`` bodies, as aiohttp and urllib send them)."""

    def __init__(self, out: list[str]) -> None:
        self.out = out
        self.buf = b""
        self.body_left = 0
        self.line = ""

    def feed(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.body_left:
                take = min(self.body_left, len(self.buf))
                self.buf, self.body_left = self.buf[take:], self.body_left - take
                if self.body_left:
                    return
                self.out.append(self.line)
                continue
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            lines = head.decode("latin-1").split("\r\n")
            self.line = lines[0]
            length = 0
            for h in lines[1:]:
                name, _, value = h.partition(":")
                if name.strip().lower() == "content-length" and value.strip().isdigit():
                    length = int(value.strip())
            self.buf, self.body_left = rest, length
            if not length:
                self.out.append(self.line)


class FlakyProxy:
    def __init__(
        self,
        upstream: str,
        cut_after: int = 0,
        *,
        cut_every: int = 0,
        first_cut_after: int = 0,
        drop_responses: int = 0,
        rate_bytes_per_s: int = 0,
    ) -> None:
        u = urlparse(upstream)
        self.host, self.port = u.hostname, u.port
        self.cut_after = cut_after
        self.cut_every = cut_every
        self.drop_responses = drop_responses
        self.rate_bytes_per_s = rate_bytes_per_s
        self.bytes_to_client = 0  # every byte written towards the station, headers included
        self.bytes_to_server = 0
        self.connections = 0
        self.cuts = 0
        self.dropped = 0  # answers swallowed by drop_responses
        self.requests: list[str] = []  # request lines that reached the server whole
        # both directions, for cut_every; started so the first drop comes after first_cut_after bytes
        self._link_bytes = (cut_every - first_cut_after) % cut_every if cut_every and first_cut_after else 0
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def _link_budget(self) -> int:
        """Bytes the link carries before its next drop (``cut_every``)."""
        return self.cut_every - self._link_bytes % self.cut_every

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        downstream: bool,
        budget: list[int],
        counter: _RequestCounter | None,
    ) -> None:
        try:
            while data := await reader.read(4096 if self.rate_bytes_per_s else 65536):
                if downstream and self.drop_responses:
                    self.drop_responses -= 1
                    self.dropped += 1
                    return  # the server answered: the client never hears it
                cut = False
                if downstream and self.cut_after:
                    data = data[: budget[0]]
                    budget[0] -= len(data)
                    cut = budget[0] <= 0
                if self.cut_every and len(data) >= self._link_budget():
                    data, cut = data[: self._link_budget()], True
                if self.rate_bytes_per_s:
                    await asyncio.sleep(len(data) / self.rate_bytes_per_s)
                writer.write(data)
                await writer.drain()
                self._link_bytes += len(data)
                if downstream:
                    self.bytes_to_client += len(data)
                else:
                    self.bytes_to_server += len(data)
                    if counter:
                        counter.feed(data)
                if cut:
                    self.cuts += 1
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        self._tasks.add(task)
        self._writers.add(cwriter)
        try:
            sreader, swriter = await asyncio.open_connection(self.host, self.port)
        except OSError:
            cwriter.close()
            self._tasks.discard(task)
            self._writers.discard(cwriter)
            return
        self._writers.add(swriter)
        budget = [self.cut_after]
        up = asyncio.create_task(self._pipe(creader, swriter, False, budget, _RequestCounter(self.requests)))
        down = asyncio.create_task(self._pipe(sreader, cwriter, True, budget, None))
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (up, down):
                t.cancel()
            for t in (up, down):
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            for w in (cwriter, swriter):
                w.close()
                self._writers.discard(w)
                with contextlib.suppress(Exception):
                    await w.wait_closed()
            self._tasks.discard(task)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Serve on 127.0.0.1, a free port; yield ``http://127.0.0.1:PORT``."""
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.close()
            for w in list(self._writers):  # every handler then sees its connection end
                w.close()
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=5)
            await server.wait_closed()
