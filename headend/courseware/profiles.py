"""Which player profiles to transcode for (``[ingest] profiles``, ``profiles_file``), and the
poster's fixed "profile"."""

from __future__ import annotations

from headend.config import HeadendConfig
from headend.errors import IngestError
from players import Profile, ProfileError, load_profiles

POSTER_PROFILE = "poster"
POSTER_FINGERPRINT = "jpeg-480x270-v3"


def profiles_for(cfg: HeadendConfig) -> list[Profile]:
    if cfg.profiles_file is None:
        profiles = load_profiles()
    else:
        try:
            profiles = load_profiles(cfg.profiles_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise IngestError(
                f"{cfg.profiles_file}: cannot read the player profiles ({exc.strerror}); fix [ingest] profiles_file"
            ) from exc
        except (ValueError, ProfileError) as exc:
            raise IngestError(f"{cfg.profiles_file}: {exc}") from exc
    if not cfg.profiles:
        return list(profiles.values())
    missing = [p for p in cfg.profiles if p not in profiles]
    if missing:
        raise IngestError(f"headend.toml [ingest] profiles names unknown profiles {missing}; known: {sorted(profiles)}")
    return [profiles[p] for p in cfg.profiles]
