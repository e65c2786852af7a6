"""Fixtures of the TV tests: real clips, a repository, one station synced from it for the session
(each test gets a copy), the station's app over aiohttp or live for the browser, and one Chromium
for every browser test with a fresh context per test."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest

from tests.browser import CHROMIUM_SHARED, LiveServer, chromium_missing
from tests.tv.station import Mirror, PageClient, TvStation, make_clips, repository

TV_DIR = Path(__file__).resolve().parent


def _is_async(item: pytest.Item) -> bool:
    return inspect.iscoroutinefunction(getattr(item, "function", None))


@pytest.hookimpl(trylast=True)  # after pytest groups tests by session-scoped parameters (headend_db)
def pytest_collection_modifyitems(session, config, items):
    """The TV browser tests run last: sync Playwright keeps an event loop running in this thread
    while its Chromium lives, which asyncio tests cannot share; run last, one Chromium serves them
    all. (The hook sees the whole session; it moves only this folder's sync browser tests.)"""
    ours = [i for i in items if TV_DIR in i.path.parents and i.get_closest_marker("browser") and not _is_async(i)]
    if ours:
        moved = set(map(id, ours))
        items[:] = [i for i in items if id(i) not in moved] + ours


def pytest_runtest_setup(item):
    if _is_async(item) and CHROMIUM_SHARED.running:  # an asyncio test after a browser test (-k, --lf)
        CHROMIUM_SHARED.stop()


def pytest_sessionfinish(session, exitstatus):
    CHROMIUM_SHARED.stop()


@pytest.fixture(scope="session")
def tv_clips(tmp_path_factory) -> dict[str, Path]:
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    return make_clips(tmp_path_factory.mktemp("tv-clips"))


@pytest.fixture(scope="session")
def mirror():
    m = Mirror()
    yield m
    m.close()


@pytest.fixture(scope="session")
def synced(tmp_path_factory, tv_clips, mirror) -> TvStation:
    """The catalogue published and synced once; tests take copies (``tv``)."""
    st = TvStation(tmp_path_factory.mktemp("tv-synced"), mirror, repository(tv_clips))
    assert st.sync() == "ok"
    return st


@pytest.fixture
def tv(tmp_path, synced) -> TvStation:
    """This test's station: what the synced one holds, and its own copy of the repository."""
    return synced.copy(tmp_path)


@pytest.fixture
def page_client(aiohttp_client):
    """Like ``aiohttp_client``, but POSTs come from the station's own pages (``PageClient``)."""

    async def make(app, **kw):
        return PageClient(await aiohttp_client(app, **kw))

    return make


@pytest.fixture
async def client(page_client, tv):
    return await page_client(tv.app())


@pytest.fixture
def live(tv):
    """The station's app served from a thread, for the browser (``live.tv`` is the station)."""
    server = LiveServer(tv.app())
    server.tv = tv
    yield server
    server.close()


@pytest.fixture
def page(live):
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    context = CHROMIUM_SHARED.browser().new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    context.close()


@pytest.fixture
def browser():
    """A page maker: each call opens a page in a new browser context (several people at once)."""
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    contexts = []

    def new_page():
        context = CHROMIUM_SHARED.browser().new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        return page

    yield new_page
    for c in contexts:
        c.close()
