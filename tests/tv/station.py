"""A station for the TV tests, filled the way a real one is: a signed repository (the in-memory
``RepositorySimulator``) holding real ffmpeg clips, synced into a real store by the pass the
daemon runs, then served by the station's own app. Nothing here writes the installed document
by hand, so a test sees what sync writes.

The mirror is one HTTP server for the session (``Mirror``), serving whichever repository the
running test gave it; syncs run on its thread's loop, so a sync Playwright test (whose thread
has a loop running) and an aiohttp test call them alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from catalogue import Course
from playlists import CourseEntry, FileRef, Notice, Schedule, media_path
from playlists.schedule import CHINA
from station.config import StationConfig, load_config
from station.model import Progress
from station.store import Store
from station.sync.runner import sync_pass
from station.web.app import create_app
from station.web.guard import ADMIN_COOKIE
from station.web.keys import (
    ADMIN,
    SYNC_NOW,  # noqa: F401  (the "sync now" event, for test_admin)
    TOKENS,
)
from tests.browser import LiveServer
from tests.conftest import make_clip
from tests.repository_simulator import RepositorySimulator

PIN = "246813"
STATION_ID = "ceshi-shifan"
STATION_NAME = "测试镇示范村远教站点"
PLAYER = "tv-hd"  # shown on the admin page as 高清电视


@dataclass(frozen=True)
class Lesson:
    """A course of the test catalogue and the clip it plays."""

    id: str
    title: str
    category: str
    clip: str  # a key of make_clips()
    duration_s: float = 3.0
    poster: bool = True
    description: str = ""


# Home rows in catalogue order: 政策法规 [land], 农业技术 [goose, rice], 就业技能 [long],
# 卫生健康 [heart], 安全常识 [broken], 文化生活 [three episodes, published out of order].
CATALOGUE = (
    Lesson("c-goose", "雨季养鹅技术", "agriculture", "video", description="讲解雨季鹅舍防潮、饲料保存和常见病预防。"),
    Lesson("c-rice", "水稻病虫害防治", "agriculture", "video", poster=False),
    Lesson("c-heart", "老年人高血压防治", "health", "audio"),
    Lesson("c-land", "农村土地承包法解读", "policy", "video"),
    Lesson("c-long", "水稻种植全程讲解", "skills", "long", duration_s=30.0),
    Lesson("c-ep-2", "科学养鸡 第2集", "culture", "video"),
    Lesson("c-ep-1", "科学养鸡 第1集", "culture", "video"),
    Lesson("c-ep-3", "科学养鸡 第3集", "culture", "video"),
    Lesson("c-broken", "损坏的课程", "safety", "broken"),
)
MEDIA_FILES = 5  # distinct files in the store: video, long, audio, broken, poster


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=120)


def make_clips(d: Path) -> dict[str, Path]:
    """Tiny real media: a 3 s 320x240 H.264/AAC video, a 30 s one, 3 s of mono AAC, a 640x360
    poster, and a file that is no video at all."""
    make_clip(d / "out.mp4", 3, audio="sine=frequency=440", after=("-profile:v", "main", "-movflags", "+faststart"))
    make_clip(
        d / "long.mp4",
        30,
        video="testsrc2=size=160x120:rate=10",
        audio="sine=frequency=220",
        after=("-movflags", "+faststart"),
    )
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360", "-frames:v", "1", str(d / "poster.jpg"))
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=330", "-t", "3", "-c:a", "aac", "-ac", "1", str(d / "talk.m4a"))
    (d / "broken.mp4").write_bytes(b"this is not a video file at all\n" * 64)
    return {
        "video": d / "out.mp4",
        "long": d / "long.mp4",
        "poster": d / "poster.jpg",
        "audio": d / "talk.m4a",
        "broken": d / "broken.mp4",
    }


def _file(files: dict[str, bytes], src: Path, mime: str) -> FileRef:
    data = src.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    ref = FileRef(media_path(sha, src.suffix.lstrip(".")), sha, len(data), mime)
    files[ref.path] = data
    return ref


def entry(lesson: Lesson, clips: dict[str, Path], files: dict[str, bytes]) -> CourseEntry:
    """The playlist entry of ``lesson`` as the headend publishes it; its files go into ``files``."""
    audio = lesson.clip == "audio"
    rendition = _file(files, clips[lesson.clip], "audio/mp4" if audio else "video/mp4")
    poster = _file(files, clips["poster"], "image/jpeg") if lesson.poster else None
    course = Course(
        id=lesson.id,
        title=lesson.title,
        category=lesson.category,
        duration_s=lesson.duration_s,
        source_sha256=hashlib.sha256(lesson.id.encode()).hexdigest(),
        description=lesson.description,
    )
    return CourseEntry(course=course, poster=poster, renditions={PLAYER: rendition})


def repository(clips: dict[str, Path], lessons=CATALOGUE) -> RepositorySimulator:
    """A signed repository (version 1) whose playlist ``all`` holds ``lessons``."""
    sim = RepositorySimulator()
    sim.courses = [entry(lesson, clips, sim.files) for lesson in lessons]
    sim.publish()
    return sim


class Mirror:
    """The session's mirror: serves ``self.sim`` (each test sets its own) under ``/repo/``, and
    beside it, as a headend does, the live class ``self.stream`` (a test's own) under ``/live/``."""

    def __init__(self) -> None:
        self.sim: RepositorySimulator | None = None
        self.stream: LiveStream | None = None
        app = web.Application()
        app.router.add_get("/repo/{path:.+}", self._handle)
        app.router.add_get("/live/{id}/{path:.+}", self._live)
        self.server = LiveServer(app)
        self.url = self.server.url("/repo/")

    async def _handle(self, request: web.Request) -> web.Response:
        data = self.sim.files.get(request.match_info["path"]) if self.sim else None
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data)

    async def _live(self, request: web.Request) -> web.Response:
        found = self.stream.answer(request.match_info["id"], request.match_info["path"]) if self.stream else None
        if found is None:
            raise web.HTTPNotFound()
        body, ctype, cache = found
        return web.Response(body=body, content_type=ctype, headers={"Cache-Control": cache})

    def close(self) -> None:
        self.server.close()


