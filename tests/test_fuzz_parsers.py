"""Every file people write or a mirror serves, fuzzed with Hypothesis (issue 10): ``station.toml``,
``headend.toml``, ``playlists/*.toml``, ``notices/*.toml``, courseware sidecars, and minisign public
keys, secret keys and signatures (the repository JSON documents are fuzzed in
``tests/test_trust_fuzz.py``). Each input kind gets valid documents with keys deleted, added or
misspelt and values replaced by any TOML value, edited text, and raw bytes.

Nothing may raise anything but the program's own error, with a one-line message:

=====================  ==========================================
input                  error
=====================  ==========================================
station.toml           ``station.errors.ConfigError``
headend.toml           ``headend.errors.ConfigError``
playlists, notices     ``headend.errors.PublishError``
sidecars               ``headend.errors.SidecarError``
minisign keys, sigs    ``playlists.errors.SignatureError``
=====================  ==========================================

``FUZZ_EXAMPLES`` (default 500 per test) sets the number of examples.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from headend.config import DEFAULT_CONFIG
from headend.config import load_config as load_headend_config
from headend.courseware.sidecar import Metadata, parse_sidecar
from headend.errors import ConfigError as HeadendConfigError
from headend.errors import PublishError, SidecarError
from headend.repository.programming import load_notice, load_playlist
from playlists import SecretKey
from playlists.errors import SignatureError
from playlists.minisign import PublicKey, parse_trusted_comment, signer_key_id, verify
from station.config import load_config as load_station_config
from station.errors import ConfigError as StationConfigError

pytestmark = pytest.mark.fuzz

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "500")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

KEY = SecretKey.generate()
ROOT = Path(__file__).resolve().parent.parent

# ---- strategies ------------------------------------------------------------------------------

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-12)), timezone(timedelta(hours=14))]
)
AWKWARD_TEXT = st.sampled_from(
    ["", " ", "inf", "nan", "0001-01-01", "9999-12-31", "2026-11-23T19:30", "24:00", "../etc/passwd", "a\x00b",
     "C:\\x", "\n", "series:", "all", "-1", "x" * 3000, "雨季养鹅", "agriculture", "00:00-06:00", "RW" + "A" * 54,
     "headend.pub\x00", "http://[::1", "http://a:99999/", "a://b:c@d:e/f", "postgresql://u@h:x/d", "sqlite://",
     "file:///\x00", ".", "/dev/null"]
)  # fmt: skip
SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.sampled_from([0, 1, -1, 7, 8, 10**20 % 2**63, 2**63 - 1])
    | st.floats()
    | st.text(max_size=24)
    | AWKWARD_TEXT
    | st.dates()
    | st.datetimes()
    | st.datetimes(timezones=ZONES)
    | st.times()
)
TOML_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(min_size=1, max_size=10), inner, max_size=3),
    max_leaves=8,
)
TEXT_EDITS = st.text(max_size=12) | st.sampled_from(
    ['"', "'", "[", "]", "[[", "]]", "=", "\n", "#", "{", "}", ",", "inf", "1e400", "0001-01-01", "\\", "\x00"]
)


def _nodes(doc) -> list[tuple[object, object]]:
    """Every (container, key) pair inside a TOML document."""
    out = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc)
    for k, v in items:
        out.append((doc, k))
        if isinstance(v, (dict, list)):
            out += _nodes(v)
    return out


def like(value: object) -> st.SearchStrategy:
    """Any value of the same TOML type as ``value`` (to get past the type checks, deeper in)."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.integers(-10, 10)
    if isinstance(value, float):
        return st.floats()
    if isinstance(value, str):
        return st.text(max_size=40) | AWKWARD_TEXT | st.just(value + "\x00") | st.just(value * 40)
    if isinstance(value, datetime):
        return st.datetimes() | st.datetimes(timezones=ZONES)
    if isinstance(value, date):
        return st.dates()
    if isinstance(value, list) and value and not isinstance(value[0], (dict, list)):
        return st.lists(like(value[0]), max_size=5)
    return TOML_VALUES


