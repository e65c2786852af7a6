"""Ingest with real ffprobe/ffmpeg: renditions that fit each player, posters, refusals that name
the file and change nothing, and no second transcode of a known file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_clip, run_cli
from tests.headend_db import courses_by_source, renditions_by_title
from tests.media_probe import probe

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)

renditions = renditions_by_title


def test_renditions_fit_each_player(published_template):
    r = renditions(published_template)
    sd = probe(r[("雨季养鹅技术", "stb-sd")])
    v = next(s for s in sd["streams"] if s["codec_type"] == "video")
    assert (v["codec_name"], v["profile"], v["pix_fmt"]) == ("h264", "Main", "yuv420p")
    assert v["width"] <= 720 and v["height"] <= 576 and v["level"] <= 31
    a = next(s for s in sd["streams"] if s["codec_type"] == "audio")
    assert (a["codec_name"], a["channels"]) == ("aac", 2)
    hd = next(s for s in probe(r[("雨季养鹅技术", "tv-hd")])["streams"] if s["codec_type"] == "video")
    assert hd["profile"] == "High"
    audio = probe(r[("雨季养鹅技术", "audio")])["streams"]
    assert [(s["codec_type"], s["channels"]) for s in audio] == [("audio", 1)]
    # faststart: the moov atom comes before the media data, so a box can start playing at once
    head = r[("雨季养鹅技术", "stb-sd")].read_bytes()[:4096]
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))


def test_audio_only_courseware_plays_on_a_tv_as_a_title_card(published_template):
    r = renditions(published_template)
    streams = probe(r[("农村医保政策解读", "stb-sd")])["streams"]
    assert sorted(s["codec_type"] for s in streams) == ["audio", "video"]  # the card, with the lecture's sound
    radio = probe(r[("农村医保政策解读", "audio")])["streams"]
    assert [s["codec_type"] for s in radio] == ["audio"]
    poster = probe(r[("农村医保政策解读", "poster")])["streams"][0]
    assert poster["codec_name"] == "mjpeg" and (poster["width"], poster["height"]) == (480, 270)


def test_video_poster_is_a_small_jpeg(published_template):
    p = renditions(published_template)[("雨季养鹅技术", "poster")]
    assert p.read_bytes()[:3] == b"\xff\xd8\xff" and p.stat().st_size < 100_000


def test_reingest_does_no_transcoding(headend_root, clips):
    before = {p: p.stat().st_mtime_ns for p in (headend_root / "media").rglob("*.*")}
    res = run_cli(
        "headend",
        "ingest",
        "--root",
        str(headend_root),
        str(clips["video"]),
        "--title",
        "雨季养鹅技术（重发）",
        "--category",
        "agriculture",
    )
    assert res.returncode == 0, res.stderr
    assert "transcoded: none" in res.stdout
    assert {p: p.stat().st_mtime_ns for p in (headend_root / "media").rglob("*.*")} == before
    assert [c.title for name, c in courses_by_source(headend_root).items() if "养鹅" in name] == [
        "雨季养鹅技术（重发）"
    ]


def _catalogue(root: Path) -> list:
    return sorted((c.id, c.title) for c in courses_by_source(root).values())


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("课件说明.mp4", "这不是视频".encode(), "not a video or audio file"),
        ("空文件.mp4", b"", "the file is empty"),
    ],
)
def test_non_media_is_refused_naming_the_file(headend_root, tmp_path, name, content, reason):
    before = _catalogue(headend_root)
    bad = tmp_path / name
    bad.write_bytes(content)
    res = run_cli("headend", "ingest", "--root", str(headend_root), str(bad), "--category", "health")
    assert res.returncode == 1
    assert name in res.stderr and reason in res.stderr
    assert _catalogue(headend_root) == before


def test_unknown_category_is_refused_before_any_work(headend_root, tmp_path):
    clip = make_clip(tmp_path / "新课.mp4", seconds=1)
    before = sorted((headend_root / "media").rglob("*"))
    res = run_cli("headend", "ingest", "--root", str(headend_root), str(clip), "--category", "养殖")
    assert res.returncode == 1
    assert (
        "新课.mp4" in res.stderr and "unknown category '养殖'" in res.stderr and "agriculture (农业技术)" in res.stderr
    )
    assert sorted((headend_root / "media").rglob("*")) == before


def test_uninitialised_root_says_what_to_do(tmp_path, clips):
    res = run_cli("headend", "ingest", "--root", str(tmp_path / "nowhere"), str(clips["video"]), "--category", "party")
    assert res.returncode == 1 and "headend init --root" in res.stderr


def test_publish_without_signing_key_is_refused(headend_root):
    (headend_root / "keys" / "headend.key").unlink()
    index_before = (headend_root / "repo" / "index.json").read_bytes()
    res = run_cli("headend", "publish", "--root", str(headend_root))
    assert res.returncode == 1 and "signing key missing" in res.stderr
    assert (headend_root / "repo" / "index.json").read_bytes() == index_before


def test_command_line_ingest_waits_for_a_free_transcode_slot(headend_root, tmp_path):
    """[ingest] concurrent_jobs holds across processes: while `headend serve`'s queue (here: this
    test) holds the only slot, a `headend ingest` waits, and runs once it is free."""
    import fcntl
    import sys
    import time

    from tests.conftest import ROOT

    clip = make_clip(tmp_path / "等待.mp4", seconds=1)
    before = sorted((headend_root / "media").rglob("*.*"))
    with open(headend_root / ".transcode-slot-0.lock", "w") as slot:
        fcntl.flock(slot, fcntl.LOCK_EX)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "headend.cli",
                "ingest",
                "--root",
                str(headend_root),
                str(clip),
                "--title",
                "等待",
                "--category",
                "health",
                "--quiet",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        assert proc.poll() is None and sorted((headend_root / "media").rglob("*.*")) == before
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert len(sorted((headend_root / "media").rglob("*.*"))) > len(before)
