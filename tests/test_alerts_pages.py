"""The alerts on the county pages (issue 12), on both engines: ``/county/alerts`` lists each open
alert with its station, kind, since when and what is wrong; an editor acknowledges it (audit
log), a viewer sees no button and gets a 403; an account bound to a township neither sees nor
acknowledges another township's alerts (404); ``/county`` counts them and the station page lists
its own. And the loops run inside ``headend serve``: alerts appear, the digest reaches the
webhook once, and /county/publishing and /api/v1/health show both loops."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from headend.config import load_config
from headend.service import open_root
from headend.service.alerts import check
from headend.web.app import create_app
from tests.alerts_kit import COUNTY, HETAI, XIANYI, Receiver, county_root, health, send, set_alerts
from tests.conftest import serve
from tests.county_kit import cookie_jar, login_admin, login_as

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def alerted(tmp_path, headend_db):
    """蚬一村 (蚬岗镇) with a full disk, 河台村 (河台镇) with a clock 20 minutes slow; checked."""
    root = county_root(tmp_path, headend_db)
    send(root, XIANYI, [health(NOW - timedelta(minutes=2), disk_free_mb=600.0)], received=NOW - timedelta(minutes=1))
    send(root, HETAI, [health(NOW - timedelta(minutes=2))], received=NOW - timedelta(minutes=1), clock_ahead_s=-1200)
    with open_root(root) as h:
        check(h, NOW)
    return root


def alert_ids(page: str) -> dict[str, str]:
    """Station → alert id of the open alerts listed on /county/alerts."""
    table = page.split('id="open-alerts"')[1].split("</table>")[0]
    return {m[1]: m[0] for m in re.findall(r'data-alert="(\d+)" data-station="([^"]+)"', table)}


async def test_the_alerts_page_lists_them_and_an_editor_acknowledges(alerted, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(alerted), background_loops=False))
    editor = await login_as(client, alerted, "bian-ji", "editor")
    page = await editor.text("/county/alerts")
    ids = alert_ids(page)
    assert sorted(ids) == [HETAI, XIANYI]
    row = page.split(f'id="alert-{ids[XIANYI]}"')[1].split("</tr>")[0]
    assert f'href="/county/stations/{XIANYI}"' in row and "磁盘快满" in row and "磁盘剩余 1%" in row
    assert "时钟慢 20 分钟" in page and f"/county/alerts/{ids[XIANYI]}/acknowledge" in row

    async with editor.post(f"/county/alerts/{ids[XIANYI]}/acknowledge", allow_redirects=False) as r:
        assert r.status == 303
    async with editor.post(f"/county/alerts/{ids[XIANYI]}/acknowledge", allow_redirects=False) as r:
        assert r.status == 303  # twice: the first acknowledgement stays, logged once
    row = (await editor.text("/county/alerts")).split(f'id="alert-{ids[XIANYI]}"')[1].split("</tr>")[0]
    assert "bian-ji" in row and "acknowledge" not in row
    with open_root(alerted) as h:
        logged = [e for e in h.db.audit.recent() if e.action == "alert.acknowledge"]
    assert [(e.actor, e.target) for e in logged] == [("bian-ji", f"{XIANYI}/disk_low")]
    async with editor.get("/api/v1/alerts") as r:
        doc = await r.json()
    by_station = {a["station"]: a for a in doc["open"]}
    assert by_station[XIANYI]["acknowledged_by"] == "bian-ji" and by_station[HETAI]["acknowledged_by"] is None
    assert by_station[HETAI]["kind"] == "clock_off" and by_station[HETAI]["words"] == "时钟慢 20 分钟"


async def test_a_viewer_sees_no_button_and_may_not_acknowledge(alerted, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(alerted), background_loops=False))
    viewer = await login_as(client, alerted, "cha-kan", "viewer")
    page = await viewer.text("/county/alerts")
    assert "/acknowledge" not in page and "未确认" in page
    async with viewer.post(f"/county/alerts/{alert_ids(page)[XIANYI]}/acknowledge", allow_redirects=False) as r:
        assert r.status == 403
    async with viewer.get("/api/v1/alerts") as r:
        assert all(a["acknowledged_by"] is None for a in (await r.json())["open"])


async def test_a_township_account_neither_sees_nor_acknowledges_another_townships_alerts(alerted, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(alerted), background_loops=False))
    admin = await login_admin(client, alerted)
    xianyi_id = alert_ids(await admin.text("/county/alerts"))[XIANYI]
    hetai = await login_as(client, alerted, "hetai-editor", "editor", f"{COUNTY}/河台镇")
    page = await hetai.text("/county/alerts")
    assert list(alert_ids(page)) == [HETAI] and "蚬一村" not in page
    async with hetai.post(f"/county/alerts/{xianyi_id}/acknowledge", allow_redirects=False) as r:
        assert r.status == 404
    async with hetai.get("/api/v1/alerts") as r:
        assert [a["station"] for a in (await r.json())["open"]] == [HETAI]
    async with hetai.get(f"/api/v1/alerts?region={COUNTY}") as r:
        assert r.status == 404  # above its own region
    overview = await hetai.text("/county")
    card = overview.split('id="card-alerts"')[1].split("</div></div>")[0]
    assert '<div class="big">1 <span' in card and "未确认 1" in card


async def test_the_overview_counts_them_and_the_station_page_lists_its_own(alerted, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(alerted), background_loops=False))
    admin = await login_admin(client, alerted)
    card = (await admin.text("/county")).split('id="card-alerts"')[1].split("</div></div>")[0]
    assert '<div class="big">2 <span' in card and "未确认 2" in card
    station = await admin.text(f"/county/stations/{XIANYI}")
    section = station.split('id="alerts"')[1].split("</table>")[0]
    assert "磁盘快满" in section and "磁盘剩余 1%" in section and "未恢复" in section and "时钟" not in section


async def test_the_loops_run_inside_headend_serve_and_show_their_state(tmp_path, headend_db):
    root = county_root(tmp_path, headend_db, check_interval_s=1, digest_hour=0)
    send(root, XIANYI, [health(NOW - timedelta(minutes=2), disk_free_mb=600.0)], received=NOW - timedelta(minutes=1))
    receiver = Receiver()
    async with serve(receiver.app()) as hook:
        set_alerts(root, webhook_url=f"{hook}/hook")
        async with serve(create_app(load_config(root))) as base, aiohttp.ClientSession(cookie_jar=cookie_jar()) as s:
            admin = await login_admin(s, root, base)
            for _ in range(100):  # the first pass runs at start: well within 10 s
                async with admin.get("/api/v1/alerts") as r:
                    found = [(a["station"], a["kind"]) for a in (await r.json())["open"]]
                if found and receiver.got:
                    break
                await asyncio.sleep(0.1)
            assert found == [(XIANYI, "disk_low")]
            await asyncio.sleep(2.5)  # two more check passes, and the deliveries loop's
            page = await admin.text("/county/publishing")
            async with admin.get("/api/v1/health") as r:
                loops = {loop["name"]: loop["state"] for loop in (await r.json())["loops"]}
    assert receiver.kinds() == ["digest"] and receiver.got[0]["counts"]["open"] == 1
    assert 'id="loop-alerts" data-state="running"' in page and "告警检查" in page
    assert 'id="loop-webhook" data-state="running"' in page and "告警推送" in page
    assert loops["alerts"] == "running" and loops["webhook"] == "running"