@st.composite
def mutated_toml(draw, doc: dict, names: tuple[str, ...]) -> str:
    """``doc`` with one to three changes anywhere inside: a value replaced by any TOML value, a
    key deleted, misspelt or added (often a real key name in the wrong place), then written."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        nodes = _nodes(doc)
        parent, key = draw(st.sampled_from(nodes)) if nodes else (doc, None)
        op = draw(st.sampled_from(["same type", "same type", "same type", "replace", "delete", "rename", "add"]))
        if key is None or (op in ("delete", "rename") and not isinstance(parent, dict)):
            op = "add" if isinstance(parent, dict) else "replace"
        if op == "same type" and key is not None:
            parent[key] = draw(like(parent[key]))
        elif op == "replace" and key is not None:
            parent[key] = draw(TOML_VALUES)
        elif op == "delete":
            del parent[key]
        elif op == "rename":
            value = parent.pop(key)
            parent[draw(st.sampled_from(names) | st.text(min_size=1, max_size=10))] = value
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(names) | st.text(min_size=1, max_size=10))] = draw(TOML_VALUES)
    return tomli_w.dumps(doc)


@st.composite
def edited_text(draw, text: str) -> str:
    """``text`` with one to three slices replaced by TOML punctuation or any text."""
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 24)))
        text = text[:i] + draw(TEXT_EDITS) + text[j:]
    return text


def any_file(doc: dict, names: tuple[str, ...]):
    """The bytes of a file: a mutated valid document, edited text of one, or raw bytes."""
    text = tomli_w.dumps(doc)
    return (
        mutated_toml(doc, names).map(str.encode)
        | edited_text(text).map(lambda t: t.encode("utf-8", "surrogatepass"))
        | st.binary(max_size=200)
    )


def keys_of(*docs: dict) -> tuple[str, ...]:
    return tuple(sorted({k for d in docs for parent, k in _nodes(d) if isinstance(parent, dict)}))


def refused_or_read(load, allowed: type[Exception] | tuple[type[Exception], ...], *args) -> None:
    """``load(*args)`` reads, or raises ``allowed`` with a one-line message; anything else fails."""
    try:
        load(*args)
    except allowed as exc:
        message = str(exc)
        assert message.strip() and "Traceback" not in message, repr(message)


# ---- valid documents -------------------------------------------------------------------------

STATION_DOC = tomllib.loads((ROOT / "station.toml").read_text(encoding="utf-8"))
STATION_DOC["sync"]["trusted_keys"] = [KEY.public_key.to_base64(), "headend.pub"]
STATION_DOC["sync"]["window"] = "00:00-06:00"
HEADEND_DOC = tomllib.loads(DEFAULT_CONFIG)
HEADEND_DOC["ingest"]["profiles"] = ["stb-sd"]
PLAYLIST_DOC = {
    "name": "winter",
    "title": "高要冬训",
    "items": ["c-1768f5ab3e59", "series:雨季养鹅"],
    "priority": 10,
    "valid_from": date(2026, 11, 1),
    "valid_until": "2027-03-01",
    "audience": {"stations": ["gaoyao-xiangang-xianyi"], "regions": ["广东省/肇庆市/高要市"], "tags": ["school"]},
    "schedule": {
        "slots": [{"course": "c-1768f5ab3e59", "start": datetime(2026, 11, 23, 19, 30)}],
        "weekly": [
            {
                "course": "c-1768f5ab3e59",
                "days": [1, 3],
                "time": "20:00",
                "from": date(2026, 11, 1),
                "until": "2026-12-31",
            }
        ],
    },
}
NOTICE_DOC = {
    "id": "meeting",
    "title": "冬训动员会",
    "body": "周三晚七点半在村委会集中学习。",
    "valid_from": datetime(2026, 11, 20, 8, 0, tzinfo=timezone(timedelta(hours=8))),
    "valid_until": date(2026, 12, 1),
    "audience": {"regions": ["广东省/肇庆市"]},
}
SIDECAR_DOC = {
    "title": "雨季养鹅技术 第3集",
    "category": "农业技术",
    "series": "雨季养鹅技术",
    "episode": 3,
    "description": "第一行\n第二行",
    "speaker": "县农技站 王技术员",
    "tags": ["养殖", "雨季"],
    "allow_silent": False,
}
NAMES = keys_of(STATION_DOC, HEADEND_DOC, PLAYLIST_DOC, NOTICE_DOC, SIDECAR_DOC)


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    """A folder laid out like a headend root and a station's folder, files rewritten per example."""
    d = tmp_path_factory.mktemp("fuzz")
    for sub in ("playlists", "notices"):
        (d / sub).mkdir()
    (d / "headend.pub").write_text(KEY.public_key.to_text(), encoding="utf-8")
    return d


def test_the_valid_documents_are_read(place):
    (place / "station.toml").write_bytes(tomli_w.dumps(STATION_DOC).encode())
    assert load_station_config(place / "station.toml").window == (0, 360)
    (place / "headend.toml").write_bytes(tomli_w.dumps(HEADEND_DOC).encode())
    assert load_headend_config(place).profiles == ("stb-sd",)
    (place / "playlists" / "winter.toml").write_bytes(tomli_w.dumps(PLAYLIST_DOC).encode())
    assert len(load_playlist(place / "playlists" / "winter.toml").schedule.weekly) == 1
    (place / "notices" / "meeting.toml").write_bytes(tomli_w.dumps(NOTICE_DOC).encode())
    assert load_notice(place / "notices" / "meeting.toml").audience.regions == (("广东省", "肇庆市"),)
    assert parse_sidecar(tomli_w.dumps(SIDECAR_DOC), "x.toml", Metadata(title="x")).episode == 3


