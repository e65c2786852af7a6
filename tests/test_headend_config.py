"""headend.toml is read strictly: unknown tables and keys, wrong types and numbers that are not
finite or out of range are each refused with one line naming the file, the line and the key —
and a headend command run on such a root exits 1 with that line, not a traceback."""

from __future__ import annotations

import re
import tomllib

import pytest

from headend.config import DEFAULT_CONFIG, load_config
from headend.errors import ConfigError
from tests.conftest import run_cli

PUBLISH_TABLE = re.compile(r"(?ms)^\[publish\]\n.*?(?=^\[)")


def _root(tmp_path, text: str):
    root = tmp_path / "headend"
    root.mkdir()
    (root / "headend.toml").write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "change,says",
    [
        (
            lambda t: t.replace("grace_days = 3", "grace_day = 3"),
            r"headend.toml:\d+: \[publish\] grace_day: unknown key; did you mean 'grace_days'\?",
        ),
        (
            lambda t: t.replace("[watch]", "[wacth]"),
            r"headend.toml:\d+: unknown table \[wacth\]; did you mean 'watch'\?",
        ),
        (
            lambda t: "publish = 5\n" + PUBLISH_TABLE.sub("", t),
            r"headend.toml:1: \[publish\] must be a table .*not a whole number",
        ),
        (
            lambda t: t.replace("all_courses_playlist = true", 'all_courses_playlist = "false"'),
            r"headend.toml:\d+: \[publish\] all_courses_playlist must be true or false \(no quotes\), not text",
        ),
        (
            lambda t: t.replace("index_expiry_days = 7", "index_expiry_days = nan"),
            r"\[publish\] index_expiry_days is nan; it must be a finite number",
        ),
        (
            lambda t: t.replace("index_expiry_days = 7", "index_expiry_days = inf"),
            r"\[publish\] index_expiry_days is inf; it must be a finite number",
        ),
        (
            lambda t: t.replace("concurrent_jobs = 1", "concurrent_jobs = 0"),
            r"\[ingest\] concurrent_jobs = 0 is out of range; allowed from 1 to 16",
        ),
        (lambda t: t.replace("settle_s = 10", "settle_s = -1"), r"\[watch\] settle_s = -1 is out of range"),
        (
            lambda t: t.replace('ladder = "one-process"', 'ladder = "two-process"'),
            r"\[ingest\] ladder is 'two-process'; choose one of",
        ),
        (lambda t: t.replace('url = ""', "url = 5", 1), r"\[database\] url must be text in quotes"),
        (
            lambda t: t.replace('default_category = "culture"', 'default_category = "gardening"'),
            r"headend.toml:\d+: \[watch\] default_category: unknown category 'gardening'; choose one of: party",
        ),
        (
            lambda t: t.replace("profiles = []", 'profiles = ["tv-hd", "tv-4k"]'),
            r"headend.toml:\d+: \[ingest\] profiles: unknown player profiles \['tv-4k'\]; known: .*'stb-sd'",
        ),
        (
            lambda t: t.replace('profiles_file = ""', 'profiles_file = "no-such-profiles.toml"'),
            r"headend.toml:\d+: \[ingest\] profiles_file: cannot read the player profiles .*no-such-profiles.toml",
        ),
        (
            lambda t: t.replace('url = ""', 'url = "mysql://u@127.0.0.1/x"', 1),
            r"headend.toml:\d+: \[database\] url mysql://u@127.0.0.1/x: only postgresql://user@host:port/dbname",
        ),
        (
            lambda t: t.replace('url = ""', 'url = "not a url at all"', 1),
            r"headend.toml:\d+: \[database\] url is not a database URL; write postgresql://",
        ),
        (
            lambda t: t.replace('webhook_url = ""', 'webhook_url = "ftp://county.example/hook"'),
            r"headend.toml:\d+: \[alerts\] webhook_url: not an http:// or https:// URL",
        ),
    ],
    ids=[
        "unknown key",
        "unknown table",
        "table given as a number",
        "string for a bool",
        "nan",
        "inf",
        "out of range",
        "negative",
        "not a choice",
        "url not text",
        "unknown default category",
        "unknown profile",
        "profiles file missing",
        "url of another database",
        "url not a url",
        "webhook not http",
    ],
)
def test_a_wrong_setting_is_one_line_naming_file_line_and_key(tmp_path, change, says):
    root = _root(tmp_path, change(DEFAULT_CONFIG))
    with pytest.raises(ConfigError, match=says):
        load_config(root)
    res = run_cli("headend", "course", "list", "--root", str(root))
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and re.search(says, line) and str(root / "headend.toml") in line, line


def test_the_written_defaults_are_exactly_what_the_loader_knows(tmp_path):
    known: dict[str, set[str]] = {}
    cfg = load_config(_root(tmp_path, DEFAULT_CONFIG), keys_out=known)
    written = tomllib.loads(DEFAULT_CONFIG)
    assert known == {table: set(keys) for table, keys in written.items()}
    assert (cfg.index_expiry_days, cfg.all_courses_playlist, cfg.database_url, cfg.port) == (7.0, True, "", 8700)


def test_an_empty_headend_toml_means_every_default(tmp_path):
    cfg = load_config(_root(tmp_path, ""))
    assert (cfg.grace_days, cfg.concurrent_jobs, cfg.ladder, cfg.watch_settle_s) == (3.0, 1, "one-process", 10.0)


def test_a_default_category_may_be_its_label(tmp_path):
    cfg = load_config(_root(tmp_path, DEFAULT_CONFIG.replace('"culture"', '"农业技术"')))
    assert cfg.watch_default_category == "农业技术"
