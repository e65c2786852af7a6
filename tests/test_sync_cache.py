"""A county cache: a real nginx (Debian's package) with `proxy_cache` in front of the headend.
Station A syncs through it; then the headend goes down and station B, syncing through the same
nginx, gets every file from the cache, byte for byte — the design's "any HTTP cache or CDN"."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from headend.config import load_config as headend_config
from headend.web.app import create_app as headend_app
from station.config import load_config as station_config
from station.store import Store
from tests.conftest import ROOT, in_ci, run_cli_async, serve, write_station_toml

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found:
        return found
    reason = "nginx is not installed (Debian package nginx; `make test` installs it)"
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


# The county cache as deploy/nginx/yuanjiao-county-cache.conf writes it (docs/deploy.md), inside
# a main config like Debian's, with its paths, port and upstream swapped for the test's.
COUNTY_CACHE_SITE = ROOT / "deploy" / "nginx" / "yuanjiao-county-cache.conf"
NGINX_CONF = """\
{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    log_format cache '$request_uri $status $upstream_cache_status $body_bytes_sent';
    access_log {d}/access.log cache;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    include {d}/yuanjiao-county-cache.conf;
}}
"""


def county_cache_site(d: Path, port: int, upstream: str) -> str:
    text = COUNTY_CACHE_SITE.read_text(encoding="utf-8")
    swaps = {
        "/var/cache/nginx/yuanjiao": f"{d}/cache",
        "http://headend.example.gov.cn/repo/": upstream,
        "    listen 80;\n": f"    listen 127.0.0.1:{port};\n",
        "    listen [::]:80;\n": "",
    }
    for old, new in swaps.items():
        assert old in text, f"{COUNTY_CACHE_SITE.name} no longer has {old!r}"
        text = text.replace(old, new)
    return text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def nginx_cache(d: Path, upstream: str) -> AsyncIterator[str]:
    """nginx with everything (config, pid, logs, temp files, cache) inside ``d``."""
    binary = nginx_binary()
    (d / "tmp").mkdir(parents=True)
    port = free_port()
    # As root, nginx would switch its worker to `nobody`, which cannot enter pytest's tmp_path.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (d / "yuanjiao-county-cache.conf").write_text(county_cache_site(d, port, upstream), encoding="utf-8")
    (d / "nginx.conf").write_text(NGINX_CONF.format(user=user, d=d), encoding="utf-8")
    args = [binary, "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "error.log"), "-g", "daemon off;"]
    test = subprocess.run([*args, "-t"], capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        for _ in range(100):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                assert proc.returncode is None, (await proc.stderr.read()).decode()
                await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"nginx did not listen on {port}: {(d / 'error.log').read_text()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


def cache_log(d: Path) -> list[tuple[str, str, str]]:
    """(uri, status, cache status) per request nginx answered."""
    lines = (d / "access.log").read_text().splitlines() if (d / "access.log").exists() else []
    return [tuple(line.split()[:3]) for line in lines]


def assert_store_matches(toml: Path, repo: Path) -> set[str]:
    store = Store(station_config(toml).data_dir)
    for c in store.courses():
        for path in filter(None, (c.media, c.poster)):
            assert store.blob_path(path).read_bytes() == (repo / path).read_bytes(), path
    return {c.title for c in store.courses()}


async def sync(toml: Path) -> None:
    code, out, err = await run_cli_async("station", "--config", str(toml), "sync", "--once")
    assert code == 0, out + err


async def test_second_station_is_served_from_the_cache_with_the_headend_down(headend_root, tmp_path):
    nginx_binary()
    key, repo = headend_root / "keys" / "headend.pub", headend_root / "repo"
    cache_dir = tmp_path / "nginx"
    seen_by_headend: list[str] = []
    app = headend_app(headend_config(headend_root))

    async def count(request, response):
        seen_by_headend.append(request.path)

    app.on_response_prepare.append(count)

    async with AsyncExitStack() as stack:
        headend_up = AsyncExitStack()
        headend = await headend_up.enter_async_context(serve(app))
        county = await stack.enter_async_context(nginx_cache(cache_dir, f"{headend}/repo/"))
        try:
            (tmp_path / "a").mkdir()
            toml_a = write_station_toml(tmp_path / "a" / "station.toml", [f"{county}/repo/"], key)
            await sync(toml_a)
        finally:
            await headend_up.aclose()  # the headend goes down; the county cache stays
        through_a = cache_log(cache_dir)
        assert any(uri.startswith("/repo/media/") for uri, _, _ in through_a)
        assert len(seen_by_headend) == len(through_a)  # every file of A's came from the headend once
        assert {status for _, _, status in through_a} == {"MISS"}, through_a

        (tmp_path / "b").mkdir()
        toml_b = write_station_toml(tmp_path / "b" / "station.toml", [f"{county}/repo/"], key)
        # B had fetched half of the biggest file before (say) a power cut: it resumes from the cache.
        biggest = max(
            (uri.removeprefix("/repo/") for uri, _, _ in through_a if uri.startswith("/repo/media/")),
            key=lambda rel: (repo / rel).stat().st_size,
        )
        half = (repo / biggest).read_bytes()[: (repo / biggest).stat().st_size // 2]
        partial = Store(station_config(toml_b).data_dir).partial_dir / f"{Path(biggest).stem}.part"
        partial.write_bytes(half)
        await sync(toml_b)
        through_b = cache_log(cache_dir)[len(through_a) :]
    assert (
        assert_store_matches(toml_b, repo) == assert_store_matches(toml_a, repo) == {"雨季养鹅技术", "农村医保政策解读"}
    )
    media_b = [uri for uri, _, _ in through_b if uri.startswith("/repo/media/")]
    assert len(media_b) == len([p for p in Store(station_config(toml_b).data_dir).present()]), through_b
    # Every answer B got was the cache's (fresh or, for the index, stale while the headend is down);
    # the half-fetched file as a range of the cached whole.
    assert through_b and all(status in ("HIT", "STALE") for _, _, status in through_b), through_b
    assert {uri: code for uri, code, _ in through_b}[f"/repo/{biggest}"] == "206", through_b
    assert all(code == "200" for uri, code, _ in through_b if uri != f"/repo/{biggest}"), through_b
    assert len(seen_by_headend) == len(through_a)
