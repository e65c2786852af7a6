"""The admin PIN (issue 10 items 1 and 2): the lockout holds against hundreds of guesses in
flight at once and against many addresses; ``station serve`` refuses a PIN too easy to guess;
with no PIN at all, ``/admin`` makes the administrator choose one, stored hashed; ``station pin
set`` sets it from the box's console."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import stat
import subprocess
import sys

import aiohttp
import pytest
from aiohttp import web

from station.web.app import create_app
from station.web.guard import AdminGuard, RateLimit
from station.web.keys import PIN as PIN_KEY
from tests.conftest import ROOT
from tests.tv.station import PIN, PageClient

GUESSES = 300


async def _raw_login(host: str, port: int, body: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that has sent a login's headers (with its Content-Length) but not its body."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        (
            f"POST /admin/login HTTP/1.1\r\nHost: {host}:{port}\r\nOrigin: http://{host}:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    return reader, writer


async def test_pin_lockout_holds_against_hundreds_of_half_sent_guesses(aiohttp_server, tv):
    """The issue's race: every connection sends its headers, waits until all are in, then all
    bodies go together. Only max_failures guesses may be evaluated; the right PIN, among the
    later ones, must not log in; nothing is a 500."""
    app = tv.app(rate=RateLimit(burst=10_000, per_s=1_000))  # the lockout, not the rate, is on trial here
    arrived = asyncio.Event()
    seen = []

    @web.middleware
    async def count(request, handler):  # outermost: headers parsed, the body not yet read
        seen.append(request)
        if len(seen) >= GUESSES:
            arrived.set()
        return await handler(request)

    app.middlewares.insert(0, count)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as browser, browser.get(server.make_url("/admin")) as resp:
        page = await resp.text()
    token = re.search(r'name="_token" value="([0-9a-f]+)"', page).group(1)
    seen.clear()
    pins = [f"{100000 + i * 7:06d}" for i in range(GUESSES - 1)] + [PIN]  # the right one last
    bodies = [f"pin={p}&_token={token}".encode() for p in pins]
    conns = await asyncio.gather(*(_raw_login(server.host, server.port, b) for b in bodies))
    await asyncio.wait_for(arrived.wait(), 60)
    for (_reader, writer), body in zip(conns, bodies, strict=True):
        writer.write(body)
    answers = await asyncio.gather(*(reader.read() for reader, _writer in conns))
    for _reader, writer in conns:
        writer.close()
    statuses = [int(a.split(b" ", 2)[1]) for a in answers]
    assert set(statuses) <= {403, 429}, sorted(set(statuses))  # no 500, and no 303: nobody got in
    assert statuses.count(403) == 5  # exactly max_failures guesses were evaluated
    assert statuses[-1] == 429 and b"yj_admin=" not in answers[-1]
    logins = tv.journal("admin_login")
    assert len(logins) == 5 and not any(e["ok"] for e in logins)


def test_the_whole_lan_gets_no_more_guesses_than_the_global_ceiling():
    clock = [0.0]
    guard = AdminGuard(clock=lambda: clock[0])  # 5 per address per 15 min, 60 for all per hour
    evaluated = 0
    for minute in range(60):
        clock[0] = minute * 60.0
        for host in range(250):  # a LAN of 250 addresses, every one guessing every minute
            if guard.reserve(f"192.168.1.{host}") is not None:
                evaluated += 1
    assert evaluated == 60  # 60 guesses an hour: 10^6 PINs take ~1.9 years to cover
    assert guard.locked_for_s("192.168.1.77") > 0 and guard.locked_for_s("10.0.0.1") > 0
    clock[0] = 3600.0 + 60.0
    assert guard.reserve("10.0.0.1") is not None  # the window moves on


def test_one_address_guessing_for_ever_never_locks_the_administrator_out():
    """One address alone cannot spend the LAN's ceiling, and the box's own TV and console
    (loopback) are never held by it, so the administrator can always get in."""
    clock = [0.0]
    guard = AdminGuard(clock=lambda: clock[0])
    admin_tries = admin_checked = 0
    for second in range(0, 6 * 3600, 10):  # six hours: the attacker guesses every 10 s
        clock[0] = float(second)
        guard.reserve("192.168.1.66")
        if second % 600 == 0:  # the administrator, from a phone, every ten minutes
            admin_tries += 1
            admin_checked += guard.reserve("192.168.1.20") is not None
    assert admin_checked == admin_tries
    for n in range(250):  # now the whole LAN spends the ceiling
        guard.reserve(f"10.0.{n // 100}.{n % 100}")
    assert guard.locked_for_s("192.168.1.21") > 0
    assert guard.locked_for_s("127.0.0.1") == 0 and guard.reserve("127.0.0.1") is not None


@pytest.mark.parametrize(
    "record",
    ["null", "[]", '{"kdf": "scrypt"}', '{"kdf": "md5", "n": 16384, "r": 8, "p": 1, "salt": "00", "hash": "00"}'],
)
async def test_a_damaged_stored_pin_says_to_set_it_again_instead_of_refusing_the_right_one(aiohttp_client, tv, record):
    (tv.cfg.data_dir / "admin_pin.json").write_text(record, encoding="utf-8")
    phone = PageClient(await aiohttp_client(no_pin(tv)))
    page = await phone.get("/admin")
    assert "本站还没有管理 PIN 码" not in await page.text()  # damaged is not missing: no takeover
    resp = await phone.post("/admin/login", data={"pin": "583920"})
    assert resp.status == 503 and "station pin set" in await resp.text()


@pytest.mark.parametrize(
    "pin",
    [
        "1234",
        "1",
        "111111",
        "123456",
        "987654",
        "135791",
        "121212",
        "1212121",
        "1231231",
        "24681",
        "12a456",
        "０１２３４５６",
    ],
)
def test_serve_refuses_a_pin_too_easy_to_guess(tv, pin):
    toml = tv.cfg.path
    toml.write_text(re.sub(r'admin_pin = "[^"]*"', f'admin_pin = "{pin}"', toml.read_text()), encoding="utf-8")
    res = subprocess.run(
        [sys.executable, "-m", "station.cli", "--config", str(toml), "serve", "--port", "9"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert res.returncode == 2
    assert "admin_pin is too easy to guess" in res.stderr and "delete the admin_pin line" in res.stderr
    assert f"station --config {toml} pin set" in res.stderr and "Traceback" not in res.stderr


def no_pin(tv):
    return create_app(dataclasses.replace(tv.cfg, admin_pin=None), tv.store, admin_failure_delay_s=0.01)


async def test_first_visit_without_a_pin_makes_the_administrator_choose_one_stored_hashed(aiohttp_client, tv):
    phone = PageClient(await aiohttp_client(no_pin(tv)))
    page = await (await phone.get("/admin")).text()
    assert "本站还没有管理 PIN 码" in page and 'action="/admin/setup"' in page
    assert (await phone.post("/admin/login", data={"pin": "000000"}, allow_redirects=False)).status == 303
    code = phone.app[PIN_KEY].setup_code
    for first, again, says in (
        ("1234", "1234", "PIN 码要 6 到 12 位数字"),
        ("123456", "123456", "不能是等差排列的数字"),
        ("888888", "888888", "不能是同一个数字或一小组数字重复"),
        ("135791", "135791", "不能是等差排列的数字"),
        ("275275", "275275", "不能是同一个数字或一小组数字重复"),
        ("583920", "583921", "两次输入的 PIN 码不一样"),
    ):
        resp = await phone.post("/admin/setup", data={"code": code, "pin": first, "pin2": again})
        assert resp.status == 400 and says in await resp.text()
    stored = tv.cfg.data_dir / "admin_pin.json"
    assert not stored.exists()
    resp = await phone.post(
        "/admin/setup", data={"code": code, "pin": "583920", "pin2": "583920"}, allow_redirects=False
    )
    assert resp.status == 303 and "yj_admin=" in resp.headers["Set-Cookie"]
    assert "立即同步" in await (await phone.get("/admin")).text()  # logged in at once
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    record = json.loads(stored.read_text())
    assert record["kdf"] == "scrypt" and "583920" not in stored.read_text()
    # from now on it is the login page, and the hashed PIN is the one that works
    other = PageClient(await aiohttp_client(no_pin(tv)))
    assert "请输入管理 PIN 码" in await (await other.get("/admin")).text()
    takeover = await other.post(
        "/admin/setup", data={"code": code, "pin": "907153", "pin2": "907153"}, allow_redirects=False
    )
    assert takeover.status == 303 and "Set-Cookie" not in takeover.headers
    assert (await other.post("/admin/login", data={"pin": "907153"})).status == 403
    assert (await other.post("/admin/login", data={"pin": "583920"}, allow_redirects=False)).status == 303


async def test_first_run_page_refuses_a_forged_setup(aiohttp_client, tv):
    attacker = await aiohttp_client(no_pin(tv))
    for headers in ({}, {"Origin": "http://evil.example"}):
        resp = await attacker.post(
            "/admin/setup",
            data={"code": attacker.app[PIN_KEY].setup_code, "pin": "583920", "pin2": "583920"},
            headers=headers,
        )
        assert resp.status == 403
    assert not (tv.cfg.data_dir / "admin_pin.json").exists()
    assert "本站还没有管理 PIN 码" in await (await attacker.get("/admin")).text()


def _seen_from(remote: str):
    """A middleware that makes every request come from ``remote`` (the test client is loopback)."""

    @web.middleware
    async def middleware(request, handler):
        return await handler(request.clone(remote=remote))

    return middleware


async def test_the_first_run_page_needs_the_code_only_the_boxs_own_tv_shows(aiohttp_client, tv):
    """Whoever is first on the LAN to open /admin cannot take the station over: setting the PIN
    needs the set-up code that the box's own TV (loopback) shows, and guessing it is rate-limited
    like the PIN."""
    code = re.compile(r"输入设置码 (\d{6})")
    box = await aiohttp_client(no_pin(tv))
    shown = code.search(await (await box.get("/")).text())
    assert shown and shown.group(1) == box.app[PIN_KEY].setup_code
    lan_app = no_pin(tv)
    lan_app.middlewares.insert(0, _seen_from("192.168.1.66"))
    phone = PageClient(await aiohttp_client(lan_app))
    assert not code.search(await (await phone.get("/")).text())  # the LAN never sees it
    statuses = []
    for guess in range(6):
        resp = await phone.post("/admin/setup", data={"code": f"{guess:06d}", "pin": "583920", "pin2": "583920"})
        statuses.append(resp.status)
        if resp.status == 403:
            assert "设置码不对" in await resp.text()
    assert statuses == [403] * 5 + [429]  # five wrong codes, then locked like five wrong PINs
    assert not (tv.cfg.data_dir / "admin_pin.json").exists()
    assert "本站还没有管理 PIN 码" in await (await phone.get("/admin")).text()  # still offered, to the box


async def test_station_pin_set_from_the_console_replaces_a_forgotten_pin(aiohttp_client, tv):
    toml = tv.cfg.path
    toml.write_text(re.sub(r'admin_pin = "[^"]*"\n', "", toml.read_text()), encoding="utf-8")
    cmd = [sys.executable, "-m", "station.cli", "--config", str(toml), "pin", "set"]
    bad = subprocess.run(cmd, input="111111\n111111\n", capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert (
        bad.returncode == 1
        and "one digit or a short group repeated" in bad.stderr
        and "Nothing was changed" in bad.stderr
    )
    for pin in ("583920", "640271"):  # set, then forgotten and set again
        res = subprocess.run(cmd, input=f"{pin}\n{pin}\n", capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert res.returncode == 0 and "saved (hashed)" in res.stdout
    admin = PageClient(await aiohttp_client(no_pin(tv)))
    assert (await admin.post("/admin/login", data={"pin": "583920"})).status == 403
    assert (await admin.post("/admin/login", data={"pin": "640271"}, allow_redirects=False)).status == 303
