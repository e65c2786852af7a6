"""How a source becomes renditions: picture geometry and the ffmpeg commands, as pure functions
(probe results and profiles in, argument lists out; nothing here touches a file).

- One process can make every rendition of a source (one decode, ``split``/``asplit`` into each
  profile's chain) or one rendition each; ``ladder_args`` compiles either.
- Interlaced sources are deinterlaced (``bwdif``); the picture is turned into square pixels using
  its sample aspect ratio, scaled to fit the profile, never up, and padded to the profile's frame
  aspect: 4:3, anamorphic and portrait pictures get bars, never a stretch.
- The frame rate is capped at the profile's maximum; variable-rate phone video becomes constant.
- Audio is downmixed to the profile's channels, then loudness-normalised with the values the
  first pass measured for that channel layout (``headend.courseware.loudness``).
- Sources without a picture get a still title card (the course title in the CJK font) for
  profiles that play video; sources without sound (allowed by the editor) get a silent track.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg

from headend.courseware.loudness import Measured, Target, apply_filter_args, measure_filter
from headend.courseware.media import MediaInfo, input_arg
from players import Profile

TITLE_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
CARD_SIZE = (1280, 720)
CARD_FPS = 10
CARD_COLOUR = "0x12355b"
POSTER_BOX = (480, 270)  # the TV page's course tiles are 16:9
POSTER_MIN_LUMA = 28  # average Y (16 = black) a poster frame must exceed
GLOBAL = ("-nostdin", "-v", "error", "-nostats", "-progress", "pipe:1")


@dataclass(frozen=True)
class Geometry:
    content_w: int
    content_h: int
    frame_w: int
    frame_h: int


def _even_down(x: float) -> int:
    return max(2, math.floor(x / 2) * 2)


def _even_near(x: float) -> int:
    return max(2, round(x / 2) * 2)


def fit(
    width: int, height: int, sar: Fraction, max_w: int, max_h: int, frame_aspect: Fraction | None, enlarge: bool = False
) -> Geometry:
    """Where the picture goes: displayed size (pixels × SAR) scaled to fit ``max_w``×``max_h``
    (enlarged only if asked: posters fill their tile, renditions never grow), then a frame of
    ``frame_aspect`` around it (bars, never a stretch)."""
    dw, dh = width * float(sar), float(height)
    k = min(max_w / dw, max_h / dh) if enlarge else min(1.0, max_w / dw, max_h / dh)
    cw, ch = dw * k, dh * k
    if frame_aspect:
        fa = float(frame_aspect)
        fw, fh = (ch * fa, ch) if cw / ch < fa else (cw, cw / fa)
        shrink = min(1.0, max_w / fw, max_h / fh)
        cw, ch, fw, fh = cw * shrink, ch * shrink, fw * shrink, fh * shrink
    else:
        fw, fh = cw, ch
    cw_i, ch_i = _even_down(cw), _even_down(ch)
    fw_i = min(max(_even_near(fw), cw_i), _even_down(max_w))
    fh_i = min(max(_even_near(fh), ch_i), _even_down(max_h))
    return Geometry(cw_i, ch_i, fw_i, fh_i)


def _aspect(value: str) -> Fraction | None:
    if not value:
        return None
    w, _, h = value.partition(":")
    return Fraction(int(w), int(h))


def output_fps(prof: Profile, info: MediaInfo) -> float | None:
    """The frame rate to force, or None to keep the source's (constant, within the cap)."""
    cap = prof.video.max_fps if prof.video else 25
    if info.fps == 0 or info.fps > cap + 0.01:
        return cap
    if info.variable_fps:
        return round(info.fps, 3)
    return None


def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


def _frame(stream, g: Geometry, sar_fix: bool):
    stream = stream.filter("scale", g.content_w, g.content_h)
    if sar_fix:
        stream = stream.filter("setsar", 1)
    if (g.frame_w, g.frame_h) != (g.content_w, g.content_h):
        stream = stream.filter("pad", g.frame_w, g.frame_h, "(ow-iw)/2", "(oh-ih)/2", color="black")
    return stream.filter("setsar", 1).filter("format", "yuv420p")


def _card(duration_s: float, title_file: str, size: tuple[int, int] = CARD_SIZE, fps: int = CARD_FPS):
    """A still title card: the course title (read from ``title_file``, relative to ffmpeg's
    working folder, so no quoting of titles) centred on a dark blue ground."""
    w, h = size
    src = ffmpeg.input(f"color=c={CARD_COLOUR}:s={w}x{h}:r={fps}:d={duration_s:.3f}", f="lavfi").video
    return src.filter(
        "drawtext",
        fontfile=str(TITLE_FONT),
        textfile=title_file,
        expansion="none",
        fontcolor="white",
        fontsize=int(h * 0.09),
        x="(w-text_w)/2",
        y="(h-text_h)/2",
    ).filter(
        "drawtext",
        fontfile=str(TITLE_FONT),
        text="远教课程",
        fontcolor="0xf0c040",
        fontsize=int(h * 0.05),
        x="(w-text_w)/2",
        y=f"{int(h * 0.78)}",
    )


