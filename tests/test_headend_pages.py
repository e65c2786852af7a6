"""What a person reads on the headend's pages is China time ("2026-12-01 19:30") and durations
in Chinese words, whatever zone the server runs in."""

from __future__ import annotations

from headend.config import load_config
from headend.web.app import china_minute, create_app, templates
from tests.conftest import init_headend
from tests.headend_db import database


async def test_the_county_page_shows_a_publication_in_china_time(tmp_path, aiohttp_client, headend_db, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")  # the server's own zone plays no part
    root = init_headend(tmp_path / "headend", headend_db)
    with database(root) as db:
        db.add_publication(7, "2026-12-01T11:30:00Z", "2026-12-08T16:05:00Z", "ab" * 32, 3)
    client = await aiohttp_client(create_app(load_config(root), background_loops=False))
    page = await (await client.get("/county")).text()
    assert "发布于 2026-12-01 19:30，有效期至 2026-12-09 00:05" in page, page
    assert "T11:30:00Z" not in page


def test_times_and_durations_for_pages():
    assert china_minute("2026-12-31T16:00:00Z") == "2027-01-01 00:00"
    assert china_minute(None) == "—" and china_minute("") == "—"
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
    page = await (await client.get("/county")).text()
    assert "防汛演练" in page
    assert "<td>2026-12-02 04:00</td>" in page, page
    assert "T20:00" not in page and "2026-12-01" not in page
