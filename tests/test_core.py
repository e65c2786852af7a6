"""The pure core: course validation, player profiles, and the index trust rules."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from catalogue import CatalogueError, Course, UnknownCategory
from players import ProfileError, load_profiles, profile
from players.profiles import PROFILES_FILE
from playlists import (
    ExpiredError,
    FileRef,
    Index,
    PinMismatch,
    Playlist,
    PlaylistRef,
    RollbackError,
    SecretKey,
    SignatureError,
    TrustState,
    check_index,
    check_playlist,
    sign_repository_file,
)
from playlists.errors import FormatError

SHA = "a" * 64
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)


def course(**kw) -> Course:
    base = dict(id="c-aaaaaaaaaaaa", title="雨季养鹅技术", category="农业技术", duration_s=42.0, source_sha256=SHA)
    return Course(**{**base, **kw})


def test_course_accepts_category_label_and_stores_its_id():
    assert course().category == "agriculture"


def test_unknown_category_lists_the_allowed_ones():
    with pytest.raises(UnknownCategory) as exc:
        course(category="养殖")
    assert "agriculture (农业技术)" in str(exc.value)


@pytest.mark.parametrize("field,value,words", [
    ("title", "   ", "title is empty"),
    ("title", "x" * 101, "at most 100"),
    ("duration_s", 0, "positive"),
    ("source_sha256", "xyz", "64 lower-case hex"),
])
def test_course_validation_names_the_field(field, value, words):
    with pytest.raises(CatalogueError, match=words):
        course(**{field: value})


def test_profiles_load_with_their_limits():
    profiles = load_profiles()
    assert {"tv-hd", "stb-sd", "audio"} <= set(profiles)
    sd = profiles["stb-sd"]
    assert (sd.video.max_width, sd.video.max_height, sd.video.h264_level) == (720, 576, "3.1")
    assert profiles["audio"].video is None and profiles["audio"].audio.channels == 1


def test_changing_a_profile_changes_only_its_fingerprint():
    base = load_profiles()
    text = PROFILES_FILE.read_text(encoding="utf-8")
    changed = load_profiles(text.replace("max_bitrate_kbps = 1500", "max_bitrate_kbps = 1200"))
    assert changed["stb-sd"].fingerprint != base["stb-sd"].fingerprint
    assert changed["tv-hd"].fingerprint == base["tv-hd"].fingerprint


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ProfileError, match="audio, stb-sd, tv-hd"):
        profile("vcd")


# ---- trust rules -------------------------------------------------------------------------------

KEY = SecretKey.generate()


def signed_index(version: int, expires_in: timedelta = timedelta(days=7), ts: datetime = NOW, playlists=()):
    idx = Index(version=version, timestamp=ts, expires=ts + expires_in, playlists=tuple(playlists))
    data = idx.to_bytes()
    return data, sign_repository_file(KEY, "index.json", data, version, ts)


def test_valid_index_is_accepted():
    data, sig = signed_index(3)
    assert check_index(data, sig, [KEY.public_key], TrustState(), NOW).version == 3


def test_rejects_rollback():
    data, sig = signed_index(2)
    with pytest.raises(RollbackError, match="older than version 5"):
        check_index(data, sig, [KEY.public_key], TrustState(highest_version=5), NOW)


def test_rejects_expired_index():
    data, sig = signed_index(3, expires_in=timedelta(days=1))
    with pytest.raises(ExpiredError):
        check_index(data, sig, [KEY.public_key], TrustState(), NOW + timedelta(days=2))


def test_clock_far_behind_still_sees_expiry():
    # The box thinks it is 1970; it has seen a signed timestamp two days after this index expired.
    data, sig = signed_index(3, expires_in=timedelta(days=1))
    state = TrustState(highest_version=1, newest_timestamp=NOW + timedelta(days=2))
    with pytest.raises(ExpiredError):
        check_index(data, sig, [KEY.public_key], state, datetime(1970, 1, 1, tzinfo=timezone.utc))


def test_rejects_signature_moved_to_another_file():
    data, _ = signed_index(3)
    moved = sign_repository_file(KEY, "playlists/all.3.json", data, 3, NOW)
    with pytest.raises(SignatureError, match="moved between files"):
        check_index(data, moved, [KEY.public_key], TrustState(), NOW)


def test_rejects_non_json_index_even_if_signed():
    html = b"<html>captive portal</html>"
    with pytest.raises(FormatError):
        check_index(html, sign_repository_file(KEY, "index.json", html, 1, NOW), [KEY.public_key], TrustState(), NOW)


def test_playlist_must_match_its_pin():
    pl = Playlist(name="all", version=3, title="全部课程", courses=())
    data = pl.to_bytes()
    sig = sign_repository_file(KEY, pl.path, data, 3, NOW)
    ref = PlaylistRef(name="all", version=3, file=FileRef(pl.path, hashlib.sha256(data).hexdigest(), len(data)))
    assert check_playlist(data, sig, ref, [KEY.public_key]).name == "all"
    bad = data.replace(b"\xe5\x85\xa8", b"\xe5\x85\xa9")  # one character of the title changed
    with pytest.raises(PinMismatch):
        check_playlist(bad, sig, ref, [KEY.public_key])


def test_repository_paths_cannot_leave_the_tree():
    with pytest.raises(FormatError, match="not a repository path"):
        FileRef.from_dict({"path": "media/../../etc/passwd", "sha256": SHA, "size": 1}, "x")
