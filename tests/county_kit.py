"""Logging in to the county pages from a test: accounts made through the real CLI, a real login
(the CSRF token read from the page, an Origin header as a browser sends), the session kept in the
client's cookie jar. ``Staff`` wraps pytest-aiohttp's ``client`` (``TestClient``, paths) or a plain
``aiohttp.ClientSession`` with a base URL (its cookie jar must accept IP hosts: ``cookie_jar()``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import ADMIN_PASSWORD_FILE, run_cli

OWN_PASSWORD = "county-test-pass-1"  # what the kit replaces a one-time password with
_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


def cookie_jar() -> aiohttp.CookieJar:
    """A jar that keeps cookies of http://127.0.0.1:PORT (aiohttp's default refuses IP hosts)."""
    return aiohttp.CookieJar(unsafe=True)


def add_user(root: Path, name: str, role: str, region: str = "") -> str:
    """``headend user add``; the one-time password it printed."""
    args = ["user", "add", "--root", str(root), name, "--role", role]
    if region:
        args += ["--region", region]
    res = run_cli("headend", *args)
    assert res.returncode == 0, res.stderr
    return re.search(r"one-time password[^:]*: (\S+)", res.stdout).group(1)


def admin_password(root: Path) -> str:
    return (root / ADMIN_PASSWORD_FILE).read_text().strip()


@dataclass
class Staff:
    """A county staff member's browser: ``http`` (TestClient or ClientSession), ``base`` ('' for a
    TestClient), and the session's CSRF token once logged in."""

    http: Any
    base: str = ""
    csrf: str = ""

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    @property
    def origin(self) -> str:
        return self.base or f"http://{self.http.host}:{self.http.port}"

    def get(self, path: str, **kw):
        return self.http.get(self.url(path), **kw)

    async def text(self, path: str) -> str:
        """The page's text; fails the test unless it answered 200."""
        async with self.get(path) as r:
            body = await r.text()
            assert r.status == 200, f"GET {path}: {r.status} {body[:400]}"
            return body

    async def read_csrf(self, path: str = "/login") -> str:
        async with self.get(path) as r:
            page = await r.text()
        m = _CSRF.search(page)
        assert m, f"no CSRF token on {path} ({r.status}): {page[:300]}"
        return m.group(1)

    def post(self, path: str, data: dict | None = None, *, csrf: str | None = None, **kw):
        """A form POST as the browser sends it from one of the site's pages."""
        headers = {"Origin": self.origin, **kw.pop("headers", {})}
        form = {**(data or {}), "_csrf": self.csrf if csrf is None else csrf}
        return self.http.post(self.url(path), data=form, headers=headers, **kw)

    async def login(self, name: str, password: str) -> Staff:
        """Log in (replacing a one-time password with OWN_PASSWORD)."""
        token = await self.read_csrf("/login")
        async with self.post("/login", {"name": name, "password": password}, csrf=token, allow_redirects=False) as r:
            assert r.status == 303, f"login of {name} failed: {r.status} {await r.text()}"
            where = r.headers["Location"]
        self.csrf = await self.read_csrf("/county/account/password")
        if where == "/county/account/password":
            form = {"old": password, "new": OWN_PASSWORD, "again": OWN_PASSWORD}
            async with self.post("/county/account/password", form, allow_redirects=False) as r:
                assert r.status == 303, await r.text()
            self.csrf = await self.read_csrf("/county/account/password")
        return self


async def login_admin(http, root: Path, base: str = "") -> Staff:
    """Log in as the first admin ``headend init`` made (its password kept in the root by the tests)."""
    password = admin_password(root)
    staff = await Staff(http, base).login("admin", password)
    if password != OWN_PASSWORD:
        (root / ADMIN_PASSWORD_FILE).write_text(OWN_PASSWORD)
    return staff


async def login_as(http, root: Path, name: str, role: str, region: str = "", base: str = "") -> Staff:
    """A new account made with ``headend user add``, logged in (its password replaced)."""
    return await Staff(http, base).login(name, add_user(root, name, role, region))
