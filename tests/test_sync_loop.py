"""The sync loop of `station serve` cannot die silently: a pass that meets a full disk (the status
write itself fails) or mirror URLs that cannot be used is logged, shown as failed with its reason
on /admin and in `station status`, and the loop goes on — the good mirror in the same pass, the
next pass once the disk has room again. A real station on loopback, a real (small, full) disk."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import logging
import os
import re
import subprocess
from pathlib import Path

import aiohttp
import pytest

from station.daemon import build_app
from tests.conftest import in_ci, run_cli_async, serve
from tests.repository_simulator import RepositorySimulator, Station

PIN = "246813"  # write_station_toml's


@pytest.fixture
def sim() -> RepositorySimulator:
    s = RepositorySimulator()
    s.add_course("雨季养鹅技术", b"goose video " * 2000)
    s.add_course("冬季防火安全常识", b"fire video " * 2000)
    s.publish()
    return s


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs: a disk that really fills up (mounting needs root; outside CI a box that
    cannot mount skips this, under CI it fails)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True, text=True)
    if res.returncode != 0:
        if in_ci():
            pytest.fail(f"cannot mount a tmpfs for the full-disk test: {res.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip()}); run as root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk refuses another byte (ENOSPC)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for block in (1 << 16, 1 << 12, 1):
            while True:
                try:
                    os.write(fd, b"\0" * block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    assert os.statvfs(disk).f_bavail == 0
    return filler


class Admin:
    """The administrator's phone: logged in to /admin, pressing "sync now", reading /api/status."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base, self.session = base, session

    async def _form_token(self) -> str:
        """The token the admin page stamps into its forms (as a browser would send it back)."""
        async with self.session.get(f"{self.base}/admin") as r:
            return re.search(r'name="_token" value="([0-9a-f]+)"', await r.text()).group(1)

    async def _post(self, path: str, data: dict) -> int:
        data = {**data, "_token": await self._form_token()}
        headers = {"Origin": self.base}
        async with self.session.post(f"{self.base}{path}", data=data, headers=headers, allow_redirects=False) as r:
            return r.status

    async def login(self) -> None:
        assert await self._post("/admin/login", {"pin": PIN}) == 303

    async def page(self) -> str:
        async with self.session.get(f"{self.base}/admin") as r:
            assert r.status == 200
            return await r.text()

    async def status(self) -> dict:
        async with self.session.get(f"{self.base}/api/status") as r:
            assert r.status == 200
            return await r.json()

    async def pass_done(self, after: str | None = None) -> dict:
        """Wait for a finished pass (one attempted after ``after``)."""
        for _ in range(200):
            s = await self.status()
            sync = s["sync"]
            if sync["state"] not in ("", "running") and sync["last_attempt"] and sync["last_attempt"] != after:
                return s
            await asyncio.sleep(0.05)
        raise AssertionError(f"no pass finished: {s}")

    async def sync_now(self) -> dict:
        before = (await self.status())["sync"]["last_attempt"]
        await asyncio.sleep(1.1)  # times are kept to the second
        assert await self._post("/admin/sync", {}) == 303
        return await self.pass_done(after=before)


async def station_status(toml: Path) -> tuple[str, dict]:
    code, words, err = await run_cli_async("station", "--config", str(toml), "status")
    assert code == 0, err
    code, out, err = await run_cli_async("station", "--config", str(toml), "status", "--json")
    assert code == 0, err
    return words, json.loads(out)


async def test_a_full_disk_under_the_status_write_is_shown_and_the_loop_goes_on(sim, small_disk, caplog):
    caplog.set_level(logging.INFO)
    async with sim.served() as mirror:
        st = Station(small_disk, sim, mirror)
        async with (
            serve(build_app(st.cfg, st.store)) as base,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
        ):
            admin = Admin(base, session)
            assert (await admin.pass_done())["sync"]["state"] == "ok"
            await admin.login()
            filler = fill(small_disk)

            for _ in range(2):  # two passes on the full disk: each recorded, the traceback logged once
                failed = (await admin.sync_now())["sync"]
                assert failed["state"] == "failed"
                assert "sync-status.json: cannot save the sync status (No space left on device)" in failed["last_error"]
                assert "free space on the disk" in failed["last_error"] and failed["error_since"]
            html = await admin.page()
            assert "失败" in html and "No space left on device" in html and "自 " in html  # since when
            assert len([r for r in caplog.records if r.getMessage().startswith("sync pass failed")]) == 1
            logged = next(r for r in caplog.records if r.getMessage().startswith("sync pass failed"))
            assert logged.exc_info and logged.levelno == logging.ERROR  # with its traceback
            # `station status`, another process reading the disk, says the same (the record was
            # written over the old one in place: a full disk has no block for a new file).
            words, as_json = await station_status(st.cfg.path)
            assert re.search(r"^last sync: failed at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(China time\)", words, re.M), words
            assert re.search(r"^last error \(failing since [\d-]+ [\d:]+\): .*No space left on device", words, re.M), (
                words
            )
            assert as_json["sync"]["state"] == "failed" and "No space left" in as_json["sync"]["last_error"]

            filler.unlink()  # the administrator frees space
            recovered = (await admin.sync_now())["sync"]
            assert recovered["state"] == "ok" and recovered["last_error"] is None and recovered["error_since"] is None
            assert "sync recovered" in caplog.text
            assert "No space left" not in await admin.page()
    words, as_json = await station_status(st.cfg.path)
    assert re.search(r"^last sync: ok at ", words, re.M) and "last error" not in words
    assert as_json["sync"]["state"] == "ok" and as_json["installed_version"] == 1 and as_json["courses"] == 2


