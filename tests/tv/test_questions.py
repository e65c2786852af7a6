"""Villagers' questions and the county's answers at the station: the administrator records a
question on the admin page (numbered by China day, journaled for the report path, refused with a
400 and nothing journaled when it is empty, too long or of no known topic, 403 without the page's
token), sees where the county has it once answers are synced; the TV shows the answers."""

from __future__ import annotations

from datetime import datetime

import pytest

from playlists import Audience, shard_of
from playlists.schedule import CHINA
from tests.browser import focused, press
from tests.test_sync_answers import answer, publish_with_answers
from tests.tv.station import STATION_ID
from tests.tv.test_pages import login

TODAY = lambda: datetime.now(CHINA).strftime("%Y%m%d")  # noqa: E731  (the box's China day)


async def ask(client, **form):
    data = {"topic": "agriculture", "question": "鹅苗哪里能买到？", "asker": "", **form}
    return await client.post("/admin/questions", data=data, allow_redirects=False)


async def test_admin_records_numbered_questions_and_refuses_bad_ones(page_client, tv, aiohttp_client):
    client = await page_client(tv.app())
    await login(client)
    html = await (await client.get("/admin")).text()
    assert "问答 / 群众提问" in html and "农业技术" in html and 'maxlength="500"' in html
    assert "同意公开（可作为常见问答发给其他站点）" in html and "还没有登记问题。" in html

    resp = await ask(client, question="  鹅苗哪里能买到？ ", asker=" 张大爷 ", publish="on")
    assert resp.status == 303
    first = f"{TODAY()}-01"
    assert f"number={first}" in resp.headers["Location"]
    html = await (await client.get(resp.headers["Location"])).text()
    assert f"问题已登记，编号 {first}，请告诉提问群众" in html
    assert "已登记，等待县里受理" in html and "鹅苗哪里能买到？" in html

    resp = await ask(client, topic="policy", question="低保怎么申请？")
    assert resp.status == 303 and f"number={TODAY()}-02" in resp.headers["Location"]
    events = tv.journal("question")
    assert [(e["number"], e["topic"], e["text"], e["asker"], e["publish"]) for e in events] == [
        (first, "agriculture", "鹅苗哪里能买到？", "张大爷", True),
        (f"{TODAY()}-02", "policy", "低保怎么申请？", "", False),
    ]

    for form, words in (
        ({"question": "   "}, "请填写问题内容。"),
        ({"question": "问" * 501}, "问题最多 500 个字"),
        ({"topic": "lottery"}, "请从列表中选择问题的类别。"),
        ({"asker": "名" * 41}, "提问群众姓名最多 40 个字。"),
    ):
        resp = await ask(client, **form)
        assert resp.status == 400, form
        assert words in await resp.text()
    bare = await aiohttp_client(client.app)  # the same app, a POST without the page's token
    resp = await bare.post(
        "/admin/questions",
        data={"topic": "agriculture", "question": "没有令牌"},
        headers={"Origin": str(bare.make_url("/")).rstrip("/")},
    )
    assert resp.status == 403
    assert len(tv.journal("question")) == 2  # nothing journaled by any refusal


async def test_admin_shows_where_the_county_has_each_question(page_client, tv):
    client = await page_client(tv.app())
    await login(client)
    numbers = []
    for text in ("鹅苗哪里能买到？", "低保怎么申请？", "村道什么时候修？"):
        resp = await ask(client, question=text)
        numbers.append(resp.headers["Location"].split("number=")[1].split("#")[0])
    one, two, three = numbers
    mine = lambda n, text, **kw: answer(STATION_ID, n, text, **kw)  # noqa: E731
    publish_with_answers(
        tv.sim,
        {
            "faq": (answer("far-away", "20261201-01", "鹅舍要垫干草。", faq=True),),
            shard_of(STATION_ID, 1): (
                mine(one, "镇农技站有售。"),
                mine(two, "", status="assigned"),
            ),
        },
    )
    assert tv.sync() == "ok"
    html = await (await client.get("/admin")).text()
    assert "已答复" in html and "镇农技站有售。" in html
    assert "已分派，正在办理" in html
    assert html.count("已登记，等待县里受理") == 1  # the third is not back from the county yet
    assert "县里发给本站点的常见问答：1 条" in html
    assert three in html


@pytest.mark.browser
def test_tv_answers_page_by_remote(live, page):
    tv = live.tv
    publish_with_answers(
        tv.sim,
        {
            "faq": (
                answer(
                    "far-away",
                    "20261201-01",
                    "鹅舍要垫干草，保持通风。",
                    faq=True,
                    audience=Audience(regions=(("广东省",),)),
                ),
                answer(
                    "far-away", "20261201-02", "别的省的答复。", faq=True, audience=Audience(regions=(("湖南省",),))
                ),
            )
        },
    )
    assert tv.sync() == "ok"
    page.goto(live.url("/"))
    for _ in range(8):  # up from the first shelf to the 问答 link
        if focused(page)["href"] == "/answers":
            break
        press(page, "ArrowUp")
    assert focused(page)["href"] == "/answers"
    press(page, "Enter")
    page.wait_for_url("**/answers")
    f = focused(page)
    assert "问：问题 far-away 20261201-01" in f["text"] and "答：鹅舍要垫干草，保持通风。" in f["text"]
    assert "别的省的答复" not in page.content()
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.qa-a')).fontSize)")
    assert size >= 30  # read from across the room
    press(page, "Enter")  # the answer in full
    page.wait_for_url("**/answers/far-away/20261201-01")
    assert "鹅舍要垫干草，保持通风。" in page.inner_text(".answer-a")
    press(page, "Backspace")
    page.wait_for_url("**/answers")
    press(page, "Escape")
    page.wait_for_url(live.url("/"))
    assert focused(page)["href"] == "/answers"
    assert not page.errors, page.errors


@pytest.mark.browser
def test_tv_answers_page_without_answers_is_no_dead_end(live, page):
    page.goto(live.url("/answers"))
    assert "还没有答复" in page.content()
    assert focused(page)["text"] == "返回"
    press(page, "Enter")
    page.wait_for_url(live.url("/"))
