"""Forged attendance (issue 10 item 3): state-changing requests accept only this station's own
pages. Another web page a villager's phone opens, or a curl loop on the LAN, cannot start
sessions, post plays or touch the admin page: no token, another Origin, a stale or another
page's token, JSON as text/plain, or too many requests — each is a 4xx and nothing is journaled.

The attackers use the bare ``aiohttp_client`` (nothing added); the station's own pages are
``PageClient`` (Origin and token, as a browser sends them)."""

from __future__ import annotations

import re

import pytest

from station.web.guard import PageTokens, RateLimit
from station.web.keys import ATTENDANCE
from tests.tv.station import PIN, PageClient

KINDS = ("session_start", "session_end", "play", "admin_login", "logbook")


def journaled(tv, app=None) -> dict[str, int]:
    """What the journal holds, by kind (and plays still open in ``app``, which end up there)."""
    counts = {k: len(tv.journal(k)) for k in KINDS}
    if app is not None:
        counts["open"] = len(app[ATTENDANCE].open_plays())
    return counts


def figures(html: str) -> list[str]:
    """The admin page's figure rows (today, this month) as text."""
    return re.findall(r"<tr><th>[^<]*</th><td>[^<]*</td><td>[^<]*</td></tr>", html)


async def admin_figures(page_client, tv) -> list[str]:
    me = await page_client(tv.app())
    assert (await me.post("/admin/login", data={"pin": PIN}, allow_redirects=False)).status == 303
    return figures(await (await me.get("/admin")).text())


async def test_the_issues_curl_loop_of_9999_person_sessions_changes_no_figure(aiohttp_client, page_client, tv):
    """The loop as the issue wrote it, with no token. The same loop with the TV page's token read
    first is ``test_honest_web.test_a_script_with_the_tv_pages_token_adds_at_most_100_people_a_session``."""
    before = await admin_figures(page_client, tv)
    assert len(before) == 6  # sessions, person-times, hours, lessons completed, live classes, wrong PINs
    curl = await aiohttp_client(tv.app())
    statuses = []
    for _ in range(20):
        start = await curl.post("/session/start", data={"topic": "农业技术", "headcount": "9999"})
        end = await curl.post("/session/end")
        statuses += [start.status, end.status]
        if start.status == 403:
            assert "不是本站的页面" in await start.text()
    for _ in range(5):
        play = await curl.post("/api/plays", json={"course": "c-goose"})
        statuses.append(play.status)
    # refused for having no token and no Origin; past 30 at once, for the rate as well
    assert statuses[:30] == [403] * 30 and set(statuses[30:]) == {429}
    nothing = {"session_start": 0, "session_end": 0, "play": 0, "admin_login": 1, "logbook": 0, "open": 0}
    assert journaled(tv, curl.app) == nothing
    assert "集中学习：" not in await (await curl.get("/")).text()
    assert await admin_figures(page_client, tv) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},  # another web page the phone opened
        {"Origin": "null"},  # a sandboxed frame or a file:// page
        {"Referer": "http://evil.example/phish.html"},  # an old browser that sends no Origin
        {"User-Agent": "Mozilla/5.0 (Linux; Android 10)"},  # a browser that hid both
        {"Sec-Fetch-Site": "cross-site"},
    ],
    ids=["other-origin", "null-origin", "other-referer", "browser-without-either", "fetch-metadata-only"],
)
async def test_rejects_a_request_from_another_origin_even_with_the_tv_token(aiohttp_client, tv, headers):
    client = await aiohttp_client(tv.app())
    token = PageClient(client).token("/api/plays")  # even a token that leaked does not help
    play = await client.post("/api/plays", json={"course": "c-goose"}, headers={"X-YJ-Token": token, **headers})
    session = await client.post(
        "/session/start", data={"topic": "农业技术", "headcount": "30", "_token": token}, headers=headers
    )
    assert play.status == 403 and session.status == 403
    assert journaled(tv, client.app) == {k: 0 for k in (*KINDS, "open")}


async def test_rejects_a_post_without_a_token_or_with_a_stale_or_foreign_one(page_client, tv):
    client = await page_client(tv.app())
    own = client.origin()
    stale = PageTokens().for_path("/", None)  # another boot's TV token
    assert (await client.post("/admin/login", data={"pin": PIN}, allow_redirects=False)).status == 303
    admin_token = client.token("/admin/logbook")
    tv_token = client.token("/api/plays")
    for token in ("", stale, admin_token, "x" * 64, "令牌"):  # the admin's token is not the TV's either
        for path, kw in (
            ("/api/plays", {"json": {"course": "c-goose"}}),
            ("/session/start", {"data": {"topic": "农业技术", "headcount": "30"}}),
        ):
            resp = await client.post(path, headers={"Origin": own, "X-YJ-Token": token}, **kw)
            assert resp.status == 403, (path, token)
    # and the TV's token opens nothing on the admin page, even from the admin's own browser
    log = await client.post("/admin/logbook", data={"text": "伪造"}, headers={"X-YJ-Token": tv_token})
    assert log.status == 403
    nothing = {"session_start": 0, "session_end": 0, "play": 0, "admin_login": 1, "logbook": 0, "open": 0}
    assert journaled(tv, client.app) == nothing
    # the admin page's own form, with the token it stamped, still works
    html = await (await client.get("/admin")).text()
    form_token = re.search(r'action="/admin/logbook"><input type="hidden" name="_token" value="([^"]+)"', html)
    resp = await client.post(
        "/admin/logbook", data={"text": "检查了电视", "_token": form_token.group(1)}, headers={"X-YJ-Token": ""}
    )
    assert resp.status == 403  # an empty header is a token too: it is checked, not skipped
    resp = await client._client.post(
        "/admin/logbook", data={"text": "检查了电视", "_token": form_token.group(1)}, headers={"Origin": own}
    )
    assert resp.status == 200 and "检查了电视" in await resp.text()


