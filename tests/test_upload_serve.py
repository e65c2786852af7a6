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
from tests.conftest import init_headend, run_cli, serve
from tests.headend_db import database
from tests.test_sync_loop import Admin, fill, small_disk  # noqa: F401 - small_disk is a fixture
from tests.test_upload import STATION, collector, enrol, station_toml

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.one_engine,
]  # not about the database: one engine (tests/conftest.py)


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


def test_a_token_file_not_there_yet_leaves_reporting_waiting_and_says_where(tmp_path, headend):
    """A box installed before its enrolment: the station starts (the TV works), reporting says
    which file to put the token in, and `station report --once` refuses with the same words."""
    toml = station_toml(tmp_path, headend, "http://127.0.0.1:8700/api/v1/", "")
    toml.write_text(toml.read_text().replace('token = ""\n', 'token_file = "secret/report.token"\n'))
    cfg = load_config(toml)
    assert cfg.report_token == ""
    assert f"{tmp_path / 'secret' / 'report.token'} does not exist yet" in cfg.no_token_reason
    res = run_cli("station", "--config", str(toml), "report", "--once")
    assert res.returncode == 2
    assert "report.token does not exist yet" in res.stderr and "chmod 600" in res.stderr


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


async def test_a_synced_station_shows_up_online_and_up_to_date_on_the_dashboard(tmp_path, headend_root, monkeypatch):
    """``make run``'s promise: the demo's station appears on the county dashboard, online and up
    to date, soon after it starts — not "behind" until its next heartbeat 15 minutes later (the
    first heartbeat goes before the first sync has installed anything)."""
    import station.upload.loop as upload_loop
    from headend.config import load_config as load_headend_config
    from headend.web.app import create_app as create_headend
    from tests.county_kit import cookie_jar, login_admin

    monkeypatch.setattr(upload_loop, "CONTENT_CHECK_S", 0.5)
    token = enrol(headend_root)
    async with serve(create_headend(load_headend_config(headend_root), background_loops=False)) as base:
        toml = station_toml(tmp_path, headend_root, f"{base}/api/v1/", token)
        toml.write_text(toml.read_text(encoding="utf-8").replace("http://127.0.0.1:9/repo/", f"{base}/repo/"))
        async with serve(build_app(load_config(toml))), aiohttp.ClientSession(cookie_jar=cookie_jar()) as http:
            county = await login_admin(http, headend_root, base)

            async def listed_up_to_date():
                page = await county.text("/county/stations")
                row = page.split(f'data-station="{STATION}"')[1].split("</tr>")[0]
                return row if 'data-content="current"' in page and "最新 v1" in row else None

            row = await wait_for(listed_up_to_date, "the station listed as up to date", seconds=60)
            assert "在线" in row
            assert 'data-connectivity="online"' in (await county.text("/county/stations"))
