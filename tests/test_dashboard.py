"""The county dashboard (issue 12) on both engines, fed through the real collector: the region
tree counts connectivity, content and activity apart; a station that sent nothing about the
period is "未上报", never 0; the station list filters, sorts and exports CSV for Excel; the
station page shows health, sessions with headcount, the logbook, the calendar and the five-ones;
a township account sees its own part only. Times are injected where a test needs the past."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from catalogue.clocks import CHINA
from catalogue.periods import period_of
from headend.config import load_config
from headend.service import open_root
from headend.service.reports import accept
from headend.service.stations import add_station
from headend.web.app import create_app
from tests.conftest import init_headend
from tests.county_kit import login_admin, login_as
from tests.headend_db import database
from tests.report_batches import BOOT, china_iso

COUNTY = "广东省/肇庆市/高要市"
A = "xiangang-xianyi"  # 蚬岗镇 蚬一村: online, up to date, active
B = "xiangang-xianer"  # 蚬岗镇 蚬二村: silent for 4 days, behind
C = "hetai-hetaicun"  # 河台镇: never connected
NOW = datetime.now(UTC)
TODAY = NOW.astimezone(CHINA).date()


def health(at: datetime, installed: int, **extra) -> dict:
    return {
        "kind": "health",
        "ts": china_iso(at),
        "interval_s": 900,
        "uptime_s": 7200.0,
        "load1": 0.3,
        "mem_used_mb": 400.0,
        "mem_total_mb": 2000.0,
        "disk_free_mb": 3000.0,
        "disk_total_mb": 60000.0,
        "stored_mb": 1200.0,
        "installed_version": installed,
        "newest_version": installed,
        "sync_state": extra.pop("sync_state", "ok"),
        "sync_error": extra.pop("sync_error", ""),
        "backlog": 0,
        "app_version": "0.12.0",
        "tv_seen": china_iso(at),
        "offset_s": 0.0,
        **extra,
    }


def play(at: datetime, watched: float, course: str = "kc-yangshu-2026") -> dict:
    return {
        "kind": "play",
        "ts": china_iso(at),
        "course": course,
        "title": "雨季养鹅技术",
        "start": china_iso(at - timedelta(seconds=watched)),
        "end": china_iso(at),
        "watched_s": watched,
        "position_s": watched,
        "duration_s": 1800.0,
        "completed": False,
        "reached_end": False,
        "channel": False,
        "session": None,
        "client": "192.168.1.20",
    }


def session_end(at: datetime, headcount: int) -> dict:
    return {
        "kind": "session_end",
        "ts": china_iso(at),
        "id": "a1b2c3d4e5f6",
        "topic": "学习二十届三中全会精神",
        "facilitator": "李书记",
        "headcount": headcount,
        "names": [],
        "started": china_iso(at - timedelta(hours=1)),
        "source": "admin",
        "ended": china_iso(at),
        "duration_s": 3600,
        "courses": [{"id": "kc-yangshu-2026", "title": "雨季养鹅技术", "watched_s": 1800.0}],
        "plays": 1,
        "counted": True,
    }


def send(root, station_id: str, events: list[dict], received: datetime, first_seq: int = 1) -> None:
    """One batch through the collector's own service, as if received at ``received``."""
    evs = [{**e, "seq": first_seq + i, "mono": 100.0 + i} for i, e in enumerate(events)]
    doc = {
        "v": 1,
        "station": station_id,
        "stream": "0123456789abcdef",
        "after": first_seq - 1,
        "now": china_iso(received),
        "boot": BOOT,
        "mono": 100.0 + len(evs),
        "events": evs,
    }
    with open_root(root) as h:
        accept(h, h.db.station(station_id), json.loads(json.dumps(doc)), received)