@pytest.mark.parametrize("bad", ["http://[::1/", "http://127.0.0.1:notaport/"])
async def test_a_mirror_url_that_cannot_be_used_fails_alone_and_the_good_one_serves(sim, tmp_path, bad):
    async with sim.served() as good:
        st = Station(tmp_path, sim, good)
        # station.toml refuses such a URL (test_station_config); a list that got past it anyway
        # must not stop the pass.
        cfg = dataclasses.replace(st.cfg, mirrors=(bad, good))
        async with (
            serve(build_app(cfg, st.store)) as base,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
        ):
            admin = Admin(base, session)
            status = await admin.pass_done()
            assert status["sync"]["state"] == "ok" and status["sync"]["mirror"] == good
            assert status["installed_version"] == 1 and status["courses"] == 2
            broken, working = status["mirrors"]
            assert (
                broken["url"] == bad
                and "not a usable URL" in broken["last_error"]
                and "[sync] mirrors" in broken["last_error"]
            )
            assert not broken.get("last_success") and working["last_success"] and not working.get("last_error")
            await admin.login()
            html = await admin.page()
            assert bad in html and "not a usable URL" in html and "上次出错" in html


async def test_an_unusable_mirror_before_a_good_one_fails_alone_in_the_same_pass(sim, tmp_path):
    """A mirror folder whose name holds a NUL byte (it parses as a URL, so the config takes it) is
    that mirror's failure, with its reason: the good mirror listed after it serves the same
    `station sync --once`, exit 0."""
    sim.publish()
    async with sim.served() as good:
        st = Station(tmp_path, sim, good)
        toml = st.cfg.path
        text = toml.read_text(encoding="utf-8").replace(f'["{good}"]', f'["file:///media/usb%00stick/", "{good}"]')
        toml.write_text(text, encoding="utf-8")
        code, out, err = await run_cli_async("station", "--config", str(toml), "sync", "--once")
        assert code == 0, (out, err)
    _, as_json = await station_status(toml)
    assert as_json["sync"]["state"] == "ok" and as_json["courses"] == 2
    bad = next(m for m in as_json["mirrors"] if m["url"].startswith("file:"))
    assert "not a usable file path" in bad["last_error"], as_json["mirrors"]


async def test_a_full_disk_is_freed_by_the_pass_it_blocked(sim, small_disk):
    """A course was withdrawn, its file outlived its grace period, and the disk filled up: the
    next `station sync --once` cannot record "running", goes on anyway, deletes the file and
    finishes ok."""
    async with sim.served() as mirror:
        st = Station(small_disk, sim, mirror)
        toml = st.cfg.path
        text = toml.read_text(encoding="utf-8").replace("[sync]", "[sync]\nkeep_unreferenced_days = 0.00002")  # 1.7 s
        toml.write_text(text, encoding="utf-8")
        code, _, err = await run_cli_async("station", "--config", str(toml), "sync", "--once")
        assert code == 0, err
        withdrawn = st.store.course(sim.courses[1].course.id).media
        sim.courses = sim.courses[:1]
        sim.publish()
        code, _, err = await run_cli_async("station", "--config", str(toml), "sync", "--once")
        assert code == 0, err
        assert st.store.has_file(withdrawn)  # unneeded, within its grace period
        filler = fill(small_disk)
        await asyncio.sleep(2)
        code, out, err = await run_cli_async("station", "--config", str(toml), "sync", "--once")
    assert code == 0, (out, err)
    assert "sync status kept in memory only" in err and "No space left on device" in err
    assert not st.store.has_file(withdrawn) and os.statvfs(small_disk).f_bavail > 0
    words, as_json = await station_status(toml)
    assert as_json["sync"]["state"] == "ok" and as_json["courses"] == 1 and "last error" not in words
    filler.unlink()
