"""What a person reads on the headend's pages is China time ("12月1日 19:30") and durations
in Chinese words, whatever zone the server runs in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catalogue.display import people_time
from headend.config import load_config
from headend.web.app import create_app, templates, when
from tests.conftest import init_headend
from tests.county_kit import login_admin
from tests.headend_db import database

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)


async def test_the_county_page_shows_a_publication_in_china_time(tmp_path, aiohttp_client, headend_db, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")  # the server's own zone plays no part
    root = init_headend(tmp_path / "headend", headend_db)
    with database(root) as db:
        db.add_publication(7, "2026-12-01T11:30:00Z", "2026-12-08T16:05:00Z", "ab" * 32, 3)
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    page = await (await login_admin(client, root)).text("/county/publishing")
    assert "发布于 12月1日 19:30，有效期至 12月9日 00:05" in page, page  # "2026年…" from 2027 on
    assert "T11:30:00Z" not in page


def test_times_and_durations_for_pages():
    assert when("2026-12-31T16:00:00Z").endswith("1月1日 00:00")  # China's new year, not UTC's old one
    assert when(None) == "—" and when("") == "—"
    assert people_time(datetime(2026, 11, 22, 14, 11, tzinfo=UTC), now=datetime(2026, 12, 7, tzinfo=UTC)) == (
        "11月22日 22:11"
    )
    assert people_time(datetime(2025, 11, 22, 14, 11, tzinfo=UTC), now=datetime(2026, 12, 7, tzinfo=UTC)) == (
        "2025年11月22日 22:11"
    )
    env = templates()
    assert env.from_string("{{ 4000|duration }} {{ 40|duration }} {{ 720|duration }}").render() == (
        "1 小时 7 分 40 秒 12 分钟"
    )


async def test_the_county_page_shows_programming_windows_in_china_time(tmp_path, aiohttp_client, headend_db):
    """A notice that ends at 04:00 China time on 2 December was listed as ending "2026-12-01"
    (the UTC date of the moment): county staff would take it down a day early."""
    root = init_headend(tmp_path / "headend", headend_db)
    (root / "notices" / "flood.toml").write_text(
        'title = "防汛演练"\nbody = "周三上午九点在村委会集合"\nvalid_until = 2026-12-01T20:00:00Z\n', encoding="utf-8"
    )
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    page = await (await login_admin(client, root)).text("/county/publishing")
    assert "防汛演练" in page
    assert ">12月2日 04:00</td>" in page and "12月1日" not in page, page
    assert "T20:00" not in page and "2026-12-01" not in page