class LiveStream:
    """A live class as the headend serves it, from clips cut beforehand (``ffmpeg -f hls``): the
    playlist of ``player`` gains a segment every ``segment_s`` of wall time from ``start``, a
    window of the last five; ``stop()`` is the studio's signal dropping (the playlist stops
    growing), ``resume()`` its return (after a discontinuity); after the last segment, ENDLIST."""

    def __init__(self, folder: Path, live_id: str, player: str, segment_s: float = 2.0) -> None:
        self.live_id, self.player, self.segment_s = live_id, player, segment_s
        self.segments = sorted(folder.glob("seg-*.ts"))
        self.start = time.monotonic()
        self.stopped_at: float | None = None
        self.lost_s = 0.0  # time the signal was away: segments pause, not skip
        self.breaks: list[int] = []  # segment numbers after which a discontinuity comes
        self.requests: list[str] = []

    def stop(self) -> None:
        self.stopped_at = time.monotonic()
        self.breaks.append(self.released())

    def resume(self) -> None:
        if self.stopped_at is not None:
            self.lost_s += time.monotonic() - self.stopped_at
            self.stopped_at = None

    def released(self) -> int:
        now = self.stopped_at if self.stopped_at is not None else time.monotonic()
        return min(len(self.segments), 1 + int((now - self.start - self.lost_s) / self.segment_s))

    def playlist(self) -> bytes:
        n = self.released()
        first = max(0, n - 5)
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{int(self.segment_s)}"]
        lines.append(f"#EXT-X-MEDIA-SEQUENCE:{first}")
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{sum(1 for b in self.breaks if b <= first)}")
        for i in range(first, n):
            if i in self.breaks:
                lines.append("#EXT-X-DISCONTINUITY")
            lines += [f"#EXTINF:{self.segment_s:.3f},", f"seg-{i:05d}.ts"]
        if n == len(self.segments):
            lines.append("#EXT-X-ENDLIST")
        return ("\n".join(lines) + "\n").encode()

    def answer(self, live_id: str, path: str) -> tuple[bytes, str, str] | None:
        self.requests.append(path)
        if live_id != self.live_id:
            return None
        if path == f"{self.player}/index.m3u8":
            return self.playlist(), "application/vnd.apple.mpegurl", "public, max-age=1"
        m = re.fullmatch(rf"{re.escape(self.player)}/seg-(\d{{5}})\.ts", path)
        if m and int(m.group(1)) < self.released():
            return self.segments[int(m.group(1))].read_bytes(), "video/mp2t", "public, max-age=31536000, immutable"
        return None


