"""A repository tree on disk served like the headend serves it (aiohttp ``FileResponse``: Range,
ETag, Last-Modified), with a log of what was asked — for tests and benchmarks that need resumable
downloads, which the in-memory simulator does not offer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests.conftest import serve_repo


def write_tree(files: dict[str, bytes], dest: Path) -> Path:
    for rel, data in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(data)
    return dest


@dataclass
class StaticRepo:
    root: Path
    requests: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # (path, Range, If-Range)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"]
        self.requests.append((rel, request.headers.get("Range"), request.headers.get("If-Range")))
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root.resolve()) or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    def ranged(self) -> list[str]:
        """Paths asked for with a Range header (resumed downloads)."""
        return [p for p, r, _ in self.requests if r]

    @asynccontextmanager
    async def served(self) -> AsyncIterator[str]:
        """Yield the mirror URL (``http://127.0.0.1:PORT/repo/``)."""
        async with serve_repo(self._handle) as mirror:
            yield mirror
