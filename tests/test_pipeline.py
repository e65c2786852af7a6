"""The courseware jobs with real ffmpeg: never transcoding the same thing twice, jobs that survive
being killed, failures that keep ffmpeg's last lines, progress and course edits on the command line."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_clip, run_cli
from tests.headend_db import catalogue, last_job, rendition
from tests.media_probe import PROFILES_TOML, new_root, probe

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)

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
    assert res.returncode == 0 and res.stdout.splitlines()[0].endswith("transcoded: stb-sd"), res.stdout
    assert "re-transcoded stb-sd; kept edits to title" in res.stdout  # the title given the time before stays
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
