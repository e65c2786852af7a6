"""A live class's HLS as pure functions (the live counterpart of ``recipe``): the source, one
rendition per player profile, the ffmpeg command, the master playlist, the recording's join, and
which files a station may fetch. Nothing here touches a file or runs a process; ``live`` does.

ONE ffmpeg process decodes the source once and splits the picture into each video profile's chain
(fps cap, square pixels, fitted inside the profile's frame of ``frame_aspect`` with black bars,
never a stretch; H.264 ``veryfast``/``zerolatency`` capped at the profile's bitrate, a keyframe at
every segment boundary) and the sound into each profile's chain (downmix, loudness normalised on
the fly, resample), each into its own HLS muxer. Audio
profiles get no picture. A live picture has no fixed size, so each variant has a fixed frame (the
largest ``frame_aspect`` box inside max_width×max_height) and the source is scaled into it (up as
well as down, unlike ingest). Segments are MPEG-TS, ``seg-00001.ts`` on, written whole
(``temp_file``); playlists keep a live window of ``LIST_SIZE`` and never say #EXT-X-ENDLIST
themselves (``omit_endlist``: a player keeps polling through a drop).

The live loudness: ``dynaudnorm`` with its target RMS at the profile's loudness target and its
peaks at the true-peak ceiling, over frames of ``LIVE_NORM_FRAME_MS`` smoothed across
``LIVE_NORM_FRAMES``: a gain that follows the lecturer within half a second, holding the sound
back a few hundred milliseconds. Single-pass ``loudnorm`` (what ingest measures with) looks 3 s
ahead, which made every TV 3 s later (``make bench``: the headend's live edge 4.5 s old with it,
1.7 s with this; the TV 8.5–10.5 s behind the studio, then 7.7 s); a recording made from the
segments is normalised again, exactly, when ingest makes it the replay.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import ffmpeg

from catalogue.ids import ID_RULE, is_id
from headend.courseware.media import input_arg
from headend.courseware.recipe import fit
from headend.errors import BadRequest
from players import Profile

SEGMENT_S_CHOICES = (2, 3, 4)
LIST_SIZE = 6  # segments in a playlist's live window
LIVE_NORM_FRAME_MS = 100  # dynaudnorm's frame
LIVE_NORM_FRAMES = 5  # frames its gain is smoothed over (odd): half a second
LIVE_MAX_GAIN = 20.0  # at most +26 dB: a quiet microphone, not the hiss between sentences
LIVE_QUIET = 10 ** (-60 / 20)  # frames below -60 dBFS (silence) are not raised
SEGMENT_NAME = "seg-%05d.ts"
SEGMENT_RE = re.compile(r"seg-(\d{5,9})\.ts\Z")
MASTER, INDEX, RECORDING = "master.m3u8", "index.m3u8", "recording.ts"
GLOBAL = ("-nostdin", "-v", "warning", "-nostats")

# What a station may fetch from live/<ID>/: the master, a profile's playlist, its segments.
_SERVED = re.compile(r"(?:master\.m3u8|[a-z0-9][a-z0-9-]{0,63}/(?:index\.m3u8|seg-\d{5,9}\.ts))\Z")
PLAYLIST_TYPE, SEGMENT_TYPE = "application/vnd.apple.mpegurl", "video/mp2t"
_H264 = {"baseline": "42e0", "main": "4d40", "high": "6400"}  # profile_idc + constraint flags, for CODECS


def check_live_id(live_id: object) -> str:
    """The id, if it has the one id shape (``catalogue.ids``); BadRequest otherwise, so no id can
    name a path outside ``<root>/live/``."""
    if not is_id(live_id):
        raise BadRequest(f"live class id {str(live_id)[:80]!r} is not an id: {ID_RULE}", field="id")
    return str(live_id)


def served_type(rel: str) -> str | None:
    """The content type of a file a station may fetch from ``live/<ID>/`` (``master.m3u8``,
    ``<profile>/index.m3u8``, ``<profile>/seg-NNNNN.ts``); None for any other path."""
    if not _SERVED.match(rel):
        return None
    return PLAYLIST_TYPE if rel.endswith(".m3u8") else SEGMENT_TYPE


@dataclass(frozen=True)
class LiveSource:
    """``listen``: an rtmp:// or srt:// address ffmpeg listens on for the studio's encoder (OBS);
    ``file``: a file read at its own pace (``-re``); ``lavfi``: an ffmpeg test source."""

    kind: str
    target: str

    def __str__(self) -> str:
        return f"lavfi:{self.target}" if self.kind == "lavfi" else self.target


def parse_source(text: str) -> LiveSource:
    """``rtmp://HOST:PORT/APP/KEY`` and ``srt://HOST:PORT`` (listened on), ``lavfi:GRAPH``, or a
    file path; BadRequest for any other URL."""
    text = text.strip()
    if not text:
        raise BadRequest("--input is empty: give rtmp://HOST:PORT/live/KEY, srt://HOST:PORT or a file", field="input")
    if text.startswith("lavfi:"):
        return LiveSource("lavfi", text.removeprefix("lavfi:"))
    if "://" not in text:
        return LiveSource("file", text)
    url = urlsplit(text)
    scheme = url.scheme.lower()
    if scheme == "rtmp" and url.hostname and url.path.strip("/"):
        return LiveSource("listen", text)
    if scheme == "srt" and url.hostname and url.port:
        query = dict(parse_qsl(url.query))
        query["mode"] = "listener"
        return LiveSource("listen", urlunsplit((url.scheme, url.netloc, url.path, urlencode(query), "")))
    raise BadRequest(
        f"--input {text[:200]}: not a live source this headend can take; give rtmp://HOST:PORT/live/KEY "
        "(the studio's OBS publishes to it), srt://HOST:PORT, or a file",
        field="input",
    )


@dataclass(frozen=True)
class Rendition:
    profile: Profile
    width: int = 0  # the fixed frame; 0 for audio profiles
    height: int = 0
    fps: int = 0

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def has_video(self) -> bool:
        return self.width > 0

    @property
    def bandwidth_bps(self) -> int:
        """Peak bits per second, with ~10 % for MPEG-TS packaging."""
        kbps = self.profile.audio.bitrate_kbps + (self.profile.video.max_bitrate_kbps if self.has_video else 0)
        return int(kbps * 1000 * 1.1)

    @property
    def codecs(self) -> str:
        aac = "mp4a.40.2"
        if not self.has_video:
            return aac
        v = self.profile.video
        level = round(float(v.h264_level) * 10)
        return f"avc1.{_H264.get(v.h264_profile, '4d40')}{level:02x},{aac}"


def plan(profiles: list[Profile]) -> list[Rendition]:
    """One rendition per profile, video first (largest first): a video profile's frame is the
    largest ``frame_aspect`` box inside its max_width×max_height (stb-sd: 720×404)."""
    out = []
    for p in profiles:
        if p.kind == "video" and p.video is not None:
            v = p.video
            w, _, h = (v.frame_aspect or f"{v.max_width}:{v.max_height}").partition(":")
            g = fit(int(w), int(h), Fraction(1), v.max_width, v.max_height, None, enlarge=True)
            out.append(Rendition(p, g.content_w, g.content_h, v.max_fps))
        else:
            out.append(Rendition(p))
    return sorted(out, key=lambda r: -(r.width * r.height))


def best(renditions: list[Rendition]) -> Rendition:
    """The rendition the recording keeps: the largest picture (sound only if there is none)."""
    return max(renditions, key=lambda r: (r.width * r.height, r.bandwidth_bps))


def master_playlist(renditions: list[Rendition]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in renditions:
        info = f'BANDWIDTH={r.bandwidth_bps},CODECS="{r.codecs}"'
        if r.has_video:
            info += f",RESOLUTION={r.width}x{r.height},FRAME-RATE={r.fps:.3f}"
        lines += [f"#EXT-X-STREAM-INF:{info}", f"{r.name}/{INDEX}"]
    return "\n".join(lines) + "\n"


def _input(source: LiveSource):
    if source.kind == "listen":  # rtmp:// needs -listen 1; srt:// carries mode=listener in its URL
        return ffmpeg.input(source.target, **({"listen": 1} if source.target.lower().startswith("rtmp") else {}))
    if source.kind == "lavfi":
        return ffmpeg.input(source.target, f="lavfi", re=None)
    return ffmpeg.input(input_arg(Path(source.target)), re=None)  # -re: a file plays at its own pace


def _picture(stream, r: Rendition):
    """Frame-rate cap, square pixels, fitted inside the fixed frame, black bars around it."""
    return (
        stream.filter("fps", fps=r.fps)
        .filter("scale", "iw*sar", "ih")
        .filter("setsar", 1)
        .filter("scale", r.width, r.height, force_original_aspect_ratio="decrease", force_divisible_by=2)
        .filter("pad", r.width, r.height, "(ow-iw)/2", "(oh-ih)/2", color="black")
        .filter("setsar", 1)
        .filter("format", "yuv420p")
    )


def live_args(
    source: LiveSource, renditions: list[Rendition], out_dir: Path, segment_s: int, resume: Mapping[str, int]
) -> list[str]:
    """One ffmpeg process: the source decoded once, an HLS output per rendition in
    ``out_dir/<profile>/``. ``resume``: per profile, 0 to go on from its playlist (``append_list``,
    so ffmpeg continues its numbering and marks the join), else the first segment number of a new
    playlist."""
    if segment_s not in SEGMENT_S_CHOICES:
        raise BadRequest(f"segment length {segment_s} s: choose 2, 3 or 4 seconds", field="segment_s")
    inp = _input(source)
    video = [r for r in renditions if r.has_video]
    vsplit = inp.video.split() if len(video) > 1 else None
    asplit = inp.audio.asplit() if len(renditions) > 1 else None
    outs, vi = [], 0
    for i, r in enumerate(renditions):
        a = r.profile.audio
        sound = (asplit[i] if asplit is not None else inp.audio).filter(
            "aformat", channel_layouts="mono" if a.channels == 1 else "stereo"
        )
        sound = sound.filter(
            "dynaudnorm",
            f=LIVE_NORM_FRAME_MS,
            g=LIVE_NORM_FRAMES,
            p=round(10 ** (a.true_peak_dbtp / 20), 4),
            r=round(10 ** (a.loudness_lufs / 20), 4),
            m=LIVE_MAX_GAIN,
            t=round(LIVE_QUIET, 6),
        ).filter("aresample", a.sample_rate_hz)
        flags = "independent_segments+temp_file+omit_endlist+program_date_time"
        opts: dict = {
            "c:a": a.codec,
            "b:a": f"{a.bitrate_kbps}k",
            "ac": a.channels,
            "ar": a.sample_rate_hz,
            "f": "hls",
            "hls_time": segment_s,
            "hls_list_size": LIST_SIZE,
            "hls_segment_type": "mpegts",
            "hls_segment_filename": str(out_dir / r.name / SEGMENT_NAME),
            "map_metadata": -1,
        }
        if resume.get(r.name, 1) == 0:
            flags += "+append_list"
        else:
            opts["start_number"] = resume.get(r.name, 1)
        opts["hls_flags"] = flags
        streams = [sound]
        if r.has_video:
            v = r.profile.video
            streams.insert(0, _picture(vsplit[vi] if vsplit is not None else inp.video, r))
            vi += 1
            gop = r.fps * segment_s
            opts.update(
                {
                    "c:v": v.codec,
                    "profile:v": v.h264_profile,
                    "level:v": v.h264_level,
                    "pix_fmt": "yuv420p",
                    "preset": "veryfast",
                    "tune": "zerolatency",
                    "crf": v.crf,
                    "maxrate": f"{v.max_bitrate_kbps}k",
                    "bufsize": f"{v.max_bitrate_kbps}k",
                    "g": gop,
                    "keyint_min": gop,
                    "sc_threshold": 0,
                    "force_key_frames": f"expr:gte(t,n_forced*{segment_s})",
                }
            )
        outs.append(ffmpeg.output(*streams, str(out_dir / r.name / INDEX), **opts))
    return ffmpeg.merge_outputs(*outs).global_args(*GLOBAL).overwrite_output().compile()


def recording_args(list_file: Path, dest: Path) -> list[str]:
    """Join the segments an ffconcat list names into one MPEG-TS file, as they are (no re-encode)."""
    return [
        "ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "concat", "-i", str(list_file),
        "-map", "0", "-c", "copy", "-f", "mpegts", str(dest),
    ]  # fmt: skip


def concat_list(names: list[str]) -> str:
    return "ffconcat version 1.0\n" + "".join(f"file '{n}'\n" for n in names)
