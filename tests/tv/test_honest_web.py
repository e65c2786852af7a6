"""What a client on the LAN sees when it tries to inflate the figures through the TV and admin
pages (issue 10 item 4): each refusal is a 4xx that says why, and the admin page warns before the
journal reaches its budget. The station's real app through ``aiohttp_client``."""

from __future__ import annotations

import dataclasses
import re
import time

from station.records.attendance import Attendance
from station.records.journal import usage
from station.status import collect_status, describe
from tests.conftest import run_cli
from tests.tv.test_pages import login


async def test_tv_and_admin_refuse_a_headcount_above_the_room_capacity(page_client, tv):
    tv.cfg = dataclasses.replace(tv.cfg, capacity=40)
    client = await page_client(tv.app())
    resp = await client.post("/session/start", data={"topic": "农业技术", "headcount": "9999"})
    assert resp.status == 409
    text = await resp.text()
    assert "学习室只有 40 个座位" in text and "capacity" in text
    await login(client)
    resp = await client.post("/admin/session/start", data={"topic": "冬训", "headcount": "41"})
    assert resp.status == 409 and "参加人数最多填 40" in await resp.text()
    assert tv.journal("session_start") == []
    resp = await client.post("/session/start", data={"topic": "农业技术", "headcount": "40"}, allow_redirects=False)
    assert resp.status == 303 and [e["headcount"] for e in tv.journal("session_start")] == [40]


async def test_a_session_ended_a_second_after_it_started_is_not_counted(page_client, tv):
    client = await page_client(tv.app())
    await client.post("/session/start", data={"topic": "农业技术", "headcount": "100"})
    await client.post("/session/end")
    await login(client)
    html = await (await client.get("/admin")).text()
    assert "0（另有 1 场时间太短，不计入）" in html
    assert "人次</th><td>0（集中学习 0，自学 0）" in html
    assert [e["counted"] for e in tv.journal("session_end")] == [False]


async def test_plays_at_the_journal_budget_are_refused_and_the_admin_page_warns(page_client, tv):
    later = {"s": 0.0}
    att = Attendance(tv.cfg.data_dir, clock=lambda: time.time() + later["s"], budget_bytes=3000)
    client = await page_client(tv.app(attendance=att))
    await login(client)
    assert "日志快满了" not in await (await client.get("/admin")).text()
    warned = False
    for _ in range(40):
        resp = await client.post("/api/plays", json={"course": "c-goose"})
        if resp.status != 200:
            break
        pid = (await resp.json())["id"]
        later["s"] += 5
        await client.post(f"/api/plays/{pid}/end", json={"position_s": 2, "watched_s": 2})
        warned = warned or "日志快满了" in await (await client.get("/admin")).text()
    assert warned  # the warning came before the budget was reached
    assert resp.status == 409
    assert "日志已满，暂时不记录播放" in (await resp.json())["error"]
    plays = len(tv.journal("play"))
    html = await (await client.get("/admin")).text()
    assert "日志已满" in html and "budget_mb" in html
    resp = await client.post("/admin/logbook", data={"text": "县里来检查"}, allow_redirects=False)
    assert resp.status == 303 and [e["text"] for e in tv.journal("logbook")] == ["县里来检查"]
    assert len(tv.journal("play")) == plays  # nothing recorded was deleted, and no new play came in


async def test_station_status_says_how_full_the_journal_is(page_client, tv):
    tv.cfg = dataclasses.replace(tv.cfg, journal_budget_bytes=1300)  # six lines with boot and mono: over 80 %
    client = await page_client(tv.app())
    await login(client)
    for text in ("第一条", "第二条", "第三条", "第四条", "第五条"):
        await client.post("/admin/logbook", data={"text": text * 5})
    journal = usage(tv.cfg.data_dir / "journal", tv.cfg.journal_budget_bytes)  # as `station status` reads it
    words = "\n".join(describe(collect_status(tv.cfg, tv.store, journal)))
    assert "attendance journal:" in words and "nearly full" in words
    assert "6 events not yet acknowledged by the headend" in words  # the login and five entries
    j = (await (await client.get("/api/status")).json())["journal"]
    assert j["budget_bytes"] == 1300 and j["last_seq"] == 6 and j["acknowledged_seq"] == 0
    res = run_cli("station", "--config", str(tv.cfg.path), "status")  # the real command, default budget
    assert res.returncode == 0 and "attendance journal:" in res.stdout
    assert "of 190.7 MB" in res.stdout  # 200 × 10⁶ bytes, in binary units
    assert "6 events not yet acknowledged" in res.stdout


async def test_a_script_with_the_tv_pages_token_adds_at_most_100_people_a_session(aiohttp_client, page_client, tv):
    """The issue's curl loop done properly: a LAN script reads the TV page's token, sends the
    station's own Origin, and runs the day's 8 sessions of 301 s with a headcount of 9999. Without
    ``[station] capacity`` the station still takes at most 100 people a session."""
    assert tv.cfg.capacity is None
    later = {"s": 0.0}
    att = Attendance(tv.cfg.data_dir, clock=lambda: time.time() + later["s"])
    app = tv.app(attendance=att)
    script = await aiohttp_client(app)
    page = await (await script.get("/")).text()
    token = re.search(r'<meta name="yj-token" content="([^"]+)">', page)[1]
    headers = {"Origin": str(script.make_url("/")).rstrip("/"), "X-YJ-Token": token}
    refused = []
    for _ in range(8):
        for headcount in ("9999", "100"):  # the most it is let through
            resp = await script.post(
                "/session/start", data={"topic": "农业技术", "headcount": headcount}, headers=headers
            )
            if resp.status == 409:
                refused.append(await resp.text())
                continue
            break
        later["s"] += 301
        await script.post("/session/end", headers=headers)
        later["s"] += 1
    assert len(tv.journal("session_end")) == 8  # the sessions went in: the token works
    assert sum(e["headcount"] for e in tv.journal("session_end")) <= 8 * 100
    admin = await page_client(app)
    await login(admin)
    html = await (await admin.get("/admin")).text()
    month = re.search(r"<tr><th>人次</th><td>[^<]*</td><td>(\d+)", html)
    assert month and int(month[1]) <= 8 * 100
    assert refused and all("参加人数最多填 100" in text and "capacity" in text for text in refused)
    resp = await admin.post("/admin/session/start", data={"topic": "冬训", "headcount": "101"})
    assert resp.status == 409 and "参加人数最多填 100" in await resp.text()  # the administrator alike


async def test_a_damaged_local_json_is_set_aside_and_the_open_session_stays_open(page_client, tv):
    client = await page_client(tv.app())
    resp = await client.post("/session/start", data={"topic": "冬训", "headcount": "12"}, allow_redirects=False)
    assert resp.status == 303
    local = tv.cfg.data_dir / "local.json"
    local.write_bytes(local.read_bytes()[:20])  # a copy cut short, a failing SD card
    client = await page_client(tv.app())  # the box restarts
    resp = await client.get("/")
    assert resp.status == 200 and "集中学习：冬训" in await resp.text()
    assert (await client.get("/session")).status == 200
    assert (tv.cfg.data_dir / "local.json.damaged").exists()
    resp = await client.post("/session/end", allow_redirects=False)
    assert resp.status in (200, 303)
    assert [(e["topic"], e["headcount"]) for e in tv.journal("session_end")] == [("冬训", 12)]
