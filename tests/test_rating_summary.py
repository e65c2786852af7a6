"""A station is told its own star rating in the answer to its upload (docs/reporting.md,
``rating``): a real headend app with a county of stations and one that posts a real batch; before
the rating loop's first pass the answer has no rating, after it the answer carries the station's
stars, ranks, reasons and flags, the same the county's ratings table shows; ``headend serve`` runs
the loop by itself and lists it ("星级评定") with the other loops."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from catalogue.clocks import CHINA
from catalogue.periods import period_of
from headend.config import load_config
from headend.service import open_root
from headend.service.ratings import ratings_table
from headend.service.stations import add_station, rotate_token
from headend.web.app import create_app
from headend.web.reports import RATINGS
from tests.conftest import init_headend
from tests.county_kit import login_admin
from tests.rating_county import COUNTY, fill_county
from tests.report_batches import batch, events, gz

HEADERS = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


async def post_batch(client, station: str, token: str, first_seq: int, n: int = 5) -> dict:
    """``n`` real events of every kind from ``first_seq``, as the station's uploader sends them."""
    now = datetime.now(CHINA)
    evs = events(n, now - timedelta(minutes=n + 1), first_seq=first_seq, seed=first_seq)
    doc = batch(station, evs, after=first_seq - 1, now=now, mono=100.0 + n * 60)
    resp = await client.post("/api/v1/reports", data=gz(doc), headers={**HEADERS, "Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer["ok"] and answer["held"] == first_seq + n - 1
    return answer


async def test_the_answer_carries_the_stations_rating_once_the_loop_has_made_it(tmp_path, aiohttp_client, headend_db):
    today = datetime.now(CHINA).date()
    root = init_headend(tmp_path / "headend", headend_db)
    with open_root(root) as h:
        ids = fill_county(h.db, n=24, last_day=today - timedelta(days=1))
        busy, crowded = ids["busy"][0], ids["crowded"][0]
        token = rotate_token(h, busy)
    app = create_app(load_config(root), background_loops=False)
    client = await aiohttp_client(app)

    first = await post_batch(client, busy, token, 1)
    assert "rating" not in first  # no pass yet: the answer does not wait for one

    await app[RATINGS].refresh()
    answer = await post_batch(client, busy, token, 6)
    rating = answer["rating"]
    assert len(json.dumps(rating, ensure_ascii=False).encode()) < 8_000  # a few KB
    month = period_of("month", today)
    assert rating["station"] == busy
    assert [p["period"] for p in rating["periods"]] == [month.previous().name, month.name]

    last, now = rating["periods"][0], datetime.now(UTC)
    with open_root(root) as h:
        table = ratings_table(h, month.previous(), now=now)
    entry = table.entry(busy)
    ranked_here = [e for e in table.entries if e.rating.status == "ranked" and e.station.region[:3] == COUNTY]
    assert last["label"] == month.previous().label and last["state_words"] == table.state_words
    assert last["stars"] == entry.rating.stars >= 1 and last["total"] == entry.rating.total
    assert last["max_total"] == entry.rating.max_total and last["status_words"] == "参与排名"
    assert last["county_rank"] == entry.county_rank >= 1 and last["county_ranked"] == len(ranked_here) > 1
    assert last["township_rank"] == entry.township_rank and 1 <= last["township_ranked"] < len(ranked_here)
    assert [(i["label"], i["points"], i["weight"], i["reason"]) for i in last["indicators"]] == [
        (s.label, s.points, s.weight, s.reason) for s in entry.rating.scores
    ]
    assert all(i["reason"] for i in last["indicators"])
    assert rating["periods"][1]["label"] == month.label and rating["periods"][1]["state"] == "provisional"

    # a station whose room was crowded beyond belief: the day is flagged, with the figures, not counted
    flagged = app[RATINGS].summary(crowded)["periods"][0]
    (flag, *_) = [f for f in flagged["flags"] if f["day"].endswith("-15") and "500" in f["evidence"]]
    assert flag["label"] and flag["counted"] is False


async def test_serve_runs_the_rating_loop_and_lists_it(tmp_path, aiohttp_client, headend_db):
    root = init_headend(tmp_path / "headend", headend_db)
    with open_root(root) as h:
        token = add_station(h, "ceshi-xingji", None, "广东省/测试市/测试县/测试镇/测试村", "stb-sd")
    station = await aiohttp_client(create_app(load_config(root)))
    client = await login_admin(station, root)
    for _ in range(200):  # the first pass runs at start
        health = await (await client.get("/api/v1/health")).json()
        loop = next(s for s in health["loops"] if s["name"] == "ratings")
        if loop["last_success"]:
            break
        await asyncio.sleep(0.1)
    assert loop["state"] == "running" and loop["last_success"], loop
    page = await (await client.get("/county/publishing")).text()
    assert 'id="loop-ratings" data-state="running"' in page and "星级评定" in page

    rating = (await post_batch(station, "ceshi-xingji", token, 1))["rating"]
    this_month = rating["periods"][-1]
    assert this_month["period"] == period_of("month", datetime.now(CHINA).date()).name
    assert this_month["state"] == "provisional" and this_month["status_words"]
    assert this_month["indicators"] and all(i["reason"] for i in this_month["indicators"])
