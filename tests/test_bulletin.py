"""The monthly bulletin (月通报, issue 13) on a generated county: the printable page counts the
stations by stars as the ratings table does, lists the top ten in rank order and each township's
person-times (未上报 for a township that sent nothing, never 0) and the alerts opened in the month;
the PDF is a real PDF printed by the system Chromium, its Chinese text intact; a missing,
failing or hanging Chromium gives a 503 with the printable page, never a 500; an account sees its
own region only (404 outside it) and a bad period is a 400."""

from __future__ import annotations

import asyncio
import io
import os
import re
import stat
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from catalogue.clocks import CHINA
from catalogue.periods import period_of
from headend.config import load_config
from headend.db.schema import stations
from headend.service import open_root
from headend.service.alerts import iso
from headend.service.rating_exports import stars_text
from headend.service.ratings import ratings_table
from headend.service.stations import add_station
from headend.web.app import create_app
from headend.web.bulletin import CHROMIUM_ENV, PRINTER, Printer, find_chromium, print_pdf
from tests.browser import chromium_missing
from tests.conftest import init_headend, serve
from tests.county_kit import login_admin, login_as
from tests.headend_db import database
from tests.rating_county import COUNTY, fill_county

pytestmark = pytest.mark.one_engine  # about the bulletin, not the database

TODAY = datetime.now(CHINA).date()
MONTH = period_of("month", TODAY).previous()  # the month a county circulates now
COUNTY_TEXT = "/".join(COUNTY)
EMPTY_TOWNSHIP = "第99镇"  # one station, registered today: reported nothing
LATE = "late-comer"


def at_china(day, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=CHINA)


@pytest.fixture(scope="module")
def county(tmp_path_factory, headend_db):
    """60 stations in 10 townships with 90 days of roll-ups up to yesterday, one more station in a
    township of its own that never reported, and alerts: three opened last month (one cleared),
    one opened the month before."""
    root = init_headend(tmp_path_factory.mktemp("bulletin") / "headend", headend_db)
    with database(root) as db:
        ids = fill_county(db, n=60, days=90, last_day=TODAY - timedelta(days=1))
    with open_root(root) as h:
        add_station(h, LATE, "迟到村站点", f"{COUNTY_TEXT}/{EMPTY_TOWNSHIP}/迟到村", "stb-sd")
        alerts = h.db.alerts
        before = MONTH.previous()
        alerts.record_check(
            iso(at_china(before.first, 9)), [(ids["idle"][0], "silent", {"words": "失联 30 小时"})], {}, {}
        )
        opened = [
            (ids["silent"][0], "silent", {"words": "失联 26 小时（开放时间内）"}),
            (ids["busy"][0], "disk_low", {"words": "磁盘剩余 1%"}),
            (ids["lagging"][0], "sync_failing", {"words": "同步失败 30 小时"}),
        ]
        alerts.record_check(iso(at_china(MONTH.first + timedelta(days=2), 10)), opened, {}, {})
        disk = next(a for a in alerts.open_alerts() if a.kind == "disk_low")
        alerts.record_check(iso(at_china(MONTH.first + timedelta(days=3), 8)), [], {}, {disk.id: None})
    return root, ids


def expected_table(root, region=COUNTY_TEXT):
    with open_root(root) as h:
        return ratings_table(h, MONTH, region=tuple(region.split("/")))


def township_person_times(root) -> dict[str, int]:
    """Township → person-times of last month, straight from the daily roll-up's sums."""
    with open_root(root) as h:
        figures = h.db.dashboard.activity(None, MONTH.first, MONTH.last)
        out: dict[str, int] = {}
        for s in h.db.stations():
            if s.id in figures:
                out[s.region[3]] = out.get(s.region[3], 0) + figures[s.id].person_times
        return out


def star_counts(page: str) -> dict[str, int]:
    rows = re.findall(r'<tr data-stars="(\w+)"><td[^>]*>[^<]*</td><td class="num">(\d+)</td>', page)
    return {k: int(n) for k, n in rows}


