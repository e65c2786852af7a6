"""The courseware pipeline with real ffprobe/ffmpeg on tiny generated clips: refusals that name the
file and change nothing, pictures that are padded and never stretched, deinterlacing and frame-rate
caps, loudness within 1 LU, never twice, and jobs that survive being killed."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, init_headend, make_clip, run_cli
from tests.headend_db import catalogue, courses_by_source, last_job, rendition

PROFILES_TOML = ROOT / "players" / "profiles.toml"


def ff(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def probe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
        capture_output=True,
        check=True,
    ).stdout
    return json.loads(out)


def vstream(path: Path) -> dict:
    return next(s for s in probe(path)["streams"] if s["codec_type"] == "video")


def new_root(tmp: Path, db=None, **ingest) -> Path:
    """A fresh root on the test's engine (``db``; SQLite without one) with ``ingest`` settings."""
    root = init_headend(tmp / "headend", db)
    cfg = (root / "headend.toml").read_text(encoding="utf-8")
    for key, value in ingest.items():
        cfg = re.sub(rf"(?m)^{key} = .*$", f"{key} = {json.dumps(value, ensure_ascii=False)}", cfg)
    (root / "headend.toml").write_text(cfg, encoding="utf-8")
    return root


def media_files(root: Path) -> list[Path]:
    return sorted((root / "media").rglob("*.*"))


def content_box(path: Path) -> tuple[int, int]:
    """The picture inside the black bars, as cropdetect sees it."""
    err = subprocess.run(
        ["ffmpeg", "-nostdin", "-i", str(path), "-vf", "cropdetect=limit=0.1:round=2:reset=0", "-f", "null", "-"],
        capture_output=True,
        text=True,
    ).stderr
    w, h = re.findall(r"crop=(\d+):(\d+):", err)[-1]
    return int(w), int(h)


