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
from headend.repository.tree import Progress
from headend.service.audit import Actor, audit
from headend.service.root import Headend
from playlists import Notice, SecretKey


def publish(
    h: Headend, refresh: bool = False, actor: Actor | None = None, progress: Progress | None = None
) -> PublishResult:
    """The next signed repository version (``refresh``: the same playlists, a new expiry).
    Blocking; nothing changes on a refusal. ``progress(stage, done, total)`` hears how far it is."""
    try:
        res = (_refresh if refresh else _publish)(h.cfg, h.db, progress=progress)
    except OSError as exc:  # what the repository code did not foresee: still one line saying what to do
        where = exc.filename or h.cfg.root
        raise PublishError(
            f"cannot publish: {where}: {exc.strerror or exc}; check the data root's files and permissions, "
            "then publish again (the previous version stays published)"
        ) from exc
    detail = {"version": res.version, "courses": res.courses, "playlists": res.playlists}
    audit(h, actor, "repository.refresh" if refresh else "repository.publish", f"v{res.version}", detail)
    return res


def add_playlist(h: Headend, name: str, data: dict, actor: Actor | None = None) -> Path:
    path = _add_definition(h.cfg.root / "playlists", name, data, load_playlist)
    audit(h, actor, "playlist.write", name, {"title": data.get("title"), "items": len(data.get("items") or [])})
    return path


def add_notice(h: Headend, notice_id: str, data: dict, actor: Actor | None = None) -> Path:
    path = _add_definition(h.cfg.root / "notices", notice_id, data, load_notice)
    audit(h, actor, "notice.write", notice_id, {"title": data.get("title")})
    return path


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


def rotate(h: Headend, actor: Actor | None = None) -> tuple[SecretKey, SecretKey, Path]:
    """A new signing key announced under the current one: (old, new, the rotation file)."""
    old, new, rotation = rotate_key(h.cfg)
    audit(h, actor, "key.rotate", new.public_key.id_hex, {"replaces": old.public_key.id_hex})
    return old, new, rotation
