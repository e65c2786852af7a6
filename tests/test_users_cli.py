"""``headend init`` makes the first admin and shows its password once; ``headend user`` adds,
lists, edits, disables and resets accounts, refusing what would lock everyone out; every change
lands in the audit log with who made it."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from catalogue.clocks import CHINA
from catalogue.hours import HoursError, format_hours, open_seconds, parse_hours
from tests.conftest import run_cli
from tests.headend_db import database


def test_init_shows_the_first_admins_password_once(tmp_path):
    root = tmp_path / "headend"
    first = run_cli("headend", "init", "--root", str(root))
    assert first.returncode == 0 and re.search(r"admin\s+one-time password: \S{12,}", first.stdout)
    again = run_cli("headend", "init", "--root", str(root))
    assert again.returncode == 0 and "one-time password" not in again.stdout
    assert (root / "keys" / "session.key").stat().st_mode & 0o777 == 0o600


def test_user_commands_and_their_audit(tmp_path):
    root = tmp_path / "headend"
    assert run_cli("headend", "init", "--root", str(root)).returncode == 0
    r = str(root)
    res = run_cli(
        "headend", "user", "add", "--root", r, "xiangang", "--role", "viewer", "--region", "广东省/肇庆市/高要市/蚬岗镇"
    )
    assert res.returncode == 0 and "one-time password" in res.stdout
    assert run_cli("headend", "user", "add", "--root", r, "xiangang", "--role", "viewer").returncode == 1
    bad = run_cli("headend", "user", "add", "--root", r, "Li Ming", "--role", "viewer")
    assert bad.returncode == 1 and "lowercase" in bad.stderr
    bad = run_cli("headend", "user", "add", "--root", r, "li", "--role", "boss")
    assert bad.returncode == 2  # argparse: not a role
    res = run_cli("headend", "user", "edit", "--root", r, "xiangang", "--role", "editor")
    assert res.returncode == 0 and "editor" in res.stdout and "蚬岗镇" in res.stdout
    assert run_cli("headend", "user", "disable", "--root", r, "xiangang").returncode == 0
    listing = run_cli("headend", "user", "list", "--root", r).stdout
    row = next(line for line in listing.splitlines() if line.startswith("xiangang"))
    assert "editor" in row and "广东省/肇庆市/高要市/蚬岗镇" in row and re.search(r"\d+月\d+日|\d{4}-\d\d-\d\d", row)
    last = run_cli("headend", "user", "disable", "--root", r, "admin")
    assert last.returncode == 1 and "last admin" in last.stderr
    res = run_cli("headend", "user", "passwd", "--root", r, "admin")
    assert res.returncode == 0 and "one-time password" in res.stdout
    with database(root) as db:
        actions = [(e.action, e.target) for e in db.audit.recent()]
    assert ("user.add", "xiangang") in actions and ("user.disable", "xiangang") in actions
    assert ("user.passwd", "admin") in actions and ("user.edit", "xiangang") in actions
    with database(root) as db:
        assert all(e.actor.startswith("cli:") or e.actor == "system" for e in db.audit.recent())


def test_station_opening_hours_are_checked_and_kept(tmp_path):
    root = tmp_path / "headend"
    assert run_cli("headend", "init", "--root", str(root)).returncode == 0
    r = str(root)
    assert run_cli("headend", "station", "add", "--root", r, "xianyi", "--region", "广东省/肇庆市").returncode == 0
    res = run_cli("headend", "station", "edit", "--root", r, "xianyi", "--opening-hours", "14:00-21:00，08:00-12:00")
    assert res.returncode == 0 and "open 08:00-12:00,14:00-21:00" in res.stdout
    res = run_cli("headend", "station", "edit", "--root", r, "xianyi", "--opening-hours", "8点-12点")
    assert res.returncode == 1 and "08:00-12:00" in res.stderr
    with database(root) as db:
        assert db.station("xianyi").opening_hours == "08:00-12:00,14:00-21:00"
        assert [e.action for e in db.audit.recent()][:2] == ["station.edit", "station.add"]


def test_open_seconds_count_only_opening_hours_in_china_time():
    hours = parse_hours("08:00-12:00,14:00-21:00")
    assert format_hours(hours) == "08:00-12:00,14:00-21:00"
    night = (datetime(2026, 12, 1, 21, 0, tzinfo=CHINA), datetime(2026, 12, 2, 8, 0, tzinfo=CHINA))
    assert open_seconds(hours, *night) == 0  # closed all night: silence then is no silence
    two_days = (datetime(2026, 12, 1, 0, 0, tzinfo=CHINA), datetime(2026, 12, 3, 0, 0, tzinfo=CHINA))
    assert open_seconds(hours, *two_days) == 2 * 11 * 3600
    assert open_seconds((), *night) == 11 * 3600  # no hours set: always open
    for bad in ("8-12", "12:00-08:00", "08:00-12:00,11:00-13:00", "25:00-26:00"):
        with pytest.raises(HoursError):
            parse_hours(bad)
