"""station.toml is read strictly: an unknown key, a value out of range, NaN, a table given as a
number and a mirror URL that cannot parse are each refused with one line naming the file, the
line and the key — and `station status` says so and exits 2 instead of running on a default."""

from __future__ import annotations

import re

import pytest

from playlists import SecretKey
from station.config import load_config
from station.errors import ConfigError
from tests.conftest import run_cli, write_station_toml


@pytest.fixture
def toml(tmp_path):
    key = tmp_path / "k.pub"
    key.write_text(SecretKey.generate().public_key.to_text())
    return write_station_toml(tmp_path / "station.toml", ["http://127.0.0.1:9/repo/"], key)


def edit(toml, old: str, new: str):
    text = toml.read_text(encoding="utf-8")
    assert old in text
    toml.write_text(text.replace(old, new, 1), encoding="utf-8")
    return toml


REFUSED = [
    # (what is changed, into what, the message: file:line, table and key, and what is wrong)
    (
        "interval_s = 300",
        "interval_s = 300\nintervl = 5",
        r"^station\.toml:\d+: \[sync\] intervl: unknown key; did you mean 'interval_s'\?",
    ),
    (
        "interval_s = 300",
        "interval_s = 0",
        r"^station\.toml:\d+: \[sync\] interval_s = 0 is out of range; allowed from 10 to 86400 seconds$",
    ),
    (
        "timeout_s = 5",
        "timeout_s = 0.5",
        r"^station\.toml:\d+: \[sync\] timeout_s = 0\.5 is out of range; allowed from 1 to 3600 seconds$",
    ),
    (
        "timeout_s = 5",
        "timeout_s = 5\nquota_mb = nan",
        r"^station\.toml:\d+: \[sync\] quota_mb is nan; it must be a finite number from 0 to 1e\+08 MB$",
    ),
    ("timeout_s = 5", "timeout_s = 5\ndue_ahead_h = inf", r"^station\.toml:\d+: \[sync\] due_ahead_h is inf"),
    (
        "timeout_s = 5",
        "timeout_s = 5\nkeep_unreferenced_days = -1",
        r"^station\.toml:\d+: \[sync\] keep_unreferenced_days = -1 is out of range",
    ),
    (
        "timeout_s = 5",
        "timeout_s = 5\nmax_rate_bytes_per_s = -100",
        r"^station\.toml:\d+: \[sync\] max_rate_bytes_per_s = -100 is out of range",
    ),
    (
        "reserve_free_mb = 0",
        'reserve_free_mb = "lots"',
        r"^station\.toml:\d+: \[sync\] reserve_free_mb must be a number, not text$",
    ),
    (
        'mirrors = ["http://127.0.0.1:9/repo/"]',
        'mirrors = ["http://[::1", "http://127.0.0.1:9/repo/"]',
        r"^station\.toml:\d+: \[sync\] mirrors: 'http://\[::1' is not a usable URL \(Invalid IPv6 URL\)$",
    ),
    (
        'mirrors = ["http://127.0.0.1:9/repo/"]',
        'mirrors = ["http://127.0.0.1:notaport/"]',
        r"^station\.toml:\d+: \[sync\] mirrors: 'http://127\.0\.0\.1:notaport/' is not a usable URL \(Port could not",
    ),
    ('mirrors = ["http://127.0.0.1:9/repo/"]', 'mirrors = ["ftp://mirror/"]', r"\[sync\] mirrors: 'ftp://mirror/'"),
    ('mirrors = ["http://127.0.0.1:9/repo/"]', "mirrors = []", r"\[sync\] mirrors must list 1 to"),
    (
        'id = "test-station"',
        'id = "Test Station"',
        r"^station\.toml:\d+: \[station\] id is 'Test Station'; it must be 1-64",
    ),
    ('id = "test-station"', 'id = "test-station\\n"', r"\[station\] id is 'test-station\\n'"),
    (
        "port = 8080",
        "port = 70000",
        r"^station\.toml:\d+: \[ui\] port = 70000 is out of range; allowed from 1 to 65535$",
    ),
    ("port = 8080", "port = 0", r"^station\.toml:\d+: \[ui\] port = 0 is out of range; allowed from 1 to 65535$"),
    ('admin_pin = "246813"', "admin_pin = 2468", r"^station\.toml:\d+: \[ui\] admin_pin must be text in quotes"),
    ("[report]", "[reprt]", r"^station\.toml:\d+: unknown table \[reprt\]|missing table \[report\]"),
    ('admin_pin = "246813"', 'admin_pin = ""', r"^station\.toml:\d+: \[ui\] admin_pin is empty, so /admin could never"),
    ('admin_pin = "246813"', 'admin_pin = "  "', r"\[ui\] admin_pin is empty"),
]

