"""The county's star-rating pages (issue 13) against the real app, on a generated county
(``tests/rating_county.py``) whose last day is yesterday: the ranking puts the busy stations with
five stars above the idle ones, lists 数据不全 stations apart and sorts by any indicator; CSV,
XLSX and JSON carry the same figures; a station's page shows its flags with their evidence, an
admin overrides one with a reason (audit-logged, its figures count again), an editor records an
inspection with a photo (its points rise) but not one dated before the item's latest visit or over
92 days ago (an admin may); an override lapses when the day's evidence gets worse; a viewer or an
editor may not override; a bad period is a 400, a station outside the account's region a 404, a
station not rated in a period a 404 that says why; a flag reads the same on the page, in the XLSX
and from the CLI."""

from __future__ import annotations

import io
import re
import struct
import zlib
from datetime import datetime, timedelta

import openpyxl
import pytest

from catalogue.clocks import CHINA
from catalogue.periods import period_of
from headend.cli import main
from headend.config import load_config
from headend.db.schema import station_days
from headend.service import open_root
from headend.service.stations import add_station, revoke_station
from headend.web.app import create_app
from tests.conftest import init_headend
from tests.county_kit import login_admin, login_as
from tests.headend_db import database
from tests.rating_county import COUNTY, fill_county

pytestmark = pytest.mark.one_engine  # the pages, not the database: one engine

TODAY = datetime.now(CHINA).date()
PERIOD = period_of("month", TODAY).previous()  # the pages' default; the county covers it fully


@pytest.fixture
def county(tmp_path, headend_db):
    """24 stations in 3 townships, 90 days up to yesterday; periods stay provisional 60 days."""
    root = init_headend(tmp_path / "headend", headend_db)
    path = root / "headend.toml"
    text, n = re.subn(r"(?m)^close_days = .*$", "close_days = 60", path.read_text(encoding="utf-8"))
    assert n == 1
    path.write_text(text, encoding="utf-8")
    with database(root) as db:
        ids = fill_county(db, n=24, days=90, last_day=TODAY - timedelta(days=1), townships=3)
    return root, ids


async def app_client(aiohttp_client, root):
    return await aiohttp_client(create_app(load_config(root), background_loops=False))


def table_rows(page: str, table_id: str) -> list[tuple[str, str]]:
    """(station id, the row's HTML) of a table on the page, in order."""
    body = page.split(f'id="{table_id}"')[1].split("</table>")[0]
    return re.findall(r'<tr data-station="([^"]+)"(.*?)</tr>', body, re.S)


def flag_rows(page: str) -> list[str]:
    body = page.split('id="flag-list"')[1].split("</table>")[0]
    return re.findall(r"<tr data-rule=.*?</tr>", body, re.S)


def points(page: str, indicator: str) -> str:
    row = page.split(f'<tr data-indicator="{indicator}">')[1].split("</tr>")[0]
    return re.search(r'data-points="([^"]+)"', row).group(1)