async def test_rejects_json_sent_as_text_plain_with_415(page_client, tv):
    client = await page_client(tv.app())
    body = '{"course": "c-goose"}'  # what a cross-site form or sendBeacon(string) sends
    resp = await client.post("/api/plays", data=body, headers={"Content-Type": "text/plain"})
    assert resp.status == 415 and "application/json" in (await resp.json())["error"]
    form = await client.post("/session/start", data=b"topic=x&headcount=9", headers={"Content-Type": "text/plain"})
    assert form.status == 415
    assert journaled(tv, client.app) == {k: 0 for k in (*KINDS, "open")}
    ok = await client.post("/api/plays", json={"course": "c-goose"})
    assert ok.status == 200


async def test_a_script_without_origin_but_with_the_token_is_a_client_like_the_tv(aiohttp_client, tv):
    """Non-browser clients (no Origin, no Referer, no browser headers) must carry the token; with
    it they are treated as the TV page is (the LAN is trusted for reading the TV page)."""
    client = await aiohttp_client(tv.app())
    html = await (await client.get("/")).text()
    token = re.search(r'<meta name="yj-token" content="([0-9a-f]+)">', html).group(1)
    resp = await client.post("/api/plays", json={"course": "c-goose"}, headers={"X-YJ-Token": token})
    assert resp.status == 200
    assert (await client.post("/api/plays", json={"course": "c-goose"})).status == 403


async def test_rate_limits_state_changing_requests_per_address_with_429(page_client, tv):
    client = await page_client(tv.app(rate=RateLimit(burst=3, per_s=0.01)))
    for _ in range(3):
        assert (await client.post("/api/plays", json={"course": "c-goose"})).status == 200
    resp = await client.post("/api/plays", json={"course": "c-goose"})
    assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
    assert "请求太多" in (await resp.json())["error"]
    page = await client.post("/session/start", data={"topic": "农业技术", "headcount": "9"})
    assert page.status == 429 and "请稍等一会儿再试" in await page.text()
    held = journaled(tv, client.app)  # a TV plays one thing at a time: each start ended the one before
    assert held["session_start"] == 0 and held["play"] + held["open"] == 3 and held["open"] == 1
    assert (await client.get("/")).status == 200  # reading is never limited


def test_the_default_rate_leaves_a_tv_room_for_its_heartbeats():
    """tv.js beats every 10 s; a viewer hopping between lessons starts and ends a play per hop."""
    clock = [0.0]
    rate = RateLimit(clock=lambda: clock[0])
    for second in range(3600):  # an hour: a heartbeat every 10 s and a new lesson every 5 s
        clock[0] = float(second)
        if second % 10 == 0:
            assert rate.take("tv") == 0
        if second % 5 == 0:
            assert rate.take("tv") == 0 and rate.take("tv") == 0
    clock[0] = 3600.0
    assert all(rate.take("flood") == 0 for _ in range(30)) and rate.take("flood") > 0


async def test_rejects_a_rebound_name_even_with_its_own_origin_and_the_token(aiohttp_client, tv):
    """DNS rebinding: evil.example re-points its name at the box, so its page is same-origin
    with it and could read the TV token; its requests still name evil.example as the Host."""
    client = PageClient(await aiohttp_client(tv.app()))
    token = client.token("/api/plays")
    port = client.make_url("/").port
    for host in (f"evil.example:{port}", "evil.example", f"station.example.org:{port}"):
        headers = {"Host": host, "Origin": f"http://{host}", "X-YJ-Token": token}
        resp = await client._client.post("/api/plays", json={"course": "c-goose"}, headers=headers)
        assert resp.status == 403, host
    for host in (f"192.168.1.20:{port}", f"[fe80::1]:{port}", "yuanjiao-box", f"xianyi.lan:{port}"):
        headers = {"Host": host, "Origin": f"http://{host}", "X-YJ-Token": token}
        resp = await client._client.post("/api/plays", json={"course": "c-goose"}, headers=headers)
        assert resp.status == 200, host
    named = PageClient(await aiohttp_client(tv.app_with(ui_hostnames=("station.example.org",))))
    host = f"station.example.org:{port}"
    headers = {"Host": host, "Origin": f"http://{host}", "X-YJ-Token": named.token("/api/plays")}
    resp = await named._client.post("/api/plays", json={"course": "c-goose"}, headers=headers)
    assert resp.status == 200  # a name listed in [ui] hostnames (a TLS proxy in front)
