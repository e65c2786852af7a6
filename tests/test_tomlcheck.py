"""The strict settings reader both programs load their TOML files through."""

import math

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from catalogue.tomlcheck import Document, SettingsError

SAMPLE = b"""# a comment
[sync]
interval_s = 300
mirrors = ["http://a/"]
enabled = true

[ui]
port = 8080
"""


def read(raw: bytes):
    doc = Document.parse(raw, "station.toml")
    sync, ui = doc.table("sync", required=True), doc.table("ui")
    values = (
        sync.float("interval_s", 300.0, min=10, unit="seconds"),
        sync.str_list("mirrors"),
        sync.bool("enabled", False),
        ui.int("port", 8080, min=0, max=65535),
    )
    doc.finish()
    return values, doc


def refused(raw: bytes) -> str:
    with pytest.raises(SettingsError) as info:
        read(raw)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_good_file_gives_typed_values_and_the_known_keys():
    values, doc = read(SAMPLE)
    assert values == (300.0, ("http://a/",), True, 8080)
    assert doc.known() == {"sync": {"interval_s", "mirrors", "enabled"}, "ui": {"port"}}


def test_unknown_key_names_file_line_and_nearest_name():
    message = refused(SAMPLE.replace(b"interval_s", b"intervl_s"))
    assert message.startswith("station.toml:3: [sync] intervl_s")
    assert "did you mean 'interval_s'" in message


def test_unknown_table_names_its_line():
    message = refused(SAMPLE + b"\n[synk]\nx = 1\n")
    assert message.startswith("station.toml:10: unknown table [synk]")
    assert "did you mean 'sync'" in message


def test_table_given_as_a_number_is_refused():
    message = refused(b"ui = 5\n" + SAMPLE.split(b"[ui]")[0])
    assert message.startswith("station.toml:1: [ui] must be a table")


def test_quoted_false_is_not_a_boolean():
    assert "must be true or false" in refused(SAMPLE.replace(b"true", b'"false"'))


@pytest.mark.parametrize("value", [b"0", b"nan", b"inf", b"-inf", b"9.5"])
def test_out_of_range_and_non_finite_numbers_are_refused_with_the_range(value):
    message = refused(SAMPLE.replace(b"interval_s = 300", b"interval_s = " + value))
    assert message.startswith("station.toml:3: [sync] interval_s")
    assert "at least 10 seconds" in message


def test_missing_required_table_and_key():
    assert refused(b"[ui]\nport = 1\n") == "station.toml: missing table [sync]"
    assert "missing key 'mirrors'" in refused(b"[sync]\n")


def test_not_toml_and_not_utf8_are_one_line_messages():
    assert refused(b"[sync\n").startswith("station.toml: not valid TOML")
    assert refused(b"\xff\xfe").startswith("station.toml: not UTF-8")


def values_or_settings_error(raw: bytes) -> None:
    try:
        (interval, mirrors, enabled, port), _ = read(raw)
    except SettingsError:
        return
    assert math.isfinite(interval) and interval >= 10
    assert isinstance(enabled, bool) and 0 <= port <= 65535
    assert all(isinstance(m, str) for m in mirrors)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda s: s.encode()))
def test_any_bytes_give_values_or_a_settings_error(raw):
    values_or_settings_error(raw)


_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.lists(st.text(max_size=3), max_size=3)
)
_tables = st.dictionaries(
    st.sampled_from(["interval_s", "mirrors", "enabled", "port", "other"]),
    _values.filter(lambda v: v is not None),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["sync", "ui", "extra"]), _tables | st.integers(), max_size=3))
def test_any_toml_document_gives_checked_values_or_a_settings_error(data):
    values_or_settings_error(tomli_w.dumps(data).encode())
