"""The monthly bulletin (月通报, issue 13) of a rated period and a region, as county offices circulate
it: ``/county/ratings/bulletin`` (a printable A4 page: no site navigation when printed) and
``/county/ratings/bulletin.pdf`` (the same page printed to PDF by the system Chromium)::

    ?period=2026-11&region=广东省/肇庆市/高要市     (default: the month before this one, the account's region)

The PDF: the page is rendered to a file in a temporary directory (CSS and SVG inline, nothing to
fetch, no login needed; a Content-Security-Policy in it forbids scripts and every fetch, and
Chromium gets a dead proxy) and ``chromium --headless --print-to-pdf`` prints it, killed after
``PDF_TIMEOUT_S``. One print at a time (``PRINTER``'s semaphore): a request while another prints
is answered at once — 503, the printable page, "try again later", ``Retry-After`` — never queued.
Chromium is the one on the PATH, or ``$YUANJIAO_CHROMIUM``; when it is missing or fails, the
answer is a 503 with the printable page and words saying to print that from the browser — never
a 500. The period and the links either side: ``headend.web.periods``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from markupsafe import Markup

from headend.service.bulletin import Bulletin, make_bulletin
from headend.web import charts
from headend.web.auth import current_user, visible_stations
from headend.web.dashboard import Nav, region_from
from headend.web.keys import HEADEND, TEMPLATES
from headend.web.periods import neighbours, period_from

log = logging.getLogger(__name__)

PDF_TIMEOUT_S = 60.0
BUSY_RETRY_S = 10  # Retry-After while another PDF prints
CHART_PARTS = 30  # townships drawn in the chart (the table lists them all)
CHROMIUM_ENV = "YUANJIAO_CHROMIUM"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
    "--proxy-server=127.0.0.1:9",  # a dead proxy: the page is a file:// URL and fetches nothing
)
# No script and no fetch in the printed page — loopback included, which Chromium never sends to a
# proxy — said by the page itself (``--blink-settings=scriptEnabled=false`` would do the first,
# but Chromium 156's --print-to-pdf then writes no PDF and exits 0).
PRINT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
_HEAD, _DOCTYPE = re.compile(r"<head(?:\s[^>]*)?>", re.I), re.compile(r"<!doctype[^>]*>", re.I)


class PdfFailed(Exception):
    """Chromium is missing, failed or took too long; the message says which, in Chinese."""


class PrinterBusy(PdfFailed):
    """Another PDF is being printed: asked again later, not queued behind it."""


@dataclass(frozen=True)
class Printer:
    """How the headend prints a bulletin to PDF: which Chromium (None: none installed)."""

    chromium: str | None
    timeout_s: float = PDF_TIMEOUT_S
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))  # taken: 503 at once


PRINTER = web.AppKey("bulletin_printer", Printer)


def find_chromium() -> str | None:
    return os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")


# ---- the data and the HTML ----------------------------------------------------------------------


async def _bulletin(request: web.Request) -> Bulletin:
    period, region = period_from(request), region_from(request)
    h = request.app[HEADEND]
    stations = visible_stations(request, await asyncio.to_thread(h.db.stations))
    return await asyncio.to_thread(make_bulletin, h, period, region, stations)


def _chart(b: Bulletin) -> Markup | None:
    shown = sorted((p for p in b.parts if p.reported), key=lambda p: p.person_times, reverse=True)[:CHART_PARTS]
    if not shown:
        return None
    first = "" if len(shown) == sum(1 for p in b.parts if p.reported) else f"（前 {len(shown)} 个）"
    title = f"{b.period.label}各{b.level}人次{first}"
    return charts.ranking(title, [p.name for p in shown], [p.person_times for p in shown], "人次")


def _links(b: Bulletin) -> dict[str, str | None]:
    return {
        "ranking": Nav("/county/ratings", b.region, b.period).url(),
        "pdf": Nav("/county/ratings/bulletin.pdf", b.region, b.period).url(),
        **neighbours(Nav("/county/ratings/bulletin", b.region, b.period), b.period),
    }


def _html(request: web.Request, b: Bulletin, *, screen: bool, pdf_error: str = "") -> str:
    template = request.app[TEMPLATES].get_template("bulletin.html")
    return template.render(b=b, chart=_chart(b), screen=screen, links=_links(b), pdf_error=pdf_error)


def _page(request: web.Request, b: Bulletin, status: int = 200, pdf_error: str = "") -> web.Response:
    html = _html(request, b, screen=True, pdf_error=pdf_error)
    return web.Response(text=html, content_type="text/html", status=status)


# ---- printing ---------------------------------------------------------------------------------------


def _kill(proc: asyncio.subprocess.Process) -> None:
    """End Chromium and the processes it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def print_pdf(printer: Printer, html: str) -> bytes:
    """``html`` (self-contained) printed to PDF by Chromium, one print at a time (PrinterBusy at
    once while another prints: nothing waits in a queue); PdfFailed says why not."""
    if not printer.chromium:
        raise PdfFailed("这台服务器上没有安装 Chromium 浏览器（Debian 软件包 chromium），无法把通报转成 PDF。")
    if printer.slots.locked():
        raise PrinterBusy(f"正在生成另一份 PDF，请稍后再试（约 {BUSY_RETRY_S} 秒后）。")
    async with printer.slots:  # free: taken without waiting (nothing in between yields)
        folder = await asyncio.to_thread(tempfile.mkdtemp, prefix="yj-bulletin-")
        try:
            return await _print_in(printer, html, Path(folder))
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)