def table(page: str, table_id: str) -> str:
    return page.split(f'<table id="{table_id}">')[1].split("</table>")[0]


def url(kind: str = "", **params: str) -> str:
    query = {"period": MONTH.name, "region": COUNTY_TEXT, **params}
    return f"/county/ratings/bulletin{kind}?" + "&".join(f"{k}={v}" for k, v in query.items())


async def test_the_page_counts_stars_ranks_the_top_ten_and_adds_up_each_township(county, aiohttp_client):
    root, ids = county
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    viewer = await login_as(client, root, "cha-kan", "viewer")
    page = await viewer.text(url())
    t = expected_table(root)

    assert f"高要市远程教育站点 {MONTH.label} 通报" in page
    assert t.state_words in page and t.rubric.title in page
    want = {str(n): sum(e.rating.status == "ranked" and e.rating.stars == n for e in t.entries) for n in range(6)}
    want["incomplete"] = sum(e.rating.status == "incomplete" for e in t.entries)
    want["unexpected"] = sum(e.rating.status == "unexpected" for e in t.entries)
    assert star_counts(page) == want
    assert want["incomplete"] >= len(ids["silent"]) and want["unexpected"] == 1  # the station registered today
    assert sum(want.values()) == len(t.entries) == 61

    ranked = [e for e in t.entries if e.rating.status == "ranked"]
    top = table(page, "top")
    assert re.findall(r'data-station="([^"]+)"', top) == [e.station.id for e in ranked[:10]]
    first = ranked[0]
    row = top.split(f'data-station="{first.station.id}"')[1].split("</tr>")[0]
    assert first.station.name in row and first.station.region[3] in row and stars_text(first.rating.stars) in row
    assert f">{first.rating.total:g}<" in row and ">1<" in row
    bottom = re.findall(r'data-station="([^"]+)"', table(page, "bottom"))
    assert bottom == [e.station.id for e in ranked[-10:]]

    parts = table(page, "parts")
    shown = dict(re.findall(r'<tr data-part="([^"]+)">.*?data-person-times="(\d+)"', parts, re.S))
    assert {k: int(v) for k, v in shown.items()} == township_person_times(root)
    assert len(shown) == 10
    empty = parts.split(f'data-part="{EMPTY_TOWNSHIP}"')[1].split("</tr>")[0]
    assert "未上报" in empty and "data-person-times" not in empty
    assert "<svg" in page and "各乡镇人次" in page and "<script" not in page

    counts = table(page, "alert-counts")
    assert re.search(r'data-kind="silent">1<', counts) and re.search(r'data-kind="disk_low">1<', counts)
    assert re.search(r'data-kind="sync_failing">1<', counts) and 'id="alerts-opened">3<' in counts
    listed = table(page, "alerts")
    assert ids["idle"][0] not in listed  # opened the month before
    assert "磁盘剩余 1%" in listed and "未恢复" in listed


@pytest.mark.slow  # the system Chromium prints it
async def test_the_pdf_is_a_real_pdf_with_the_chinese_title_and_the_top_station(county, aiohttp_client):
    if why := chromium_missing():
        pytest.skip(why)
    from pypdf import PdfReader

    root, _ = county
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    admin = await login_admin(client, root)
    async with admin.get(url(".pdf")) as r:
        body = await r.read()
        assert r.status == 200, body[:400]
        assert r.headers["Content-Type"] == "application/pdf"
        assert f'filename="bulletin-{MONTH.name}.pdf"' in r.headers["Content-Disposition"]
    assert body.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    squeezed = re.sub(r"\s+", "", text)
    assert re.sub(r"\s+", "", f"高要市远程教育站点 {MONTH.label} 通报") in squeezed, text[:400]
    top = next(e for e in expected_table(root).entries if e.rating.status == "ranked")
    assert top.station.name in squeezed
    assert "返回星级排名" not in squeezed and "下载PDF" not in squeezed  # no page chrome in print


