"""Repository actions: publish (or only re-sign the index), write a playlist or notice file and
check it loads (a notice is a draft until reviewed and signed off: ``headend.service.notices``),
list them, rotate the signing key."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from headend.config import HeadendConfig
from headend.db import Database
from headend.errors import HeadendError, PublishError
from headend.repository.keys import rotate_key
from headend.repository.programming import (
    PlaylistDef,
    load_notice_files,
    load_playlist,
    load_playlists,
    write_definition,
)
from headend.repository.publish import PublishResult
from headend.repository.publish import publish as _publish
from headend.repository.publish import refresh as _refresh
from headend.repository.review import signed_notices
from headend.repository.tree import Progress
from headend.service.audit import Actor, audit
from headend.service.notices import draft_notice
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
    """A new notice file, a draft (草稿) until reviewed and signed off (``headend.service.notices``)."""
    return draft_notice(h, notice_id, data, actor)


def _add_definition(folder: Path, name: str, data: dict, loader) -> Path:
    """Write the TOML file, check it loads, or take it back (PublishError says what is wrong)."""
    path = write_definition(folder, name, data)
    try:
        loader(path)
    except HeadendError:
        path.unlink()
        raise
    return path


def programming(cfg: HeadendConfig, db: Database | None = None) -> tuple[list[PlaylistDef], list[Notice]]:
    """Every playlist file and the notices a publish sends (those signed off), all files checked
    (PublishError names a broken one). Without ``db`` it opens the data root's database for the
    call; pass ``h.db`` where one is open."""
    if db is None:
        with closing(Database.open(cfg.database_url, cfg.db_path)) as own:
            return programming(cfg, own)
    return load_playlists(cfg.root), signed_notices(load_notice_files(cfg.root), db.notice_reviews.all())


def rotate(h: Headend, actor: Actor | None = None) -> tuple[SecretKey, SecretKey, Path]:
    """A new signing key announced under the current one: (old, new, the rotation file)."""
    old, new, rotation = rotate_key(h.cfg)
    audit(h, actor, "key.rotate", new.public_key.id_hex, {"replaces": old.public_key.id_hex})
    return old, new, rotation
