"""Player profiles: what each kind of box plays, and so which renditions the headend makes.

Pure data and a loader; no I/O beyond reading the bundled TOML once.
"""

from players.profiles import AudioSpec, Profile, ProfileError, VideoSpec, load_profiles, profile

__all__ = ["AudioSpec", "Profile", "ProfileError", "VideoSpec", "load_profiles", "profile"]
