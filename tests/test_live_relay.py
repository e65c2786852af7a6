"""Live classes from the county to the village TVs (issue 16, the transport): a stand-in headend
serves a rolling live HLS with the headend's cache headers; the real nginx with the shipped
deploy/nginx/yuanjiao-county-cache.conf sits in front of it; two stations (the real station app)
relay it to two TVs each. Every TV gets the headend's bytes, and each segment crosses each tier
once: the headend sends it once for the county, the cache once to each station, however many TVs
watch. Then the failures a village sees: a dead first mirror, every mirror dead, a class that is
not live, paths that are not live files, a mirror sending a segment without end."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from playlists import SecretKey
from station.config import load_config
from station.live import SEGMENT_CACHE, LiveRelay, RelayLimits, live_bases, parse_path
from station.store import Store
from station.web.app import create_app
from station.web.live import LIVE
from tests.conftest import serve, write_station_toml
from tests.test_sync_cache import cache_log, free_port, nginx_binary, nginx_cache

pytestmark = pytest.mark.one_engine  # no headend database here (tests/conftest.py)

LIVE_ID = "lecture-1"
SEGMENT_S = 0.5  # the stand-in headend adds a segment this often
WINDOW = 6  # segments in its variant playlist
BIG = 200 * 1024 * 1024  # what the endless segment would send if nobody stopped reading


def segment_bytes(live_id: str, profile: str, n: int) -> bytes:
    """A few KB, different for every segment, starting with the MPEG-TS sync byte."""
    return b"\x47" + hashlib.sha256(f"{live_id}/{profile}/{n}".encode()).digest() * 128


class LiveHeadend:
    """``/live/lecture-1/…`` as the headend's encoder serves it: a master playlist, one variant
    ``hd`` that gains a segment every ``SEGMENT_S``, numbered segments; ``/live/big/…`` segments
    never end (``big-declared`` says 200 MB in Content-Length first). Counts requests per path."""

    def __init__(self, started_ago_s: float = 0.0) -> None:
        self.t0 = time.monotonic() - started_ago_s
        self.requests: Counter[str] = Counter()
        self.big_sent = 0
        self.app = web.Application(middlewares=[self._count])
        self.app.router.add_get("/live/{id}/master.m3u8", self.master)
        self.app.router.add_get("/live/{id}/{profile}/index.m3u8", self.variant)
        self.app.router.add_get("/live/{id}/{profile}/seg-{n:[0-9]+}.ts", self.segment)

    @web.middleware
    async def _count(self, request: web.Request, handler) -> web.StreamResponse:
        self.requests[request.path] += 1
        return await handler(request)

    def newest(self) -> int:
        return int((time.monotonic() - self.t0) / SEGMENT_S)

    @staticmethod
    def _live(request: web.Request) -> None:
        if request.match_info["id"] != LIVE_ID or request.match_info.get("profile", "hd") != "hd":
            raise web.HTTPNotFound()

    async def master(self, request: web.Request) -> web.Response:
        self._live(request)
        text = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=1280x720\nhd/index.m3u8\n"
        return playlist(text)

    async def variant(self, request: web.Request) -> web.Response:
        self._live(request)
        newest = self.newest()
        first = max(1, newest - WINDOW + 1)
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        for n in range(first, newest + 1):
            lines += [f"#EXTINF:{SEGMENT_S:.3f},", f"seg-{n:05d}.ts"]
        return playlist("\n".join(lines) + "\n")

    async def segment(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["id"] in ("big", "big-declared"):
            return await self.endless(request)
        self._live(request)
        n = int(request.match_info["n"])
        if not 1 <= n <= self.newest():
            raise web.HTTPNotFound()
        return web.Response(
            body=segment_bytes(LIVE_ID, "hd", n), content_type="video/mp2t", headers={"Cache-Control": SEGMENT_CACHE}
        )

    async def endless(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Cache-Control": SEGMENT_CACHE, "Content-Type": "video/mp2t"})
        if request.match_info["id"] == "big-declared":
            resp.content_length = BIG
        await resp.prepare(request)
        chunk = b"\x47" * (256 * 1024)
        try:
            while self.big_sent < BIG:
                await resp.write(chunk)
                self.big_sent += len(chunk)
        except (OSError, aiohttp.ClientError):  # the relay stopped reading and hung up
            pass
        return resp


def playlist(text: str) -> web.Response:
    return web.Response(
        text=text, content_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "public, max-age=1"}
    )


def station_app(d: Path, mirrors: list[str]) -> web.Application:
    """The station's own web app (station.web.app.create_app) with ``mirrors`` in its station.toml."""
    d.mkdir(parents=True)
    key = d / "headend.pub"
    key.write_text(SecretKey.generate().public_key.to_text(), encoding="utf-8")
    cfg = load_config(write_station_toml(d / "station.toml", mirrors, key))
    return create_app(cfg, Store(cfg.data_dir))


