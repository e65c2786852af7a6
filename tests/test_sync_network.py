"""The station on a bad network: a link that drops every connection, mirrors that stall, a mirror
whose Content-Range does not match what was asked. Each time the sync goes on, the store holds
only verified files, and `station status --json` says which mirror failed and why.

(Servers without Range are in test_flow; a body longer than declared and HTML answering 200 are
in test_trust_attacks and test_sync_engine.)"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os

import aiohttp
import pytest
from aiohttp import web

from station.errors import DownloadError
from station.sync.fetcher import Fetcher
from tests.conftest import run_cli_async, serve
from tests.flaky_proxy import FlakyProxy
from tests.repository_simulator import RepositorySimulator, Station
from tests.static_repo import StaticRepo, write_tree


@pytest.fixture
def sim() -> RepositorySimulator:
    s = RepositorySimulator()
    for title in ("雨季养鹅技术", "冬季防火安全常识", "党员冬训"):
        s.add_course(title, os.urandom(1_200_000))
    s.publish()
    return s


def assert_store_verified(st: Station) -> None:
    """Every media file's sha256 is its name; every listed course's file is there."""
    media = st.store.data_dir / "media"
    for p in media.rglob("*") if media.is_dir() else []:
        if p.is_file():
            assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name.split(".")[0], p
    for c in st.store.courses():
        assert st.store.blob_path(c.media).is_file()


async def mirror_status(st: Station) -> list[dict]:
    code, out, err = await run_cli_async("station", "--config", str(st.cfg.path), "status", "--json")
    assert code == 0, err
    return json.loads(out)["mirrors"]


@pytest.mark.parametrize("cap", [0, 2_000_000], ids=["no-cap", "cap-2MB/s"])
async def test_a_link_that_drops_every_connection_still_completes_in_one_pass(sim, tmp_path, cap):
    """Every connection is cut after 256 kB: the pass resumes each file with Range where it
    stopped, on the same mirror, instead of failing it until the next pass or starting over —
    also under a bandwidth cap, where the station reads slowly and a cut must not throw away
    what was already received."""
    repo = StaticRepo(write_tree(sim.files, tmp_path / "served"))
    async with repo.served() as mirror:
        proxy = FlakyProxy(mirror.removesuffix("/repo/"), cut_after=256 * 1024)
        async with proxy.running() as via:
            st = Station(tmp_path, sim, f"{via}/repo/", max_rate_bytes_per_s=cap)
            report = await st.sync()
    assert report.complete, report.failures
    assert st.titles() == {"雨季养鹅技术", "冬季防火安全常识", "党员冬训"}
    assert_store_verified(st)
    stored = sum(len(d) for d in sim.files.values())
    assert proxy.cuts >= 10 and len(repo.ranged()) >= 10
    # ...each guarded by what this server said about the file (If-Range with its ETag).
    assert all(if_range and if_range.startswith('"') for _, rng, if_range in repo.requests if rng)
    # Resumed, not restarted: the bytes on the wire are close to the bytes kept.
    assert proxy.bytes_to_client / stored < 1.3, (proxy.bytes_to_client, stored)
    # The administrator sees the link is flaky, in words.
    (health,) = await mirror_status(st)
    assert "connection dropped" in health["last_error"] and health["last_success"] >= health["last_error_at"]


@pytest.fixture
async def silent_mirror():
    """Accepts the connection, reads the request, never answers."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader, writer):
        held.append(writer)
        await reader.read(65536)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/repo/"
    server.close()
    for w in held:
        w.close()


