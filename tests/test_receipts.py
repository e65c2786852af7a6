"""Notice read receipts on the county pages (issue 14): a notice for the county's three stations,
two of which display it (report batches through the real collector), one silent for three days;
``/county/notices/receipts`` says 2 of 3 displayed and when first, the notice's page lists each
station — displayed (when first, how often, where) or not seen with its connectivity — and never a
station outside the audience or the account's region; the CSV opens in Excel with the Chinese
intact; an unknown notice is a 404."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catalogue.clocks import CHINA
from catalogue.display import people_time
from headend.config import load_config
from headend.service import open_root
from headend.service.notices import review_notice, sign_notice
from headend.service.stations import add_station
from headend.web.app import create_app
from tests.alerts_kit import COUNTY, HETAI, XIANER, XIANYI, county_root, health, send
from tests.conftest import run_cli
from tests.county_kit import login_admin, login_as
from tests.report_batches import china_iso

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)

NOW = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=30, microsecond=0)  # in the past, mid-minute
SIHUI = "sihui-dasha"  # 四会市: outside the notice's audience (and the county)
NOTICE = "dongxun-2026"
OTHER = "yibao-jiaofei"


def write_notice(root: Path, notice_id: str, title: str, region: str, valid_from: datetime, days: int) -> None:
    """A notice file as county staff write it (dates China time)."""
    start = valid_from.astimezone(CHINA).strftime("%Y-%m-%dT%H:%M:%S")
    until = (valid_from + timedelta(days=days)).astimezone(CHINA).strftime("%Y-%m-%d")
    (root / "notices").mkdir(exist_ok=True)
    (root / "notices" / f"{notice_id}.toml").write_text(
        f'title = "{title}"\nbody = "请各站点按时组织学习。"\nvalid_from = {start}\nvalid_until = {until}\n'
        f'[audience]\nregions = ["{region}"]\n',
        encoding="utf-8",
    )


def sign_off(root: Path, *notice_ids: str) -> None:
    """Reviewed (审核) by a reviewer and signed off (签发) by the admin: what a publish sends."""
    res = run_cli("headend", "user", "add", "--root", str(root), "shen-he", "--role", "editor", "--reviewer")
    assert res.returncode == 0 or "exists" in res.stderr, res.stderr
    with open_root(root) as h:
        for notice_id in notice_ids:
            review_notice(h, notice_id, "shen-he")
            sign_notice(h, notice_id, "admin")


def view(at: datetime, notice: str, via: str) -> dict:
    return {"kind": "notice_view", "ts": china_iso(at), "notice": notice, "via": via}


@pytest.fixture
def county(tmp_path, headend_db):
    """蚬一村 showed the notice three days ago (notice page) and yesterday (ticker); 蚬二村 two days
    ago (ticker) — and another notice; 河台村 last reported four days ago, before the notice; 四会
    大沙 (outside the audience) showed it too. Notice window: from five days ago, for 20 days."""
    root = county_root(tmp_path, headend_db)
    with open_root(root) as h:
        add_station(h, SIHUI, "大沙村站点", "广东省/肇庆市/四会市/大沙镇/大沙村", "stb-sd")
    write_notice(root, NOTICE, "冬训动员通知", COUNTY, NOW - timedelta(days=5), 20)
    write_notice(root, OTHER, "医保缴费提醒", "广东省/肇庆市", NOW - timedelta(days=5), 20)
    write_notice(root, "caogao", "草稿通知", COUNTY, NOW - timedelta(days=5), 20)  # a draft: no receipts
    sign_off(root, NOTICE, OTHER)
    first_xianyi, first_xianer = NOW - timedelta(days=3), NOW - timedelta(days=2)
    send(root, HETAI, [health(NOW - timedelta(days=4))], received=NOW - timedelta(days=4))
    send(root, XIANYI, [view(first_xianyi, NOTICE, "page")], received=first_xianyi + timedelta(seconds=1))
    send(root, XIANYI, [view(NOW - timedelta(days=1), NOTICE, "ticker")], received=NOW - timedelta(days=1))
    send(
        root,
        XIANER,
        [view(first_xianer - timedelta(hours=1), OTHER, "ticker"), view(first_xianer, NOTICE, "ticker")],
        received=first_xianer + timedelta(seconds=1),
    )
    send(root, SIHUI, [view(NOW - timedelta(days=2), NOTICE, "page")], received=NOW - timedelta(days=2))
    with open_root(root) as h:
        firsts = {
            s: min(e["at"] for e in h.db.reports.events(s) if e["event"].get("notice") == NOTICE)
            for s in (XIANYI, XIANER)
        }
    for station, when in ((XIANYI, first_xianyi), (XIANER, first_xianer)):  # the corrected times
        assert abs(datetime.fromisoformat(firsts[station].replace("Z", "+00:00")) - when) < timedelta(seconds=5)
    return root, firsts


def row_of(page: str, table: str, key: str, value: str) -> str:
    body = page.split(f'id="{table}"')[1].split("</table>")[0]
    return body.split(f'{key}="{value}"')[1].split("</tr>")[0]


def stations_listed(page: str) -> list[str]:
    body = page.split('id="receipt"')[1].split("</table>")[0]
    return [part.split('"')[0] for part in body.split('data-station="')[1:]]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_the_list_says_two_of_three_displayed_and_when_first(county, aiohttp_client):
    root, firsts = county
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    admin = await login_admin(client, root)
    page = await admin.text("/county/notices/receipts")
    assert 'href="/county/notices/receipts">通知回执</a>' in page  # the nav link
    row = row_of(page, "receipts", "data-notice", NOTICE)
    assert 'data-targeted="3" data-displayed="2"' in row and "冬训动员通知" in row
    assert "67%" in row and people_time(moment(firsts[XIANYI])) in row
    assert "站点失联 1" in row and "未看到" not in row
    other = row_of(page, "receipts", "data-notice", OTHER)
    assert 'data-targeted="4" data-displayed="1"' in other  # its own views only, not NOTICE's
    assert "尚未发布" in row  # signed off, not published yet
    assert "草稿通知" not in page  # a draft has no receipts


async def test_the_notice_page_tells_not_seen_from_silent(county, aiohttp_client):
    root, firsts = county
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    admin = await login_admin(client, root)
    page = await admin.text(f"/county/notices/receipts/{NOTICE}")
    assert sorted(stations_listed(page)) == sorted([XIANYI, XIANER, HETAI]) and SIHUI not in page
    assert stations_listed(page)[0] == HETAI  # the ones not displayed first
    assert "2 / 3 个站点已显示（67%）" in page
    xianyi = row_of(page, "receipt", "data-station", XIANYI)
    assert 'data-displayed="1"' in xianyi and people_time(moment(firsts[XIANYI])) in xianyi
    assert ">2</td>" in xianyi and "电视通知页、电视滚动字幕" in xianyi
    xianer = row_of(page, "receipt", "data-station", XIANER)
    assert people_time(moment(firsts[XIANER])) in xianer and ">1</td>" in xianer and "电视滚动字幕" in xianer
    hetai = row_of(page, "receipt", "data-station", HETAI)
    assert 'data-displayed="0"' in hetai and 'data-connectivity="silent"' in hetai
    assert "站点失联 4 天" in hetai and "已显示" not in hetai


async def test_an_online_station_that_did_not_show_it_is_not_seen_not_silent(county, aiohttp_client):
    root, _ = county
    send(root, HETAI, [health(NOW - timedelta(minutes=2))], received=NOW - timedelta(minutes=1))
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    admin = await login_admin(client, root)
    hetai = row_of(await admin.text(f"/county/notices/receipts/{NOTICE}"), "receipt", "data-station", HETAI)
    assert "未看到（站点在线）" in hetai and "失联" not in hetai
    row = row_of(await admin.text("/county/notices/receipts"), "receipts", "data-notice", NOTICE)
    assert "未看到（在线）1" in row and "站点失联" not in row


async def test_the_csv_has_a_bom_and_chinese_headers(county, aiohttp_client):
    root, firsts = county
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    admin = await login_admin(client, root)
    async with admin.get(f"/county/notices/receipts/{NOTICE}?format=csv") as r:
        assert r.status == 200 and r.content_type == "text/csv"
        raw = await r.read()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:5] == ["站点编号", "站点名称", "地区", "情况", "首次显示（北京时间）"]
    by_id = {r[0]: r for r in rows[1:]}
    assert sorted(by_id) == sorted([XIANYI, XIANER, HETAI])
    first = moment(firsts[XIANYI]).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    assert by_id[XIANYI][3] == "已显示" and by_id[XIANYI][4] == first and by_id[XIANYI][6] == "2"
    assert by_id[HETAI][3].startswith("站点失联 4 天") and by_id[HETAI][4] == ""


async def test_a_township_account_sees_only_its_own_stations(county, aiohttp_client):
    root, _ = county
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    hetai = await login_as(client, root, "hetai-viewer", "viewer", f"{COUNTY}/河台镇")
    row = row_of(await hetai.text("/county/notices/receipts"), "receipts", "data-notice", NOTICE)
    assert 'data-targeted="1" data-displayed="0"' in row
    page = await hetai.text(f"/county/notices/receipts/{NOTICE}")
    assert stations_listed(page) == [HETAI] and XIANYI not in page and "蚬一村" not in page
    async with hetai.get(f"/county/notices/receipts/{NOTICE}?format=csv") as r:
        lines = (await r.text()).strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith(HETAI)
    async with hetai.get(f"/county/notices/receipts/{NOTICE}?region={COUNTY}") as r:
        assert r.status == 404  # above its own region
    admin = await login_admin(client, root)
    narrowed = await admin.text(f"/county/notices/receipts/{NOTICE}?region={COUNTY}/蚬岗镇")
    assert sorted(stations_listed(narrowed)) == sorted([XIANYI, XIANER])


async def test_an_unknown_notice_is_a_404(county, aiohttp_client):
    root, _ = county
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    admin = await login_admin(client, root)
    for notice_id in ("no-such-notice", "x" * 200, "冬训", "caogao"):
        async with admin.get(f"/county/notices/receipts/{notice_id}") as r:
            assert r.status == 404, notice_id
            assert "没有这条通知" in await r.text()


async def test_an_expired_notice_stays_listed_for_30_days(county, aiohttp_client):
    root, _ = county
    write_notice(root, "jiu-tongzhi", "上月的通知", COUNTY, NOW - timedelta(days=40), 20)  # ended 20 days ago
    write_notice(root, "gengjiu-tongzhi", "更早的通知", COUNTY, NOW - timedelta(days=90), 20)  # 70 days ago
    sign_off(root, "jiu-tongzhi", "gengjiu-tongzhi")
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    admin = await login_admin(client, root)
    page = await admin.text("/county/notices/receipts")
    assert "上月的通知" in page and "已结束" in page and "更早的通知" not in page
    assert "更早的通知" in await admin.text("/county/notices/receipts/gengjiu-tongzhi")  # still found by id