# ---- the TOML files --------------------------------------------------------------------------


def changed(doc: dict, path: str, value: object) -> bytes:
    """``doc`` written with the value at ``path`` ("sync.trusted_keys") replaced: a regression example."""
    doc = copy.deepcopy(doc)
    *parents, key = path.split(".")
    node = doc
    for name in parents:
        node = node[name]
    node[key] = value
    return tomli_w.dumps(doc).encode()


@FUZZ
@given(data=any_file(STATION_DOC, NAMES))
@example(data=changed(STATION_DOC, "sync.trusted_keys", ["headend.pub\x00"]))  # was ValueError: embedded null byte
@example(data=changed(STATION_DOC, "station.data_dir", "var\x00"))  # the same
def test_fuzz_station_toml(place, data):
    (place / "station.toml").write_bytes(data)
    refused_or_read(load_station_config, StationConfigError, place / "station.toml")


@FUZZ
@given(data=any_file(HEADEND_DOC, NAMES))
@example(data=changed(HEADEND_DOC, "database.url", "postgresql://[::1/x"))  # was ValueError from make_url
@example(data=changed(HEADEND_DOC, "database.url", "a://b:c@d:e/f"))  # the same (port 'e')
@example(data=changed(HEADEND_DOC, "ingest.profiles_file", "profiles\x00.toml"))
def test_fuzz_headend_toml(place, data):
    (place / "headend.toml").write_bytes(data)
    refused_or_read(load_headend_config, HeadendConfigError, place)


@FUZZ
@given(data=any_file(PLAYLIST_DOC, NAMES))
@example(data=changed(PLAYLIST_DOC, "priority", float("inf")))  # was OverflowError (issue 10 item 8)
@example(data=changed(PLAYLIST_DOC, "valid_until", date(1, 1, 1)))  # the same
def test_fuzz_playlist_toml(place, data):
    (place / "playlists" / "winter.toml").write_bytes(data)
    refused_or_read(load_playlist, PublishError, place / "playlists" / "winter.toml")


@FUZZ
@given(data=any_file(NOTICE_DOC, NAMES))
@example(data=changed(NOTICE_DOC, "title", ["a", "b"]))  # was taken as the text "['a', 'b']"
@example(data=changed(NOTICE_DOC, "valid_from", datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-12)))))
def test_fuzz_notice_toml(place, data):
    (place / "notices" / "meeting.toml").write_bytes(data)
    refused_or_read(load_notice, PublishError, place / "notices" / "meeting.toml")


@FUZZ
@given(data=any_file(SIDECAR_DOC, NAMES))
def test_fuzz_sidecar(data):
    text = data.decode("utf-8", "replace")
    refused_or_read(parse_sidecar, SidecarError, text, "雨季养鹅.toml", Metadata(title="雨季养鹅"))


# ---- minisign --------------------------------------------------------------------------------

SIGNED = b"the signed file"
SIGNATURE = KEY.sign(SIGNED, "timestamp:1764000000\tfile:index.json\tversion:3")


@st.composite
def mutated_base64_lines(draw, text: str) -> str:
    """A minisign file whose base64 lines decode to mutated bytes: a slice replaced, cut or grown."""
    lines = text.splitlines()
    b64 = [i for i, ln in enumerate(lines) if ln and not ln.startswith(("untrusted comment:", "trusted comment:"))]
    i = draw(st.sampled_from(b64))
    blob = base64.b64decode(lines[i])
    a = draw(st.integers(0, len(blob)))
    b = draw(st.integers(a, min(len(blob), a + 12)))
    blob = blob[:a] + draw(st.binary(max_size=12)) + blob[b:]
    lines[i] = base64.b64encode(blob).decode()
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n", "\n\n"]))


def _any_minisign_text(text: str):
    return mutated_base64_lines(text) | edited_text(text) | st.text(max_size=200)


@FUZZ
@given(text=_any_minisign_text(KEY.public_key.to_text()))
@example(text=KEY.public_key.to_text().replace("\n", "\r\n"))
def test_fuzz_public_key(text):
    refused_or_read(PublicKey.from_text, SignatureError, text)


@FUZZ
@given(text=_any_minisign_text(KEY.to_text()))
def test_fuzz_secret_key(text):
    refused_or_read(SecretKey.from_text, SignatureError, text)


