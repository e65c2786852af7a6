"""Which player profiles to transcode for (``[ingest] profiles``, ``profiles_file``), and the
poster's fixed "profile"."""

from __future__ import annotations

from headend.config import HeadendConfig, selected_profiles
from headend.errors import ConfigError, IngestError
from players import Profile

POSTER_PROFILE = "poster"
POSTER_FINGERPRINT = "jpeg-480x270-v3"


def profiles_for(cfg: HeadendConfig) -> list[Profile]:
    """Checked when headend.toml was loaded; read again here, since the profiles file may have
    changed since (IngestError then: the job fails saying which setting to fix)."""
    try:
        return selected_profiles(cfg)
    except ConfigError as exc:
        raise IngestError(str(exc)) from exc