def integrated_lufs(path: Path) -> float:
    err = subprocess.run(
        ["ffmpeg", "-nostdin", "-nostats", "-i", str(path), "-map", "0:a", "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        text=True,
    ).stderr
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", err)[-1])


# ---- refusals ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory, headend_db) -> Path:
    root = new_root(tmp_path_factory.mktemp("pipeline"), headend_db, max_duration_s=2)
    clip = make_clip(tmp_path_factory.mktemp("ok") / "一秒.mp4", seconds=1, size="160x120")
    assert run_cli("headend", "ingest", "--root", str(root), str(clip), "--category", "health").returncode == 0
    return root


def _bad_inputs(d: Path) -> dict[str, tuple[Path, str]]:
    text = d / "课件说明.mp4"
    text.write_text("这不是视频，是一份说明。", encoding="utf-8")
    empty = d / "空文件.mp4"
    empty.write_bytes(b"")
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
        "text named .mp4": (text, "not a readable audio or video file"),
        "zero bytes": (empty, "the file is empty (0 bytes)"),
        "truncated, no moov": (truncated, "cut short"),
        "video without sound": (silent, "no sound track"),
        "over the duration limit": (long, "longer than the 0-minute limit"),
        "sidecar: unknown category": (bad_cat, "unknown category '养殖'"),
        "sidecar: path in a field": (path_title, "looks like a file path"),
        "sidecar: unknown key": (typo, "unknown key(s) titel"),
    }


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    return _bad_inputs(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize(
    "case",
    [
        "text named .mp4",
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


# ---- picture -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hd_root(tmp_path_factory) -> Path:
    """Only tv-hd, to keep the picture tests quick; SQLite only: what they check is ffmpeg's output,
    the same on either engine."""
    return new_root(tmp_path_factory.mktemp("hd"), profiles=["tv-hd"])


def _grey(dest: Path, size: str, rate: int = 25, extra: tuple[str, ...] = ()) -> Path:
    ff(
        "-f",
        "lavfi",
        "-i",
        f"color=c=0xc0c0c0:s={size}:r={rate}",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        "1",
        *extra,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(dest),
    )
    return dest


@pytest.mark.parametrize(
    "name,size,extra,content_aspect",
    [
        ("4比3.mp4", "640x480", (), 4 / 3),
        ("竖屏手机.mp4", "360x640", (), 9 / 16),
        ("变形宽屏.mp4", "720x576", ("-vf", "setsar=64/45"), 16 / 9),
    ],
)
def test_pictures_are_padded_to_16_9_never_stretched(hd_root, tmp_path, name, size, extra, content_aspect):
    src = _grey(tmp_path / name, size, extra=extra)
    res = run_cli("headend", "ingest", "--root", str(hd_root), str(src), "--category", "skills", "--quiet")
    assert res.returncode == 0, res.stderr
    out = rendition(hd_root, name, "tv-hd")
    v = vstream(out)
    assert v.get("sample_aspect_ratio", "1:1") in ("1:1", "0:1")
    assert abs(v["width"] / v["height"] - 16 / 9) < 0.02
    w, h = content_box(out)
    assert abs(w / h - content_aspect) < 0.03, (w, h)


def test_interlaced_high_rate_source_becomes_progressive_and_capped(hd_root, tmp_path):
    src = tmp_path / "电视台录像.mp4"
    ff(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=720x576:rate=50",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        "1",
        "-vf",
        "interlace=scan=tff",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-flags",
        "+ildct+ilme",
        "-x264opts",
        "tff=1",
        "-c:a",
        "aac",
        str(src),
    )
    assert vstream(src)["field_order"] == "tt"
    fast = _grey(tmp_path / "60帧.mp4", "320x240", rate=60)
    for f in (src, fast):
        assert (
            run_cli("headend", "ingest", "--root", str(hd_root), str(f), "--category", "culture", "--quiet").returncode
            == 0
        )
    v = vstream(rendition(hd_root, src.name, "tv-hd"))
    assert v.get("field_order", "progressive") == "progressive"
    fps = vstream(rendition(hd_root, fast.name, "tv-hd"))["avg_frame_rate"]
    num, den = (int(x) for x in fps.split("/"))
    assert num / den <= 30.01


# ---- loudness ------------------------------------------------------------------------------


def test_every_rendition_lands_within_1_lu_of_the_target(tmp_path):
    root = new_root(tmp_path)
    quiet = tmp_path / "小声讲座.m4a"
    ff(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:beep_factor=2",
        "-t",
        "4",
        "-af",
        "volume=-24dB",
        "-c:a",
        "aac",
        str(quiet),
    )
    loud = tmp_path / "大声喇叭.mp4"
    ff(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-f",
        "lavfi",
        "-i",
        "anoisesrc=color=pink:amplitude=0.9",
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(loud),
    )
    assert abs(integrated_lufs(quiet) - integrated_lufs(loud)) > 15  # far apart before
    for f in (quiet, loud):
        res = run_cli("headend", "ingest", "--root", str(root), str(f), "--category", "health")
        assert res.returncode == 0, res.stderr
    for f in (quiet, loud):
        for prof in ("tv-hd", "stb-sd", "audio"):
            lufs = integrated_lufs(rendition(root, f.name, prof))
            assert abs(lufs - (-23.0)) <= 1.0, (f.name, prof, lufs)


# ---- never twice ---------------------------------------------------------------------------


def _ffmpeg_spy(tmp: Path) -> tuple[dict, Path]:
    """PATH with an ``ffmpeg`` that logs each start, then runs the real one."""
    bindir = tmp / "spybin"
    bindir.mkdir()
    log = tmp / "ffmpeg-starts.log"
    real = shutil.which("ffmpeg")
    (bindir / "ffmpeg").write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec "{real}" "$@"\n')
    (bindir / "ffmpeg").chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}, log


def _headend(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "headend.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )


def test_reingest_starts_no_ffmpeg_and_a_changed_profile_redoes_only_itself(tmp_path, headend_db):
    profiles = tmp_path / "headend" / "profiles.toml"
    root = new_root(tmp_path, headend_db, profiles_file="profiles.toml")
    shutil.copyfile(PROFILES_TOML, profiles)
    clip = make_clip(tmp_path / "养鹅.mp4", seconds=1, size="160x120")
    env, log = _ffmpeg_spy(tmp_path)
    assert _headend(env, "ingest", "--root", str(root), str(clip), "--category", "agriculture").returncode == 0
    assert log.exists()
    log.unlink()
    res = _headend(
        env, "ingest", "--root", str(root), str(clip), "--category", "agriculture", "--title", "养鹅（重发）"
    )
    assert res.returncode == 0 and "transcoded: none" in res.stdout
    assert not log.exists(), "re-ingest started ffmpeg"
    sd_before = rendition(root, clip.name, "stb-sd")
    profiles.write_text(PROFILES_TOML.read_text(encoding="utf-8").replace("crf = 25", "crf = 30"), encoding="utf-8")
    res = _headend(env, "ingest", "--root", str(root), str(clip), "--category", "agriculture")
    assert res.returncode == 0 and res.stdout.strip().endswith("transcoded: stb-sd"), res.stdout
    assert rendition(root, clip.name, "stb-sd") != sd_before
    assert log.read_text().count("\n") == 1  # one ffmpeg: the changed profile (loudness was remembered)


# ---- jobs ----------------------------------------------------------------------------------


def _job(root: Path) -> tuple | None:
    job = last_job(root)
    return (job.state, job.stage, job.percent, job.message, job.log_tail) if job else None


def test_a_job_killed_mid_transcode_restarts_cleanly(tmp_path, headend_db):
    root = new_root(tmp_path, headend_db)
    clip = make_clip(tmp_path / "长一点的课.mp4", seconds=6, size="480x270")
    proc = subprocess.Popen(
        [sys.executable, "-m", "headend.cli", "ingest", "--root", str(root), str(clip), "--category", "skills"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = _job(root)
        if job and job[1] == "transcode" and list((root / "work").glob("job*-*.mp4")):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the transcode never started")
    os.killpg(proc.pid, signal.SIGKILL)  # a power cut: headend and its ffmpeg
    proc.wait()
    assert _job(root)[0] == "running" and catalogue(root) == []
    res = run_cli("headend", "jobs", "--root", str(root), "--run")
    assert res.returncode == 0, res.stderr
    assert _job(root)[0] == "done" and len(catalogue(root)) == 1
    assert not list((root / "work").glob("*")), "half-made files were left behind"
    assert probe(rendition(root, clip.name, "tv-hd"))["format"]["duration"].startswith("6.")


def test_a_failed_job_keeps_ffmpegs_last_lines(tmp_path, headend_db):
    profiles = tmp_path / "headend" / "profiles.toml"
    root = new_root(tmp_path, headend_db, profiles_file="profiles.toml")
    profiles.write_text(
        PROFILES_TOML.read_text(encoding="utf-8").replace('codec = "libx264"', 'codec = "libnosuch264"', 1),
        encoding="utf-8",
    )
    clip = make_clip(tmp_path / "坏配置.mp4", seconds=1, size="160x120")
    res = run_cli("headend", "ingest", "--root", str(root), str(clip), "--category", "skills")
    assert res.returncode == 1 and "坏配置.mp4" in res.stderr and "ffmpeg said" in res.stderr
    state, _, _, message, log_tail = _job(root)
    assert state == "failed" and "ffmpeg failed" in message and "libnosuch264" in log_tail
    listing = run_cli("headend", "jobs", "--root", str(root)).stdout
    assert "failed" in listing and "坏配置.mp4" in listing
    assert catalogue(root) == []


def test_cli_shows_progress_and_course_edit_changes_the_catalogue(tmp_path, headend_db):
    root = new_root(tmp_path, headend_db)
    clip = make_clip(tmp_path / "雨季养鹅.mp4", seconds=1, size="160x120")
    res = run_cli("headend", "ingest", "--root", str(root), str(clip), "--category", "agriculture")
    assert re.search(r"雨季养鹅.mp4: \d+% ETA", res.stderr) and "100%" in res.stderr
    course_id = catalogue(root)[0][0]
    res = run_cli(
        "headend",
        "course",
        "edit",
        "--root",
        str(root),
        course_id,
        "--title",
        "雨季养鹅技术",
        "--category",
        "农业技术",
        "--series",
        "养鹅",
        "--episode",
        "1",
    )
    assert res.returncode == 0, res.stderr
    assert catalogue(root) == [(course_id, "雨季养鹅技术", "agriculture")]
    assert "养鹅 第1集" in run_cli("headend", "course", "list", "--root", str(root)).stdout
    res = run_cli("headend", "course", "edit", "--root", str(root), course_id, "--category", "养殖")
    assert res.returncode == 1 and "unknown category '养殖'" in res.stderr
    assert catalogue(root) == [(course_id, "雨季养鹅技术", "agriculture")]


def test_poster_skips_a_black_opening(hd_root, tmp_path):
    src = tmp_path / "黑场开头.mp4"
    ff(
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=320x240:r=25:d=2",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=d=4",
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1:a=0[v]",
        "-map",
        "[v]",
        "-map",
        "2:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(src),
    )
    assert (
        run_cli("headend", "ingest", "--root", str(hd_root), str(src), "--category", "culture", "--quiet").returncode
        == 0
    )
    poster = rendition(hd_root, src.name, "poster")
    err = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-i",
            str(poster),
            "-vf",
            "signalstats,metadata=print:key=lavfi.signalstats.YAVG",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
    ).stderr
    assert float(re.findall(r"YAVG=([\d.]+)", err)[-1]) > 40, "the poster is a black frame"
    assert poster.stat().st_size < 60_000 and (vstream(poster)["width"], vstream(poster)["height"]) == (480, 270)