@FUZZ
@given(sig=_any_minisign_text(SIGNATURE.decode()).map(str.encode) | st.binary(max_size=300))
def test_fuzz_signature(sig):
    refused_or_read(verify, SignatureError, SIGNED, sig, [KEY.public_key], "index.json")
    assert signer_key_id(sig) is None or len(signer_key_id(sig)) == 16
    lines = sig.decode("utf-8", "replace").splitlines()
    assert isinstance(parse_trusted_comment(lines[2] if len(lines) > 2 else ""), dict)


def test_the_valid_signature_verifies():
    assert verify(SIGNED, SIGNATURE, [KEY.public_key]).startswith("timestamp:")


# ---- report batches (catalogue.events) --------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


# Either side of the contract's ranges (docs/reporting.md), where an off-by-one would hide.
EDGES = st.sampled_from([0, 1, 9999, 10_000, 100_000, 100_001, 86_400, 86_401, 604_800, 604_801, 10**9, 10**10, 2**53])
NUMBER_EDGES = EDGES | EDGES.map(lambda n: n + 1) | EDGES.map(lambda n: n + 0.5) | st.sampled_from([-1, -0.5])


def _json_like(value: object) -> st.SearchStrategy:
    if isinstance(value, bool):
        return st.booleans() | st.integers(0, 1)
    if isinstance(value, int):
        return st.integers() | st.integers(-2, 10) | st.floats() | NUMBER_EDGES
    if isinstance(value, float):
        return st.floats(allow_nan=True, allow_infinity=True) | st.integers() | NUMBER_EDGES
    if isinstance(value, str):
        return st.text(max_size=40) | AWKWARD_TEXT | st.just(value * 60) | st.just(value[:-1] + "Z")
    return JSON_VALUES


@st.composite
def mutated_batch(draw) -> object:
    from tests.report_batches import WITH_LIVE, batch, events

    now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    doc = batch(
        "gaoyao-xiangang-xianyi",
        events(draw(st.integers(1, 8)), now, seed=draw(st.integers(0, 99)), kinds=WITH_LIVE),
        after=0,
        now=now,
        mono=9e5,
    )
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 3))):
        nodes = _nodes(doc)
        parent, key = draw(st.sampled_from(nodes))
        op = draw(st.sampled_from(["same type", "same type", "replace", "delete", "add"]))
        if op == "same type":
            parent[key] = draw(_json_like(parent[key]))
        elif op == "replace":
            parent[key] = draw(JSON_VALUES)
        elif op == "delete" and isinstance(parent, dict):
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["seq", "kind", "boot", "mono", "extra", "ts"]) | st.text(max_size=6))] = draw(
                JSON_VALUES
            )
    return doc


@FUZZ
@given(doc=mutated_batch() | JSON_VALUES)
def test_fuzz_report_batch(doc):
    """A batch reads, or is refused with ReportFormatError naming a field that exists in the
    document's shape; what reads keeps the contract (seqs increasing, bools not numbers)."""
    from catalogue.events import MAX_EVENTS, ReportFormatError, parse_batch

    try:
        b = parse_batch(doc)
    except ReportFormatError as exc:
        assert str(exc).strip() and exc.field is not None
        if exc.field:
            top = doc if isinstance(doc, dict) else {}
            # the field is a top-level key itself (any text, "[" included) or a path under one
            assert (
                exc.field[:64] in {str(k)[:64] for k in top}
                or exc.field.split("[")[0].split(".")[0] in top
                or ("missing" in str(exc))
            ), exc.field
        return
    assert len(b.events) <= MAX_EVENTS
    seqs = [e.seq for e in b.events]
    assert seqs == sorted(set(seqs)) and all(s > b.after for s in seqs)
    for e in b.events:
        for k, v in e.raw.items():
            if k in ("watched_s", "duration_s", "headcount", "interval_s"):
                assert not isinstance(v, bool) and v == v  # no NaN, no bool


@FUZZ
@given(doc=mutated_batch())
def test_fuzz_compiled_event_checks_agree_with_the_rules(doc):
    """Each kind's compiled test (what the collector runs on nearly every event) passes exactly
    the events its rules pass: it lets nothing through that the rules refuse."""
    from catalogue.checks import Bad
    from catalogue.events import EVENT_FIELDS

    for e in doc.get("events") if isinstance(doc.get("events"), list) else []:
        record = EVENT_FIELDS.get(e.get("kind")) if isinstance(e, dict) and isinstance(e.get("kind"), str) else None
        if record is None:
            continue
        try:
            record.explain(e)
            passes = True
        except Bad:
            passes = False
        assert record.good(e) == passes, e
