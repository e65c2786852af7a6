"""ffprobe and ffmpeg, run as asyncio subprocesses on arguments that ffmpeg-python compiles.

The decisions (geometry, filters, codec options, loudness) are made by the pure functions in
``headend.courseware.recipe`` and ``headend.courseware.loudness``; this module turns them into commands and runs them,
converting failures into ProbeError / TranscodeError with the file name and ffmpeg's last lines,
and reporting ``-progress`` as it goes.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from headend.errors import ProbeError, TranscodeError

LOG_TAIL_LINES = 15
DECODE_CHECK_S = 3  # "decodable first seconds"

NOT_MEDIA = "not a video or audio file"
# What ffprobe says → what the editor should do about it. "moov atom not found" is said of
# anything named .mp4 that holds no MP4 index: a cut-short MP4 only if the file starts like one.
_CUT_SHORT = (
    "the MP4 was cut short (no moov index; an upload or a recording stopped early); "
    "copy it again from the source or re-export it"
)
_NOT_MEDIA = f"{NOT_MEDIA} (maybe a document or a picture renamed); give the original video or audio"
_PROBE_HINTS = (
    ("Invalid data found when processing input", _NOT_MEDIA),
    ("End of file", "the file ends too early; copy it again from the source"),
)
# The box types an MP4 (ISO base media) file can begin with.
_MP4_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp"}


def looks_like_mp4(head: bytes) -> bool:
    """The first bytes of a file are an MP4 box header (size, then a known box type)."""
    return len(head) >= 8 and head[4:8] in _MP4_FIRST_BOXES


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float
    has_video: bool
    has_audio: bool
    width: int = 0  # as displayed before SAR: stored pixels, rotated
    height: int = 0
    fps: float = 0.0
    format_name: str = ""
    sar: Fraction = Fraction(1)  # sample (pixel) aspect ratio
    interlaced: bool = False
    variable_fps: bool = False
    audio_channels: int = 0


ProgressFn = Callable[[float], None]  # seconds of output written so far


def input_arg(path: Path) -> str:
    """A file as ffmpeg and ffprobe must be given it: an absolute path behind ``file:``, so a name
    like ``-rf lesson.mp4`` is not read as an option, nor ``Part2:intro.mp4`` as a protocol."""
    return "file:" + str(Path(path).resolve())


def _tail(lines) -> str:
    return "\n".join(list(lines)[-LOG_TAIL_LINES:])


def _fps(rate: str | None) -> float:
    try:
        value = float(Fraction(rate)) if rate else 0.0
    except (ValueError, ZeroDivisionError):
        return 0.0
    return value if value < 1000 else 0.0  # ffprobe reports 90000 for some still streams


def _sar(value: str | None) -> Fraction:
    try:
        num, den = (int(x) for x in (value or "1:1").split(":"))
        return Fraction(num, den) if num > 0 and den > 0 else Fraction(1)
    except (ValueError, ZeroDivisionError):
        return Fraction(1)


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            try:
                return int(float(side["rotation"])) % 360
            except (TypeError, ValueError):
                return 0
    try:
        return int(stream.get("tags", {}).get("rotate", 0)) % 360
    except (TypeError, ValueError):
        return 0


def _probe_hint(stderr: str, head: bytes) -> str:
    """What to tell the editor about a file ffprobe refused; ``head`` is its first bytes."""
    if "moov atom not found" in stderr:
        return _CUT_SHORT if looks_like_mp4(head) else _NOT_MEDIA
    for needle, hint in _PROBE_HINTS:
        if needle in stderr:
            return hint
    return "not a readable audio or video file; check that it plays on a computer, or export it again as MP4"


def _head(path: Path, size: int = 16) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


async def _run(
    args: list[str], cwd: Path | None = None, on_progress: ProgressFn | None = None
) -> tuple[int, bytes, list[str]]:
    """Run a command; return (exit code, stdout, the last lines of stderr). With ``on_progress``,
    stdout is ffmpeg's ``-progress pipe:1`` stream and each ``out_time_us`` is reported."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
        )
    except FileNotFoundError as exc:
        raise TranscodeError(
            f"{args[0]} is not installed; install the Debian package ffmpeg (make setup does)"
        ) from exc
    err_lines: collections.deque[str] = collections.deque(maxlen=400)
    out_chunks: list[bytes] = []

    async def read_err() -> None:
        assert proc.stderr is not None
        async for line in proc.stderr:
            err_lines.append(line.decode("utf-8", "replace").rstrip())

    async def read_out() -> None:
        assert proc.stdout is not None
        if on_progress is None:
            out_chunks.append(await proc.stdout.read())
            return
        async for line in proc.stdout:
            key, _, value = line.decode("ascii", "replace").strip().partition("=")
            if key == "out_time_us" and value.lstrip("-").isdigit():
                on_progress(max(int(value), 0) / 1e6)

    try:
        await asyncio.gather(read_err(), read_out())
        code = await proc.wait()
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        raise
    return code, b"".join(out_chunks), list(err_lines)


