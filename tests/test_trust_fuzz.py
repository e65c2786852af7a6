"""The repository parsers fuzzed (Hypothesis): any bytes, or a valid document with values
anywhere inside replaced, give a RepositoryError subclass or a valid object that can be written
again, never another exception; behind a valid signature the trust rules hold as well.

``FUZZ_EXAMPLES=20000`` for a longer hunt than the suite can afford."""

from __future__ import annotations

import copy
import json
import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalogue import Course
from playlists import (
    Audience,
    CourseEntry,
    FileRef,
    Index,
    Notice,
    Playlist,
    PlaylistRef,
    RepositoryError,
    Schedule,
    SecretKey,
    TrustState,
    make_rotation,
    sign_repository_file,
)
from playlists.errors import FormatError
from playlists.trust import Rotation, check_rotation, rotation_path
from tests.test_trust import KEY, NOW, SHA, trusted

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated(draw, doc: dict) -> bytes:
    """``doc`` with one to three values somewhere inside replaced by any JSON, or keys deleted."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        node = doc
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            k = draw(st.sampled_from(keys))
            if isinstance(node[k], (dict, list)) and node[k] and draw(st.booleans()):
                node = node[k]
                continue
            if isinstance(node, dict) and draw(st.booleans()):
                del node[k]
            else:
                node[k] = draw(JSON)
            break
    return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()


def _entry() -> CourseEntry:
    ref = FileRef(f"media/aa/{SHA}.mp4", SHA, 10, "video/mp4")
    course = Course(
        id="c-aaaaaaaaaaaa",
        title="雨季养鹅技术",
        category="agriculture",
        duration_s=42.0,
        source_sha256=SHA,
        tags=("养殖",),
        series="雨季养鹅",
        episode=1,
    )
    return CourseEntry(
        course=course, poster=FileRef(f"media/bb/{'b' * 64}.jpg", "b" * 64, 5), renditions={"stb-sd": ref}
    )


PLAYLIST_DOC = json.loads(
    Playlist(
        "all",
        3,
        "全部课程",
        (_entry(),),
        Schedule.from_dict(
            {
                "slots": [{"course": "c-aaaaaaaaaaaa", "start": "2026-11-23T19:30:00+08:00"}],
                "weekly": [{"course": "c-aaaaaaaaaaaa", "days": [1, 3], "time": "19:30", "from": "2026-11-01"}],
            }
        ),
    ).to_bytes()
)
INDEX_DOC = json.loads(
    Index(
        3,
        NOW,
        NOW + timedelta(days=7),
        (
            PlaylistRef(
                "all",
                3,
                FileRef("playlists/all.3.json", SHA, 100),
                "全部课程",
                Audience(stations=("s-1",), regions=(("广东省", "肇庆市"),), tags=("school",)),
                2,
                NOW,
                None,
            ),
        ),
        (Notice("n-1", "通知", "明天停电", Audience(), NOW, NOW + timedelta(days=1)),),
    ).to_bytes()
)
ROTATION_NEW = SecretKey.generate()
ROTATION_DOC = json.loads(make_rotation(KEY, ROTATION_NEW.public_key, NOW)[0])
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "500")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def parses_or_refuses(parse, data: bytes) -> None:
    """A RepositoryError, or an object that serialises again (every time in it can be written)."""
    try:
        obj = parse(data)
    except RepositoryError:
        return
    if hasattr(obj, "to_bytes"):
        obj.to_bytes()


def test_sample_documents_are_valid():
    assert Index.from_bytes(json.dumps(INDEX_DOC).encode()).notices[0].id == "n-1"
    assert Playlist.from_bytes(json.dumps(PLAYLIST_DOC).encode()).courses[0].course.episode == 1
    assert Rotation.from_bytes(json.dumps(ROTATION_DOC).encode()).new_key == ROTATION_NEW.public_key


@FUZZ
@given(st.binary(max_size=300) | st.builds(lambda j: json.dumps(j).encode(), JSON))
def test_fuzz_any_bytes(data):
    for parse in (Index.from_bytes, Playlist.from_bytes, Rotation.from_bytes):
        parses_or_refuses(parse, data)


@FUZZ
@given(mutated(INDEX_DOC))
def test_fuzz_index_from_bytes(data):
    parses_or_refuses(Index.from_bytes, data)


@FUZZ
@given(mutated(PLAYLIST_DOC))
def test_fuzz_playlist_from_bytes(data):
    parses_or_refuses(Playlist.from_bytes, data)


@FUZZ
@given(mutated(INDEX_DOC))
def test_fuzz_index_signed_by_a_trusted_key(data):
    """Behind a valid signature the rules (version, expiry arithmetic) hold as well."""
    try:
        version = json.loads(data).get("version")
    except AttributeError:
        version = 0
    sig = sign_repository_file(KEY, "index.json", data, version if isinstance(version, int) else 0, NOW)
    parses_or_refuses(lambda d: trusted(TrustState(2, SHA, NOW)).update_index(d, sig, NOW), data)


@FUZZ
@given(mutated(ROTATION_DOC))
def test_fuzz_rotation_signed_by_a_trusted_key(data):
    """Behind a valid signature (a headend bug, not an attacker), the parser still holds."""
    sig = sign_repository_file(KEY, rotation_path(ROTATION_NEW.public_key.id_hex), data, 1, NOW)
    parses_or_refuses(lambda d: check_rotation(d, sig, [KEY.public_key], ROTATION_NEW.public_key.id_hex), data)


@pytest.mark.parametrize("parse", [Index.from_bytes, Playlist.from_bytes, Rotation.from_bytes])
@pytest.mark.parametrize("data", [b"[" * 3000 + b"]" * 3000, b'{"version": ' + b"9" * 5000 + b"}", b"\xff\xfe"])
def test_deep_huge_or_undecodable_json_is_refused(parse, data):
    with pytest.raises(FormatError):
        parse(data)


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_times_outside_the_calendar_in_utc_are_refused(when):
    doc = {**INDEX_DOC, "expires": when}
    with pytest.raises(FormatError, match="expires"):
        Index.from_bytes(json.dumps(doc).encode())
    pl = copy.deepcopy(PLAYLIST_DOC)
    pl["schedule"]["slots"][0]["start"] = when
    with pytest.raises(FormatError, match="slots"):
        Playlist.from_bytes(json.dumps(pl).encode())


def test_infinite_course_duration_is_refused():
    pl = copy.deepcopy(PLAYLIST_DOC)
    pl["courses"][0]["duration_s"] = float("inf")
    with pytest.raises(FormatError, match="finite"):
        Playlist.from_bytes(json.dumps(pl).encode())


@pytest.mark.parametrize("field", ["title", "body", "id"])
def test_a_notice_field_that_is_not_text_is_refused_not_written_out_as_text(field):
    doc = copy.deepcopy(INDEX_DOC)
    doc["notices"][0][field] = ["a", "b"]
    with pytest.raises(FormatError, match=field):
        Index.from_bytes(json.dumps(doc).encode())


def test_a_playlist_title_or_mime_that_is_not_text_is_refused():
    doc = copy.deepcopy(INDEX_DOC)
    doc["playlists"][0]["title"] = ["全部", "课程"]
    with pytest.raises(FormatError, match="title"):
        Index.from_bytes(json.dumps(doc).encode())
    pl = copy.deepcopy(PLAYLIST_DOC)
    pl["courses"][0]["renditions"]["stb-sd"]["mime"] = 5
    with pytest.raises(FormatError, match="mime"):
        Playlist.from_bytes(json.dumps(pl).encode())