# Each numeric key has an upper limit too: past it a value once loaded and then broke every pass
# (due_ahead_h = 1e308 on timedelta) or raised OverflowError at load (quota_mb = 1e303).
UPPER = [
    ("interval_s", "86401", r"interval_s = 86401 is out of range; allowed from 10 to 86400 seconds$"),
    ("timeout_s", "3601", r"timeout_s = 3601 is out of range; allowed from 1 to 3600 seconds$"),
    ("quota_mb", "1e303", r"quota_mb = 1e\+303 is out of range; allowed from 0 to 1e\+08 MB$"),
    ("reserve_free_mb", "1e303", r"reserve_free_mb = 1e\+303 is out of range; allowed from 0 to 1e\+08 MB$"),
    ("due_ahead_h", "1e308", r"due_ahead_h = 1e\+308 is out of range; allowed from 0 to 8760 hours$"),
    ("keep_unreferenced_days", "3651", r"keep_unreferenced_days = 3651 is out of range; allowed from 0 to 3650 days$"),
    ("max_rate_bytes_per_s", "10000000001", r"max_rate_bytes_per_s = 1e\+10 is out of range; allowed from 0 to 1e\+10"),
]


@pytest.mark.parametrize("key, value, message", UPPER, ids=[u[0] for u in UPPER])
def test_a_number_past_its_upper_limit_is_refused_at_load(toml, key, value, message):
    text = re.sub(rf"(?m)^{key} = .*\n", "", toml.read_text(encoding="utf-8"))
    toml.write_text(text.replace("[sync]", f"[sync]\n{key} = {value}"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(toml)
    assert re.search(r"^station\.toml:\d+: \[sync\] " + message, str(info.value)), str(info.value)


def test_the_upper_limits_themselves_load(toml):
    edit(toml, "interval_s = 300\ntimeout_s = 5", "interval_s = 86400\ntimeout_s = 3600")
    edit(toml, "reserve_free_mb = 0", "reserve_free_mb = 1e8\nquota_mb = 1e8\ndue_ahead_h = 8760")
    edit(toml, "[sync]", "[sync]\nkeep_unreferenced_days = 3650\nmax_rate_bytes_per_s = 10000000000")
    cfg = load_config(toml)
    assert cfg.quota_bytes == cfg.reserve_free_bytes == 10**14 and cfg.due_ahead_h == 8760
    assert cfg.sync_interval_s == 86400 and cfg.max_rate_bytes_per_s == 10**10


def test_a_huge_due_ahead_is_refused_by_sync_once_in_one_line(toml):
    edit(toml, "reserve_free_mb = 0", "reserve_free_mb = 0\ndue_ahead_h = 1e308")
    res = run_cli("station", "--config", str(toml), "sync", "--once")
    assert res.returncode == 2 and "Traceback" not in res.stderr, res
    assert re.fullmatch(r"station: station\.toml:\d+: \[sync\] due_ahead_h = 1e\+308 is out of range; .*\n", res.stderr)


@pytest.mark.parametrize("old, new, message", REFUSED, ids=[r[1].splitlines()[-1][:30] for r in REFUSED])
def test_a_bad_setting_is_refused_in_one_line_naming_file_and_key(toml, old, new, message):
    edit(toml, old, new)
    with pytest.raises(ConfigError) as info:
        load_config(toml)
    text = str(info.value)
    assert "\n" not in text
    assert re.search(message, text), text


def test_a_table_given_as_a_number_is_refused(toml):
    edit(edit(toml, "[station]", "sync = 5\n[station]"), "[sync]", "[synk]")
    with pytest.raises(
        ConfigError,
        match=r"^station\.toml:1: \[sync\] must be a table \(a \[sync\] header with keys "
        r"under it\), not a whole number$",
    ):
        load_config(toml)


def test_every_command_says_the_same_line_and_exits_2(toml):
    edit(toml, "interval_s = 300", "interval_s = 0")
    for command in (["status"], ["status", "--json"], ["sync", "--once"]):
        res = run_cli("station", "--config", str(toml), *command)
        assert res.returncode == 2, res
        assert re.fullmatch(
            r"station: station\.toml:\d+: \[sync\] interval_s = 0 is out of range; "
            r"allowed from 10 to 86400 seconds\n",
            res.stderr,
        ), res.stderr
        assert res.stdout == ""


def test_the_sample_and_the_defaults_load(toml):
    cfg = load_config(toml)
    assert cfg.sync_interval_s == 300 and cfg.sync_timeout_s == 5 and cfg.reserve_free_bytes == 0
    assert cfg.due_ahead_h == 24 and cfg.quota_bytes == 0 and cfg.keep_unreferenced_days == 3
    assert cfg.mirrors == ("http://127.0.0.1:9/repo/",)


@pytest.mark.parametrize("value, ok", [("1", True), ("16", True), ("0", False), ("17", False), (None, True)])
def test_screens_is_a_station_key_from_1_to_16(toml, value, ok):
    if value is not None:
        edit(toml, "[station]", f"[station]\nscreens = {value}")
    if ok:
        assert load_config(toml).screens == int(value or 2)  # a village room has one or two TVs
    else:
        with pytest.raises(ConfigError, match=r"\[station\] screens = \d+ is out of range; allowed from 1 to 16"):
            load_config(toml)