def live_segments(d: Path, seconds: int = 40, segment_s: int = 2) -> Path:
    """A lecture cut into HLS segments (small picture, a tone), as the headend's encoder makes them."""
    d.mkdir(parents=True, exist_ok=True)
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", str(25 * segment_s), "-keyint_min", str(25 * segment_s),
        "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k",
        "-f", "hls", "-hls_time", str(segment_s), "-hls_list_size", "0",
        "-hls_segment_filename", str(d / "seg-%05d.ts"), str(d / "vod.m3u8"),
    )  # fmt: skip
    return d


STATION_TOML = """[station]
id = "{id}"
name = "{name}"
region = ["广东省", "测试镇", "示范村"]
player = "{player}"
data_dir = "station"

[sync]
mirrors = ["{mirror}"]
trusted_keys = ["{key}"]
interval_s = 300
timeout_s = 5
reserve_free_mb = 0

[report]
url = "http://127.0.0.1:9/api/v1/"
token = ""

[ui]
host = "127.0.0.1"
port = 8080
admin_pin = "{pin}"
"""


class PageClient:
    """An aiohttp test client whose POSTs come from this station's own pages, as a browser sends
    them: the page's ``Origin`` and the token the page carries (``station.web.forms`` refuses a
    POST without). Everything else is the test client's. The attack tests use the bare client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def origin(self) -> str:
        return str(self._client.make_url("/")).rstrip("/")

    def token(self, path: str) -> str:
        app = self._client.app
        cookies = self._client.session.cookie_jar.filter_cookies(self._client.make_url("/admin/"))
        session = cookies[ADMIN_COOKIE].value if ADMIN_COOKIE in cookies else None
        return app[TOKENS].for_path(path.split("?")[0], session if app[ADMIN].valid(session) else None)

    def post(self, path: str, **kw: Any) -> Any:
        headers = {"Origin": self.origin(), "X-YJ-Token": self.token(path), **(kw.pop("headers", None) or {})}
        return self._client.post(path, headers=headers, **kw)


def tv_post(live: Any, page: Any, path: str, **kw: Any) -> Any:
    """A POST from Playwright's request context as the TV page's script sends it (Origin, token)."""
    headers = {"Origin": live.base, "X-YJ-Token": live.app[TOKENS].for_path(path, None)}
    return page.request.post(live.url(path), headers=headers, **kw)


class TvStation:
    """A station in ``root`` (``station.toml``, data in ``station/``) that syncs from ``mirror``,
    where ``sim`` is served. ``data`` is a station data folder to start from (a copy is made)."""

    def __init__(self, root: Path, mirror: Mirror, sim: RepositorySimulator, data: Path | None = None) -> None:
        self.root, self.mirror, self.sim = root, mirror, sim
        mirror.sim, mirror.stream = sim, None
        root.mkdir(parents=True, exist_ok=True)
        key = root / "trusted.pub"
        key.write_text(sim.key.public_key.to_text(), encoding="utf-8")
        toml = root / "station.toml"
        toml.write_text(
            STATION_TOML.format(id=STATION_ID, name=STATION_NAME, player=PLAYER, mirror=mirror.url, key=key, pin=PIN),
            encoding="utf-8",
        )
        self.cfg: StationConfig = load_config(toml)
        if data is not None:
            shutil.copytree(data, self.cfg.data_dir)
        self.store = Store(self.cfg.data_dir)

    def copy(self, root: Path) -> TvStation:
        """Another station in ``root`` holding what this one holds, syncing from a copy of its repository."""
        sim = dataclasses.replace(
            self.sim,
            files=dict(self.sim.files),
            courses=list(self.sim.courses),
            notices=list(self.sim.notices),
            requests=[],
            endless=set(),
        )
        return TvStation(root, self.mirror, sim, self.cfg.data_dir)

    # ---- the repository side -------------------------------------------------------------------

    def publish(
        self,
        *,
        remove: tuple[str, ...] = (),
        add: tuple[CourseEntry, ...] = (),
        schedule: Schedule | None = None,
        notices: tuple[Notice, ...] | None = None,
        **kw: Any,
    ) -> None:
        """A new repository version: the courses less ``remove`` plus ``add``, with ``schedule``
        and ``notices`` (keyword arguments go to ``RepositorySimulator.publish``)."""
        self.sim.courses = [e for e in self.sim.courses if e.course.id not in remove] + list(add)
        if notices is not None:
            self.sim.notices = list(notices)
        self.sim.publish(schedule=schedule, **kw)

    def sync(self) -> str:
        """One sync pass, as ``station sync --once`` runs it; returns the state it recorded
        (``ok``, ``partial`` or ``failed``)."""
        self.mirror.sim = self.sim

        async def run() -> str:
            async with aiohttp.ClientSession() as session:
                return (await sync_pass(self.cfg, self.store, session)).state

        return self.mirror.server.run(run())

    def running(self, **progress: Any) -> None:
        """What a pass in progress leaves for the pages: the previous status marked running, then
        its download progress (bytes done and total, rate, ETA, current course), as the daemon
        records them."""
        self.store.record_sync(self.store.sync_status().started())
        self.store.record_progress(Progress(**progress))

    def progress(self, **progress: Any) -> None:
        """Download progress of the running pass, as the engine reports it every few seconds."""
        self.store.record_progress(Progress(**progress))

    # ---- the station side ----------------------------------------------------------------------

    def app(self, **kw: Any) -> web.Application:
        return create_app(self.cfg, self.store, **{"admin_failure_delay_s": 0.01, **kw})

    def app_with(self, **settings: Any) -> web.Application:
        """The app with some settings of station.toml changed (``StationConfig`` fields)."""
        return create_app(dataclasses.replace(self.cfg, **settings), self.store, admin_failure_delay_s=0.01)

    def journal(self, kind: str) -> list[dict]:
        """Events of one kind from the station's journal files, oldest first."""
        events = []
        for path in sorted((self.cfg.data_dir / "journal").glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("kind") == kind:
                    events.append(event)
        return events


def undownloadable(course_id: str, title: str, category: str = "safety") -> CourseEntry:
    """A course the index lists whose file no mirror has (a 404): it stays "not downloaded"."""
    data = f"never served: {course_id}".encode()
    sha = hashlib.sha256(data).hexdigest()
    course = Course(
        id=course_id,
        title=title,
        category=category,
        duration_s=60.0,
        source_sha256=hashlib.sha256(course_id.encode()).hexdigest(),
    )
    return CourseEntry(
        course=course, poster=None, renditions={PLAYER: FileRef(media_path(sha, "mp4"), sha, len(data), "video/mp4")}
    )


def today_in(minutes: float) -> datetime:
    """A time of today (China) ``minutes`` from now — or as many minutes ago when that would be
    tomorrow: a test of "today's programmes" must not fail in the last hour before midnight."""
    now = datetime.now(CHINA).replace(microsecond=0)
    later = now + timedelta(minutes=minutes)
    return later if later.date() == now.date() else now - timedelta(minutes=minutes)


def schedule(*slots: tuple[str, Any]) -> Schedule:
    """A programme schedule of (course id, aware start time) slots."""
    return Schedule.from_dict({"slots": [{"course": c, "start": t.isoformat()} for c, t in slots]})
