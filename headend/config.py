"""The headend's data root and its ``headend.toml``, loaded once into a typed dataclass.

Layout of a data root::

    headend.toml        settings (written by `headend init`, documented in README.md)
    headend.db          SQLite: catalogue, renditions, stations, published versions
    keys/headend.key    minisign secret key (mode 0600) — never published
    keys/headend.pub    minisign public key — give it to stations
    media/ab/<sha>.mp4  transcoded renditions and posters, named by sha256 (the blob store)
    playlists/*.toml    playlists as county staff define them (see headend.programming)
    notices/*.toml      notices (活动通知)
    published/          every playlist and rotation file ever published, with signatures
    trees/v<N>/         repository version N: hard links, built aside, then switched to
    repo -> trees/v<N>  the published static tree (a symlink switched atomically; serve it)
    work/               temporary transcoding output
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from headend.errors import ConfigError

CONFIG_NAME = "headend.toml"
KEY_NAME = "headend"

DEFAULT_CONFIG = """\
# yuanjiao headend settings (documented in README.md)
[publish]
index_expiry_days = 7          # stations refuse an index older than this: re-publish (or --refresh) before
playlist_title = "全部课程"      # title of the playlist that carries every course
all_courses_playlist = true    # publish that playlist (to every station) besides playlists/*.toml
grace_days = 3                 # old playlists and media stay published this long for stations mid-sync

[ingest]
max_duration_s = 14400         # longest courseware accepted (4 h)
profiles = []                  # player profiles to transcode for; empty = every profile in players/
profiles_file = ""             # player profiles file; empty = players/profiles.toml shipped with yuanjiao
concurrent_jobs = 1            # transcoding jobs run at once (1 on a 2-core box)
ladder = "one-process"         # "one-process": one decode feeds every rendition; "per-profile": one ffmpeg each

[watch]
settle_s = 10                  # a file dropped into inbox/ is taken once its size has not changed for this long
default_category = "culture"   # category of a dropped file whose sidecar gives none (editors fix it on /county/courses)

[serve]
host = "127.0.0.1"
port = 8700
"""


@dataclass(frozen=True)
class HeadendConfig:
    root: Path
    index_expiry_days: float
    playlist_title: str
    all_courses_playlist: bool
    grace_days: float
    max_duration_s: float
    profiles: tuple[str, ...]  # empty: all
    host: str
    port: int
    concurrent_jobs: int = 1
    profiles_file: Path | None = None  # None: the bundled players/profiles.toml
    ladder: str = "one-process"  # or "per-profile"
    watch_settle_s: float = 10.0
    watch_default_category: str = "culture"

    @property
    def db_path(self) -> Path:
        return self.root / "headend.db"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def secret_key_path(self) -> Path:
        return self.keys_dir / f"{KEY_NAME}.key"

    @property
    def public_key_path(self) -> Path:
        return self.keys_dir / f"{KEY_NAME}.pub"

    @property
    def media_dir(self) -> Path:
        return self.root / "media"

    @property
    def repo_dir(self) -> Path:
        return self.root / "repo"

    @property
    def trees_dir(self) -> Path:
        return self.root / "trees"

    @property
    def published_dir(self) -> Path:
        return self.root / "published"

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    @property
    def inbox_dir(self) -> Path:
        return self.root / "inbox"


def load_config(root: str | Path) -> HeadendConfig:
    root = Path(root).resolve()
    path = root / CONFIG_NAME
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{root}: not a headend data root (no {CONFIG_NAME}); run `headend init --root {root}` first") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    pub, ing, srv = data.get("publish", {}), data.get("ingest", {}), data.get("serve", {})
    wat = data.get("watch", {})
    try:
        cfg = HeadendConfig(
            root=root,
            index_expiry_days=float(pub.get("index_expiry_days", 7)),
            playlist_title=str(pub.get("playlist_title", "全部课程")),
            all_courses_playlist=bool(pub.get("all_courses_playlist", True)),
            grace_days=float(pub.get("grace_days", 3)),
            max_duration_s=float(ing.get("max_duration_s", 14400)),
            profiles=tuple(str(p) for p in ing.get("profiles", [])),
            host=str(srv.get("host", "127.0.0.1")),
            port=int(srv.get("port", 8700)),
            concurrent_jobs=int(ing.get("concurrent_jobs", 1)),
            profiles_file=(root / str(ing["profiles_file"])) if ing.get("profiles_file") else None,
            ladder=str(ing.get("ladder", "one-process")),
            watch_settle_s=float(wat.get("settle_s", 10)),
            watch_default_category=str(wat.get("default_category", "culture")),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if cfg.index_expiry_days <= 0:
        raise ConfigError(f"{path}: [publish] index_expiry_days must be positive")
    if cfg.ladder not in ("one-process", "per-profile"):
        raise ConfigError(f"{path}: [ingest] ladder must be \"one-process\" or \"per-profile\", not {cfg.ladder!r}")
    if not 1 <= cfg.concurrent_jobs <= 16:
        raise ConfigError(f"{path}: [ingest] concurrent_jobs must be 1 to 16")
    if cfg.watch_settle_s < 0:
        raise ConfigError(f"{path}: [watch] settle_s must be 0 or more seconds")
    return cfg
