"""Courseware that is not usable is refused with the file named and what to do, and changes nothing;
what is usable, however oddly named or silent by choice, is taken."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from tests.conftest import make_clip, run_cli
from tests.headend_db import catalogue, courses_by_source, rendition
from tests.media_probe import media_files, new_root, probe, vstream

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)

# ---- refusals ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory, headend_db) -> Path:
    root = new_root(tmp_path_factory.mktemp("pipeline"), headend_db, max_duration_s=2)
    clip = make_clip(tmp_path_factory.mktemp("ok") / "一秒.mp4", seconds=1, size="160x120")
    assert run_cli("headend", "ingest", "--root", str(root), str(clip), "--category", "health").returncode == 0
    return root


def _png(width: int, height: int) -> bytes:
    """A small grey PNG picture."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _bad_inputs(d: Path) -> dict[str, tuple[Path, str]]:
    text = d / "课件说明.mp4"
    text.write_text("这不是视频，是一份说明。", encoding="utf-8")
    empty = d / "空文件.mp4"
    empty.write_bytes(b"")
    picture = d / "海报.mp4"
    picture.write_bytes(_png(32, 24))
    whole = make_clip(d / "whole.mp4", seconds=1, size="160x120")
    truncated = d / "截断的录像.mp4"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # moov is at the end: gone
    silent = make_clip(d / "无声 视频.mp4", seconds=1, video_only=True, size="160x120")
    long = make_clip(d / "太长的讲座.mp4", seconds=3, size="160x120")
    bad_cat = make_clip(d / "分类错误.mp4", seconds=1, size="160x120")
    (d / "分类错误.toml").write_text('category = "养殖"\n', encoding="utf-8")
    path_title = make_clip(d / "路径标题.mp4", seconds=1, size="160x120")
    (d / "路径标题.toml").write_text('title = "../../etc/passwd"\ncategory = "health"\n', encoding="utf-8")
    typo = make_clip(d / "拼错.mp4", seconds=1, size="160x120")
    (d / "拼错.toml").write_text('titel = "雨季养鹅"\n', encoding="utf-8")
    return {
        "text named .mp4": (text, "not a video or audio file"),
        "picture named .mp4": (picture, "not a video or audio file"),
        "zero bytes": (empty, "the file is empty (0 bytes)"),
        "truncated, no moov": (truncated, "cut short"),
        "video without sound": (silent, "no sound track"),
        "over the duration limit": (long, "longer than the 0-minute limit"),
        "sidecar: unknown category": (bad_cat, "unknown category '养殖'"),
        "sidecar: path in a field": (path_title, "looks like a file path"),
        "sidecar: unknown key": (typo, "titel: unknown key; did you mean 'title'"),
    }


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    return _bad_inputs(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize(
    "case",
    [
        "text named .mp4",
        "picture named .mp4",
        "zero bytes",
        "truncated, no moov",
        "video without sound",
        "over the duration limit",
        "sidecar: unknown category",
        "sidecar: path in a field",
        "sidecar: unknown key",
    ],
)
def test_bad_input_is_refused_naming_the_file_and_changes_nothing(shared_root, bad_inputs, case):
    path, reason = bad_inputs[case]
    before = (catalogue(shared_root), media_files(shared_root))
    res = (
        run_cli("headend", "ingest", "--root", str(shared_root), str(path), "--category", "health")
        if "sidecar" not in case
        else run_cli("headend", "ingest", "--root", str(shared_root), str(path))
    )
    assert res.returncode == 1
    assert path.name in res.stderr or path.stem in res.stderr
    assert reason in res.stderr, res.stderr
    assert (catalogue(shared_root), media_files(shared_root)) == before
    assert not list((shared_root / "work").glob("*"))


@pytest.mark.parametrize("case", ["text named .mp4", "picture named .mp4", "zero bytes"])
def test_what_is_no_video_is_called_so_and_not_a_cut_short_mp4(shared_root, bad_inputs, case):
    res = run_cli("headend", "ingest", "--root", str(shared_root), str(bad_inputs[case][0]), "--category", "health")
    assert res.returncode == 1 and "not a video or audio file" in res.stderr
    assert "cut short" not in res.stderr, res.stderr


def test_an_mp4_cut_in_half_is_called_cut_short_and_not_something_else(shared_root, bad_inputs):
    path = bad_inputs["truncated, no moov"][0]
    res = run_cli("headend", "ingest", "--root", str(shared_root), str(path), "--category", "health")
    assert res.returncode == 1 and "the MP4 was cut short" in res.stderr
    assert "not a video or audio file" not in res.stderr, res.stderr


def test_refusals_say_what_to_do(shared_root, bad_inputs):
    res = run_cli(
        "headend",
        "ingest",
        "--root",
        str(shared_root),
        str(bad_inputs["truncated, no moov"][0]),
        "--category",
        "health",
    )
    assert "copy it again from the source" in res.stderr
    res = run_cli(
        "headend",
        "ingest",
        "--root",
        str(shared_root),
        str(bad_inputs["video without sound"][0]),
        "--category",
        "health",
    )
    assert "allow_silent = true" in res.stderr


def test_silent_video_is_accepted_when_the_editor_allows_it(shared_root, bad_inputs):
    path = bad_inputs["video without sound"][0]
    res = run_cli("headend", "ingest", "--root", str(shared_root), str(path), "--category", "health", "--allow-silent")
    assert res.returncode == 0, res.stderr
    streams = probe(rendition(shared_root, path.name, "stb-sd"))["streams"]
    assert sorted(s["codec_type"] for s in streams) == ["audio", "video"]  # a silent track, so every box plays it


def test_chinese_name_with_spaces_and_quotes_is_ingested(tmp_path, shared_root):
    clip = make_clip(tmp_path / '农村"医保" 政策 解读\'s 第2集.mp3', seconds=1, audio_only=True)
    res = run_cli("headend", "ingest", "--root", str(shared_root), str(clip), "--category", "policy")
    assert res.returncode == 0, res.stderr
    c = courses_by_source(shared_root)[clip.name]
    title, series, episode = c.title, c.series, c.episode
    assert (title, series, episode) == ('农村"医保" 政策 解读\'s 第2集', '农村"医保" 政策 解读\'s', 2)
    card = vstream(rendition(shared_root, clip.name, "tv-hd"))
    assert (card["width"], card["height"]) == (1280, 720)


@pytest.mark.parametrize("name", ["-rf lesson.mp4", "Part2:intro.mp4"])
def test_a_name_that_looks_like_an_option_or_a_protocol_is_ingested_by_its_relative_path(tmp_path, shared_root, name):
    make_clip(tmp_path / name, seconds=1, size="128x96")
    res = run_cli("headend", "ingest", "--root", str(shared_root), "--category", "skills", "--", name, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert vstream(rendition(shared_root, name, "stb-sd"))["codec_name"] == "h264"