def card_text(title: str, size: tuple[int, int] = CARD_SIZE) -> str:
    """The title as it goes on the card: long titles are wrapped onto two lines."""
    per_line = int(size[0] * 0.9 // (size[1] * 0.09))
    if len(title) <= per_line:
        return title
    return (
        title[:per_line]
        + "\n"
        + (title[per_line : 2 * per_line - 1] + "…" if len(title) > 2 * per_line else title[per_line:])
    )


def measure_args(src: Path, channel_counts: list[int], target: Target) -> list[str]:
    """Pass 1: one decode of the audio, one loudnorm measurement per channel layout (each output
    has its own simple filter graph, and loudnorm prints its JSON in output order)."""
    args = ["ffmpeg", "-nostdin", "-v", "info", "-nostats", "-progress", "pipe:1", "-i", input_arg(src)]
    for ch in channel_counts:
        args += [
            "-map",
            "0:a:0",
            "-af",
            f"aformat=channel_layouts={_layout(ch)},{measure_filter(target)}",
            "-f",
            "null",
            "-",
        ]
    return args


def ladder_args(
    src: Path,
    outputs: list[tuple[Profile, Path]],
    info: MediaInfo,
    *,
    measured: dict[int, Measured] | None = None,
    title_file: str | None = None,
) -> list[str]:
    """Pass 2: one ffmpeg process making every ``(profile, dest)`` in ``outputs`` from one decode.

    ``measured``: loudness per channel count (from pass 1); None or a silent measurement leaves
    the level alone. ``title_file``: text file with the course title, for the card that audio-only
    sources get in video profiles."""
    inp = ffmpeg.input(input_arg(src))
    video_outs = [(p, d) for p, d in outputs if p.kind == "video" and p.video is not None]

    # Picture: one decode (and one deinterlace) split into each video profile's chain.
    pictures = []
    if video_outs:
        if info.has_video:
            base = inp.video
            if info.interlaced:
                base = base.filter("bwdif", mode="send_frame", parity="auto", deint="all")
            w, h, sar = info.width, info.height, info.sar
        else:
            if title_file is None:
                raise ValueError("an audio-only source needs a title card for video profiles")
            base = _card(info.duration_s, title_file)
            w, h, sar = CARD_SIZE[0], CARD_SIZE[1], Fraction(1)
        split = base.split() if len(video_outs) > 1 else None
        for i, (prof, _) in enumerate(video_outs):
            v = prof.video
            s = split[i] if split is not None else base
            fps = output_fps(prof, info) if info.has_video else None
            if fps:
                s = s.filter("fps", fps=fps)
            g = fit(w, h, sar, v.max_width, v.max_height, _aspect(v.frame_aspect))
            pictures.append(_frame(s, g, sar != 1))

    # Sound: one decode split into each profile's downmix + loudness chain.
    if info.has_audio:
        abase = inp.audio
    else:
        abase = ffmpeg.input(f"anullsrc=r=48000:cl=stereo:d={info.duration_s:.3f}", f="lavfi").audio
    asplit = abase.asplit() if len(outputs) > 1 else None
    outs = []
    vi = 0
    for i, (prof, dest) in enumerate(outputs):
        a = prof.audio
        s = asplit[i] if asplit is not None else abase
        s = s.filter("aformat", channel_layouts=_layout(a.channels))
        m = (measured or {}).get(a.channels)
        if info.has_audio and m is not None and not m.silent:
            target = Target(a.loudness_lufs, a.true_peak_dbtp)
            s = s.filter("loudnorm", **apply_filter_args(target, m))
        opts: dict = {
            "c:a": a.codec,
            "b:a": f"{a.bitrate_kbps}k",
            "ac": a.channels,
            "ar": a.sample_rate_hz,
            "movflags": "+faststart",
            "f": prof.container,
            "map_metadata": -1,
            "map_chapters": -1,
        }
        streams = [s]
        if prof.kind == "video" and prof.video is not None:
            v = prof.video
            streams.insert(0, pictures[vi])
            vi += 1
            opts.update(
                {
                    "c:v": v.codec,
                    "profile:v": v.h264_profile,
                    "level:v": v.h264_level,
                    "pix_fmt": "yuv420p",
                    "crf": v.crf,
                    "maxrate": f"{v.max_bitrate_kbps}k",
                    "bufsize": f"{2 * v.max_bitrate_kbps}k",
                    "preset": "veryfast",
                }
            )
            if not info.has_video:
                opts["tune"] = "stillimage"
        outs.append(ffmpeg.output(*streams, str(dest), **opts))
    return ffmpeg.merge_outputs(*outs).global_args(*GLOBAL).overwrite_output().compile()


def poster_args(
    src: Path, dest: Path, info: MediaInfo, *, skip_dark: bool = True, title_file: str | None = None
) -> list[str]:
    """A representative frame: from a quarter of the way in, frames brighter than black
    (``signalstats``), the most typical of 50 (``thumbnail``), fitted into the TV page's 16:9
    tile. Audio-only courses get their title card."""
    bw, bh = POSTER_BOX
    if info.has_video:
        seek = min(info.duration_s * 0.25, max(info.duration_s - 1, 0))
        s = ffmpeg.input(input_arg(src), ss=f"{seek:.2f}", t=60).video
        if info.interlaced:
            s = s.filter("bwdif", mode="send_frame", parity="auto", deint="all")
        if skip_dark:
            s = s.filter("signalstats").filter(
                "metadata", mode="select", key="lavfi.signalstats.YAVG", value=POSTER_MIN_LUMA, function="greater"
            )
        s = s.filter("thumbnail", 50)
        g = fit(info.width, info.height, info.sar, bw, bh, Fraction(16, 9), enlarge=True)
        s = _frame(s, g, info.sar != 1).filter("format", "yuvj420p")
    else:
        if title_file is None:
            raise ValueError("an audio-only source needs a title file for its poster")
        s = _card(1, title_file, size=POSTER_BOX, fps=1).filter("format", "yuvj420p")
    return (
        ffmpeg.output(s, str(dest), **{"frames:v": 1, "q:v": 5, "f": "image2", "update": 1})
        .global_args("-nostdin", "-v", "error")
        .overwrite_output()
        .compile()
    )
