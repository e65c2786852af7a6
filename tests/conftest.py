"""Shared fixtures: real ffmpeg clips, a real headend data root, real servers on 127.0.0.1:0.

Every test that opens a headend database asks for ``headend_db`` (directly or through
``headend_root``, ``published_template``, ``init_headend``) and runs once per engine chosen by
``--headend-db`` or ``YJ_HEADEND_DB`` (``sqlite``, ``postgresql`` or ``both``, the default);
such tests are marked ``headend_db``. A test marked ``one_engine`` — one whose point is not the
database (a TV journey, a publish, an ingest refusal) — runs on one engine only under ``both``:
half such tests on each, picked by the test's name, so both engines still carry every kind of
test while the suite stays under ten minutes. PostgreSQL is a real server (``tests/pg.py``)
started once per session when a test needs it."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent


def in_ci() -> bool:
    """Running under CI (``CI`` set to anything but empty, 0, false or no): there a missing tool
    (PostgreSQL, nginx, Chromium, a tmpfs) is a broken set-up and fails the test instead of
    skipping it."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def make_clip(
    dest: Path,
    seconds: float = 3,
    audio_only: bool = False,
    video_only: bool = False,
    size: str = "320x240",
    *,
    video: str | None = None,
    audio: str | None = None,
    before: tuple[str, ...] = (),
    after: tuple[str, ...] = (),
) -> Path:
    """A small real clip from ffmpeg's lavfi sources: ``video`` / ``audio`` replace the default
    test pattern and beep, ``before`` goes ahead of the codecs (filters), ``after`` behind them."""
    args = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    if not audio_only:
        args += ["-f", "lavfi", "-i", video or f"testsrc2=size={size}:rate=25"]
    if not video_only:
        args += ["-f", "lavfi", "-i", audio or "sine=frequency=440:beep_factor=4"]
    args += ["-t", str(seconds), *before]
    if not audio_only:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if not video_only:
        args += ["-c:a", "libmp3lame" if dest.suffix == ".mp3" else "aac"]
    subprocess.run([*args, *after, str(dest)], check=True)
    return dest


def dead_url(path: str = "/repo/") -> str:
    """A URL on 127.0.0.1 where nothing listens: a port the OS just handed out and took back
    (port 9 is closed on a clean machine but not on one where another program took it)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def run_cli(program: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``headend`` or ``station`` as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", f"{program}.cli", *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=300
    )


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    return {
        "video": make_clip(d / "雨季 养鹅 技术.mp4"),
        "audio": make_clip(d / "政策解读.mp3", audio_only=True),
    }


ENGINES = ("sqlite", "postgresql")


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--headend-db",
        default=os.environ.get("YJ_HEADEND_DB", "both"),
        choices=("sqlite", "postgresql", "both"),
        help="which engine(s) the tests that open a headend database run on (env YJ_HEADEND_DB)",
    )


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "headend_db: opens a headend database; runs once per engine (--headend-db)")
    config.addinivalue_line(
        "markers", "one_engine: opens a headend database but is not about it: runs on one engine under `both`"
    )
    config.addinivalue_line(
        "markers", "slow: needs ffmpeg, PostgreSQL, Chromium, nginx or kill loops (`make test-fast` skips)"
    )


def pytest_generate_tests(metafunc) -> None:
    if "headend_db" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--headend-db")
        engines = ENGINES if chosen == "both" else (chosen,)
        if len(engines) > 1 and metafunc.definition.get_closest_marker("one_engine"):
            engines = (ENGINES[zlib.crc32(metafunc.definition.nodeid.encode()) % len(ENGINES)],)
        metafunc.parametrize("headend_db", engines, indirect=True, scope="session")


# What makes a test slow: real ffmpeg clips, a PostgreSQL server, Chromium, nginx, kill -9 loops.
SLOW_FIXTURES = {"clips", "tv_clips", "synced", "postgres", "published_template", "headend_root"}
SLOW_MODULES = {
    "test_sync_power_cut",
    "test_sync_cache",
    "test_sync_network",
    "test_sync_loop",
    "test_pipeline",
    "test_ingest_refusals",
    "test_renditions",
    "test_ingest",
    "test_watch",
    "test_headend_loops",
}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "headend_db" in names:
            item.add_marker(pytest.mark.headend_db)
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        on_postgres = getattr(item, "callspec", None) and item.callspec.params.get("headend_db") == "postgresql"
        if names & SLOW_FIXTURES or module in SLOW_MODULES or on_postgres or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (skipped with the reason when it cannot start,
    or a failure under CI=true)."""
    from tests.pg import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL is needed and could not start: {exc}")
        pytest.skip(f"PostgreSQL could not start: {exc}")
    yield server
    server.stop()