async def probe(path: Path) -> MediaInfo:
    """What a courseware file holds; ProbeError (naming the file, saying what to do) if it is
    not usable media. Decodes the first seconds to be sure they are playable."""
    name = path.name
    code, out, err = await _run(
        [
            "ffprobe",
            "-v",
            "error",
            "-read_intervals",
            f"%+{DECODE_CHECK_S}",
            "-count_frames",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            input_arg(path),
        ]
    )
    if code != 0:
        hint = _probe_hint("\n".join(err), await asyncio.to_thread(_head, path))
        reason = err[-1].split(": ", 1)[-1].strip() if err else "unreadable"
        raise ProbeError(f"{name}: {hint} (ffprobe: {reason})")
    try:
        data = json.loads(out or b"{}")
    except ValueError as exc:
        raise ProbeError(f"{name}: ffprobe gave no usable answer; check the file plays on a computer") from exc
    streams = data.get("streams", [])
    video = [s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    fmt = str(data.get("format", {}).get("format_name", ""))
    if not video and not audio:
        raise ProbeError(f"{name}: {NOT_MEDIA}: no audio or video stream found (ffprobe); give a video or audio file")
    if not audio and (fmt == "image2" or fmt.endswith("_pipe")):
        raise ProbeError(f"{name}: a still picture ({fmt}), {NOT_MEDIA}; give the video or audio itself")
    try:
        duration = float(data.get("format", {}).get("duration") or 0)
    except ValueError:
        duration = 0.0
    if duration <= 0:
        raise ProbeError(
            f"{name}: duration is zero or unknown; the file is empty or damaged — copy it again from the source"
        )
    decoded = sum(int(s.get("nb_read_frames") or 0) for s in [*video[:1], *audio[:1]])
    if decoded == 0:
        raise ProbeError(
            f"{name}: the first {DECODE_CHECK_S} seconds do not decode (no frame could be read); "
            "the file is damaged or uses a codec we cannot read — export it again as MP4 (H.264 + AAC)"
        )
    v = video[0] if video else {}
    w, h = int(v.get("width") or 0), int(v.get("height") or 0)
    if _rotation(v) in (90, 270):
        w, h = h, w  # ffmpeg auto-rotates phone videos
    avg, real = _fps(v.get("avg_frame_rate")), _fps(v.get("r_frame_rate"))
    return MediaInfo(
        duration_s=duration,
        has_video=bool(video),
        has_audio=bool(audio),
        width=w,
        height=h,
        fps=avg or real,
        format_name=fmt,
        sar=_sar(v.get("sample_aspect_ratio"))
        if _rotation(v) not in (90, 270)
        else 1 / _sar(v.get("sample_aspect_ratio")),
        interlaced=str(v.get("field_order", "")) in ("tt", "bb", "tb", "bt"),
        variable_fps=bool(avg and real and abs(avg - real) > 0.01 * real),
        audio_channels=int(audio[0].get("channels") or 0) if audio else 0,
    )


async def run_ffmpeg(
    args: list[str], what: str, *, cwd: Path | None = None, on_progress: ProgressFn | None = None
) -> list[str]:
    """Run ffmpeg; TranscodeError with its last lines if it fails. Returns stderr's last lines."""
    code, _, err = await _run(args, cwd=cwd, on_progress=on_progress)
    if code != 0:
        tail = _tail(err)
        last = err[-1] if err else f"exit code {code}"
        raise TranscodeError(f"{what}: ffmpeg failed ({last})", log_tail=tail)
    return err


class ProgressClock:
    """Turns "seconds of output written" into a percent and an ETA (pure arithmetic over a clock)."""

    def __init__(self, total_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.total_s = max(total_s, 1e-6)
        self.clock = clock
        self.started = clock()

    def estimate(self, done_fraction: float) -> tuple[float, float | None]:
        """(percent 0-100, seconds left or None while too early to tell)."""
        frac = min(max(done_fraction, 0.0), 1.0)
        elapsed = self.clock() - self.started
        eta = elapsed / frac - elapsed if frac >= 0.02 and elapsed > 0.5 else None
        return round(frac * 100, 1), eta
