"""The system Chromium (Debian ``chromium``) driven through Playwright, for TV-page tests.

Never ``playwright install``: there is no download here; the Debian build plays H.264/AAC.

The TV tests use the sync Playwright API: the station under test runs in its own thread
(``LiveServer``), one Chromium serves every browser test of the session (``SharedChromium``),
and each test gets a fresh context. Sync Playwright keeps an event loop running in the main
thread while it lives, so it is stopped before an asyncio test runs (``tests/tv/conftest.py``
also runs the browser tests last, so that happens at most once).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.conftest import in_ci

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None. Under CI nothing is skipped: a missing
    browser there is a broken set-up, and the tests must fail to say so."""
    if in_ci():
        return None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    return None


@contextlib.asynccontextmanager
async def launch_chromium() -> AsyncIterator[playwright.async_api.Browser]:  # noqa: F821
    """A browser for an asyncio test (the end-to-end flow in ``test_flow.py``)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class SharedChromium:
    """One sync-Playwright Chromium, started on first use and stopped by ``stop()``."""

    def __init__(self) -> None:
        self._pw: Any = None
        self._browser: Any = None
        self.launches = 0

    def browser(self) -> Any:
        if self._browser is None:
            from playwright.sync_api import sync_playwright

            self._pw = sync_playwright().start()
            self._browser = self._pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            self.launches += 1
        return self._browser

    @property
    def running(self) -> bool:
        return self._browser is not None

    def stop(self) -> None:
        if self._browser is not None:
            try:
                self._browser.close()
            finally:
                self._pw.stop()
                self._pw = self._browser = None


CHROMIUM_SHARED = SharedChromium()


class LiveServer:
    """An aiohttp app on 127.0.0.1 in its own thread, so sync Playwright can share the module."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start():
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            return runner, site._server.sockets[0].getsockname()[1]

        self.runner, port = asyncio.run_coroutine_threadsafe(start(), self.loop).result(15)
        self.base = f"http://127.0.0.1:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def run(self, coro: Coroutine, timeout: float = 120) -> Any:
        """Run ``coro`` on this server's loop and wait for it (from a thread with no loop of its
        own, or one that must not be re-entered, such as sync Playwright's)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# ---- the remote control ------------------------------------------------------------------------

# Colour keys as a set-top box sends them: keyCode 403-406 with these key names.
COLOUR = {
    "red": (403, "ColorF0Red"),
    "green": (404, "ColorF1Green"),
    "yellow": (405, "ColorF2Yellow"),
    "blue": (406, "ColorF3Blue"),
}

FOCUS_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {tag: 'BODY'};
  const cs = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  return {tag: el.tagName, href: el.getAttribute('href'), id: el.id, text: el.textContent.trim(),
          outline: cs.outlineStyle, outlineWidth: parseFloat(cs.outlineWidth), w: r.width, h: r.height};
}"""


def focused(page) -> dict:
    """What has focus; fails unless something does, visibly (an outline of 4 px or more), on screen."""
    f = page.evaluate(FOCUS_JS)
    assert f["tag"] != "BODY", f"nothing has focus on {page.url}"
    assert f["outline"] != "none" and f["outlineWidth"] >= 4, f"focus is not visible on {page.url}: {f}"
    assert f["w"] > 0 and f["h"] > 0, f"the focused element is not on screen: {f}"
    return f


def press(page, key: str) -> None:
    page.keyboard.press(key)
    page.wait_for_timeout(40)


def remote(page, colour: str, code: int | None = None) -> None:
    """A key as a set-top box sends it: a colour (keyCode 403-406) or any ``code`` with key name ``colour``."""
    code, name = COLOUR[colour] if code is None else (code, colour)
    cdp = page.context.new_cdp_session(page)
    for kind in ("rawKeyDown", "keyUp"):
        cdp.send(
            "Input.dispatchKeyEvent",
            {"type": kind, "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code, "key": name},
        )
    cdp.detach()


def media(page, expr: str) -> Any:
    """``expr`` evaluated with ``m`` the page's audio or video element."""
    return page.evaluate(f"(() => {{ const m = document.getElementById('media'); return {expr}; }})()")


def wait_playing(page, at_least: float = 0.3) -> None:
    page.wait_for_function(
        "document.getElementById('media') && document.getElementById('media').readyState >= 1", timeout=8000
    )
    if media(page, "m.paused"):
        page.keyboard.press("Enter")  # autoplay blocked: OK starts it
    page.wait_for_function(f"document.getElementById('media').currentTime > {at_least}", timeout=8000)