def locked_down(html: str) -> str:
    """``html`` with ``PRINT_CSP`` first in its ``<head>`` (after the doctype if it has none)."""
    meta = f'<meta http-equiv="Content-Security-Policy" content="{PRINT_CSP}">'
    found = _HEAD.search(html) or _DOCTYPE.search(html)
    at = found.end() if found else 0
    return html[:at] + meta + html[at:]


async def _print_in(printer: Printer, html: str, folder: Path) -> bytes:
    page, out = folder / "bulletin.html", folder / "bulletin.pdf"
    await asyncio.to_thread(page.write_text, locked_down(html), "utf-8")
    home = folder / "home"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    args = [*CHROMIUM_FLAGS, f"--user-data-dir={folder / 'profile'}", f"--print-to-pdf={out}", page.as_uri()]
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            printer.chromium,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        raise PdfFailed(f"无法启动 Chromium（{printer.chromium}：{exc.strerror or exc}）。") from exc
    try:
        _, err = await asyncio.wait_for(proc.communicate(), printer.timeout_s)
    except TimeoutError:
        _kill(proc)
        await proc.wait()
        raise PdfFailed(f"Chromium 在 {printer.timeout_s:g} 秒内没有打印完，已停止。") from None
    except asyncio.CancelledError:
        _kill(proc)
        raise
    finally:
        _kill(proc)  # what it left running (a crash handler, a zygote)
    data = await asyncio.to_thread(_read, out)
    if proc.returncode != 0 or not data.startswith(b"%PDF"):
        tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
        log.warning("chromium (%s) printed no PDF: exit %s; %s", printer.chromium, proc.returncode, " | ".join(tail))
        raise PdfFailed(f"Chromium 没有打印出 PDF（退出码 {proc.returncode}），详情见服务器日志。")
    log.info("bulletin printed to PDF in %.1f s (%d bytes)", time.monotonic() - started, len(data))
    return data


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


# ---- the routes ---------------------------------------------------------------------------------


async def bulletin_page(request: web.Request) -> web.Response:
    return _page(request, await _bulletin(request))


async def bulletin_pdf(request: web.Request) -> web.Response:
    b = await _bulletin(request)
    try:
        pdf = await print_pdf(request.app[PRINTER], _html(request, b, screen=False))
    except PrinterBusy as exc:
        response = _page(request, b, status=503, pdf_error=str(exc))
        response.headers["Retry-After"] = str(BUSY_RETRY_S)
        return response
    except PdfFailed as exc:
        log.warning("bulletin PDF for %s (%s) not made: %s", current_user(request).name, b.period.name, exc)
        return _page(request, b, status=503, pdf_error=str(exc))
    name = f"bulletin-{b.period.name}.pdf"
    return web.Response(
        body=pdf,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(b.title + '.pdf')}",
        },
    )


def setup_bulletin(app: web.Application) -> None:
    app[PRINTER] = Printer(find_chromium())
    app.router.add_get("/county/ratings/bulletin", bulletin_page)
    app.router.add_get("/county/ratings/bulletin.pdf", bulletin_pdf)
