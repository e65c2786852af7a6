"""What the ladder makes, checked in the real ffmpeg output: pictures padded and never stretched,
deinterlacing and frame-rate caps, loudness within 1 LU of the target, a poster that is not black."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_clip, run_cli
from tests.headend_db import rendition
from tests.media_probe import content_box, ff, integrated_lufs, new_root, vstream

# ---- picture -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hd_root(tmp_path_factory) -> Path:
    """Only tv-hd, to keep the picture tests quick; SQLite only: what they check is ffmpeg's output,
    the same on either engine."""
    return new_root(tmp_path_factory.mktemp("hd"), profiles=["tv-hd"])


def _grey(dest: Path, size: str, rate: int = 25, extra: tuple[str, ...] = ()) -> Path:
    return make_clip(dest, 1, video=f"color=c=0xc0c0c0:s={size}:r={rate}", audio="sine", before=extra)


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
    src = make_clip(
        tmp_path / "电视台录像.mp4",
        1,
        video="testsrc2=size=720x576:rate=50",
        audio="sine",
        before=("-vf", "interlace=scan=tff"),
        after=("-flags", "+ildct+ilme", "-x264opts", "tff=1"),
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
    loud = make_clip(tmp_path / "大声喇叭.mp4", 4, size="160x120", audio="anoisesrc=color=pink:amplitude=0.9")
    assert abs(integrated_lufs(quiet) - integrated_lufs(loud)) > 15  # far apart before
    for f in (quiet, loud):
        res = run_cli("headend", "ingest", "--root", str(root), str(f), "--category", "health")
        assert res.returncode == 0, res.stderr
    for f in (quiet, loud):
        for prof in ("tv-hd", "stb-sd", "audio"):
            lufs = integrated_lufs(rendition(root, f.name, prof))
            assert abs(lufs - (-23.0)) <= 1.0, (f.name, prof, lufs)


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
