"""Who may see and change what at the headend (issue 12 "Accounts and roles"), on both engines:
every county page and API needs a login; the course-rewrite ``curl`` of the issue changes
nothing; a POST needs the session's CSRF token and this site's Origin; a viewer cannot change
anything; an account bound to a township sees only its stations (another's is a 404, as for none);
a burst of 200 concurrent wrong logins lets none through and locks the account; one-time
passwords, disabled accounts and idle sessions end logins; every change is in the audit log."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from headend.config import load_config
from headend.service import open_root
from headend.service.stations import add_station
from headend.web.app import create_app
from tests.conftest import serve
from tests.county_kit import OWN_PASSWORD, Staff, add_user, cookie_jar, login_admin, login_as
from tests.headend_db import catalogue, course_ids
from tests.http_fuzz import routes_of

XIANGANG = "广东省/肇庆市/高要市/蚬岗镇"
HETAI = "广东省/肇庆市/高要市/河台镇"
A, B = "gaoyao-xiangang-xianyi", "gaoyao-hetai-hetaicun"
PUBLIC = {"/", "/login", "/logout", "/api/v1/health", "/api/v1/reports", "/repo/{path}", "/live/{id}/{path}"}


def enrol(root, station: str, region: str) -> None:
    with open_root(root) as h:
        add_station(h, station, None, region, "stb-sd")


@pytest.fixture
def root(headend_root):
    enrol(headend_root, A, XIANGANG + "/蚬一村")
    enrol(headend_root, B, HETAI + "/河台村")
    return headend_root


def _concrete(canonical: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", canonical)


async def test_every_county_page_and_api_needs_a_login(root, aiohttp_client):
    app = create_app(load_config(root), background_loops=False)
    client = await aiohttp_client(app)
    guarded = sorted(r for r in routes_of(app) if r[1] not in PUBLIC)
    assert len(guarded) >= 10
    for method, canonical in guarded:
        path = _concrete(canonical)
        headers = {"Origin": f"http://{client.host}:{client.port}"}
        async with client.request(method, path, headers=headers, allow_redirects=False) as r:
            if method != "GET":  # no session, so no CSRF token: refused before anything runs
                assert r.status == 403, (method, path, r.status)
            elif path.startswith("/api/"):
                assert r.status == 401 and "log in" in (await r.json())["error"], path
            else:
                assert r.status == 303 and r.headers["Location"].startswith("/login?next=/county"), path
    async with client.get("/login") as r:
        assert r.status == 200 and "登录" in await r.text()
    async with client.get("/repo/index.json") as r:
        assert r.status == 200  # the signed tree stays public


async def test_the_course_rewrite_of_the_issue_changes_nothing(root, aiohttp_client):
    """``curl -X POST --data title=HACKED /county/courses/<id>`` renamed a course (303)."""
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    course = course_ids(root)["雨季养鹅技术"]
    form = {"title": "HACKED", "category": "agriculture"}
    async with client.post(f"/county/courses/{course}", data=form, allow_redirects=False) as r:
        assert r.status in (401, 403)
    editor = await login_as(client, root, "bian-ji", "editor")
    async with editor.post(f"/county/courses/{course}", form, csrf="", allow_redirects=False) as r:
        assert r.status == 403 and "页面已过期" in await r.text(), "a logged-in browser without the page's token"
    async with editor.post(f"/county/courses/{course}", form, headers={"Origin": "http://evil.example"}) as r:
        assert r.status == 403 and "别的网站" in await r.text()
    async with editor.post(f"/county/courses/{course}", form, csrf="forged-token", allow_redirects=False) as r:
        assert r.status == 403
    viewer = await login_as(client, root, "cha-kan", "viewer")
    async with viewer.post(f"/county/courses/{course}", form, allow_redirects=False) as r:
        assert r.status == 403 and "editor" in await r.text()
    assert "HACKED" not in {title for _, title, _ in catalogue(root)}
    editor = await Staff(client).login("bian-ji", OWN_PASSWORD)  # the viewer's login replaced the editor's
    async with editor.post(f"/county/courses/{course}", form, allow_redirects=False) as r:
        assert r.status == 303
    assert "HACKED" in {title for _, title, _ in catalogue(root)}
    admin = await login_admin(client, root)
    audit = await admin.text("/county/audit")
    assert "course.edit" in audit and "bian-ji" in audit and "HACKED" in audit and "127.0.0.1" in audit


async def test_a_township_account_sees_only_its_stations(root, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    viewer = await login_as(client, root, "xiangang", "viewer", XIANGANG)
    async with viewer.get("/api/v1/stations") as r:
        assert [s["id"] for s in (await r.json())["stations"]] == [A]
    async with viewer.get(f"/api/v1/stations/{A}/days") as r:
        assert r.status == 200
    async with viewer.get(f"/api/v1/stations/{B}/days") as r:
        foreign = (r.status, (await r.json())["error"].replace(B, "ID"))
    async with viewer.get("/api/v1/stations/no-such-station/days") as r:
        missing = (r.status, (await r.json())["error"].replace("no-such-station", "ID"))
    assert foreign == missing and foreign[0] == 404
    async with viewer.get("/county/users") as r:
        assert r.status == 403  # a viewer manages no accounts


async def test_an_admin_bound_to_a_township_manages_only_its_accounts(root, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    add_user(root, "hetai-viewer", "viewer", HETAI)
    admin = await login_as(client, root, "xiangang-admin", "admin", XIANGANG)
    page = await admin.text("/county/users")
    assert "xiangang-admin" in page and "hetai-viewer" not in page and 'data-user="admin"' not in page
    async with admin.post("/county/users", {"name": "cunguan", "role": "viewer", "region": HETAI}) as r:
        assert r.status == 400 and "不在您管理的范围" in await r.text()
    async with admin.post("/county/users/hetai-viewer/password", allow_redirects=False) as r:
        assert r.status == 404
    async with admin.post("/county/users", {"name": "cunguan", "role": "viewer", "region": XIANGANG + "/蚬一村"}) as r:
        page = await r.text()
        assert r.status == 200 and re.search(r'id="one-time-password">([^<]+)<', page)


async def test_200_concurrent_wrong_logins_let_none_through_and_lock_the_account(root, headend_db):
    app = create_app(load_config(root), background_loops=False)
    async with serve(app) as base, aiohttp.ClientSession(cookie_jar=cookie_jar()) as http:
        staff = Staff(http, base)
        token = await staff.read_csrf("/login")

        async def attempt(i: int) -> int:
            form = {"name": "admin", "password": f"guess-{i:04d}-wrong"}
            async with staff.post("/login", form, csrf=token, allow_redirects=False) as r:
                return r.status

        statuses = await asyncio.gather(*(attempt(i) for i in range(200)))
        assert 303 not in statuses
        assert statuses.count(401) <= 5 and statuses.count(429) >= 195, sorted(set(statuses))
        form = {"name": "admin", "password": (root / ".test-admin-password").read_text()}
        async with staff.post("/login", form, csrf=token, allow_redirects=False) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) > 60  # even the right password waits
            assert "分钟后再试" in await r.text()


async def test_a_one_time_password_must_be_replaced_and_a_reset_ends_the_old_logins(root, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    password = add_user(root, "li-ming", "viewer")
    staff = Staff(client)
    token = await staff.read_csrf("/login")
    async with staff.post("/login", {"name": "li-ming", "password": password}, csrf=token, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/county/account/password"
    async with client.get("/county/publishing", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/county/account/password"
    await staff.login("li-ming", password)  # replaces it
    assert "发布状态" in await staff.text("/county/publishing")
    other = await login_admin(await aiohttp_client(client.server), root)  # another browser
    async with other.post("/county/users/li-ming/password") as r:
        assert r.status == 200
    async with client.get("/county/publishing", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].startswith("/login")


async def test_a_disabled_account_is_logged_out_and_cannot_log_in(root, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    staff = await login_as(client, root, "wang-fang", "editor")
    admin = await login_admin(await aiohttp_client(client.server), root)  # another browser
    async with admin.post("/county/users/wang-fang/disabled", {"disabled": "1"}, allow_redirects=False) as r:
        assert r.status == 303
    async with client.get("/county/publishing", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].startswith("/login")
    token = await staff.read_csrf("/login")
    form = {"name": "wang-fang", "password": OWN_PASSWORD}
    async with staff.post("/login", form, csrf=token, allow_redirects=False) as r:
        assert r.status == 401 and "用户名或密码不对" in await r.text()
    async with admin.post("/county/users/admin/disabled", {"disabled": "1"}) as r:
        assert r.status == 400 and "cannot disable your own account" in await r.text()


async def test_the_session_cookie_is_httponly_samesite_and_ends_when_idle(root, aiohttp_client, monkeypatch):
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    staff = Staff(client)
    token = await staff.read_csrf("/login")
    password = (root / ".test-admin-password").read_text()
    async with staff.post("/login", {"name": "admin", "password": password}, csrf=token, allow_redirects=False) as r:
        cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    await staff.login("admin", password)
    assert (await client.get("/county/publishing", allow_redirects=False)).status == 200
    import headend.web.auth as auth

    real = auth.time.time
    monkeypatch.setattr(auth.time, "time", lambda: real() + 61 * 60)  # [dashboard] idle_minutes = 60
    async with client.get("/county/publishing", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].startswith("/login")


async def test_an_open_redirect_after_login_is_refused(root, aiohttp_client):
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    staff = await login_admin(client, root)
    for target, lands in (
        ("//evil.example/", "/county"),
        ("http://evil.example/", "/county"),
        ("/\\evil.example", "/county"),
        ("/county/users", "/county/users"),
    ):
        form = {"name": "admin", "password": OWN_PASSWORD, "next": target}
        async with staff.post("/login", form, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == lands, target
        staff.csrf = await staff.read_csrf("/county/publishing")
