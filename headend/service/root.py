"""A data root, opened: its config and its database (migrated on open), and ``init_root``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from catalogue.rubric import DEFAULT_RUBRIC, RUBRIC_NAME
from headend.config import CONFIG_NAME, DEFAULT_CONFIG, HeadendConfig, load_config
from headend.courseware.ingest import Ingester
from headend.db import Database
from headend.errors import ConfigError
from headend.repository.keys import install_key
from playlists import SecretKey
from playlists.atomic import atomic_write

ROOT_DIRS = ("keys", "media", "work", "inbox", "playlists", "notices", "evidence")


@dataclass
class Headend:
    cfg: HeadendConfig
    db: Database
    ingester: Ingester = field(init=False)

    def __post_init__(self) -> None:
        self.ingester = Ingester(self.cfg, self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Headend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_root(root: str | Path) -> Headend:
    """The data root's config (checked strictly) and its database (migrated once)."""
    return open_headend(load_config(root))


def open_headend(cfg: HeadendConfig) -> Headend:
    """The database of an already loaded config (migrated once)."""
    try:
        return Headend(cfg, Database.open(cfg.database_url, cfg.db_path))
    except ConfigError as exc:  # [database] url is wrong: say in which file
        raise ConfigError(f"{cfg.root / CONFIG_NAME}: {exc}") from exc


@dataclass(frozen=True)
class InitResult:
    root: Path
    key_id: str
    new_key: bool
    public_key_path: Path
    secret_key_path: Path


def default_config(database_url: str = "") -> str:
    if not database_url:
        return DEFAULT_CONFIG
    return DEFAULT_CONFIG.replace('url = ""', f"url = {json.dumps(database_url, ensure_ascii=False)}", 1)


def init_root(root: str | Path, database_url: str | None = None) -> InitResult:
    """Create (or complete) a data root: folders, headend.toml, a signing key, the database."""
    root = Path(root).resolve()
    cfg_path = root / CONFIG_NAME
    try:
        root.mkdir(parents=True, exist_ok=True)
        for sub in ROOT_DIRS:
            (root / sub).mkdir(exist_ok=True)
        if not cfg_path.exists():
            atomic_write(cfg_path, default_config(database_url or "").encode())
        if not (root / RUBRIC_NAME).exists():  # the star-rating rubric, for county staff to adapt
            atomic_write(root / RUBRIC_NAME, DEFAULT_RUBRIC.encode())
    except OSError as exc:
        raise ConfigError(
            f"{exc.filename or root}: cannot create the data root there ({exc.strerror or exc}); "
            "choose a folder you may write to, e.g. --root /srv/yuanjiao/headend"
        ) from exc
    cfg = load_config(root)
    if database_url is not None and database_url != cfg.database_url:
        raise ConfigError(
            f"{cfg_path} exists with [database] url = {cfg.database_url!r}; change it there, not with --database-url"
        )
    key = None
    if not cfg.secret_key_path.exists():
        key = SecretKey.generate()
        try:
            install_key(cfg, key)
        except OSError as exc:
            raise ConfigError(
                f"{cfg.keys_dir}: cannot write the signing key ({exc.strerror or exc}); check its mode"
            ) from exc
    Database.open(cfg.database_url, cfg.db_path).close()
    return InitResult(
        root, key.public_key.id_hex if key else "", key is not None, cfg.public_key_path, cfg.secret_key_path
    )
