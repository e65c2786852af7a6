"""Issue 13's journey in Chromium: a county viewer logs in (choosing a password in place of the
one-time one), opens the star ratings from the menu, reads a station's rating with each
indicator's reason, downloads the ranking as CSV and as XLSX (the Chinese intact in both), and
downloads the month's bulletin (月通报) as a PDF whose text carries its title and the top
station. A real headend on 127.0.0.1 over a generated county (``tests/rating_county.py``), rated
for last month as the pages are by default.

Everything is clicked as a person would; the only addresses typed are the login page's and, until
the ranking page links to it, the bulletin's."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

import pytest

from catalogue.clocks import CHINA
from catalogue.periods import period_of
from headend.config import load_config
from headend.service import open_root
from headend.service.ratings import ratings_table
from headend.web.app import create_app
from tests.browser import CHROMIUM_SHARED, LiveServer, chromium_missing
from tests.conftest import init_headend
from tests.county_kit import OWN_PASSWORD, add_user
from tests.headend_db import database
from tests.rating_county import COUNTY, fill_county

pytestmark = [pytest.mark.browser, pytest.mark.one_engine]  # not about the database: one engine

TODAY = datetime.now(CHINA).date()
MONTH = period_of("month", TODAY).previous()  # what the rating pages show by default


@pytest.fixture
def page():
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    context = CHROMIUM_SHARED.browser().new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    p = context.new_page()
    p.errors = []
    p.on("pageerror", lambda exc: p.errors.append(str(exc)))
    yield p
    context.close()


def log_in(page, base: str, name: str, one_time: str) -> None:
    page.goto(f"{base}/county")
    assert "/login" in page.url, page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", one_time)
    page.click("button[type=submit]")
    page.wait_for_url("**/county/account/password")
    page.fill("input[name=old]", one_time)
    page.fill("input[name=new]", OWN_PASSWORD)
    page.fill("input[name=again]", OWN_PASSWORD)
    page.click("form[action='/county/account/password'] button[type=submit]")
    page.wait_for_load_state()
    assert "/county" in page.url and "/login" not in page.url, page.url


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_a_viewer_reads_the_ranking_a_stations_reasons_and_downloads_csv_xlsx_and_the_bulletin(
    tmp_path, page, headend_db
):
    from openpyxl import load_workbook
    from pypdf import PdfReader

    root = init_headend(tmp_path / "headend", headend_db)
    with database(root) as db:
        fill_county(db, n=40, days=90, last_day=TODAY - timedelta(days=1))
    with open_root(root) as h:
        table = ratings_table(h, MONTH)
    ranked = [e for e in table.entries if e.rating.status == "ranked"]
    assert len(ranked) >= 10
    one_time = add_user(root, "xian-kan", "viewer", "/".join(COUNTY))
    headend = LiveServer(create_app(load_config(root), background_loops=False))
    try:
        log_in(page, headend.base, "xian-kan", one_time)

        # The ranking, from the menu: last month's, best first.
        page.click("nav >> text=星级评定")
        page.wait_for_url("**/county/ratings*")
        assert MONTH.label in page.inner_text("main")
        listed = page.eval_on_selector_all("#ranking tr[data-station]", "rows => rows.map(r => r.dataset.station)")
        assert listed == [e.station.id for e in ranked]

        # A station's rating, each indicator with its reason in words.
        first = ranked[0]
        page.click(f"#ranking tr[data-station='{first.station.id}'] a")
        page.wait_for_url(f"**/county/stations/{first.station.id}/rating*")
        assert page.inner_text("#total").startswith(f"{first.rating.total:g}")
        reasons = page.eval_on_selector_all(
            "#indicators tr[data-indicator]",
            "rows => rows.map(r => [r.dataset.indicator, r.lastElementChild.textContent.trim()])",
        )
        assert [i for i, _ in reasons] == [s.indicator for s in first.rating.scores]
        assert [w for _, w in reasons] == [s.reason for s in first.rating.scores]
        assert all(re.search(r"[\u4e00-\u9fff]", w) for _, w in reasons), reasons
        page.go_back()
        page.wait_for_selector("#ranking")

        # The ranking for Excel: CSV with a BOM, and XLSX, the Chinese intact.
        with page.expect_download() as csv_download:
            page.click("#export-csv")
        raw = csv_download.value.path().read_bytes()
        assert raw.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows[0][:4] == ["县内排名", "镇内排名", "站点编号", "站点名称"]
        assert [r[3] for r in rows[1:]] == [e.station.name for e in table.entries]
        with page.expect_download() as xlsx_download:
            page.click("#export-xlsx")
        assert xlsx_download.value.suggested_filename.endswith(".xlsx")
        sheet = load_workbook(io.BytesIO(xlsx_download.value.path().read_bytes()))["排名"]
        cells = [list(row) for row in sheet.iter_rows(values_only=True)]
        assert table.rubric.title in cells[0][0] and cells[1][3] == "站点名称"
        assert [r[3] for r in cells[2:]] == [e.station.name for e in table.entries]

        # The month's bulletin, printable, then as a PDF printed by the headend.
        bulletin = page.query_selector("a[href^='/county/ratings/bulletin']")
        if bulletin is not None:  # the ranking page links to it
            bulletin.click()
        else:  # not linked (yet): the printable page's own address
            page.goto(f"{headend.base}/county/ratings/bulletin?period={MONTH.name}")
        page.wait_for_selector("#bulletin-title")
        title = f"高要市远程教育站点 {MONTH.label} 通报"
        assert page.inner_text("#bulletin-title") == title
        top = page.eval_on_selector_all("#top tr[data-station]", "rows => rows.map(r => r.dataset.station)")
        assert top == [e.station.id for e in ranked[:10]]
        with page.expect_download(timeout=90_000) as pdf_download:
            page.click("#bulletin-pdf")
        assert pdf_download.value.suggested_filename == f"{title}.pdf"  # the Chinese name (filename*)
        pdf = pdf_download.value.path().read_bytes()
        assert pdf.startswith(b"%PDF")
        text = squeezed("".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))
        assert squeezed(title) in text and first.station.name in text, text[:300]
        assert not page.errors, page.errors
    finally:
        headend.close()
