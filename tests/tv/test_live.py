"""Live classes on the TV (issue 16): the schedule shows a class as 直播 and channel mode counts
it down and opens it at its time; the live page plays the stream this station relays from its
mirror (HLS, played by Chromium itself), says so in Chinese when the signal drops and picks it
up again by itself when it returns; Back leaves it; after the class, the schedule offers the
replay (回看) once it is on the box."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from playlists import Live, Schedule
from playlists.schedule import CHINA
from tests.tv.station import PLAYER, LiveStream, live_segments


def live_class(
    start: datetime, minutes: float = 10, replay: str | None = None, live_id: str = "dangke-1207"
) -> Schedule:
    return Schedule(live=(Live(live_id, "学习贯彻全会精神直播党课", start, minutes * 60, replay),))


async def test_the_schedule_and_channel_mode_name_the_live_class(page_client, tv):
    start = (datetime.now(CHINA) + timedelta(seconds=40)).replace(microsecond=0)
    tv.publish(schedule=live_class(start))
    assert tv.sync() == "ok"
    client = await page_client(tv.app())
    home = await (await client.get("/")).text()
    assert 'data-programme-url="/watch/dangke-1207?channel=' in home
    assert f'data-programme-end="{int((start + timedelta(minutes=10)).timestamp() * 1000)}"' in home
    assert f"{start:%H:%M} 直播课" in home  # the countdown's head
    page = await (await client.get("/schedule")).text()
    assert re.search(r'href="/watch/dangke-1207"[^>]*>.*直播.*学习贯彻全会精神直播党课', page)
    watch = await client.get("/watch/dangke-1207")
    body = await watch.text()
    assert watch.status == 200 and f'data-src="/live/dangke-1207/{PLAYER}/index.m3u8"' in body
    assert "学习贯彻全会精神直播党课" in body and start.strftime("%H:%M") in body
    missing = await client.get("/watch/no-such-class")
    assert missing.status == 404 and "节目单" in await missing.text()


async def test_a_class_on_air_is_joined_and_an_ended_one_offers_its_replay(page_client, tv):
    on_air = (datetime.now(CHINA) - timedelta(minutes=20)).replace(microsecond=0)
    tv.publish(schedule=live_class(on_air, minutes=60))
    assert tv.sync() == "ok"
    client = await page_client(tv.app())
    assert 'data-programme-url="/watch/dangke-1207' in await (await client.get("/")).text()  # a TV turned on late joins
    ended = (datetime.now(CHINA) - timedelta(minutes=90)).replace(microsecond=0)
    if ended.date() != datetime.now(CHINA).date():
        pytest.skip("just after midnight: the class would be yesterday's")
    tv.publish(schedule=live_class(ended, minutes=60, replay="c-goose"))
    assert tv.sync() == "ok"
    page = await (await client.get("/schedule")).text()
    assert re.search(r'href="/course/c-goose"[^>]*>.*回看.*学习贯彻全会精神直播党课', page), page
    assert "data-programme-url" not in await (await client.get("/")).text()  # over: nothing to count down
    tv.publish(schedule=live_class(ended, minutes=60, replay="c-not-synced"))
    assert tv.sync() in ("ok", "partial")
    assert "回看稍后提供" in await (await client.get("/schedule")).text()


@pytest.mark.browser
def test_the_tv_opens_the_class_at_its_time_and_rides_out_a_dropped_signal(live, page, tmp_path):
    start = (datetime.now(CHINA) + timedelta(seconds=5)).replace(microsecond=0)
    live.tv.publish(schedule=live_class(start, minutes=5))
    assert live.tv.sync() == "ok"
    page.goto(live.url("/"))
    page.wait_for_selector("#countdown:not(.hidden)", timeout=8000)
    assert "学习贯彻全会精神直播党课" in page.inner_text("#countdown")
    stream = LiveStream(live_segments(tmp_path / "hls"), "dangke-1207", PLAYER)
    live.tv.mirror.stream = stream
    page.wait_for_url("**/watch/dangke-1207?channel=*", timeout=15000)  # at its time, by itself

    def playing_at() -> float:
        return page.evaluate("document.getElementById('media').currentTime")

    page.wait_for_function("document.getElementById('media').currentTime > 1", timeout=20000)
    assert page.is_hidden("#live-card")
    # The studio's signal drops: the picture stops, the TV says so.
    stream.stop()
    page.wait_for_selector("#live-card:not(.hidden)", timeout=20000)
    page.wait_for_function("document.getElementById('live-state').textContent.indexOf('中断') >= 0", timeout=20000)
    # It comes back: the TV picks it up again by itself.
    stream.resume()
    page.wait_for_selector("#live-card.hidden", state="attached", timeout=30000)
    t = playing_at()
    page.wait_for_function(f"document.getElementById('media').currentTime > {t} + 1", timeout=15000)
    assert not page.errors, page.errors
    # Back leaves the class for home.
    page.keyboard.press("Escape")
    page.wait_for_url(live.url("/"), timeout=10000)
    # Every segment came through the station's relay from its mirror, each fetched once.
    segs = [r for r in stream.requests if r.endswith(".ts")]
    assert segs and len(segs) == len(set(segs)), segs
