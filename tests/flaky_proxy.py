"""A TCP proxy on loopback that behaves like a village link: it cuts every connection after
``cut_after`` bytes towards the client (headers included), and counts every byte it relays, so a
test or benchmark can compare bytes on the wire with bytes stored. ``cut_after=0`` never cuts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlparse


class FlakyProxy:
    def __init__(self, upstream: str, cut_after: int = 0) -> None:
        u = urlparse(upstream)
        self.host, self.port = u.hostname, u.port
        self.cut_after = cut_after
        self.bytes_to_client = 0  # every byte written towards the station, headers included
        self.bytes_to_server = 0
        self.connections = 0
        self.cuts = 0
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, downstream: bool, budget: list[int]
    ) -> None:
        try:
            while data := await reader.read(65536):
                if downstream and self.cut_after:
                    data = data[: budget[0]]
                    budget[0] -= len(data)
                writer.write(data)
                await writer.drain()
                if downstream:
                    self.bytes_to_client += len(data)
                    if self.cut_after and budget[0] <= 0:
                        self.cuts += 1
                        return
                else:
                    self.bytes_to_server += len(data)
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
        up = asyncio.create_task(self._pipe(creader, swriter, False, budget))
        down = asyncio.create_task(self._pipe(sreader, cwriter, True, budget))
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
