"""``headend serve`` behind nginx (deploy/nginx/yuanjiao-headend-tls.conf): every request arrives
from 127.0.0.1, and ``X-Forwarded-For`` names the client. Believed only from ``[serve]
trusted_proxies``: a guesser's failed logins lock its own address, not every colleague's; the
audit log names the real address; a header sent by a client that is no proxy changes nothing."""

from __future__ import annotations

import ipaddress
import re

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from headend.config import ConfigError, load_config, networks
from headend.web.app import create_app
from headend.web.proxies import _address, client_address
from tests.conftest import serve
from tests.county_kit import Staff, add_user, cookie_jar, login_admin

LOOPBACK = networks(["127.0.0.1", "::1"])
GUESSER, COLLEAGUE = "203.0.113.7", "198.51.100.2"


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("127.0.0.1", [GUESSER], GUESSER),  # nginx on this machine, one hop
        ("127.0.0.1", [f"{GUESSER}, 127.0.0.1"], GUESSER),  # a second proxy on the box
        ("127.0.0.1", [f"6.6.6.6, {GUESSER}"], GUESSER),  # what the client wrote itself is not believed
        ("127.0.0.1", ["6.6.6.6", GUESSER], GUESSER),  # the same in two header lines
        ("192.0.2.50", [GUESSER], "192.0.2.50"),  # no proxy of ours: the header is the client's own words
        ("127.0.0.1", ["unknown"], "127.0.0.1"),  # not an address: the proxy itself
        ("127.0.0.1", [f"{GUESSER}, junk"], "127.0.0.1"),
        ("127.0.0.1", ["[2001:db8::1]:4711"], "2001:db8::1"),
        ("127.0.0.1", [f"{GUESSER}:4711"], GUESSER),
        ("::1", ["2001:db8::7"], "2001:db8::7"),
        ("127.0.0.1", ["127.0.0.1"], "127.0.0.1"),
    ],
)
def test_the_client_is_the_nearest_hop_that_is_not_a_trusted_proxy(peer, header, client):
    assert client_address(peer, header, LOOPBACK) == client


@given(
    peer=st.one_of(st.sampled_from(["127.0.0.1", "::1", "192.0.2.50"]), st.text(max_size=40)),
    lines=st.lists(st.text(alphabet="0123456789abcdef.:,[] x", max_size=80), max_size=4),
)
def test_any_forwarded_header_gives_the_peer_or_an_address_it_names(peer, lines):
    got = client_address(peer, lines, LOOPBACK)
    named = {str(a) for line in lines for hop in line.split(",") if (a := _address(hop)) is not None}
    assert got == peer or got in named or ipaddress.ip_address(got).is_loopback
    if peer == "192.0.2.50":  # not a proxy of ours: its header changes nothing
        assert got == peer


def test_a_trusted_proxy_that_is_no_address_is_refused_naming_the_setting(headend_root):
    cfg = headend_root / "headend.toml"
    cfg.write_text(
        re.sub(r"(?m)^trusted_proxies = .*$", 'trusted_proxies = ["nginx.local"]', cfg.read_text(encoding="utf-8")),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"\[serve\] trusted_proxies.*'nginx.local' is not an IP address"):
        load_config(headend_root)


async def guess_from(http: aiohttp.ClientSession, base: str, address: str, times: int) -> list[int]:
    staff = Staff(http, base)
    token = await staff.read_csrf("/login")
    statuses = []
    for i in range(times):  # a different name each time: the address's limit, not an account's
        form = {"name": f"nobody{i}", "password": "wrong"}
        async with staff.post(
            "/login", form, csrf=token, allow_redirects=False, headers={"X-Forwarded-For": address}
        ) as r:
            statuses.append(r.status)
    return statuses


@pytest.mark.one_engine
@pytest.mark.parametrize("trusted", [True, False])
async def test_a_guesser_behind_the_proxy_locks_only_its_own_address(headend_root, trusted):
    if not trusted:
        cfg = headend_root / "headend.toml"
        text = re.sub(r"(?m)^trusted_proxies = .*$", "trusted_proxies = []", cfg.read_text(encoding="utf-8"))
        cfg.write_text(text, encoding="utf-8")
    password = add_user(headend_root, "li-ming", "viewer")
    app = create_app(load_config(headend_root), background_loops=False)
    async with serve(app) as base:
        async with aiohttp.ClientSession(cookie_jar=cookie_jar()) as http:
            statuses = await guess_from(http, base, GUESSER, 32)
        assert statuses[:30] == [401] * 30 and statuses[-1] == 429
        async with aiohttp.ClientSession(cookie_jar=cookie_jar(), headers={"X-Forwarded-For": COLLEAGUE}) as http:
            if not trusted:  # everyone shares the proxy's address, which the guesser locked
                token = await Staff(http, base).read_csrf("/login")
                form = {"name": "li-ming", "password": password}
                async with Staff(http, base).post("/login", form, csrf=token, allow_redirects=False) as r:
                    assert r.status == 429, await r.text()
                return
            await Staff(http, base).login("li-ming", password)  # and replaces the one-time password
        async with aiohttp.ClientSession(cookie_jar=cookie_jar()) as http:
            audit = await (await login_admin(http, headend_root, base)).text("/county/audit")
        assert "user.password_changed" in audit and COLLEAGUE in audit
