"""The pipeline's pure rules, without ffmpeg: geometry, sidecars and file-name defaults, when a
dropped file has settled, loudness results, progress, and the course record's new fields."""

from __future__ import annotations

from fractions import Fraction

import pytest

from catalogue import CatalogueError, Course
from headend.courseware.inbox import Settler, is_candidate
from headend.courseware.loudness import Measured, parse_measurements
from headend.courseware.media import ProgressClock
from headend.courseware.recipe import fit
from headend.courseware.sidecar import Metadata, SidecarError, defaults_from_filename, parse_sidecar

SHA = "ab" * 32
WIDE = Fraction(16, 9)


@pytest.mark.parametrize(
    "w,h,sar,box,content,frame",
    [
        (1920, 1080, Fraction(1), (1920, 1080), (1920, 1080), (1920, 1080)),  # already right
        (640, 480, Fraction(1), (1920, 1080), (640, 480), (854, 480)),  # 4:3 gets pillars, not enlarged
        (1080, 1920, Fraction(1), (1920, 1080), (606, 1080), (1920, 1080)),  # portrait phone video
        (720, 576, Fraction(64, 45), (1920, 1080), (1024, 576), (1024, 576)),  # anamorphic 16:9 PAL
        (720, 576, Fraction(16, 15), (720, 576), (540, 404), (720, 404)),  # 4:3 PAL into the SD box
        (3840, 2160, Fraction(1), (720, 576), (720, 404), (720, 404)),  # 4K shrinks into SD
    ],
)
def test_fit_pads_to_the_frame_and_never_stretches(w, h, sar, box, content, frame):
    g = fit(w, h, sar, box[0], box[1], WIDE)
    assert (g.content_w, g.content_h) == content and (g.frame_w, g.frame_h) == frame
    # the picture keeps its displayed shape (within rounding to even pixels)
    assert abs(g.content_w / g.content_h - w * float(sar) / h) < 0.02
    assert g.frame_w <= box[0] and g.frame_h <= box[1] and g.content_w <= g.frame_w and g.content_h <= g.frame_h


@pytest.mark.parametrize(
    "name,title,series,episode",
    [
        ("雨季养鹅 第3集.mp4", "雨季养鹅 第3集", "雨季养鹅", 3),
        ("雨季养鹅-第12讲.avi", "雨季养鹅-第12讲", "雨季养鹅", 12),
        ("goose_farming_EP04.mp4", "goose farming EP04", "goose farming", 4),
        ("党课_02.mp4", "党课 02", "党课", 2),
        ("2024年新农合政策.mp3", "2024年新农合政策", "", None),
    ],
)
def test_file_name_gives_title_series_and_episode(name, title, series, episode):
    m = defaults_from_filename(name)
    assert (m.title, m.series, m.episode) == (title, series, episode)


def test_sidecar_fills_every_key():
    m = parse_sidecar(
        'title = "雨季养鹅技术"\ncategory = "农业技术"\nseries = "养鹅"\nepisode = 3\ndescription = "第一行\\n第二行"\n'
        'speaker = "王技术员"\ntags = ["养殖", "雨季"]\nallow_silent = true\n',
        "x.toml",
        Metadata(title="x"),
    )
    assert m == Metadata(
        title="雨季养鹅技术",
        category="agriculture",
        series="养鹅",
        episode=3,
        description="第一行\n第二行",
        speaker="王技术员",
        tags=("养殖", "雨季"),
        allow_silent=True,
    )


@pytest.mark.parametrize(
    "text,says",
    [
        ('category = "养殖"', "unknown category '养殖'"),
        ('title = "../../etc/passwd"', "looks like a file path"),
        ('speaker = "C:\\\\Users\\\\x"', "looks like a file path"),
        ('description = "/etc/shadow"', "looks like a file path"),
        ('episode = "三"', "episode must be a whole number"),
        ("episode = 0", "episode = 0 is out of range"),
        ('tags = "养殖"', "tags must be a list"),
        ('allow_silent = "yes"', "allow_silent must be true or false"),
        ('titel = "x"', "titel: unknown key; did you mean 'title'"),
        ('title = "unterminated', "not valid TOML"),
        ('title = ""', "title is empty"),
    ],
)
def test_sidecar_mistakes_are_named(text, says):
    with pytest.raises(SidecarError) as exc:
        parse_sidecar(text, "雨季.toml", Metadata(title="x"))
    assert "雨季.toml" in str(exc.value) and says in str(exc.value)


def test_a_file_is_taken_only_once_it_stops_growing():
    s = Settler(settle_s=10)
    assert s.observe({"a.mp4": (100, 1)}, now=0) == []
    assert s.observe({"a.mp4": (5000, 2)}, now=8) == []  # still uploading
    assert s.observe({"a.mp4": (9000, 3)}, now=16) == []
    assert s.observe({"a.mp4": (9000, 3)}, now=25) == []  # unchanged for 9 s only
    assert s.observe({"a.mp4": (9000, 3)}, now=26) == ["a.mp4"]
    assert not is_candidate("a.toml") and not is_candidate(".hidden.mp4") and not is_candidate("a.mp4.error.txt")
    assert is_candidate('雨季 "养鹅" 技术.mp4')


def test_loudness_results_are_read_in_order_and_silence_is_known():
    err = [
        "[Parsed_loudnorm_1 @ 0x1] ",
        "{",
        '"input_i" : "-30.10",',
        '"input_tp" : "-12.00",',
        '"input_lra" : "3.20",',
        '"input_thresh" : "-40.50",',
        '"target_offset" : "0.30"',
        "}",
        "{",
        '"input_i" : "-inf",',
        '"input_tp" : "-inf",',
        '"input_lra" : "0.00",',
        '"input_thresh" : "-70.00",',
        '"target_offset" : "inf"',
        "}",
    ]
    first, silent = parse_measurements(err, 2, "x")
    assert first == Measured(-30.1, -12.0, 3.2, -40.5, 0.3) and not first.silent
    assert silent.silent
    with pytest.raises(Exception, match="printed 2 results, expected 3"):
        parse_measurements(err, 3, "x")


def test_progress_gives_percent_and_eta():
    t = [100.0]
    clock = ProgressClock(1.0, clock=lambda: t[0])
    assert clock.estimate(0.0) == (0.0, None)
    t[0] = 130.0
    pct, eta = clock.estimate(0.25)
    assert pct == 25.0 and eta == pytest.approx(90.0)


def test_course_round_trips_series_episode_and_speaker():
    c = Course(
        id="c-abc",
        title="雨季养鹅 第3集",
        category="农业技术",
        duration_s=60,
        source_sha256=SHA,
        series="雨季养鹅",
        episode=3,
        speaker="王技术员",
    )
    assert Course.from_dict(c.to_dict()) == c
    old = {k: v for k, v in c.to_dict().items() if k not in ("series", "episode", "speaker")}
    assert Course.from_dict(old).series == "" and Course.from_dict(old).episode is None  # older playlists still load
    with pytest.raises(CatalogueError, match="episode"):
        Course(id="c-abc", title="t", category="party", duration_s=1, source_sha256=SHA, episode=0)
