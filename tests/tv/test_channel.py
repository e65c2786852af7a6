"""Channel mode (节目单): a playlist's schedule plays like a TV channel. The home page counts down
the next programme, plays it at its time, and goes home when it ends; the schedule page lists
today's programmes; a programme the channel already played is not counted down again."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from playlists.schedule import CHINA
from station.web.keys import CHANNEL_PLAYED
from tests.browser import focused
from tests.tv.station import schedule


async def test_schedule_page_and_channel_mode_data(page_client, tv):
    soon = (datetime.now(CHINA) + timedelta(seconds=40)).replace(microsecond=0)
    tv.publish(schedule=schedule(("c-goose", soon)))
    assert tv.sync() == "ok"
    client = await page_client(tv.app())
    html = await (await client.get("/")).text()
    start_ms = int(soon.timestamp() * 1000)
    assert 'data-programme="c-goose"' in html and f'data-programme-start="{start_ms}"' in html
    assert 'id="countdown"' in html
    page = await (await client.get("/schedule")).text()
    assert "节目单" in page and soon.strftime("%H:%M") in page
    # once the channel has started it, the TV does not count down for it again
    key = re.search(r'data-programme-key="([^"]+)"', html).group(1)
    await client.get(f"/play/c-goose?channel={key}")
    assert 'data-programme="c-goose"' not in await (await client.get("/")).text()


@pytest.mark.browser
def test_channel_mode_counts_down_plays_now_then_home(live, page):
    start = (datetime.now(CHINA) + timedelta(seconds=4)).replace(microsecond=0)
    live.tv.publish(schedule=schedule(("c-goose", start)))
    assert live.tv.sync() == "ok"
    page.goto(live.url("/"))
    page.wait_for_selector("#countdown:not(.hidden)", timeout=5000)
    assert "雨季养鹅技术" in page.inner_text("#countdown")
    assert re.fullmatch(r"\d", page.inner_text("#countdown-s"))
    focused(page)
    page.wait_for_url("**/play/c-goose?channel=*", timeout=10000)
    assert page.inner_text("#now-playing") == "现在播放"
    page.wait_for_url(live.url("/"), timeout=15000)  # the programme ended: home
    page.wait_for_timeout(1500)
    assert page.is_hidden("#countdown") if page.query_selector("#countdown") else True
    assert page.url == live.url("/")
    assert not page.errors, page.errors


async def test_made_up_channel_keys_are_not_remembered_so_memory_stays_bounded(page_client, tv):
    """Issue 10 item 7: each /play/ID?channel=... used to add its string to a set for ever."""
    soon = (datetime.now(CHINA) + timedelta(seconds=40)).replace(microsecond=0)
    tv.publish(schedule=schedule(("c-goose", soon)))
    assert tv.sync() == "ok"
    client = await page_client(tv.app())
    played = client.app[CHANNEL_PLAYED]
    for i in range(4000):
        resp = await client.get(f"/play/c-goose?channel={i:04d}{'x' * 7000}")
        assert resp.status == 200  # a plain play of the course: no programme has that key
    assert len(played) == 0
    html = await (await client.get("/")).text()
    key = re.search(r'data-programme-key="([^"]+)"', html).group(1)
    await client.get(f"/play/c-goose?channel={key}")
    assert played == {key}  # the real programme is remembered, and only it
    assert 'data-programme="c-goose"' not in await (await client.get("/")).text()