@asynccontextmanager
async def station(d: Path, mirrors: list[str]) -> AsyncIterator[tuple[str, LiveRelay]]:
    app = station_app(d, mirrors)
    async with serve(app) as base:
        yield base, app[LIVE]


def dead_mirror() -> str:
    return f"http://127.0.0.1:{free_port()}/repo/"  # nothing listens there: refused at once


async def raw_get(base: str, target: str) -> tuple[int, bytes]:
    """GET ``target`` exactly as written (a client library would tidy ``..`` away first)."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    return int(data.split(b" ", 2)[1]), data


async def watch(base: str, seconds: float, start_after_s: float = 0.0) -> dict[str, bytes]:
    """A TV: the master playlist, then the variant every half second and each new segment in it."""
    await asyncio.sleep(start_after_s)
    got: dict[str, bytes] = {}
    async with aiohttp.ClientSession() as http:  # its own connections, like another TV
        async with http.get(f"{base}/live/{LIVE_ID}/master.m3u8") as r:
            assert r.status == 200 and r.content_type == "application/vnd.apple.mpegurl", r.status
            (variant,) = [line for line in (await r.text()).splitlines() if line and not line.startswith("#")]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            async with http.get(f"{base}/live/{LIVE_ID}/{variant}") as r:
                assert r.status == 200 and r.headers["Cache-Control"] == "public, max-age=1", r.status
                names = [line for line in (await r.text()).splitlines() if line and not line.startswith("#")]
            for name in names:
                if name not in got:
                    async with http.get(f"{base}/live/{LIVE_ID}/hd/{name}") as r:
                        assert r.status == 200 and r.content_type == "video/mp2t", (name, r.status)
                        assert r.headers["Cache-Control"] == SEGMENT_CACHE
                        got[name] = await r.read()
            await asyncio.sleep(0.5)
    return got


# ---- the county: headend → nginx cache → two stations → four TVs --------------------------------


@pytest.mark.slow  # the real nginx
async def test_each_segment_crosses_each_tier_once_for_four_tvs(tmp_path):
    nginx_binary()
    headend = LiveHeadend(started_ago_s=1)  # two segments out when the first TV tunes in
    async with AsyncExitStack() as stack:
        origin = await stack.enter_async_context(serve(headend.app))
        # The shipped site names the headend by its /repo/ URL; /live/ goes to the same server.
        county = await stack.enter_async_context(nginx_cache(tmp_path / "nginx", f"{origin}/repo/"))
        a, relay_a = await stack.enter_async_context(station(tmp_path / "a", [f"{county}/repo/"]))
        b, relay_b = await stack.enter_async_context(station(tmp_path / "b", [f"{county}/repo/"]))
        started = time.monotonic()
        # Two TVs per village; the second of each tunes in a second and a half later.
        tvs = await asyncio.gather(watch(a, 6), watch(a, 4.5, 1.5), watch(b, 6), watch(b, 4.5, 1.5))
        seconds = time.monotonic() - started
    log = cache_log(tmp_path / "nginx")

    for got in tvs:
        assert len(got) >= 4, sorted(got)
        for name, body in got.items():
            assert body == segment_bytes(LIVE_ID, "hd", int(name[4:9])), name
    segments = {f"/live/{LIVE_ID}/hd/{name}" for got in tvs for name in got}
    # The headend tier: each segment once for the whole county, and nothing else was asked for.
    upstream_segments = {p: n for p, n in headend.requests.items() if "/seg-" in p}
    assert upstream_segments == dict.fromkeys(segments, 1), upstream_segments
    # The cache tier: each station fetched each of its segments once, however many TVs asked.
    for relay, got in ((relay_a, tvs[0] | tvs[1]), (relay_b, tvs[2] | tvs[3])):
        fetched = {k: n for k, n in relay.fetches.items() if "/seg-" in k}
        assert fetched == {f"{LIVE_ID}/hd/{name}": 1 for name in got}, fetched
    through_cache = Counter(uri for uri, _, _ in log if "/seg-" in uri)
    assert through_cache == Counter({s: 2 for s in segments}), through_cache  # one per station
    assert all(status == "200" for uri, status, _ in log if "/seg-" in uri), log
    misses = Counter(uri for uri, _, cache in log if "/seg-" in uri and cache == "MISS")
    assert misses == Counter(segments), misses
    # Playlists: the headend about once a second (one more for a second boundary), each station too.
    variant = f"/live/{LIVE_ID}/hd/index.m3u8"
    assert headend.requests[variant] <= seconds + 1, (headend.requests[variant], seconds)
    for relay in (relay_a, relay_b):
        assert relay.fetches[f"{LIVE_ID}/hd/index.m3u8"] <= seconds + 1, (relay.fetches, seconds)
    tv_playlist_requests = sum(1 for uri, _, _ in log if uri == variant)
    print(
        f"\n{seconds:.1f} s, {len(segments)} segments, 4 TVs (got {[len(got) for got in tvs]}): "
        "headend saw each segment once, "
        f"the variant playlist {headend.requests[variant]}×, the master {headend.requests[f'/live/{LIVE_ID}/master.m3u8']}×; "
        f"nginx answered the variant {tv_playlist_requests}× (station A fetched it "
        f"{relay_a.fetches[f'{LIVE_ID}/hd/index.m3u8']}×, B {relay_b.fetches[f'{LIVE_ID}/hd/index.m3u8']}×); "
        f"relay A {relay_a.stats()}, relay B {relay_b.stats()}"
    )


# ---- one station, its mirrors failing ------------------------------------------------------------


async def test_twenty_tvs_asking_at_once_cost_one_fetch(tmp_path):
    headend = LiveHeadend(started_ago_s=5)
    async with (
        serve(headend.app) as origin,
        station(tmp_path / "s", [f"{origin}/repo/"]) as (base, relay),
        aiohttp.ClientSession() as http,
    ):

        async def tv() -> bytes:
            async with http.get(f"{base}/live/{LIVE_ID}/hd/seg-00003.ts") as r:
                assert r.status == 200
                return await r.read()

        bodies = await asyncio.gather(*(tv() for _ in range(20)))
    assert set(bodies) == {segment_bytes(LIVE_ID, "hd", 3)}
    assert headend.requests[f"/live/{LIVE_ID}/hd/seg-00003.ts"] == 1
    assert relay.served == 20 and relay.fetches[f"{LIVE_ID}/hd/seg-00003.ts"] == 1


async def test_a_dead_first_mirror_costs_one_try_not_one_per_segment(tmp_path):
    headend = LiveHeadend(started_ago_s=5)
    dead = dead_mirror()
    async with (
        serve(headend.app) as origin,
        station(tmp_path / "s", [dead, f"{origin}/repo/"]) as (base, relay),
        aiohttp.ClientSession() as http,
    ):
        for path in ("master.m3u8", "hd/index.m3u8", "hd/seg-00001.ts", "hd/seg-00002.ts", "hd/seg-00003.ts"):
            async with http.get(f"{base}/live/{LIVE_ID}/{path}") as r:
                assert r.status == 200, (path, await r.text())
                if path.startswith("hd/seg-"):
                    assert await r.read() == segment_bytes(LIVE_ID, "hd", int(path[7:12]))
    assert relay.attempts == Counter({live_bases([dead])[0]: 1, f"{origin}/live/": 5}), relay.attempts


async def test_a_silent_mirror_costs_one_timeout_then_is_tried_last(tmp_path):
    """A mirror that takes the connection and never answers (a hung cache): one request waits
    for the timeout, the next ones go straight to the mirror that works."""
    headend = LiveHeadend(started_ago_s=5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes the handshake; nobody ever reads
        mirrors = [f"http://127.0.0.1:{silent.getsockname()[1]}/repo/"]
        async with serve(headend.app) as origin:
            relay = LiveRelay([*mirrors, f"{origin}/repo/"], RelayLimits(playlist_timeout_s=0.5, segment_timeout_s=0.5))
            try:
                t = time.monotonic()
                await relay.get(parse_path(LIVE_ID, "hd/seg-00001.ts"))
                first = time.monotonic() - t
                t = time.monotonic()
                for n in range(2, 6):
                    answer = await relay.get(parse_path(LIVE_ID, f"hd/seg-{n:05d}.ts"))
                    assert answer.body == segment_bytes(LIVE_ID, "hd", n)
                rest = time.monotonic() - t
            finally:
                await relay.close()
    assert first >= 0.5 and rest < 0.5, (first, rest)
    assert relay.attempts[live_bases(mirrors)[0]] == 1 and relay.stats()["mirrors_down"] == list(live_bases(mirrors))


async def test_every_mirror_dead_is_a_502_a_tv_can_show(tmp_path):
    async with (
        station(tmp_path / "s", [dead_mirror(), dead_mirror()]) as (base, relay),
        aiohttp.ClientSession() as http,
        http.get(f"{base}/live/{LIVE_ID}/hd/index.m3u8") as r,
    ):
        text = await r.text()
    assert r.status == 502 and r.headers["Cache-Control"] == "no-store"
    assert "直播暂时中断，正在重试" in text and "live stream unavailable; retrying" in text, text
    assert sum(relay.attempts.values()) == 2


async def test_a_class_not_live_yet_is_a_404_asked_once_a_second(tmp_path):
    headend = LiveHeadend()
    async with (
        serve(headend.app) as origin,
        station(tmp_path / "s", [f"{origin}/repo/"]) as (base, _),
        aiohttp.ClientSession() as http,
    ):
        for _ in range(5):  # five TVs tuning in to a class that has not started
            async with http.get(f"{base}/live/evening-class/master.m3u8") as r:
                assert r.status == 404 and "直播还没有开始" in await r.text()
    assert headend.requests["/live/evening-class/master.m3u8"] == 1


async def test_usb_and_non_repo_mirrors_carry_no_live_classes(tmp_path):
    assert live_bases(
        [
            "http://cache.county.example/repo/",
            "file:///media/usb/repo/",
            "http://192.168.1.20:8080/repo/",
            "https://headend.example.gov.cn/yuanjiao/repo/",
            "http://mirror.example/tree/",
            "http://cache.county.example/repo/",
            "http://[::1/repo/",  # unreadable URLs (the sync pass names them): skipped, never a crash
            "http://127.0.0.1:notaport/repo/",
        ]
    ) == (
        "http://cache.county.example/live/",
        "http://192.168.1.20:8080/live/",
        "https://headend.example.gov.cn/yuanjiao/live/",
    )
    async with (
        station(tmp_path / "s", ["file:///media/usb/repo/"]) as (base, relay),
        aiohttp.ClientSession() as http,
        http.get(f"{base}/live/{LIVE_ID}/master.m3u8") as r,
    ):
        assert r.status == 404 and "only http(s) mirrors" in await r.text()
    assert not relay.attempts


NOT_LIVE_FILES = [
    f"/live/{LIVE_ID}/../../repo/index.json",
    f"/live/{LIVE_ID}/%2e%2e/%2e%2e/repo/index.json",
    f"/live/{LIVE_ID}/hd/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    f"/live/%2e%2e/{LIVE_ID}/master.m3u8",
    f"/live/{LIVE_ID}/hd/seg-00001.ts.exe",
    f"/live/{LIVE_ID}/hd/seg-00001.mp4",
    f"/live/{LIVE_ID}/hd/seg-.ts",
    f"/live/{LIVE_ID}/hd/seg-%D9%A1.ts",  # an Arabic-Indic digit one
    f"/live/{LIVE_ID}/hd/extra/index.m3u8",
    f"/live/{LIVE_ID}/index.m3u8",
    f"/live/{LIVE_ID}/master.m3u8%00",
    f"/live/{LIVE_ID}/master.m3u8%0a",
    f"/live/{LIVE_ID}/http://evil.example/hd/seg-00001.ts",
    f"/live/{LIVE_ID}/HD/index.m3u8",
    "/live/" + "a" * 65 + "/master.m3u8",
    "/live/Lecture-1/master.m3u8",
    "/live/-lecture/master.m3u8",
    "/live/lecture%2f1/master.m3u8",
]


async def test_paths_that_are_not_live_files_are_404_without_a_fetch(tmp_path):
    headend = LiveHeadend(started_ago_s=5)
    async with serve(headend.app) as origin, station(tmp_path / "s", [f"{origin}/repo/"]) as (base, relay):
        answers = {target: (await raw_get(base, target))[0] for target in NOT_LIVE_FILES}
        assert (await raw_get(base, f"/live/{LIVE_ID}/master.m3u8"))[0] == 200  # the relay does work
    assert answers == dict.fromkeys(NOT_LIVE_FILES, 404), answers
    assert headend.requests == Counter({f"/live/{LIVE_ID}/master.m3u8": 1}), headend.requests
    assert relay.fetches == Counter({f"{LIVE_ID}/master.m3u8": 1}), relay.fetches


@pytest.mark.parametrize("live_id", ["big", "big-declared"])
async def test_caps_an_oversized_segment(tmp_path, live_id):
    headend = LiveHeadend()
    async with serve(headend.app) as origin, station(tmp_path / "s", [f"{origin}/repo/"]) as (base, relay):
        async with aiohttp.ClientSession() as http, http.get(f"{base}/live/{live_id}/hd/seg-00001.ts") as r:
            text = await r.text()
        await asyncio.sleep(0.2)  # the stand-in notices the hang-up
    assert r.status == 502 and "32 MB" in text, text
    # Reading stopped at the cap (declared: before reading); the socket buffers hold a few MB more.
    limit = 40 if live_id == "big" else 8
    assert headend.big_sent < limit * 1024 * 1024, headend.big_sent
    assert relay.stats()["cached_bytes"] < 1024 * 1024
