"""What the courseware tests look at in real ffmpeg output: streams (ffprobe), the picture inside
the bars (cropdetect), loudness (ebur128), and a fresh headend root with chosen ingest settings."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.conftest import ROOT, init_headend

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