def fake_chromium(tmp_path, body: str) -> str:
    path = tmp_path / "chromium"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.mark.parametrize("case", ["missing", "failing"])
async def test_no_pdf_without_a_working_chromium_is_a_503_with_the_printable_page(
    county, aiohttp_client, tmp_path, monkeypatch, case
):
    root, _ = county
    chromium = str(tmp_path / "no-such-chromium") if case == "missing" else fake_chromium(tmp_path, "exit 3")
    monkeypatch.setenv(CHROMIUM_ENV, chromium)
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    admin = await login_admin(client, root)
    async with admin.get(url(".pdf")) as r:
        page = await r.text()
        assert r.status == 503 and r.content_type == "text/html"
    assert "现在无法生成 PDF" in page and "打印" in page and 'id="bulletin-title"' in page
    assert ("无法启动 Chromium" if case == "missing" else "退出码 3") in page


async def test_a_hanging_chromium_is_stopped_and_answered_503(county, aiohttp_client, tmp_path):
    root, _ = county
    pid_file = tmp_path / "child.pid"
    hanging = fake_chromium(tmp_path, f"sleep 300 &\necho $! > {pid_file}\nwait")
    app = create_app(load_config(root), background_loops=False)
    app[PRINTER] = Printer(hanging, timeout_s=1.0)
    client = await aiohttp_client(app)
    admin = await login_admin(client, root)
    started = datetime.now(UTC)
    async with admin.get(url(".pdf")) as r:
        page = await r.text()
        assert r.status == 503
    assert (datetime.now(UTC) - started).total_seconds() < 20
    assert "1 秒内没有打印完" in page
    child = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # what it started was ended too (or reaped: gone either way)
        for _ in range(50):
            os.kill(child, 0)
            await asyncio.sleep(0.1)


async def test_a_pdf_asked_for_while_another_prints_is_a_503_at_once(county, aiohttp_client, tmp_path):
    root, _ = county
    log, go = tmp_path / "prints.log", tmp_path / "go"
    held = fake_chromium(  # prints only once the test says so
        tmp_path,
        'for a in "$@"; do case "$a" in --print-to-pdf=*) out="${a#--print-to-pdf=}";; esac; done\n'
        f"echo start >> {log}\nwhile [ ! -e {go} ]; do sleep 0.05; done\n"
        f"printf '%%PDF-1.4 fake' > \"$out\"\necho end >> {log}",
    )
    app = create_app(load_config(root), background_loops=False)
    app[PRINTER] = Printer(held)
    client = await aiohttp_client(app)
    admin = await login_admin(client, root)

    async def fetch() -> tuple[int, bytes, str]:
        async with admin.get(url(".pdf")) as r:
            return r.status, await r.read(), r.headers.get("Retry-After", "")

    await admin.text(url())  # rubric version recorded first: two first looks at once race in RatingStore.rubric_version
    first = asyncio.create_task(fetch())
    for _ in range(200):
        if log.exists():
            break
        await asyncio.sleep(0.05)
    assert log.read_text().split() == ["start"]
    for status, body, retry in await asyncio.wait_for(asyncio.gather(fetch(), fetch()), 20):
        page = body.decode("utf-8")
        assert status == 503 and retry.isdigit(), page[:400]  # answered at once, not queued behind the first
        assert "正在生成另一份 PDF，请稍后再试" in page and 'id="bulletin-title"' in page and "打印" in page
    assert log.read_text().split() == ["start"]  # never two at once
    go.touch()
    status, body, _ = await asyncio.wait_for(first, 20)
    assert status == 200 and body.startswith(b"%PDF")
    status, body, _ = await fetch()  # the printer is free again
    assert status == 200 and body.startswith(b"%PDF")
    assert log.read_text().split() == ["start", "end"] * 2


