"""Load and validate the player profiles in ``profiles.toml``."""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

PROFILES_FILE = Path(__file__).with_name("profiles.toml")


class ProfileError(ValueError):
    """A profile definition is missing a field or has a wrong value, or a name is unknown."""


@dataclass(frozen=True)
class VideoSpec:
    codec: str
    h264_profile: str
    h264_level: str
    max_width: int
    max_height: int
    max_fps: int
    max_bitrate_kbps: int
    crf: int
    frame_aspect: str = ""  # e.g. "16:9": 4:3, anamorphic and portrait sources are padded to it, never stretched


@dataclass(frozen=True)
class AudioSpec:
    codec: str
    channels: int
    bitrate_kbps: int
    sample_rate_hz: int
    loudness_lufs: float = -23.0  # EBU R128 integrated loudness every rendition is normalised to
    true_peak_dbtp: float = -1.5


@dataclass(frozen=True)
class Profile:
    name: str
    label: str
    kind: str  # "video" or "audio"
    container: str
    mime: str
    extension: str
    audio: AudioSpec
    video: VideoSpec | None = None

    @property
    def fingerprint(self) -> str:
        """A short hash of the definition: renditions are keyed by (source sha256, fingerprint),
        so changing a profile redoes only that profile."""
        body = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(body).hexdigest()[:16]


def _build(name: str, table: dict) -> Profile:
    where = f"{PROFILES_FILE.name} [{name}]"
    try:
        audio = AudioSpec(**table["audio"])
        video = VideoSpec(**table["video"]) if "video" in table else None
        prof = Profile(
            name=name,
            label=str(table["label"]),
            kind=str(table["kind"]),
            container=str(table["container"]),
            mime=str(table["mime"]),
            extension=str(table["extension"]),
            audio=audio,
            video=video,
        )
    except KeyError as exc:
        raise ProfileError(f"{where}: missing key {exc.args[0]!r}") from exc
    except TypeError as exc:
        raise ProfileError(f"{where}: {exc}") from exc
    if prof.kind not in ("video", "audio"):
        raise ProfileError(f"{where}: kind must be 'video' or 'audio', not {prof.kind!r}")
    if prof.kind == "video" and prof.video is None:
        raise ProfileError(f"{where}: a video profile needs a [{name}.video] table")
    if prof.video is not None and prof.video.frame_aspect:
        w, _, h = prof.video.frame_aspect.partition(":")
        if not (w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
            raise ProfileError(f'{where}: video.frame_aspect must look like "16:9", not {prof.video.frame_aspect!r}')
    if prof.audio.channels not in (1, 2):
        raise ProfileError(f"{where}: audio.channels must be 1 (mono) or 2 (stereo)")
    if not -40 <= prof.audio.loudness_lufs <= -5:
        raise ProfileError(f"{where}: audio.loudness_lufs must be between -40 and -5 (EBU R128 is -23)")
    return prof


def load_profiles(text: str | None = None) -> dict[str, Profile]:
    """Parse profile definitions (the bundled file when ``text`` is None)."""
    if text is None:
        return dict(_bundled())
    data = tomllib.loads(text)
    return {name: _build(name, table) for name, table in data.items()}


@lru_cache(maxsize=1)
def _bundled() -> tuple[tuple[str, Profile], ...]:
    data = tomllib.loads(PROFILES_FILE.read_text(encoding="utf-8"))
    return tuple((name, _build(name, table)) for name, table in data.items())


def profile(name: str) -> Profile:
    """The bundled profile called ``name``; ProfileError lists the known names otherwise."""
    profiles = load_profiles()
    try:
        return profiles[name]
    except KeyError:
        known = ", ".join(sorted(profiles))
        raise ProfileError(f"unknown player profile {name!r}; known profiles: {known}") from None
