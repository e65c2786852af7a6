"""Repository actions: publish (or only re-sign the index), write a playlist or notice file and
check it loads, list them, rotate the signing key."""

from __future__ import annotations

from pathlib import Path

from headend.config import HeadendConfig
from headend.errors import HeadendError, PublishError
from headend.repository.keys import rotate_key
from headend.repository.programming import PlaylistDef, load_all, load_notice, load_playlist, write_definition
from headend.repository.publish import PublishResult
from headend.repository.publish import publish as _publish
from headend.repository.publish import refresh as _refresh
from headend.service.root import Headend
from playlists import Notice, SecretKey


def publish(h: Headend, refresh: bool = False) -> PublishResult:
    """The next signed repository version (``refresh``: the same playlists, a new expiry).
    Blocking; nothing changes on a refusal."""
    try:
        return (_refresh if refresh else _publish)(h.cfg, h.db)
    except OSError as exc:  # what the repository code did not foresee: still one line saying what to do
        where = exc.filename or h.cfg.root
        raise PublishError(
            f"cannot publish: {where}: {exc.strerror or exc}; check the data root's files and permissions, "
            "then publish again (the previous version stays published)"
        ) from exc


def add_playlist(cfg: HeadendConfig, name: str, data: dict) -> Path:
    return _add_definition(cfg.root / "playlists", name, data, load_playlist)


def add_notice(cfg: HeadendConfig, notice_id: str, data: dict) -> Path:
    return _add_definition(cfg.root / "notices", notice_id, data, load_notice)


def _add_definition(folder: Path, name: str, data: dict, loader) -> Path:
    """Write the TOML file, check it loads, or take it back (PublishError says what is wrong)."""
    path = write_definition(folder, name, data)
    try:
        loader(path)
    except HeadendError:
        path.unlink()
        raise
    return path


def programming(cfg: HeadendConfig) -> tuple[list[PlaylistDef], list[Notice]]:
    """Every playlist and notice file, checked (PublishError names a broken one)."""
    return load_all(cfg.root)


def rotate(cfg: HeadendConfig) -> tuple[SecretKey, SecretKey, Path]:
    """A new signing key announced under the current one: (old, new, the rotation file)."""
    return rotate_key(cfg)