@pytest.fixture
def county(tmp_path, headend_db):
    root = init_headend(tmp_path / "headend", headend_db)
    with open_root(root) as h:
        add_station(h, A, "蚬一村站点", f"{COUNTY}/蚬岗镇/蚬一村", "stb-sd", capacity=40)
        add_station(h, B, "蚬二村站点", f"{COUNTY}/蚬岗镇/蚬二村", "stb-sd")
        add_station(h, C, "河台村站点", f"{COUNTY}/河台镇/河台村", "tv-hd")
    with database(root) as db:
        db.add_publication(3, "2026-12-01T00:00:00Z", "2027-12-01T00:00:00Z", "ab" * 32, 4)
    morning = NOW - timedelta(hours=1)
    send(
        root,
        A,
        [
            play(morning - timedelta(minutes=30), 300.0),
            play(morning - timedelta(minutes=20), 1200.0, "kc-yibao-2026"),
            session_end(morning - timedelta(minutes=10), 12),
            {"kind": "logbook", "ts": china_iso(morning), "text": "组织党员观看专题片", "author": "王管理员"},
            {
                "kind": "fives",
                "ts": china_iso(morning),
                **{k: {"ok": True, "note": ""} for k in ("place", "equipment", "rules", "assessment")},
                "administrator": {"ok": True, "note": "王芳 13800000000"},
                "checked": china_iso(morning),
            },
            health(morning, 3),
        ],
        received=NOW - timedelta(minutes=5),
    )
    four_days_ago = NOW - timedelta(days=4)
    send(
        root,
        B,
        [
            health(
                four_days_ago,
                2,
                sync_state="failed",
                sync_error="所有镜像都连不上",
                courses_total=4,
                courses_installed=1,
            )
        ],
        received=four_days_ago,
    )
    return root


def month() -> str:
    return period_of("month", TODAY).name


async def test_the_region_tree_keeps_connectivity_content_and_activity_apart(county, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(county), background_loops=False))
    admin = await login_admin(client, county)
    page = await admin.text(f"/county?region={COUNTY}&period={month()}")
    xiangang = page.split('data-region="广东省/肇庆市/高要市/蚬岗镇"')[1].split("</tr>")[0]
    hetai = page.split('data-region="广东省/肇庆市/高要市/河台镇"')[1].split("</tr>")[0]
    cells = lambda row: [c.split(">", 1)[1].split("<")[0] for c in row.split("<td")[2:]]  # noqa: E731
    # stations, online, silent, never, behind, 人次 (12 in the session + 2 individual plays), 场次, hours
    assert cells(xiangang)[:7] == ["2", "1", "1", "0", "1", "14", "1"], cells(xiangang)
    assert cells(hetai)[:5] == ["1", "0", "0", "1", "0"] and "未上报" in hetai  # unknown, not zero
    assert "2 个站点本期未上报" not in page and "1 个站点本期未上报" in page
    assert "<svg" in page and "每月人次与学习时长" in page and "<script" not in page.split("<main>")[1]
    # the API says the same in JSON
    async with admin.get(f"/api/v1/stations?region={COUNTY}&period={month()}") as r:
        doc = await r.json()
    by_id = {s["id"]: s for s in doc["stations"]}
    assert by_id[A]["connectivity"]["state"] == "online" and by_id[A]["content"]["state"] == "current"
    assert by_id[B]["connectivity"]["state"] == "silent" and by_id[B]["content"]["state"] == "behind"
    assert by_id[B]["content"]["courses_missing"] == 3 and "所有镜像都连不上" in by_id[B]["content"]["sync"]
    assert by_id[C]["connectivity"]["state"] == "never" and by_id[C]["activity"] is None
    assert by_id[A]["activity"]["person_times"] == 14 and by_id[A]["activity"]["sessions"] == 1


