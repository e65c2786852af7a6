"""An in-memory repository served over loopback HTTP, for replaying attacks on the station
(python-tuf's ``tests/repository_simulator.py`` is the model). It signs like the headend does —
with the real ``playlists`` code — and then lets a test change any byte, serve an old file, an
endless body, or a file signed by the wrong key."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

from catalogue import Course, course_id_for
from playlists import (
    INDEX_NAME,
    Audience,
    CourseEntry,
    FileRef,
    Index,
    Notice,
    Playlist,
    PlaylistRef,
    Schedule,
    SecretKey,
    media_path,
    sign_repository_file,
)
from station.config import load_config
from station.store import Store
from station.sync.engine import Syncer
from station.sync.fetcher import Fetcher
from station.sync.report import status_after
from station.sync.runner import now_utc
from tests.conftest import serve_repo, write_station_toml


@dataclass
class RepositorySimulator:
    key: SecretKey = field(default_factory=SecretKey.generate)
    files: dict[str, bytes] = field(default_factory=dict)
    endless: set[str] = field(default_factory=set)  # paths answered with a body that never ends
    version: int = 0
    courses: list[CourseEntry] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def add_course(
        self, title: str, content: bytes, profile: str = "stb-sd", category: str = "agriculture"
    ) -> CourseEntry:
        source = hashlib.sha256(title.encode() + content).hexdigest()
        sha = hashlib.sha256(content).hexdigest()
        ref = FileRef(media_path(sha, "mp4"), sha, len(content), "video/mp4")
        self.files[ref.path] = content
        entry = CourseEntry(
            course=Course(
                id=course_id_for(source), title=title, category=category, duration_s=60, source_sha256=source
            ),
            poster=None,
            renditions={profile: ref},
        )
        self.courses.append(entry)
        return entry

    def publish(
        self,
        *,
        timestamp: datetime | None = None,
        expires_in: timedelta = timedelta(days=7),
        audience: Audience | None = None,
        key: SecretKey | None = None,
        schedule: Schedule | None = None,
    ) -> Index:
        """Sign a new version: playlist ``all`` with every course, then the index."""
        key = key or self.key
        self.version += 1
        ts = (timestamp or datetime.now(UTC)).replace(microsecond=0)
        pl = Playlist("all", self.version, "全部课程", tuple(self.courses), schedule or Schedule())
        data = pl.to_bytes()
        self.files[pl.path] = data
        self.files[pl.path + ".minisig"] = sign_repository_file(key, pl.path, data, self.version, ts)
        ref = PlaylistRef(
            "all",
            self.version,
            FileRef(pl.path, hashlib.sha256(data).hexdigest(), len(data)),
            "全部课程",
            audience or Audience(),
        )
        index = Index(self.version, ts, ts + expires_in, (ref,), tuple(self.notices))
        self.sign_index(index, key)
        return index

    def sign_index(self, index: Index, key: SecretKey | None = None) -> None:
        data = index.to_bytes()
        self.files[INDEX_NAME] = data
        self.files[INDEX_NAME + ".minisig"] = sign_repository_file(
            key or self.key, INDEX_NAME, data, index.version, index.timestamp
        )

    def snapshot(self) -> dict[str, bytes]:
        return dict(self.files)

    # ---- serving --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.requests.append(path)
        if path in self.endless:
            resp = web.StreamResponse()
            await resp.prepare(request)
            try:
                for _ in range(100_000):  # bounded: ~6 GB would take far longer than any cap
                    await resp.write(b"\0" * 65536)
            except (ConnectionResetError, RuntimeError):
                pass
            return resp
        if path not in self.files:
            raise web.HTTPNotFound()
        return web.Response(body=self.files[path])

    @asynccontextmanager
    async def served(self) -> AsyncIterator[str]:
        async with serve_repo(self._handle) as mirror:
            yield mirror


class Station:
    """A real station (config, store, Syncer, Fetcher) in a tmp dir, syncing from ``mirror``."""

    def __init__(
        self,
        tmp_path: Path,
        sim: RepositorySimulator,
        mirror: str | list[str],
        region=("广东省", "肇庆市", "高要市"),
        **settings,
    ) -> None:
        pub = tmp_path / "trusted.pub"
        pub.write_text(sim.key.public_key.to_text())
        toml = write_station_toml(tmp_path / "station.toml", mirror if isinstance(mirror, list) else [mirror], pub)
        self.cfg = dataclasses.replace(load_config(toml), region=region, **settings)
        self.store = Store(self.cfg.data_dir)
        self.fetcher: Fetcher | None = None

    async def sync(self, clock=None):
        async with aiohttp.ClientSession() as session:
            self.fetcher = Fetcher.for_station(session, self.cfg)
            report = await Syncer(self.cfg, self.store, self.fetcher, clock).run()
        self.store.record_sync(status_after(report, self.store.sync_status(), now_utc()))  # as a recorded pass does
        return report

    def titles(self) -> set[str]:
        return {c.title for c in self.store.courses()}

    def version(self) -> int:
        return self.store.installed_set().index_version
