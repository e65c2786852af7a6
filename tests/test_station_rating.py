"""The station's side of its star rating (docs/reporting.md, ``rating``): the uploader against a
headend on loopback whose answers the test writes (a real headend cannot be made to send a
malformed rating); what it keeps in ``<data_dir>/rating.json`` and what ``/admin`` shows after the
PIN — stars, total, ranks, each indicator's reason, flags with their evidence — escaped; the same
rating computed again (a new ``made_at`` only) is not written again. A rating
that is not the documented shape is ignored (logged once), the upload still counts, the page never
fails; before any rating the page says so."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from playlists.minisign import SecretKey
from station.config import StationConfig, load_config
from station.daemon import build_app
from station.records.journal import Journal, read_acknowledged
from station.upload.run import Uploader
from tests.conftest import serve, write_station_toml
from tests.tv.station import PageClient

STATION = "test-station"  # write_station_toml's
PIN = "246813"
SCRIPT = '<script>alert("星级")</script>'

GOOD = {
    "v": 1,
    "station": STATION,
    "made_at": "2026-12-07T08:00:00Z",
    "periods": [
        {
            "period": "2026-11",
            "label": "2026年11月",
            "state": "frozen",
            "state_words": "已定稿",
            "status": "ranked",
            "status_words": "参与排名",
            "total": 72.5,
            "max_total": 100,
            "stars": 4,
            "county_rank": 3,
            "county_ranked": 12,
            "township_rank": 1,
            "township_ranked": 4,
            "indicators": [
                {"label": "集中学习", "points": 18, "weight": 25, "reason": "本月组织 3 场集中学习，共 60 人次"},
                {"label": "工作日志", "points": 4.5, "weight": 5, "reason": f"日志 8 篇 {SCRIPT}"},
            ],
            "flags": [
                {"day": "2026-11-15", "label": "人数超过座位", "evidence": "一场 500 人，座位 30 个", "counted": False},
                {"day": "2026-11-20", "label": "播放时长超过一天", "evidence": "播放 25 小时", "counted": True},
            ],
            "flags_more": 0,
        },
        {
            "period": "2026-12",
            "label": "2026年12月",
            "state": "provisional",
            "state_words": "暂定（1月15日定稿，之前补报的数据会计入）",
            "status": "incomplete",
            "status_words": "数据不全",
            "total": 20,
            "max_total": 100,
            "stars": 0,
            "county_rank": None,
            "county_ranked": 0,
            "township_rank": None,
            "township_ranked": 0,
            "indicators": [],
            "flags": [],
            "flags_more": 0,
        },
    ],
}


def _broken(change) -> dict:
    r = copy.deepcopy(GOOD)
    change(r)
    return r


def _set(path: str, value):
    def change(r):
        *keys, last = path.split(".")
        target = r
        for k in keys:
            target = target[int(k)] if isinstance(target, list) else target[k]
        target[int(last) if isinstance(target, list) else last] = value

    return change


MALFORMED = {
    "not an object": SCRIPT,
    "stars as text": _broken(_set("periods.0.stars", "5")),
    "six stars": _broken(_set("periods.0.stars", 6)),
    "a huge reason": _broken(_set("periods.0.indicators.0.reason", "长" * 10_000)),
    "a label that is an object": _broken(_set("periods.0.indicators.1.label", {"html": SCRIPT})),
    "counted as text": _broken(_set("periods.0.flags.0.counted", "false")),
    "51 flags": _broken(_set("periods.0.flags", [GOOD["periods"][0]["flags"][0]] * 51)),
    "41 indicators": _broken(_set("periods.0.indicators", [GOOD["periods"][0]["indicators"][0]] * 41)),
    "total not a number": _broken(_set("periods.0.total", float("nan"))),
    "a rank of 0": _broken(_set("periods.0.county_rank", 0)),
    "another version": _broken(_set("v", 2)),
    "periods missing": _broken(lambda r: r.pop("periods")),
    "another station's": _broken(_set("station", "another-station")),
}


class FakeHeadend:
    """Holds every batch it is sent and answers with ``rating`` (None: no such field)."""

    def __init__(self) -> None:
        self.rating: object = None

    async def reports(self, request: web.Request) -> web.Response:
        doc = await request.json()  # aiohttp inflates the gzip body
        last = doc["events"][-1]["seq"] if doc["events"] else doc["after"]
        body = {"ok": True, "stream": doc["stream"], "held": last, "seen": last, "accepted": len(doc["events"])}
        body.update(duplicates=0, time_uncertain=0, offset_s=0.0, now="2026-12-07T08:00:00Z")
        if self.rating is not None:
            body["rating"] = self.rating
        return web.json_response(body)


@asynccontextmanager
async def station(tmp_path: Path) -> AsyncIterator[tuple[FakeHeadend, StationConfig, Uploader]]:
    fake = FakeHeadend()
    app = web.Application()
    app.router.add_post("/api/v1/reports", fake.reports)
    key = tmp_path / "headend.pub"
    key.write_text(SecretKey.generate().public_key.to_text(), encoding="utf-8")
    async with serve(app) as base:
        toml = write_station_toml(tmp_path / "station.toml", ["http://127.0.0.1:9/repo/"], key)
        text = toml.read_text(encoding="utf-8").replace(
            'url = "http://127.0.0.1:9/api/v1/"\ntoken = ""', f'url = "{base}/api/v1/"\ntoken = "t0ken"'
        )
        toml.write_text(text, encoding="utf-8")
        cfg = load_config(toml)
        yield fake, cfg, Uploader(cfg, Journal(cfg.data_dir / "journal"))


async def upload(up: Uploader, n: int = 2) -> None:
    for i in range(n):
        up.journal.append("logbook", text=f"第 {i} 条", author="王")
    async with aiohttp.ClientSession() as session:
        result = await up.run(session)
    assert result.ok and result.remaining == 0  # whatever the rating, the events are acknowledged
    assert read_acknowledged(up.cfg.data_dir / "journal") == up.journal.last_seq()


async def admin_page(aiohttp_client, cfg: StationConfig) -> str:
    client = PageClient(await aiohttp_client(build_app(cfg, sync=False)))
    assert (await client.post("/admin/login", data={"pin": PIN}, allow_redirects=False)).status == 303
    resp = await client.get("/admin")
    assert resp.status == 200
    return await resp.text()


def rating_section(page: str) -> str:
    return page.split('<section id="rating">', 1)[1].split("</section>", 1)[0]


async def test_the_rating_sent_back_is_kept_and_shown_on_admin_escaped(tmp_path, aiohttp_client):
    async with station(tmp_path) as (fake, cfg, up):
        await upload(up)
        shown = rating_section(await admin_page(aiohttp_client, cfg))
        assert "县里还没有发回星级评定" in shown

        fake.rating = GOOD
        await upload(up)
        assert json.loads((cfg.data_dir / "rating.json").read_text(encoding="utf-8"))["periods"][0]["stars"] == 4

    page = await admin_page(aiohttp_client, cfg)  # a new app, the headend gone: kept on disk
    shown = rating_section(page)
    assert "星级评定" in page and "县里还没有发回星级评定" not in shown
    assert "2026年11月" in shown and "已定稿" in shown and "2026年12月" in shown and "暂定（1月15日定稿" in shown
    assert "★★★★☆" in shown and "4 星" in shown and "72.5 / 100 分" in shown
    assert "第 3 名（共 12 个站点参与排名）" in shown and "第 1 名（共 4 个站点参与排名）" in shown
    assert "未参与排名（数据不全）" in shown and "☆☆☆☆☆" in shown and "未达星级" in shown
    assert "本月组织 3 场集中学习，共 60 人次" in shown and "18 / 25 分" in shown
    assert "一场 500 人，座位 30 个" in shown and "不计入" in shown and "经县里核实后计入" in shown
    assert "<script>" not in page and "&lt;script&gt;alert(&#34;星级&#34;)&lt;/script&gt;" in shown


async def test_the_same_rating_made_again_is_not_rewritten(tmp_path):
    async with station(tmp_path) as (fake, cfg, up):
        path = cfg.data_dir / "rating.json"
        fake.rating = GOOD
        await upload(up)
        kept = path.stat()
        fake.rating = {**GOOD, "made_at": "2026-12-07T09:30:00Z"}  # computed again, nothing changed
        await upload(up)
        again = path.stat()
        assert (again.st_ino, again.st_mtime_ns) == (kept.st_ino, kept.st_mtime_ns)  # not written again
        assert json.loads(path.read_text(encoding="utf-8"))["made_at"] == GOOD["made_at"]

        fake.rating = _broken(_set("periods.0.stars", 5)) | {"made_at": "2026-12-08T08:00:00Z"}
        await upload(up)
        changed = json.loads(path.read_text(encoding="utf-8"))
        assert path.stat().st_ino != kept.st_ino and changed["periods"][0]["stars"] == 5


@pytest.mark.parametrize("what", list(MALFORMED))
async def test_a_malformed_rating_is_ignored_and_the_one_held_stays(tmp_path, aiohttp_client, caplog, what):
    async with station(tmp_path) as (fake, cfg, up):
        fake.rating = MALFORMED[what]
        with caplog.at_level(logging.WARNING, logger="station.upload.run"):
            await upload(up)
            await upload(up)  # the same problem again: not logged again
        said = [r.getMessage() for r in caplog.records if "star rating was ignored" in r.getMessage()]
        assert len(said) == 1, said
        assert not (cfg.data_dir / "rating.json").exists()
        assert "县里还没有发回星级评定" in rating_section(await admin_page(aiohttp_client, cfg))

        fake.rating = GOOD
        await upload(up)
        fake.rating = MALFORMED[what]
        await upload(up)
    shown = rating_section(await admin_page(aiohttp_client, cfg))
    assert "★★★★☆" in shown and "<script>" not in shown  # the good one stays


async def test_a_damaged_rating_file_shows_no_rating_and_the_page_works(tmp_path, aiohttp_client):
    async with station(tmp_path) as (fake, cfg, up):
        fake.rating = GOOD
        await upload(up)
    path = cfg.data_dir / "rating.json"
    damaged = json.loads(path.read_text(encoding="utf-8"))
    damaged["periods"][0]["indicators"][0]["reason"] = SCRIPT * 100  # over 300 characters
    path.write_text(json.dumps(damaged), encoding="utf-8")
    assert "县里还没有发回星级评定" in rating_section(await admin_page(aiohttp_client, cfg))
    path.write_bytes(b"\x00{not json")
    assert "县里还没有发回星级评定" in rating_section(await admin_page(aiohttp_client, cfg))