async def test_stalled_mirrors_time_out_and_the_next_one_serves(sim, tmp_path, silent_mirror):
    """First mirror never answers; second serves the index, then stalls in the middle of every
    media file; the third is good. The sync completes within the timeouts, tries the stalling
    mirror for one file only, and both stalls show in `station status --json`."""
    release = asyncio.Event()
    media_asked: list[str] = []

    async def stalling(request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"]
        if rel not in sim.files:
            raise web.HTTPNotFound()
        if not rel.startswith("media/"):
            return web.Response(body=sim.files[rel])
        media_asked.append(rel)
        resp = web.StreamResponse()
        resp.content_length = len(sim.files[rel])
        await resp.prepare(request)
        await resp.write(sim.files[rel][:10_000])
        await release.wait()  # the headers and a little data, then nothing
        return resp

    app = web.Application()
    app.router.add_get("/repo/{path:.+}", stalling)
    good = StaticRepo(write_tree(sim.files, tmp_path / "served"))
    try:
        async with serve(app) as stall_base, good.served() as good_mirror:
            stall = f"{stall_base}/repo/"
            (tmp_path / "st").mkdir()
            st = Station(tmp_path / "st", sim, [silent_mirror, stall, good_mirror], sync_timeout_s=1.0)
            report = await st.sync()
            release.set()
    finally:
        release.set()
    assert report.complete, report.failures
    assert report.mirror == stall  # the index came from the first mirror that answered
    assert st.titles() == {"雨季养鹅技术", "冬季防火安全常识", "党员冬训"}
    assert_store_verified(st)
    assert len(media_asked) == 1, media_asked  # a stalled mirror goes to the back for this pass
    # The good mirror carried on from what the stalled one had sent, with Range.
    assert media_asked[0] in good.ranged()
    silent, stalled, ok = await mirror_status(st)
    assert "timed out" in silent["last_error"] and not silent.get("last_success")
    assert "timed out" in stalled["last_error"] and media_asked[0] in stalled["last_error"]
    assert ok["last_success"] and not ok.get("last_error")


@pytest.mark.parametrize("lie", ["start", "total"])
async def test_a_content_range_that_does_not_match_is_refused(sim, tmp_path, lie):
    """A mirror answers a resumed request with bytes from elsewhere in the file (or of another
    file): refused before a byte is written, the partial file stays as it was, another mirror
    finishes the file, and the rest of the sync goes on from the lying mirror."""
    goose = sim.courses[0].renditions["stb-sd"]
    body = sim.files[goose.path]

    async def liar(request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"]
        if rel not in sim.files:
            raise web.HTTPNotFound()
        data = sim.files[rel]
        rng = request.headers.get("Range")
        if not rng:
            return web.Response(body=data)
        start = int(rng.removeprefix("bytes=").split("-")[0])
        if lie == "start":  # the beginning of the file again, labelled as such
            chunk, header = data[: len(data) - start], f"bytes 0-{len(data) - start - 1}/{len(data)}"
        else:  # the right offset, but of a file of another size
            chunk, header = data[start:], f"bytes {start}-{len(data) - 1}/{len(data) + 1000}"
        return web.Response(status=206, body=chunk, headers={"Content-Range": header})

    app = web.Application()
    app.router.add_get("/repo/{path:.+}", liar)
    good = StaticRepo(write_tree(sim.files, tmp_path / "served"))
    async with serve(app) as liar_base, good.served() as good_mirror:
        (tmp_path / "st").mkdir()
        st = Station(tmp_path / "st", sim, [f"{liar_base}/repo/", good_mirror])
        half = len(body) // 2
        st.store.partial_path(goose).write_bytes(body[:half])  # an earlier pass stopped halfway
        # First only the liar: the course fails with the reason, the partial is untouched.
        both = st.cfg
        st.cfg = dataclasses.replace(both, mirrors=both.mirrors[:1])
        report = await st.sync()
        st.cfg = both
        assert not report.complete
        assert any("Content-Range" in f and "does not match" in f for f in report.failures), report.failures
        assert st.store.course(sim.courses[0].course.id) is None
        assert st.store.partial_path(goose).read_bytes() == body[:half]
        assert {c.title for c in st.store.courses()} == {"冬季防火安全常识", "党员冬训"}
        # With a good mirror as well, the file is finished from where it stopped.
        report = await st.sync()
    assert report.complete, report.failures
    assert st.store.blob_path(goose.path).read_bytes() == body
    assert good.ranged() == [goose.path] and len(good.requests) == 1
    assert_store_verified(st)
    lying, ok = await mirror_status(st)
    assert "Content-Range" in lying["last_error"] and goose.path in lying["last_error"]
    assert ok["last_success"]


async def test_a_pass_stopped_midway_does_not_strand_the_station(sim, tmp_path):
    """`station serve` stopped (or restarted) during a download of a new version: the next pass
    must fetch that version again, not answer its own conditional request with the older copy
    it still holds and then refuse that copy as a rollback."""
    served = tmp_path / "served"
    repo = StaticRepo(write_tree(sim.files, served))
    async with repo.served() as mirror:
        (tmp_path / "st").mkdir()
        st = Station(tmp_path / "st", sim, mirror)
        assert (await st.sync()).complete
        sim.add_course("新课", os.urandom(1_000_000))
        sim.publish()
        write_tree(sim.files, served)
        slow = st.cfg
        st.cfg = dataclasses.replace(slow, max_rate_bytes_per_s=200_000)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(st.sync(), 1.0)  # the daemon cancels its sync task
        st.cfg = slow
        report = await st.sync()
    assert report.complete, report.failures
    assert st.version() == 2 and "新课" in st.titles()


async def test_a_half_file_from_one_mirror_is_finished_by_another_without_starting_over(sim, tmp_path):
    """The validators a mirror gave (its ETag) mean nothing to another server: sent as If-Range
    to a second mirror holding the same immutable file, a server that honours If-Range strictly
    (nginx, Apache, CDNs) answers with the whole file again. The second mirror is asked for the
    rest only (the sha256 still decides)."""
    goose = sim.courses[0].renditions["stb-sd"]
    body = sim.files[goose.path]
    asked: list[dict] = []

    async def strict(request: web.Request) -> web.Response:
        """Range and If-Range as RFC 9110 has them, with this server's own ETag."""
        data = sim.files[request.match_info["path"]]
        etag = f'"b-{len(data)}"'
        asked.append(dict(request.headers))
        rng, if_range = request.headers.get("Range"), request.headers.get("If-Range")
        if rng and (if_range is None or if_range == etag):
            start = int(rng.removeprefix("bytes=").split("-")[0])
            return web.Response(
                status=206,
                body=data[start:],
                headers={"ETag": etag, "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"},
            )
        return web.Response(body=data, headers={"ETag": etag})

    app = web.Application()
    app.router.add_get("/repo/{path:.+}", strict)
    a = StaticRepo(write_tree(sim.files, tmp_path / "a"))
    async with a.served() as mirror_a, serve(app) as base_b:
        proxy = FlakyProxy(mirror_a.removesuffix("/repo/"), cut_after=len(body) // 2)
        async with proxy.running() as via, aiohttp.ClientSession() as session:
            (tmp_path / "st").mkdir()
            st = Station(tmp_path / "st", sim, [f"{via}/repo/", f"{base_b}/repo/"])
            fetcher = Fetcher(session, 5)
            partial = st.store.partial_path(goose)
            with pytest.raises(DownloadError):  # mirror A's link drops halfway
                await fetcher.download(f"{via}/repo/{goose.path}", partial, goose)
            have = partial.stat().st_size
            assert 0 < have < len(body)
            before = fetcher.bytes_received
            digest = await fetcher.download(f"{base_b}/repo/{goose.path}", partial, goose)
    assert digest == goose.sha256 and partial.read_bytes() == body
    assert fetcher.bytes_received - before == len(body) - have  # the rest, not the whole file again
    assert len(asked) == 1 and asked[0]["Range"] == f"bytes={have}-"
