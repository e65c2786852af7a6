"""Live classes on the county pages (issue 16), on both engines: a county editor schedules a class
through the form on /county/live (the suggested id, its region by default) and finds it listed
in words — China time, audience, 未开始, not yet on the stations' schedules — on the page, the
overview's card and /api/v1/live; "保存并立即发布" starts the dashboard's publish and the index
then names the class's playlist; a wrong field is a 400 with the message beside it, the typed
values kept and nothing stored; a viewer's POST is a 403; an editor of another county neither
sees nor cancels the class (404) nor targets this county; cancelling is audit-logged; a failed
encoder's last lines and a dropped signal (信号中断) show as the encoder left them in its
status.json, escaped, with server paths hidden from non-admins."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from catalogue.clocks import CHINA
from catalogue.display import people_time
from headend.config import load_config
from headend.courseware.live import LiveStatus, live_dir
from headend.service import live, open_root
from headend.service.audit import Actor
from headend.service.stations import add_station
from headend.web.app import create_app
from headend.web.keys import PUBLISHER
from playlists import Audience
from playlists.atomic import atomic_write
from tests.alerts_kit import COUNTY, county_root
from tests.county_kit import login_admin, login_as

SIHUI = "广东省/肇庆市/四会市"  # another county
EDITOR, VIEWER, FOREIGN = "li-bianji", "wang-chakan", "sihui-bianji"
TOMORROW = datetime.now(CHINA).date() + timedelta(days=1)


def form(**change: str) -> dict[str, str]:
    """The add form as an editor of the county fills it in (tomorrow 19:30, an hour)."""
    return {
        "title": "学习贯彻全会精神",
        "id": f"dangke-{TOMORROW:%Y%m%d}",
        "date": TOMORROW.isoformat(),
        "time": "19:30",
        "duration": "60",
        "regions": COUNTY,
        "stations": "",
        "tags": "",
        "category": "party",
        "description": "县委党校主讲。",
        **change,
    }


def at(day: date, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=CHINA)


@pytest.fixture
def county(tmp_path, headend_db):
    root = county_root(tmp_path, headend_db)
    with open_root(root) as h:
        add_station(h, "sihui-dasha", "大沙村站点", f"{SIHUI}/大沙镇/大沙村", "stb-sd")
    return root


@pytest.fixture
async def app(county, aiohttp_client):
    return await aiohttp_client(create_app(load_config(county), background_loops=False))


def schedule(root, live_id: str, start: datetime, minutes: float, region: str = COUNTY, title: str = "") -> None:
    with open_root(root) as h:
        aud = Audience(regions=(tuple(region.split("/")),))
        live.add_live(h, Actor.cli(), live_id, title or f"直播 {live_id}", start, minutes, aud)


def classes(root) -> list[str]:
    with open_root(root) as h:
        return [x.id for x in h.db.live.all()]


def row_of(page: str, live_id: str) -> str:
    assert f'data-live="{live_id}"' in page, f"{live_id} is not listed"
    return page.split(f'data-live="{live_id}"')[1].split("</tr>")[0]


def listed(page: str, table: str) -> list[str]:
    body = page.split(f'id="{table}"')[1].split("</table>")[0]
    return re.findall(r'data-live="([^"]+)"', body)


async def test_an_editor_schedules_a_class_through_the_form_and_it_is_listed_in_words(app, county):
    editor = await login_as(app, county, EDITOR, "editor", COUNTY)
    page = await editor.text("/county/live")
    assert 'href="/county/live">直播</a>' in page  # the nav link
    assert f'value="dangke-{TOMORROW:%Y%m%d}"' in page and f'value="{TOMORROW.isoformat()}"' in page
    assert f">{COUNTY}</textarea>" in page  # the editor's own region by default
    async with editor.post("/county/live", form(), allow_redirects=False) as r:
        assert r.status == 303, await r.text()
        assert r.headers["Location"] == f"/county/live?done=add&id=dangke-{TOMORROW:%Y%m%d}"
    page = await editor.text(r.headers["Location"])
    assert "✓ 已安排直播" in page
    live_id = f"dangke-{TOMORROW:%Y%m%d}"
    assert listed(page, "coming") == [live_id] and listed(page, "past") == []
    row = row_of(page, live_id)
    start = at(TOMORROW, "19:30")
    assert f"{people_time(start)}–20:30" in row and "60 分钟" in row
    assert "学习贯彻全会精神" in row and "党员教育" in row and COUNTY in row
    assert 'class="state none">未开始' in row and "尚未发布" in row and "取消直播" in row
    with open_root(county) as h:
        x = h.db.live.get(live_id)
        assert x.start_at == start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") and x.duration_s == 3600
        assert x.created_by == EDITOR and x.description == "县委党校主讲。"
        assert [(e.action, e.actor) for e in h.db.audit.recent(20) if e.action.startswith("live.")] == [
            ("live.add", EDITOR)
        ]
    overview = await editor.text("/county")
    card = overview.split('id="card-live"')[1].split('<div class="card"')[0]
    assert "下一场：学习贯彻全会精神" in card and people_time(start) in card
    async with editor.get("/api/v1/live") as r:
        doc = await r.json()
    assert [(c["id"], c["state"], c["state_words"], c["on_stations"]) for c in doc["classes"]] == [
        (live_id, "scheduled", "未开始", False)
    ]
    # the id left empty: the suggestion for the day asked for (the first one is taken)
    later = form(id="", time="21:00", title="第二场")
    async with editor.post("/county/live", later, allow_redirects=False) as r:
        assert r.status == 303 and f"id={live_id}-2" in r.headers["Location"]


async def test_save_and_publish_now_starts_a_publish_that_carries_the_class(app, county):
    editor = await login_as(app, county, EDITOR, "editor", COUNTY)
    async with editor.post("/county/live", form(publish="1"), allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].endswith("&publish=started")
    run = app.server.app[PUBLISHER]
    await asyncio.wait_for(run.wait(), 60)
    assert run.state == "done" and run.by == EDITOR, run
    index = json.loads((county / "repo" / "index.json").read_bytes())
    names = [p["name"] for p in index["playlists"]]
    assert f"live-dangke-{TOMORROW:%Y%m%d}" in names
    page = await editor.text(r.headers["Location"])
    assert "已开始发布" in page and 'class="state ok">已发布' in row_of(page, f"dangke-{TOMORROW:%Y%m%d}")


async def test_a_viewer_sees_the_classes_and_every_post_is_a_403(app, county):
    schedule(county, "dangke-a", at(TOMORROW, "19:30"), 60)
    viewer = await login_as(app, county, VIEWER, "viewer", COUNTY)
    page = await viewer.text("/county/live")
    assert listed(page, "coming") == ["dangke-a"] and 'id="read-only"' in page
    assert 'id="add-live"' not in page and "取消直播</button>" not in page
    async with viewer.post("/county/live", form(id="dangke-b", time="08:00"), allow_redirects=False) as r:
        assert r.status == 403 and "editor" in await r.text()
    async with viewer.post("/county/live/dangke-a/cancel", allow_redirects=False) as r:
        assert r.status == 403
    assert classes(county) == ["dangke-a"]
    with open_root(county) as h:
        assert not h.db.live.get("dangke-a").cancelled_at


async def test_an_editor_of_another_county_neither_sees_nor_cancels_nor_targets_the_class(app, county):
    schedule(county, "dangke-a", at(TOMORROW, "19:30"), 60)
    schedule(county, "sihui-a", at(TOMORROW, "19:30"), 60, region=SIHUI, title="四会的党课")
    foreign = await login_as(app, county, FOREIGN, "editor", SIHUI)
    page = await foreign.text("/county/live")
    assert listed(page, "coming") == ["sihui-a"] and "dangke-a" not in page
    async with foreign.post("/county/live/dangke-a/cancel", allow_redirects=False) as r:
        gone = (r.status, (await r.text()).replace("dangke-a", "ID"))
    async with foreign.post("/county/live/no-such-class/cancel", allow_redirects=False) as r:
        missing = (r.status, (await r.text()).replace("no-such-class", "ID"))
    assert gone == missing and gone[0] == 404  # as for a class that does not exist
    async with foreign.post("/county/live", form(id="dangke-b", time="08:00"), allow_redirects=False) as r:
        page = await r.text()
        assert r.status == 400 and f"地区 {COUNTY} 超出您的地区 {SIHUI}" in page
        assert 'data-field="regions"' in page
    async with foreign.get("/api/v1/live") as r:
        assert [c["id"] for c in (await r.json())["classes"]] == ["sihui-a"]
    admin = await login_admin(app, county)  # an account of the whole headend sees both
    assert sorted(listed(await admin.text("/county/live"), "coming")) == ["dangke-a", "sihui-a"]
    with open_root(county) as h:
        assert not h.db.live.get("dangke-a").cancelled_at and "dangke-b" not in classes(county)


BAD = [  # (a change to the form, the field the message stands beside, what it says)
    ({"title": "  "}, "title", "标题须为 1–100 个字"),
    ({"duration": "0"}, "duration", "时长须为 1–720 分钟"),
    ({"duration": "一小时"}, "duration", "不是分钟数"),
    ({"date": (date.today() - timedelta(days=2)).isoformat()}, "start", "这个时间已经过去了"),
    ({"date": "2026-13-45"}, "start", "开始日期“2026-13-45”无法识别"),
    ({"date": "明天"}, "start", "开始日期“明天”无法识别"),
    ({"time": "25:00"}, "start", "开始时间“25:00”无法识别"),
    ({"date": "9999-12-31", "time": "23:00"}, "start", "超出了日历"),
    ({"time": "20:00"}, "start", "与直播《已有的党课》（dangke-a）时间重叠"),
    ({"id": "Dang Ke!"}, "id", "编号“Dang Ke!”不合规则"),
    ({"id": "dangke-a", "time": "08:00"}, "id", "已经用过了"),
    ({"stations": "no-such-station"}, "stations", "没有登记这个站点"),
    ({"stations": "NOT AN ID"}, "stations", "站点编号“NOT”不对"),
    ({"regions": "", "tags": "党员"}, "tags", "按标签发送只能由不限地区的账号安排"),
    ({"category": "nope"}, "category", "没有这个分类"),
]


async def test_a_wrong_field_is_a_400_beside_the_field_with_the_values_kept_and_nothing_stored(app, county):
    schedule(county, "dangke-a", at(TOMORROW, "19:00"), 90, title="已有的党课")
    editor = await login_as(app, county, EDITOR, "editor", COUNTY)
    for change, field, words in BAD:
        sent = form(**change)
        async with editor.post("/county/live", sent, allow_redirects=False) as r:
            page = await r.text()
        assert r.status == 400, (change, r.status, page[:300])
        beside = page.split(f'data-field="{field}"')
        assert len(beside) == 2 and words in beside[1].split("</span>")[0], (change, page[-3000:])
        assert "没有保存" in page and "Traceback" not in page
        assert f'value="{sent["date"]}"' in page and "县委党校主讲。</textarea>" in page  # what was typed
    assert classes(county) == ["dangke-a"]
    with open_root(county) as h:
        assert [e.action for e in h.db.audit.recent(50) if e.actor == EDITOR and e.action.startswith("live.")] == []


async def test_cancelling_a_class_is_audit_logged_and_moves_it_to_the_past(app, county):
    schedule(county, "dangke-a", at(TOMORROW, "19:30"), 60, title="要取消的党课")
    editor = await login_as(app, county, EDITOR, "editor", COUNTY)
    page = await editor.text("/county/live")
    assert 'action="/county/live/dangke-a/cancel"' in page and "确定取消直播《要取消的党课》吗？" in page
    async with editor.post("/county/live/dangke-a/cancel", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/county/live?done=cancel&id=dangke-a"
    page = await editor.text(r.headers["Location"])
    assert "✓ 已取消直播 dangke-a" in page
    assert listed(page, "coming") == [] and listed(page, "past") == ["dangke-a"]
    row = row_of(page, "dangke-a")
    assert 'class="state none">已取消' in row and "取消直播</button>" not in row
    with open_root(county) as h:
        assert h.db.live.get("dangke-a").cancelled_at
        entries = [(e.action, e.target, e.actor, e.address) for e in h.db.audit.recent(20) if e.action == "live.cancel"]
        assert entries == [("live.cancel", "dangke-a", EDITOR, "127.0.0.1")]
    async with editor.post("/county/live/dangke-a/cancel", allow_redirects=False) as r:
        assert r.status == 400 and "已经取消了" in await r.text()


def encoder_says(root, live_id: str, **status) -> None:
    cfg = load_config(root)
    folder = live_dir(cfg, live_id)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(
        folder / "status.json",
        LiveStatus(id=live_id, source=f"rtmp://127.0.0.1:1935/live/{live_id}", **status).to_json(),
    )


async def test_the_page_shows_a_failed_encoders_last_lines_and_a_dropped_signal(app, county):
    now = datetime.now(UTC)
    schedule(county, "dangke-fail", now - timedelta(minutes=20), 60, region=f"{COUNTY}/蚬岗镇", title="没信号的党课")
    schedule(county, "dangke-wait", now - timedelta(minutes=10), 60, region=f"{COUNTY}/河台镇", title="断线的党课")
    schedule(county, "dangke-next", now + timedelta(days=2), 60, title="后天的党课")
    started = (now - timedelta(minutes=19)).strftime("%Y-%m-%dT%H:%M:%SZ")
    root = str(load_config(county).root)  # as ffmpeg names the files it writes
    encoder_says(
        county,
        "dangke-fail",
        state="failed",
        started_at=started,
        last_error="rtmp://127.0.0.1:1935/live/dangke-fail: nothing arrived (Connection refused)",
        last_lines=(
            f"[out#0] Error opening output {root}/live/dangke-fail/tv-hd/index.m3u8",
            "<script>alert(1)</script> Connection refused",
        ),
    )
    encoder_says(
        county,
        "dangke-wait",
        state="waiting",
        started_at=started,
        segments={"stb-sd": 120, "tv-hd": 118},
        restarts=2,
        last_error="the source stopped: End of file",
        last_lines=("rtmp://127.0.0.1:1935/live/dangke-wait: End of file",),
    )
    editor = await login_as(app, county, EDITOR, "editor", COUNTY)
    page = await editor.text("/county/live")
    assert listed(page, "coming") == ["dangke-fail", "dangke-wait", "dangke-next"]
    failed = row_of(page, "dangke-fail")
    assert 'class="state bad">编码失败' in failed and "nothing arrived (Connection refused)" in failed
    log = page.split('data-log="dangke-fail"')[1].split("</tr>")[0]
    assert '<pre class="last-lines">' in log and "&lt;script&gt;alert(1)&lt;/script&gt; Connection refused" in log
    assert "Error opening output …/live/dangke-fail/tv-hd/index.m3u8" in log and root not in page
    assert "<script>alert(1)" not in page
    waiting = row_of(page, "dangke-wait")
    assert 'class="state warn">信号中断，等待重连' in waiting and "重连 2 次" in waiting
    assert "标清机顶盒（IPTV 浏览器）</span>：120 段" in waiting and "：118 段" in waiting
    assert "End of file" in page.split('data-log="dangke-wait"')[1].split("</tr>")[0]
    assert 'data-log="dangke-next"' not in page and "未启动" in row_of(page, "dangke-next")
    card = (await editor.text("/county")).split('id="card-live"')[1].split('<div class="card"')[0]
    assert 'data-state="failed"' in card and "编码失败</span> 没信号的党课" in card
    assert "信号中断，等待重连</span> 断线的党课" in card and "下一场：后天的党课" in card
    async with editor.get("/api/v1/live") as r:
        doc = {c["id"]: c for c in (await r.json())["classes"]}
    assert doc["dangke-fail"]["state"] == "failed" and doc["dangke-wait"]["encoder"]["restarts"] == 2
    assert root not in json.dumps(doc, ensure_ascii=False)
    admin = await login_admin(app, county)  # an admin reads the server paths (this browser's login now)
    assert f"Error opening output {root}/live/dangke-fail" in await admin.text("/county/live")
