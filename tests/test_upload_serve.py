"""``station serve`` reports by itself: a health heartbeat at start with plausible figures, the
TV's events uploaded soon after they are journalled, /admin and /api/status saying how reporting
stands — up to date, or revoked with what to do; a token file readable by others is refused."""

from __future__ import annotations

import asyncio
import os

import aiohttp
import psutil
import pytest

from headend.service import open_root
from headend.service.stations import revoke_station
from station.config import load_config
from station.daemon import build_app
from station.errors import ConfigError, StoreError
from station.web.keys import ATTENDANCE
from tests.conftest import init_headend, serve
from tests.headend_db import database
from tests.test_sync_loop import Admin, fill, small_disk  # noqa: F401 - small_disk is a fixture
from tests.test_upload import STATION, collector, enrol, station_toml

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def headend(tmp_path, headend_db):
    return init_headend(tmp_path / "headend", headend_db)


async def wait_for(check, what: str, seconds: float = 30.0):
    for _ in range(int(seconds / 0.1)):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def held_kinds(root) -> list[str]:
    with database(root) as db:
        return [e["event"]["kind"] for e in sorted(db.reports.events(STATION), key=lambda e: e["seq"])]


async def test_serve_sends_a_heartbeat_and_the_tv_events_and_admin_shows_it(tmp_path, headend):
    token = enrol(headend)
    async with collector(headend) as url:
        cfg = load_config(station_toml(tmp_path, headend, url, token))
        app = build_app(cfg)
        async with serve(app) as base, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            admin = Admin(base, session)
            await wait_for(lambda: asyncio.to_thread(lambda: held_kinds(headend) == ["health"]), "the first heartbeat")
            async with session.get(f"{base}/") as r:  # the TV comes on
                assert r.status == 200
            await asyncio.to_thread(app[ATTENDANCE].write_log, "今天学习了防火知识", "王")
            await wait_for(
                lambda: asyncio.to_thread(lambda: held_kinds(headend) == ["health", "logbook"]), "the logbook entry"
            )

            with database(headend) as db:
                (fields,) = [e["event"] for e in db.reports.events(STATION) if e["event"]["kind"] == "health"]
            assert fields["interval_s"] == 900
            assert 0 < fields["mem_used_mb"] <= fields["mem_total_mb"] == round(psutil.virtual_memory().total / 1e6)
            assert 0 < fields["disk_free_mb"] <= fields["disk_total_mb"]
            assert fields["uptime_s"] > 0 and fields["load1"] >= 0
            assert fields["installed_version"] == 0 and fields["sync_state"] in ("never", "running", "failed")
            assert fields["app_version"] and fields["backlog"] >= 0 and fields["tv_seen"] is None

            await admin.login()
            page = await admin.page()
            assert "向县里上报" in page and "前端尚未收到的记录" in page

            async def up_to_date():  # the login itself is an event: it goes up a few seconds later
                rep = (await admin.status())["reporting"]
                return rep if rep["state"] == "ok" else None

            rep = await wait_for(up_to_date, "reporting up to date")
            assert rep["state"] == "ok" and rep["backlog"] == 0 and rep["offset_s"] is not None

            with open_root(headend) as h:
                revoke_station(h, STATION)
            await asyncio.to_thread(app[ATTENDANCE].write_log, "吊销之后", "王")

            async def revoked():
                return (await admin.status())["reporting"]["state"] == "revoked"

            await wait_for(revoked, "the revoked state")
            page = await admin.page()
            assert "县里已吊销本站点的上报令牌" in page and "令牌已吊销" in page
            assert "吊销之后" not in str(
                await asyncio.to_thread(
                    lambda: [e["event"] for e in database(headend).__enter__().reports.events(STATION)]
                )
            )


def test_a_token_file_others_can_read_is_refused(tmp_path, headend):
    toml = station_toml(tmp_path, headend, "http://127.0.0.1:8700/api/v1/", "")
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")
    os.chmod(token, 0o644)
    toml.write_text(toml.read_text().replace('token = ""\n', 'token_file = "token"\n'))
    with pytest.raises(ConfigError, match=r"chmod 600 .*token"):
        load_config(toml)
    os.chmod(token, 0o600)
    assert load_config(toml).report_token == "s3cr3t-token"
    toml.write_text(toml.read_text().replace('token_file = "token"\n', 'token = "x"\ntoken_file = "token"\n'))
    with pytest.raises(ConfigError, match="both token and token_file"):
        load_config(toml)


async def test_a_full_disk_is_said_on_admin_and_nothing_written_is_lost(tmp_path, headend, small_disk):  # noqa: F811
    toml = station_toml(tmp_path, headend, "", "")
    toml.write_text(toml.read_text().replace('data_dir = "data"', f'data_dir = "{small_disk / "data"}"'))
    cfg = load_config(toml)
    app = build_app(cfg, sync=False)
    att = app[ATTENDANCE]
    await asyncio.to_thread(att.write_log, "写满之前", "王")
    fill(small_disk)
    with pytest.raises(StoreError):
        await asyncio.to_thread(att.write_log, "写不进去" * 400, "王")  # more than the last page's room
    async with serve(app) as base, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        admin = Admin(base, session)
        await admin.login()
        page = await admin.page()
        assert "磁盘已满" in page and "已记录的内容不会丢失" in page
        assert "上报已关闭" in page
    (small_disk / "filler").unlink()
    assert [e.text for e in att.logbook()] == ["写满之前"]
