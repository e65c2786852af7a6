"""ffprobe and ffmpeg, run as asyncio subprocesses on arguments that ffmpeg-python compiles.

The decisions (which filters, which codec options) come from the player profile; this module only
turns them into a command and runs it, converting failures into ProbeError / TranscodeError with
the file name and ffmpeg's last lines.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg

from headend.errors import ProbeError, TranscodeError
from players import Profile

POSTER_WIDTH = 480
LOG_TAIL_LINES = 15


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0
    format_name: str = ""


async def _run(args: list[str]) -> tuple[int, bytes, bytes]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except FileNotFoundError as exc:
        raise TranscodeError(f"{args[0]} is not installed; install the Debian package ffmpeg (make setup does)") from exc
    try:
        out, err = await proc.communicate()
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out, err


def _tail(err: bytes) -> str:
    lines = err.decode("utf-8", "replace").strip().splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _fps(rate: str | None) -> float:
    try:
        value = float(Fraction(rate)) if rate else 0.0
    except (ValueError, ZeroDivisionError):
        return 0.0
    return value if value < 1000 else 0.0  # ffprobe reports 90000 for some still streams


async def probe(path: Path) -> MediaInfo:
    """What a courseware file holds; ProbeError if it is not usable media."""
    name = path.name
    code, out, err = await _run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)]
    )
    if code != 0:
        reason = _tail(err).splitlines()[-1:] or ["unreadable"]
        raise ProbeError(f"{name}: not a readable audio or video file (ffprobe: {reason[0].strip()})")
    data = json.loads(out or b"{}")
    streams = data.get("streams", [])
    video = [s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not video and not audio:
        raise ProbeError(f"{name}: no audio or video stream found (ffprobe)")
    fmt = str(data.get("format", {}).get("format_name", ""))
    if not audio and (fmt == "image2" or fmt.endswith("_pipe")):
        raise ProbeError(f"{name}: a still image ({fmt}), not courseware; give a video or audio file")
    try:
        duration = float(data.get("format", {}).get("duration") or 0)
    except ValueError:
        duration = 0.0
    if duration <= 0:
        raise ProbeError(f"{name}: duration is zero or unknown; the file is empty or damaged")
    v = video[0] if video else {}
    return MediaInfo(
        duration_s=duration,
        has_video=bool(video),
        has_audio=bool(audio),
        width=int(v.get("width") or 0),
        height=int(v.get("height") or 0),
        fps=_fps(v.get("avg_frame_rate")) or _fps(v.get("r_frame_rate")),
        format_name=str(data.get("format", {}).get("format_name", "")),
    )


def rendition_args(src: Path, dest: Path, prof: Profile, info: MediaInfo) -> list[str]:
    """The ffmpeg command that makes ``prof``'s rendition of ``src``."""
    inp = ffmpeg.input(str(src))
    a = prof.audio
    audio_opts = {"c:a": a.codec, "b:a": f"{a.bitrate_kbps}k", "ac": a.channels, "ar": a.sample_rate_hz}
    streams = []
    opts: dict = {"movflags": "+faststart", "f": prof.container}
    if prof.kind == "video" and info.has_video and prof.video is not None:
        v = prof.video
        vid = inp.video.filter(
            "scale", w=f"min(iw,{v.max_width})", h=f"min(ih,{v.max_height})",
            force_original_aspect_ratio="decrease", force_divisible_by=2,
        )
        if info.fps > v.max_fps or info.fps == 0:
            vid = vid.filter("fps", fps=v.max_fps)
        streams.append(vid)
        opts.update({
            "c:v": v.codec, "profile:v": v.h264_profile, "level:v": v.h264_level, "pix_fmt": "yuv420p",
            "crf": v.crf, "maxrate": f"{v.max_bitrate_kbps}k", "bufsize": f"{2 * v.max_bitrate_kbps}k",
            "preset": "veryfast",
        })
    if info.has_audio:
        streams.append(inp.audio)
        opts.update(audio_opts)
    if not streams:
        raise TranscodeError(f"{src.name}: no stream that profile {prof.name} can use")
    return ffmpeg.output(*streams, str(dest), **opts).global_args("-nostdin", "-v", "error").overwrite_output().compile()


def poster_args(src: Path, dest: Path, info: MediaInfo) -> list[str]:
    """A representative frame (the ``thumbnail`` filter skips black and blurry frames) or, for
    audio-only courseware, a picture of its waveform."""
    if info.has_video:
        seek = min(info.duration_s * 0.25, max(info.duration_s - 1, 0))
        stream = ffmpeg.input(str(src), ss=f"{seek:.2f}").video.filter("thumbnail", 50).filter("scale", POSTER_WIDTH, -2)
    else:
        stream = ffmpeg.input(str(src)).audio.filter(
            "showwavespic", s=f"{POSTER_WIDTH}x270", colors="0xf0c040"
        ).filter("format", "yuvj420p")
    return (
        ffmpeg.output(stream, str(dest), **{"frames:v": 1, "q:v": 5, "f": "image2"})
        .global_args("-nostdin", "-v", "error")
        .overwrite_output()
        .compile()
    )


async def run_ffmpeg(args: list[str], what: str) -> None:
    code, _, err = await _run(args)
    if code != 0:
        tail = _tail(err)
        last = tail.splitlines()[-1] if tail else f"exit code {code}"
        raise TranscodeError(f"{what}: ffmpeg failed ({last})", log_tail=tail)
