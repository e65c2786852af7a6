"""The sync engine as an administrator sees it: polls that cost one request, USB copies and
neighbour stations as carriers, the download window and what is due first, the quota, a full
disk, an old course that keeps playing, and files collected once nothing needs them."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from playlists import CourseEntry, Schedule
from playlists.schedule import CHINA, Slot
from station.daemon import build_app
from station.errors import SyncError
from station.status import collect_status, describe
from station.sync.carriers import export
from station.sync.engine import Syncer
from station.sync.fetcher import Fetcher
from tests.conftest import dead_url, serve
from tests.repository_simulator import RepositorySimulator, Station

MB = 1_000_000


@pytest.fixture
def sim() -> RepositorySimulator:
    s = RepositorySimulator()
    s.add_course("雨季养鹅技术", b"goose video " * 2000)
    s.add_course("冬季防火安全常识", b"fire video " * 2000)
    s.add_course("党员冬训", b"party video " * 2000)
    return s


def closed_window_now() -> tuple[int, int]:
    """A one-hour window twelve hours from now (China time): closed at the moment."""
    start = (datetime.now(CHINA) + timedelta(hours=12)).hour * 60
    return start, (start + 60) % (24 * 60)


async def test_up_to_date_poll_is_one_small_request(sim, tmp_path):
    """Against a server with ETags (the headend), an unchanged repository costs one 304."""
    sim.publish()
    repo = tmp_path / "served"
    for rel, data in sim.files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(data)
    app = web.Application()

    async def static(request):
        return web.FileResponse(repo / request.match_info["path"])

    app.router.add_get("/repo/{path:.+}", static)
    async with serve(app) as base:
        st = Station(tmp_path, sim, f"{base}/repo/")
        assert (await st.sync()).complete
        report = await st.sync()
    assert report.up_to_date and st.fetcher.requests == 1 and st.fetcher.bytes_received == 0


async def test_usb_copy_round_trip_and_a_damaged_stick(sim, tmp_path):
    sim.publish()
    async with sim.served() as mirror:
        (tmp_path / "a").mkdir()
        a = Station(tmp_path / "a", sim, mirror)
        assert (await a.sync()).complete
    usb = tmp_path / "usb"
    files, _ = export(a.store, usb)
    assert files == 3 + 4  # three media files, the playlist and index with their signatures
    # A neighbour with no network imports the stick: same verification, same bytes.
    (tmp_path / "b").mkdir()
    b = Station(tmp_path / "b", sim, usb.as_uri() + "/")
    assert (await b.sync()).complete
    assert {c.media for c in b.store.courses()} == {c.media for c in a.store.courses()}
    for c in b.store.courses():
        assert b.store.blob_path(c.media).read_bytes() == a.store.blob_path(c.media).read_bytes()
    # A stick with one file altered and one missing: those courses are refused, the rest goes in.
    goose, fire = (e.renditions["stb-sd"] for e in sim.courses[:2])
    (usb / goose.path).write_bytes(b"X" * goose.size)
    (usb / fire.path).unlink()
    (tmp_path / "c").mkdir()
    c = Station(tmp_path / "c", sim, usb.as_uri() + "/")
    report = await c.sync()
    assert c.store.course(sim.courses[2].course.id) is not None
    assert c.store.course(sim.courses[0].course.id) is None and c.store.course(sim.courses[1].course.id) is None
    text = " ".join(report.failures)
    assert "sha256 differs" in text and "missing from the copy" in text
    # A pipe where a file should be (a planted stick) is refused at once instead of hanging the import.
    (usb / fire.path).parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(usb / fire.path)
    (tmp_path / "d").mkdir()
    d = Station(tmp_path / "d", sim, usb.as_uri() + "/")
    report = await asyncio.wait_for(d.sync(), timeout=60)
    assert "not a plain file" in " ".join(report.failures)
    assert d.store.course(sim.courses[2].course.id) is not None
    os.unlink(usb / "index.json")
    os.mkfifo(usb / "index.json")
    (tmp_path / "e").mkdir()
    with pytest.raises(SyncError, match="not a plain file"):
        await asyncio.wait_for(Station(tmp_path / "e", sim, usb.as_uri() + "/").sync(), timeout=60)


async def test_a_station_is_a_mirror_for_its_neighbours(sim, tmp_path):
    sim.publish()
    async with sim.served() as mirror:
        (tmp_path / "town").mkdir()
        town = Station(tmp_path / "town", sim, mirror)
        assert (await town.sync()).complete
    async with serve(build_app(town.cfg, town.store, sync=False)) as base:  # the headend is gone now
        (tmp_path / "village").mkdir()
        village = Station(tmp_path / "village", sim, f"{base}/repo/")
        assert (await village.sync()).complete
    assert [c.title for c in village.store.courses()] == [c.title for c in town.store.courses()]


async def test_window_defers_all_but_what_is_due_soon(sim, tmp_path):
    due = sim.courses[2].course
    start = datetime.now(UTC) + timedelta(hours=2)
    sim.publish(schedule=Schedule(slots=(Slot(due.id, start),)))
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror, window=closed_window_now())
        report = await st.sync()
    assert [c.title for c in st.store.courses()] == ["党员冬训"]
    assert report.deferred == 2 and not report.complete and report.next_window
    words = "\n".join(describe(collect_status(st.cfg, st.store)))
    assert "waiting for the download window" in words and "queued: 雨季养鹅技术" in words


async def test_schedule_decides_the_order(sim, tmp_path):
    due = sim.courses[2].course
    sim.publish(schedule=Schedule(slots=(Slot(due.id, datetime.now(UTC) + timedelta(hours=3)),)))
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        await st.sync()
    media_order = [p for p in sim.requests if p.startswith("media/")]
    assert media_order[0] == sim.courses[2].renditions["stb-sd"].path


async def test_quota_keeps_what_is_needed_soonest_and_says_how_much_more(sim, tmp_path):
    due = sim.courses[1].course
    size = sim.courses[0].renditions["stb-sd"].size
    sim.publish(schedule=Schedule(slots=(Slot(due.id, datetime.now(UTC) + timedelta(hours=5)),)))
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror, quota_bytes=int(size * 1.5))
        report = await st.sync()
    assert [c.title for c in st.store.courses()] == ["冬季防火安全常识"]
    assert report.space_needed >= size
    assert any("do not fit the quota" in f for f in report.failures)


async def test_a_full_disk_stops_cleanly(sim, tmp_path):
    sim.publish()
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        await st.sync()
        before = {c.id for c in st.store.courses()}
        sim.add_course("新课", b"new " * 5000)
        sim.publish()
        st.cfg = dataclasses.replace(st.cfg, reserve_free_bytes=10**18)  # as if the disk were full
        report = await st.sync()
    assert {c.id for c in st.store.courses()} == before  # nothing lost, nothing half-made
    assert any("must keep" in f and "free space" in f for f in report.failures)
    assert not any(st.store.partial_dir.iterdir())


async def test_old_course_keeps_playing_until_its_replacement_is_complete(sim, tmp_path):
    sim.publish()
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        await st.sync()
        old = st.store.course(sim.courses[0].course.id)
        # The headend re-encodes the course; the new file is not on the mirror yet.
        entry = sim.courses[0]
        new_bytes = b"goose v2 " * 2100
        import hashlib

        from playlists import FileRef, media_path

        sha = hashlib.sha256(new_bytes).hexdigest()
        sim.courses[0] = CourseEntry(
            entry.course, None, {"stb-sd": FileRef(media_path(sha, "mp4"), sha, len(new_bytes), "video/mp4")}
        )
        sim.publish()
        report = await st.sync()
        kept = st.store.course(old.id)
        assert kept is not None and kept.media == old.media and st.store.blob_path(old.media).exists()
        assert not report.complete
        # Once the file arrives, the new version replaces it.
        sim.files[media_path(sha, "mp4")] = new_bytes
        assert (await st.sync()).complete
    assert st.store.course(old.id).media == media_path(sha, "mp4")


async def test_unneeded_files_are_collected_after_the_grace_period(sim, tmp_path):
    sim.publish()
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror, keep_unreferenced_days=0)
        await st.sync()
        dropped = sim.courses.pop(0).renditions["stb-sd"]
        sim.publish()
        report = await st.sync()
    assert report.collected == 1 and not st.store.blob_path(dropped.path).exists()


async def test_grace_period_keeps_an_unneeded_file_for_now(sim, tmp_path):
    sim.publish()
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)  # default: 3 days
        await st.sync()
        dropped = sim.courses.pop(0).renditions["stb-sd"]
        sim.publish()
        await st.sync()
    assert st.store.blob_path(dropped.path).exists()
    assert st.store.course(dropped.path) is None


async def test_a_mirror_answering_html_is_skipped(sim, tmp_path):
    sim.publish()
    portal = web.Application()

    async def html(request):
        return web.Response(text="<html>请先登录</html>", content_type="text/html")

    portal.router.add_get("/{tail:.*}", html)
    async with serve(portal) as bad, sim.served() as good:
        st = Station(tmp_path, sim, [f"{bad}/repo/", good])
        report = await st.sync()
    assert report.complete and report.mirror == good
    (_, bad_health), (_, good_health) = collect_status(st.cfg, st.store).mirrors
    assert bad_health.last_error and good_health.last_success


async def test_a_corrupt_partial_file_is_discarded_and_fetched_again(sim, tmp_path):
    sim.publish()
    goose = sim.courses[0].renditions["stb-sd"]
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        st.store.partial_path(goose).write_bytes(b"garbage" * 100)  # a half download gone bad
        report = await st.sync()
    assert report.complete and st.store.blob_path(goose.path).read_bytes() == sim.files[goose.path]


async def test_no_mirror_at_all_says_what_happened(sim, tmp_path):
    st = Station(tmp_path, sim, dead_url())
    with pytest.raises(SyncError, match="cannot connect"):
        await st.sync()


async def test_status_shows_progress_while_a_capped_sync_runs(tmp_path):
    """With a bandwidth cap the administrator sees what is downloading, how far, how fast."""
    import asyncio

    import aiohttp

    from station.sync.runner import sync_pass

    sim = RepositorySimulator()
    sim.add_course("雨季养鹅技术", bytes(range(256)) * 2400)  # 614 kB
    sim.publish()
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror, max_rate_bytes_per_s=200_000)
        async with aiohttp.ClientSession() as session:
            task = asyncio.create_task(sync_pass(st.cfg, st.store, session))
            words = ""
            for _ in range(60):
                await asyncio.sleep(0.1)
                words = "\n".join(describe(collect_status(st.cfg, st.store)))
                if "downloading 雨季养鹅技术" in words:
                    break
            rec = await task
    assert "downloading 雨季养鹅技术" in words and "of 600.0 KB" in words
    assert re.search(r"of 600\.0 KB at \d+(\.\d)? [KM]?B/s", words), words
    assert rec.state == "ok" and st.store.sync_status().progress is None


async def test_a_playlist_no_mirror_can_give_keeps_its_courses(sim, tmp_path):
    sim.publish()
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        assert (await st.sync()).complete
        sim.add_course("新课", b"new " * 3000)
        sim.publish()
        del sim.files["playlists/all.2.json"]  # the mirror lost the new playlist
        report = await st.sync()
    assert not report.complete and any("playlist all" in f for f in report.failures)
    assert {"雨季养鹅技术", "冬季防火安全常识", "党员冬训"} == {c.title for c in st.store.courses()}


async def test_the_install_time_is_the_pass_clock(sim, tmp_path):
    """``next_installed`` is pure: the install time is the pass's clock (the box's, which may be
    wrong), passed in, not a clock of its own."""
    sim.publish()
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=7)
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        assert (await st.sync(clock=lambda: at)).complete
    assert st.store.installed_set().installed_at == at


async def test_a_pass_leaves_fsync_and_the_media_walk_to_threads(sim, tmp_path, monkeypatch):
    """The TV page and /admin share the loop with the sync pass: a downloaded file's fsync (as
    long as the disk needs for the whole file) and the walk over media/ run in threads, never
    on the loop, so a page asked for during a download is not held up."""
    import os
    import threading

    from station.store import Store

    loop_thread = threading.current_thread()
    on_loop: list[str] = []
    real_fsync, real_present = os.fsync, Store.present

    def fsync(fd):
        if threading.current_thread() is loop_thread:
            on_loop.append(f"fsync of {os.readlink(f'/proc/self/fd/{fd}')}")
        return real_fsync(fd)

    def present(self):
        if threading.current_thread() is loop_thread:
            on_loop.append("the walk over media/")
        return real_present(self)

    sim.publish()
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(Store, "present", present)
        async with aiohttp.ClientSession() as session:
            st.fetcher = Fetcher(session, st.cfg.sync_timeout_s)
            report = await Syncer(st.cfg, st.store, st.fetcher).run()
    assert report.complete and report.files_downloaded == 3
    assert on_loop == []