def tiny_png() -> bytes:
    """A real 1×1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0\xff\0\0"))
        + chunk(b"IEND", b"")
    )


async def test_the_ranking_puts_busy_stations_with_five_stars_above_idle_ones(county, aiohttp_client):
    root, ids = county
    client = await app_client(aiohttp_client, root)
    admin = await login_admin(client, root)
    page = await admin.text("/county/ratings")  # last month by default
    assert "远程教育站点星级评定标准" in page and PERIOD.label in page and "暂定" in page and "评分标准第 1 版" in page
    assert 'href="/county/ratings"' in page  # the nav link
    ranked = table_rows(page, "ranking")
    order = [sid for sid, _ in ranked]
    last_busy = max(order.index(s) for s in ids["busy"])
    assert last_busy < min(order.index(s) for s in ids["idle"])
    for sid, row in ranked:
        if sid in ids["busy"]:
            assert "★★★★★" in row and 'class="top"' in row  # all tied first, highlighted
            assert f'href="/county/stations/{sid}/rating?period={PERIOD.name}"' in row
        if sid in ids["idle"]:
            assert "未达星级" in row and "top" not in row
    crowded = dict(ranked)[ids["crowded"][0]]
    assert "#flags" in crowded and ">2<" in crowded  # two standing flags
    apart = dict(table_rows(page, "incomplete"))
    assert set(apart) == set(ids["silent"]) and not set(apart) & set(order)
    assert "数据不全" in apart[ids["silent"][0]] and "的天数（需 60%）" in apart[ids["silent"][0]]

    # sorting by an indicator: "课程及时更新" low to high puts the lagging station first
    sorted_page = await admin.text(f"/county/ratings?period={PERIOD.name}&sort=freshness")
    sorted_order = [sid for sid, _ in table_rows(sorted_page, "ranking")]
    assert sorted_order[0] == ids["lagging"][0] != order[0]
    assert order.index(ids["lagging"][0]) > len(ids["busy"])
    back = [sid for sid, _ in table_rows(await admin.text("/county/ratings?sort=freshness&desc=1"), "ranking")]
    assert back[-1] == ids["lagging"][0]

    # the other periods: a quarter and a year are rated too
    assert "季度" in await admin.text(f"/county/ratings?period={TODAY.year}-Q{(TODAY.month - 1) // 3 + 1}")


async def test_csv_xlsx_and_json_carry_the_page_s_figures(county, aiohttp_client):
    root, ids = county
    client = await app_client(aiohttp_client, root)
    admin = await login_admin(client, root)
    page = await admin.text(f"/county/ratings?period={PERIOD.name}")
    shown = dict(re.findall(r'<tr data-station="([^"]+)" data-total="([^"]+)"', page))
    assert len(shown) == 17  # 24 less the 7 silent ones

    async with admin.get(f"/county/ratings.csv?period={PERIOD.name}") as r:
        assert r.status == 200 and r.content_type == "text/csv"
        assert r.headers["Content-Disposition"] == f'attachment; filename="ratings-{PERIOD.name}.csv"'
        body = await r.read()
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("县内排名,镇内排名,站点编号,站点名称,地区,总分,星级")
    assert len(lines) == 1 + 24

    async with admin.get(f"/county/ratings.xlsx?period={PERIOD.name}") as r:
        assert r.status == 200
        assert r.content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        assert r.headers["Content-Disposition"] == f'attachment; filename="ratings-{PERIOD.name}.xlsx"'
        book = openpyxl.load_workbook(io.BytesIO(await r.read()))
    sheet = book["排名"]
    assert "远程教育站点星级评定标准" in sheet["A1"].value and PERIOD.label in sheet["A1"].value
    assert [c.value for c in sheet[2]][:4] == ["县内排名", "镇内排名", "站点编号", "站点名称"]
    assert "评分说明" in book.sheetnames

    async with admin.get(f"/api/v1/ratings?period={PERIOD.name}") as r:
        assert r.status == 200
        doc = await r.json()
    assert doc["period"] == PERIOD.name and doc["state"] == "provisional"
    by_id = {s["station"]: s for s in doc["stations"]}
    assert set(by_id) == {s for group in ids.values() for s in group}
    for sid, total in shown.items():
        assert by_id[sid]["total"] == float(total) and by_id[sid]["status"] == "ranked"
    assert by_id[ids["busy"][0]]["stars"] == 5 and by_id[ids["silent"][0]]["status"] == "incomplete"


async def test_an_admin_overrides_the_crowded_station_s_flag_with_a_reason(county, aiohttp_client):
    root, ids = county
    crowded = ids["crowded"][0]
    client = await app_client(aiohttp_client, root)
    admin = await login_admin(client, root)
    path = f"/county/stations/{crowded}/rating?period={PERIOD.name}"
    page = await admin.text(path)
    rows = flag_rows(page)
    capacity = next(r for r in rows if 'data-rule="headcount_over_capacity"' in r)
    assert "500 人" in capacity and "30 个座位" in capacity and "当天集中学习不计" in capacity
    assert "/flags/override" in capacity and 'data-counted="0"' in capacity
    day = re.search(r'data-day="([^"]+)"', capacity).group(1)
    assert day == PERIOD.first.replace(day=15).isoformat()

    async def sessions() -> int:
        async with admin.get(f"/api/v1/ratings?period={PERIOD.name}") as r:
            doc = await r.json()
        return next(s for s in doc["stations"] if s["station"] == crowded)["inputs"]["sessions"]

    before = await sessions()
    form = {"period": PERIOD.name, "day": day, "rule": "headcount_over_capacity", "reason": "短"}
    async with admin.post(f"/county/stations/{crowded}/flags/override", form) as r:
        assert r.status == 400 and "复核理由" in await r.text()  # a reason of one character
    form["reason"] = "村里开大会，借用了村委礼堂，登记人数属实"
    async with admin.post(f"/county/stations/{crowded}/flags/override", form, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].endswith("#flags")
    capacity = next(r for r in flag_rows(await admin.text(path)) if "headcount_over_capacity" in r)
    assert "已复核，计入" in capacity and "admin" in capacity and "借用了村委礼堂" in capacity
    assert "/flags/override" not in capacity and 'data-counted="1"' in capacity
    # the other flag of that day still voids the session: override it too, then the session counts
    form.update(rule="headcount_over_members")
    async with admin.post(f"/county/stations/{crowded}/flags/override", form, allow_redirects=False) as r:
        assert r.status == 303
    assert await sessions() == before + 1
    with open_root(root) as h:
        logged = [e for e in h.db.audit.recent() if e.action == "rating.override"]
    assert {e.target for e in logged} == {
        f"{crowded}/{day}/headcount_over_capacity",
        f"{crowded}/{day}/headcount_over_members",
    }
    assert all(e.actor == "admin" and e.detail["reason"] == form["reason"] for e in logged)
    assert tuple(logged[0].region[:3]) == COUNTY

    # a flag the station does not have is a 404, not a new override
    form.update(rule="hours_over_day")
    async with admin.post(f"/county/stations/{crowded}/flags/override", form) as r:
        assert r.status == 404


async def test_viewers_and_editors_see_no_override_form_and_get_403(county, aiohttp_client):
    root, ids = county
    crowded = ids["crowded"][0]
    client = await app_client(aiohttp_client, root)
    day = PERIOD.first.replace(day=15).isoformat()
    form = {"period": PERIOD.name, "day": day, "rule": "headcount_over_capacity", "reason": "我觉得没问题"}
    for name, role in (("cha-kan", "viewer"), ("bian-ji", "editor")):
        staff = await login_as(client, root, name, role)
        page = await staff.text(f"/county/stations/{crowded}/rating?period={PERIOD.name}")
        assert "500 人" in page and "/flags/override" not in page and "未复核" in page
        assert ("inspection-form" in page) == (role == "editor")
        async with staff.post(f"/county/stations/{crowded}/flags/override", form) as r:
            assert r.status == 403
        async with staff.post("/logout", allow_redirects=False) as r:
            assert r.status == 303
    with open_root(root) as h:
        assert not h.db.ratings.overrides(day, day, PERIOD.name)
        assert not [e for e in h.db.audit.recent() if e.action == "rating.override"]


async def test_an_inspection_with_a_photo_shows_and_raises_its_points(county, aiohttp_client):
    root, ids = county
    busy = ids["busy"][0]
    client = await app_client(aiohttp_client, root)
    editor = await login_as(client, root, "bian-ji", "editor")
    path = f"/county/stations/{busy}/rating?period={PERIOD.name}"
    page = await editor.text(path)
    assert points(page, "place") == "0.0" and "没有有效的实地检查记录" in page
    photo = tiny_png()
    form = {
        "period": PERIOD.name,
        "item": "place",
        "score": "3",
        "on": PERIOD.last.isoformat(),
        "note": "场所整洁，有标识",
    }
    async with editor.post(f"/county/stations/{busy}/inspections", {**form, "photo": io.BytesIO(photo)}) as r:
        assert r.status == 200, await r.text()  # followed the 303 back to the page
        page = await r.text()
    assert points(page, "place") == "3.0" and "固定场所检查得 3 分" in page
    row = page.split('id="inspection-list"')[1].split("</table>")[0]
    assert "场所整洁，有标识" in row and "bian-ji" in row
    link = re.search(r'href="(/county/evidence/[0-9a-f]{64}\.png)"', row).group(1)
    async with editor.get(link) as r:
        assert r.status == 200 and r.content_type == "image/png" and await r.read() == photo
    with open_root(root) as h:
        logged = [e for e in h.db.audit.recent() if e.action == "rating.inspection"]
    assert [(e.actor, e.target, e.detail["score"]) for e in logged] == [("bian-ji", f"{busy}/place", 3.0)]

    # mistakes: a score out of range, a date to come, a file that is no picture
    async with editor.post(f"/county/stations/{busy}/inspections", {**form, "score": "9"}) as r:
        assert r.status == 400 and "0 到 4 分之间" in await r.text()
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    async with editor.post(f"/county/stations/{busy}/inspections", {**form, "on": tomorrow}) as r:
        assert r.status == 400 and "还没到" in await r.text()
    fake = io.BytesIO(b"MZ\x90\x00 not a picture")
    async with editor.post(f"/county/stations/{busy}/inspections", {**form, "photo": fake}) as r:
        assert r.status == 400 and "JPEG 或 PNG" in await r.text()
    async with editor.get("/county/evidence/../headend.toml") as r:
        assert r.status == 404
    async with editor.get("/county/evidence/" + "0" * 64 + ".png") as r:
        assert r.status == 404


async def test_a_photo_over_5_mb_is_refused_with_its_limit(county, aiohttp_client):
    root, ids = county
    client = await app_client(aiohttp_client, root)
    editor = await login_as(client, root, "bian-ji", "editor")
    form = {"item": "rules", "score": "2", "photo": io.BytesIO(b"\xff\xd8\xff" + bytes(6 * 1024 * 1024))}
    async with editor.post(f"/county/stations/{ids['busy'][0]}/inspections", form) as r:
        assert r.status == 413 and "5 MB" in await r.text()
    big_ok = {"item": "rules", "score": "2", "photo": io.BytesIO(b"\xff\xd8\xff" + bytes(2 * 1024 * 1024))}
    async with editor.post(f"/county/stations/{ids['busy'][0]}/inspections", big_ok, allow_redirects=False) as r:
        assert r.status == 303  # over the app's usual 1 MB, under the photo's 5 MB


async def test_a_bad_period_is_a_400_and_another_region_a_404(county, aiohttp_client):
    root, ids = county
    client = await app_client(aiohttp_client, root)
    with database(root) as db:
        regions = {s.id: s.region for s in db.stations()}
    township = regions[ids["busy"][0]][:4]
    mine = sorted(s for s, r in regions.items() if r[:4] == township)
    other = next(s for s, r in regions.items() if r[:4] != township)
    staff = await login_as(client, root, "zhen-li", "viewer", "/".join(township))
    for bad in ("2026-13", "2026-W10", "next-month"):
        async with staff.get(f"/county/ratings?period={bad}") as r:
            assert r.status == 400 and "period" in await r.text()
        async with staff.get(f"/api/v1/ratings?period={bad}") as r:
            assert r.status == 400 and (await r.json())["status"] == 400
    async with staff.get(f"/county/stations/{mine[0]}/rating?period={TODAY.year + 1}") as r:
        assert r.status == 400  # not begun yet
    async with staff.get(f"/county/stations/{other}/rating") as r:
        assert r.status == 404
    async with staff.get("/county/ratings?region=" + "/".join(COUNTY)) as r:
        assert r.status == 404  # above the account's own region
    page = await staff.text("/county/ratings")
    listed = {s for s, _ in table_rows(page, "ranking")} | {s for s, _ in table_rows(page, "incomplete")}
    assert sorted(listed) == mine
    async with staff.get("/api/v1/ratings") as r:
        assert sorted(s["station"] for s in (await r.json())["stations"]) == mine


async def test_rejects_an_inspection_dated_before_the_latest_visit_or_long_ago(county, aiohttp_client):
    root, ids = county
    busy = ids["busy"][0]
    client = await app_client(aiohttp_client, root)
    post = f"/county/stations/{busy}/inspections"

    def form(item: str, days_ago: int, score: str) -> dict:
        on = (TODAY - timedelta(days=days_ago)).isoformat()
        return {"period": PERIOD.name, "item": item, "score": score, "on": on}

    def recorded() -> list[tuple[str, str, float, str]]:
        with open_root(root) as h:
            return sorted((v.item, v.inspected_on, v.score, v.inspector) for v in h.db.ratings.inspections(busy))

    editor = await login_as(client, root, "bian-ji", "editor")
    async with editor.post(post, form("place", 5, "4"), allow_redirects=False) as r:
        assert r.status == 303
    # another inspector's earlier date would replace the newer visit's score in the periods it covers
    async with editor.post(post, form("place", 10, "0")) as r:
        text = await r.text()
        assert r.status == 400, text
    latest = (TODAY - timedelta(days=5)).isoformat()
    assert f"已有 {latest} 的检查记录（检查人 bian-ji）" in text and "请填写" in text and "管理员" in text
    async with editor.post(post, form("rules", 93, "1")) as r:
        text = await r.text()
        assert r.status == 400, text
    assert "超过 92 天" in text and "管理员" in text
    async with editor.post(post, form("rules", 92, "1"), allow_redirects=False) as r:
        assert r.status == 303  # 92 days ago is still fine
    async with editor.post(post, form("place", 5, "3"), allow_redirects=False) as r:
        assert r.status == 303  # the same day as the latest visit: a second look that day
    assert sorted((i, s) for i, _, s, _ in recorded()) == [("place", 3.0), ("place", 4.0), ("rules", 1.0)]
    async with editor.post("/logout", allow_redirects=False) as r:
        assert r.status == 303

    admin = await login_admin(client, root)  # an admin may correct the record
    for item, days_ago in (("place", 10), ("rules", 120)):
        async with admin.post(post, form(item, days_ago, "2"), allow_redirects=False) as r:
            assert r.status == 303, await r.text()
    assert len(recorded()) == 5


async def test_an_override_stands_only_while_the_flag_s_evidence_is_unchanged(county, aiohttp_client):
    root, ids = county
    crowded = ids["crowded"][0]
    client = await app_client(aiohttp_client, root)
    admin = await login_admin(client, root)
    path = f"/county/stations/{crowded}/rating?period={PERIOD.name}"
    day = PERIOD.first.replace(day=15).isoformat()
    form = {"period": PERIOD.name, "day": day, "rule": "headcount_over_capacity", "reason": "借用村委礼堂，人数属实"}
    async with admin.post(f"/county/stations/{crowded}/flags/override", form, allow_redirects=False) as r:
        assert r.status == 303
    capacity = next(r for r in flag_rows(await admin.text(path)) if "headcount_over_capacity" in r)
    assert 'data-counted="1"' in capacity and "500 人" in capacity

    with database(root) as db, db.engine.begin() as conn:  # a late report: that day was 800, not 500
        d = station_days.c
        conn.execute(
            station_days.update()
            .where(d.station == crowded, d.day == day)
            .values(max_headcount=800, session_person_times=800)
        )
    capacity = next(r for r in flag_rows(await admin.text(path)) if "headcount_over_capacity" in r)
    assert "800 人" in capacity and 'data-counted="0"' in capacity and "当天集中学习不计" in capacity
    assert "/flags/override" in capacity  # to be judged again
    form["reason"] = "再次核实：800 人为全村大会，属实"
    async with admin.post(f"/county/stations/{crowded}/flags/override", form, allow_redirects=False) as r:
        assert r.status == 303
    capacity = next(r for r in flag_rows(await admin.text(path)) if "headcount_over_capacity" in r)
    assert 'data-counted="1"' in capacity and "800 人为全村大会" in capacity
    with open_root(root) as h:
        judged = [e.detail["evidence"] for e in h.db.audit.recent() if e.action == "rating.override"]
    assert len(judged) == 2 and {"500 人" in e for e in judged} == {"800 人" in e for e in judged} == {True, False}


async def test_a_station_not_rated_in_a_period_is_not_called_revoked(county, aiohttp_client):
    root, ids = county
    client = await app_client(aiohttp_client, root)
    admin = await login_admin(client, root)
    # closed (close_days 60): frozen at the first look with the stations of then (enrolled 2026-01-01)
    closed = period_of("month", TODAY - timedelta(days=100)).name
    async with admin.get(f"/county/ratings?period={closed}") as r:
        assert r.status == 200
    with open_root(root) as h:
        add_station(h, "late-comer", "新开通村站点", "/".join([*COUNTY, "第1镇", "新村"]), "stb-sd")
    async with admin.get(f"/county/stations/late-comer/rating?period={closed}") as r:
        text = await r.text()
        assert r.status == 404
    assert "新开通村站点在" in text and "没有评定" in text and "之后才开通" in text
    assert "令牌已吊销，不再参与评定" not in text
    assert (await admin.text(f"/county/stations/late-comer/rating?period={PERIOD.name}")).count("本期未开通") >= 1

    with open_root(root) as h:
        revoke_station(h, ids["busy"][0])
    async with admin.get(f"/county/stations/{ids['busy'][0]}/rating?period={PERIOD.name}") as r:
        text = await r.text()
        assert r.status == 404
    assert "令牌已吊销，不再参与评定" in text and "--rotate" in text


async def test_a_flag_reads_the_same_on_the_page_in_the_xlsx_and_the_cli(county, aiohttp_client, capsys):
    root, ids = county
    crowded = ids["crowded"][0]
    client = await app_client(aiohttp_client, root)
    admin = await login_admin(client, root)
    page = await admin.text(f"/county/stations/{crowded}/rating?period={PERIOD.name}")
    capacity = next(r for r in flag_rows(page) if "headcount_over_capacity" in r)
    shown = re.search(r'<span class="state bad">([^<]+)</span>', capacity).group(1)
    assert shown == "当天集中学习不计"
    async with admin.get(f"/county/ratings.xlsx?period={PERIOD.name}") as r:
        book = openpyxl.load_workbook(io.BytesIO(await r.read()))
    why = [row for row in book["评分说明"].iter_rows(values_only=True) if row[0] == crowded]
    capacity_row = next(row for row in why if row[2] == "存疑：集中学习人数超过场所座位数")
    assert capacity_row[5].endswith(f"（{shown}）")
    assert main(["ratings", "--root", str(root), "--period", PERIOD.name]) == 0
    printed = capsys.readouterr().out
    assert re.search(
        rf"存疑 {PERIOD.first.replace(day=15).isoformat()} 集中学习人数超过场所座位数: .*（{shown}）", printed
    )
