"""Editing mistakes in playlists/*.toml and notices/*.toml (issue 10 item 8): `headend publish`
names the file, the line, the key and what is wrong and exits 1; /county shows the problem on the
page; never a traceback, never a 500, and a list where text belongs is not taken as text."""

from __future__ import annotations

import pytest
from markupsafe import escape

from headend.config import load_config
from headend.web.app import create_app
from tests.conftest import init_headend, run_cli
from tests.county_kit import login_admin

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)

GOOD = 'title = "冬训"\nitems = ["c-000000000001"]\n'

MISTAKES = [
    ("playlists", GOOD + "priority = inf\n", "playlists/winter.toml:3: priority must be a whole number"),
    ("playlists", GOOD + "priority = 1e400\n", "playlists/winter.toml:3: priority must be a whole number"),
    (
        "playlists",
        GOOD + "valid_until = 0001-01-01\n",
        "playlists/winter.toml:3: valid_until = 0001-01-01 is out of range",
    ),
    (
        "playlists",
        GOOD + 'valid_from = "9999-12-31"\n',
        "playlists/winter.toml:3: valid_from = 9999-12-31 is out of range",
    ),
    ("playlists", GOOD + "valid_until = 2026-12-01T25:00:00\n", "not valid TOML"),
    (
        "playlists",
        GOOD + '[audience]\nstation = ["x"]\n',
        "winter.toml:4: [audience] station: unknown key; did you mean 'stations'?",
    ),
    (
        "playlists",
        'title = "冬训"\n[[schedule.weekly]]\ncourse = "c-000000000001"\ndays = [1]\ntime = "8点"\n',
        "winter.toml:2: [schedule.weekly[0]]: time must be HH:MM",
    ),
    ("notices", 'title = ["a", "b"]\nbody = "x"\n', "notices/winter.toml:1: title must be text in quotes, not a list"),
    ("notices", 'title = "停电通知"\nbody = 5\n', "notices/winter.toml:2: body must be text in quotes"),
]


@pytest.fixture
def root(tmp_path, headend_db):
    return init_headend(tmp_path / "headend", headend_db)


@pytest.mark.parametrize("folder,text,says", MISTAKES)
def test_publish_names_the_file_line_and_key_and_exits_1(root, folder, text, says):
    (root / folder / "winter.toml").write_text(text, encoding="utf-8")
    res = run_cli("headend", "publish", "--root", str(root))
    assert res.returncode == 1
    assert says in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not (root / "repo" / "index.json").exists(), "nothing was published"


@pytest.mark.parametrize("folder,text,says", MISTAKES)
async def test_the_county_page_shows_the_mistake_instead_of_a_500(root, aiohttp_client, folder, text, says):
    (root / folder / "winter.toml").write_text(text, encoding="utf-8")
    client = await login_admin(await aiohttp_client(create_app(load_config(root), background_loops=False)), root)
    r = await client.get("/county/publishing")
    page = await r.text()
    assert r.status == 200 and str(escape(says)) in page, page


def test_a_playlist_without_mistakes_still_publishes_its_dates_and_priority(root):
    (root / "notices" / "frost.toml").write_text(
        'title = "霜冻预警"\nbody = "今晚有霜冻"\nvalid_from = 2026-12-01\nvalid_until = "2026-12-03"\n'
        '[audience]\nregions = ["广东省/肇庆市"]\n',
        encoding="utf-8",
    )
    res = run_cli("headend", "publish", "--root", str(root))
    assert res.returncode == 0, res.stderr
    res = run_cli("headend", "notice", "list", "--root", str(root))
    assert "frost\t霜冻预警\tuntil 2026-12-03\t广东省/肇庆市" in res.stdout