class HeadendDb:
    """The engine a test's headend roots use: ``new_url()`` for a fresh root ("" = SQLite in the
    root), ``copy(src, dest)`` to copy a whole root with its database."""

    def __init__(self, name: str, server=None) -> None:
        self.name, self.server = name, server

    def __repr__(self) -> str:
        return self.name

    def new_url(self) -> str:
        return self.server.create_database() if self.server else ""

    def copy(self, src: Path, dest: Path) -> Path:
        if self.server is None:
            # Fold SQLite's write-ahead log into the database first: the -wal file vanishes
            # whenever the last connection to it closes, which may be in the middle of a copy.
            conn = sqlite3.connect(src / "headend.db")
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns("*.db-wal", "*.db-shm"))
            return dest
        shutil.copytree(src, dest, symlinks=True)
        toml = dest / "headend.toml"
        text = toml.read_text(encoding="utf-8")
        src_db = re.search(r'(?m)^url = "postgresql://[^"]*/([^"/]+)"', text)[1]
        copy = self.server.create_database(template=src_db)
        toml.write_text(text.replace(self.server.url(src_db), copy), encoding="utf-8")
        return dest


@pytest.fixture(scope="session")
def headend_db(request) -> HeadendDb:
    if request.param == "postgresql":
        return HeadendDb("postgresql", request.getfixturevalue("postgres"))
    return HeadendDb("sqlite")


def init_headend(root: Path, db: HeadendDb | None = None) -> Path:
    """``headend init`` a new root on the test's engine (SQLite without ``db``)."""
    args = ["init", "--root", str(root)]
    url = db.new_url() if db is not None else ""
    if url:
        args += ["--database-url", url]
    res = run_cli("headend", *args)
    assert res.returncode == 0, res.stderr
    save_admin_password(root, res.stdout)
    return root


ADMIN_PASSWORD_FILE = ".test-admin-password"  # where the tests keep `headend init`'s one-time password


def save_admin_password(root: Path, init_stdout: str) -> None:
    m = re.search(r"one-time password: (\S+)", init_stdout)
    if m:
        (root / ADMIN_PASSWORD_FILE).write_text(m.group(1))


@pytest.fixture(scope="session")
def published_template(tmp_path_factory, clips, headend_db) -> Path:
    """A headend root with one video and one audio-only course, published once per session and
    engine. Tests copy it (``headend_root``) so they can change it freely."""
    root = init_headend(tmp_path_factory.mktemp("headend-template") / "headend", headend_db)
    for key, title, cat in (("video", "雨季养鹅技术", "agriculture"), ("audio", "农村医保政策解读", "policy")):
        res = run_cli("headend", "ingest", "--root", str(root), str(clips[key]), "--title", title, "--category", cat)
        assert res.returncode == 0, res.stderr
    res = run_cli("headend", "publish", "--root", str(root))
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture
def headend_root(tmp_path, published_template, headend_db) -> Path:
    return headend_db.copy(published_template, tmp_path / "headend")


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp app on 127.0.0.1, a free port; yield its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serve_repo(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    """Serve ``GET /repo/{path}`` with ``handler`` on 127.0.0.1; yield the mirror URL (``…/repo/``)."""
    app = web.Application()
    app.router.add_get("/repo/{path:.+}", handler)
    async with serve(app) as base:
        yield f"{base}/repo/"


def write_station_toml(path: Path, mirrors: list[str], key_file: Path, player: str = "stb-sd", **extra_ui) -> Path:
    mirrors_toml = ", ".join(f'"{m}"' for m in mirrors)
    path.write_text(
        f"""[station]
id = "test-station"
name = "测试村远教站点"
region = ["广东省", "肇庆市", "高要市", "蚬岗镇", "测试村"]
player = "{player}"
data_dir = "data"

[sync]
mirrors = [{mirrors_toml}]
trusted_keys = ["{key_file}"]
interval_s = 300
timeout_s = 5
reserve_free_mb = 0  # CI disks can be nearly full; tests that need the rule set it themselves

[report]
url = "http://127.0.0.1:9/api/v1/"
token = ""

[ui]
host = "127.0.0.1"
port = 8080  # never opened by the tests: they serve the app on a free port
admin_pin = "246813"
""",
        encoding="utf-8",
    )
    return path


async def run_cli_async(program: str, *args: str) -> tuple[int, str, str]:
    """Like ``run_cli`` but without blocking the event loop (servers under test share it)."""
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"{program}.cli",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    return proc.returncode, out.decode(), err.decode()
