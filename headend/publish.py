"""Publish: the catalogue → a signed static repository tree under ``<root>/repo/``.

Order of writes (each atomic: temp file, fsync, rename): media (hard links into the tree),
the new immutable playlist and its signature, the public key, then the index signature and the
index last. Media and playlists never change once written, so a mirror mid-update serves the old
index with old files or the new index with files that are all there already.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from catalogue import Course
from headend.config import HeadendConfig
from headend.db import Database
from headend.errors import ConfigError, PublishError
from headend.ingest import POSTER_FINGERPRINT, POSTER_PROFILE, profiles_for
from playlists import (
    INDEX_NAME,
    CourseEntry,
    FileRef,
    Index,
    Playlist,
    PlaylistRef,
    SecretKey,
    SignatureError,
    sign_repository_file,
)
from playlists.atomic import atomic_write, fsync_dir
from playlists.times import utc_iso

log = logging.getLogger(__name__)

ALL_PLAYLIST = "all"


@dataclass(frozen=True)
class PublishResult:
    version: int
    courses: int
    skipped: list[str]  # course ids left out, with why
    expires: datetime
    index_path: Path


def load_secret_key(cfg: HeadendConfig) -> SecretKey:
    path = cfg.secret_key_path
    try:
        return SecretKey.from_text(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: signing key missing; restore it from backup or run `headend init` on a new root") from None
    except OSError as exc:
        raise ConfigError(f"{path}: signing key unreadable ({exc.strerror}); check its owner and mode 0600") from exc
    except SignatureError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _link_into_repo(cfg: HeadendConfig, rel: str) -> None:
    src = cfg.root / rel
    dest = cfg.repo_dir / rel
    if dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, dest)
    fsync_dir(dest.parent)


def _entry(cfg: HeadendConfig, db: Database, course: Course, profile_fps: dict[str, str]) -> CourseEntry | None:
    renditions = {}
    for name, fp in profile_fps.items():
        row = db.rendition(course.source_sha256, name, fp)
        if row is None or not (cfg.root / row["path"]).is_file():
            return None
        renditions[name] = FileRef(path=row["path"], sha256=row["sha256"], size=row["size"], mime=row["mime"])
    prow = db.rendition(course.source_sha256, POSTER_PROFILE, POSTER_FINGERPRINT)
    poster = None
    if prow is not None and (cfg.root / prow["path"]).is_file():
        poster = FileRef(path=prow["path"], sha256=prow["sha256"], size=prow["size"], mime=prow["mime"])
    return CourseEntry(course=course, poster=poster, renditions=renditions)


def publish(cfg: HeadendConfig, db: Database, now: datetime | None = None) -> PublishResult:
    """Write the next signed repository version. Blocking (run it in a thread from async code)."""
    key = load_secret_key(cfg)
    now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    last = db.last_publication()
    version = (last["version"] if last else 0) + 1
    profile_fps = {p.name: p.fingerprint for p in profiles_for(cfg)}

    entries, skipped = [], []
    for course in db.courses():
        entry = _entry(cfg, db, course, profile_fps)
        if entry is None:
            skipped.append(f"{course.id} ({course.title}): a rendition is missing; ingest its file again")
            continue
        entries.append(entry)

    try:
        for entry in entries:
            for ref in [*entry.renditions.values(), *([entry.poster] if entry.poster else [])]:
                _link_into_repo(cfg, ref.path)

        playlist = Playlist(name=ALL_PLAYLIST, version=version, title=cfg.playlist_title, courses=tuple(entries))
        pl_bytes = playlist.to_bytes()
        pl_path = cfg.repo_dir / playlist.path
        atomic_write(pl_path.with_name(pl_path.name + ".minisig"), sign_repository_file(key, playlist.path, pl_bytes, version, now))
        atomic_write(pl_path, pl_bytes)
        atomic_write(cfg.repo_dir / "keys" / cfg.public_key_path.name, cfg.public_key_path.read_bytes())

        expires = now + timedelta(days=cfg.index_expiry_days)
        index = Index(
            version=version,
            timestamp=now,
            expires=expires,
            playlists=(
                PlaylistRef(
                    name=ALL_PLAYLIST, version=version, title=cfg.playlist_title,
                    file=FileRef(path=playlist.path, sha256=hashlib.sha256(pl_bytes).hexdigest(), size=len(pl_bytes), mime="application/json"),
                ),
            ),
        )
        idx_bytes = index.to_bytes()
        atomic_write(cfg.repo_dir / (INDEX_NAME + ".minisig"), sign_repository_file(key, INDEX_NAME, idx_bytes, version, now))
        atomic_write(cfg.repo_dir / INDEX_NAME, idx_bytes)
    except OSError as exc:
        raise PublishError(f"cannot write the repository under {cfg.repo_dir} ({exc}); the previous version stays published") from exc
    db.add_publication(version, utc_iso(now), utc_iso(expires), hashlib.sha256(idx_bytes).hexdigest(), len(entries))
    log.info("published version %d: %d courses, expires %s", version, len(entries), utc_iso(expires))
    return PublishResult(version=version, courses=len(entries), skipped=skipped, expires=expires, index_path=cfg.repo_dir / INDEX_NAME)