@pytest.mark.slow  # the system Chromium prints it
async def test_the_printed_page_runs_no_script_and_fetches_nothing(tmp_path):
    if why := chromium_missing():
        pytest.skip(why)
    from pypdf import PdfReader

    fetched: list[str] = []

    async def picture(request: web.Request) -> web.Response:
        fetched.append(request.path)
        return web.Response(body=b"", content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", picture)
    async with serve(app) as base:  # on loopback, which Chromium never sends through a proxy
        html = (
            '<!doctype html><html><head><meta charset="utf-8"></head><body><p id="p">静态文字 static</p>'
            f'<img src="{base}/tracker.png"><link rel="stylesheet" href="{base}/style.css">'
            "<script>document.getElementById('p').textContent = 'SCRIPT RAN';</script></body></html>"
        )
        pdf = await print_pdf(Printer(find_chromium()), html)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "static" in text and "SCRIPT RAN" not in text, text
    assert fetched == []


async def test_a_township_account_gets_its_own_bulletin_and_no_other(county, aiohttp_client):
    root, _ = county
    township = f"{COUNTY_TEXT}/第2镇"
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    staff = await login_as(client, root, "zhen-er", "viewer", township)
    page = await staff.text(f"/county/ratings/bulletin?period={MONTH.name}")  # its own region by default
    assert f"第2镇远程教育站点 {MONTH.label} 通报" in page
    t = expected_table(root, township)
    assert sum(star_counts(page).values()) == len(t.entries) == 6
    assert all("第2镇" in name for name in re.findall(r">(第\d+镇\d+村站点)<", page))
    for region in (COUNTY_TEXT, f"{COUNTY_TEXT}/第3镇", "广东省/广州市"):
        async with staff.get(url(region=region)) as r:
            assert r.status == 404, region
        async with staff.get(url(".pdf", region=region)) as r:
            assert r.status == 404, region


@pytest.mark.parametrize("period", ["2026-13", "2026-W49", "yesterday", "2099-01"])
async def test_a_bad_period_is_a_400(county, aiohttp_client, period):
    root, _ = county
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    admin = await login_admin(client, root)
    for kind in ("", ".pdf"):
        async with admin.get(url(kind, period=period)) as r:
            text = await r.text()
            assert r.status == 400, (period, kind, text)
        if period != "2099-01":  # (that one is readable, but has not begun)
            assert "时段无法识别或不能评定" in text and "季度（2026-Q4）" in text  # as the ranking says it


async def test_without_a_period_it_is_last_months(county, aiohttp_client):
    root, _ = county
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    admin = await login_admin(client, root)
    page = await admin.text("/county/ratings/bulletin")
    assert f"全部地区远程教育站点 {MONTH.label} 通报" in page
    assert f"period={MONTH.previous().name}" in page  # the link to the month before


async def test_no_link_to_a_period_before_the_year_2000(tmp_path, headend_db, aiohttp_client):
    root = init_headend(tmp_path / "headend", headend_db)
    with open_root(root) as h:
        add_station(h, "old-timer", "老站点", f"{COUNTY_TEXT}/第1镇/老村", "stb-sd")
    with database(root) as db, db.engine.begin() as conn:  # enrolled before 2000: those periods are rated
        conn.execute(stations.update().values(created_at="1999-06-01T00:00:00Z"))
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    admin = await login_admin(client, root)
    for first, later in (("2000-01", "2000-02"), ("2000-Q1", "2000-Q2"), ("2000", "2001")):
        page = await admin.text(url(period=first, region=COUNTY_TEXT))
        assert "通报" in page and "period=1999" not in page, first  # which no page accepts
        assert f"period={later}" in page
        ranking = await admin.text(f"/county/ratings?period={first}")
        assert "period=1999" not in ranking and f"period={later}" in ranking
    assert "period=2000-01" in await admin.text(url(period="2000-02"))  # the previous link, as usual
    async with admin.get(url(period="1999-12")) as r:
        assert r.status == 400
