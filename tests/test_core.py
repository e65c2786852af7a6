"""The pure core: course validation, player profiles, repository paths. The trust rules are in
``test_trust.py``."""

from __future__ import annotations

import pytest

from catalogue import CatalogueError, Course, UnknownCategory
from players import ProfileError, load_profiles, profile
from players.profiles import PROFILES_FILE
from playlists import FileRef, Schedule, is_repository_path
from playlists.errors import FormatError

SHA = "a" * 64


def course(**kw) -> Course:
    base = dict(id="c-aaaaaaaaaaaa", title="雨季养鹅技术", category="农业技术", duration_s=42.0, source_sha256=SHA)
    return Course(**{**base, **kw})


def test_course_accepts_category_label_and_stores_its_id():
    assert course().category == "agriculture"


def test_unknown_category_lists_the_allowed_ones():
    with pytest.raises(UnknownCategory) as exc:
        course(category="养殖")
    assert "agriculture (农业技术)" in str(exc.value)


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("title", "   ", "title is empty"),
        ("title", "x" * 101, "at most 100"),
        ("duration_s", 0, "positive"),
        ("source_sha256", "xyz", "64 lower-case hex"),
    ],
)
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


# ---- repository format (the trust rules and the trusted set: test_trust.py) ----------------------


def test_repository_paths_cannot_leave_the_tree():
    with pytest.raises(FormatError, match="not a repository path"):
        FileRef.from_dict({"path": "media/../../etc/passwd", "sha256": SHA, "size": 1}, "x")


@pytest.mark.parametrize("days", [[True], [1, False], [0], [8], [], "1,3"])
def test_weekly_days_are_weekday_numbers_not_booleans(days):
    weekly = {"weekly": [{"course": "c-abc", "days": days, "time": "19:30"}]}
    with pytest.raises(FormatError, match="days must list weekdays"):
        Schedule.from_dict(weekly)
    assert Schedule.from_dict({"weekly": [{"course": "c-abc", "days": [1, 3], "time": "19:30"}]}).weekly[0].days == (
        1,
        3,
    )


def test_repository_paths_that_a_mirror_may_serve():
    ok = [
        "index.json",
        "index.json.minisig",
        "keys/headend.pub",
        "playlists/all.3.json",
        "media/ab/" + "a" * 64 + ".mp4",
    ]
    bad = [
        "index.json\x00",
        "media/a\x00",
        "../x",
        "media/../x",
        "media//x",
        "media/.h",
        "/index.json",
        "x/y",
        "媒体/x",
    ]
    assert all(is_repository_path(p) for p in ok)
    assert [p for p in bad if is_repository_path(p)] == []