async def test_the_station_list_filters_sorts_and_exports_csv_for_excel(county, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(county), background_loops=False))
    admin = await login_admin(client, county)
    listed = lambda page: [p.split('"')[0] for p in page.split('data-station="')[1:]]  # noqa: E731
    assert listed(await admin.text(f"/county/stations?period={month()}&filter=behind")) == [B]
    assert listed(await admin.text(f"/county/stations?period={month()}&filter=silent3")) == [B]
    assert listed(await admin.text(f"/county/stations?period={month()}&filter=never")) == [C]
    assert listed(await admin.text(f"/county/stations?period={month()}&filter=unreported")) == [C]
    by_people = listed(await admin.text(f"/county/stations?period={month()}&sort=person_times&desc=1"))
    assert by_people[0] == A and by_people[-1] == C  # who reported nothing stays last either way
    assert listed(await admin.text(f"/county/stations?period={month()}&sort=person_times"))[-1] == C
    page = await admin.text(f"/county/stations?period={month()}")
    assert "失联 4 天" in page and "缺 3 门课" in page and "本期未上报" in page
    async with admin.get(f"/county/stations?period={month()}&format=csv") as r:
        raw = await r.read()
        assert r.status == 200 and r.content_type == "text/csv"
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["站点编号", "站点名称", "地区"]
    row = {r[0]: r for r in rows[1:]}
    assert row[C][9] == "未上报" and row[A][9] == "14" and row[B][3] == "失联"


async def test_the_station_page_shows_what_the_station_did(county, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(county), background_loops=False))
    admin = await login_admin(client, county)
    page = await admin.text(f"/county/stations/{A}?period={month()}")
    assert "学习二十届三中全会精神" in page and ">12<" in page and "李书记" in page
    assert "组织党员观看专题片" in page and "王芳 13800000000" in page  # logbook; administrator from the five-ones
    assert "达标" in page and "未达标" not in page
    assert f'class="active" title="{TODAY.month}月{TODAY.day}日：14 人次' in page
    if TODAY.day > 1:  # an earlier day of the month with nothing sent is unknown, not an idle zero
        assert f'class="unknown" title="{TODAY.month}月{TODAY.day - 1}日：未上报"' in page
    assert "剩余 3000 MB / 共 60000 MB（5%）" in page and "准确" in page
    async with admin.get(f"/county/stations/{A}?period={month()}&format=csv") as r:
        text = (await r.read()).decode("utf-8-sig")
    today_row = next(line for line in text.splitlines() if TODAY.isoformat() in line)
    assert today_row.split(",")[3:7] == ["14", "1", "12", "2"]
    silent = await admin.text(f"/county/stations/{C}?period={month()}")
    assert "未上报" in silent and "还没有收到这个站点的心跳" in silent


async def test_a_township_account_sees_its_own_part_only(county, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(county), background_loops=False))
    viewer = await login_as(client, county, "xiangang", "viewer", f"{COUNTY}/蚬岗镇")
    page = await viewer.text(f"/county?period={month()}")
    assert 'data-region="广东省/肇庆市/高要市/蚬岗镇/蚬一村"' in page and "河台" not in page
    stations = await viewer.text("/county/stations")
    assert A in stations and B in stations and C not in stations
    for path in (f"/county/stations/{C}", f"/county?region={COUNTY}", f"/county/stations?region={COUNTY}/河台镇"):
        async with viewer.get(path) as r:
            assert r.status == 404, path
    async with viewer.get("/api/v1/stations") as r:
        assert sorted(s["id"] for s in (await r.json())["stations"]) == [B, A]


def test_charts_with_nothing_reported_say_so_instead_of_failing():
    """pygal raised TypeError for a trend whose every month was unknown (found by the fuzzer on a
    headend whose stations had reported nothing yet)."""
    from headend.web import charts

    assert "暂无数据" in charts.trend("每月人次", ["11月", "12月"], [None, None], [None, None])
    assert "暂无数据" in charts.line("剩余磁盘", ["12/1"], [None], "%")
    svg = charts.trend("每月人次", ["11月", "12月"], [None, 7], [None, 1.5])
    assert "<script" not in svg and "<title>每月人次</title>" in svg and "暂无数据" not in svg
