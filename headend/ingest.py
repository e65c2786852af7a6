"""Ingest: courseware file → validated course + one rendition per player profile + a poster.

Validation happens before any transcoding (readable, has a stream, sane duration, known category,
a title), so a refusal changes nothing. Renditions are keyed by (source sha256, profile
fingerprint): ingesting the same file again starts no ffmpeg process.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from catalogue import CatalogueError, Course, UnknownCategory, course_id_for
from catalogue.categories import find_category
from headend.config import HeadendConfig
from headend.db import Database
from headend.errors import IngestError
from headend.media import MediaInfo, poster_args, probe, rendition_args, run_ffmpeg
from players import Profile, ProfileError, load_profiles
from playlists import media_path
from playlists.atomic import atomic_move

log = logging.getLogger(__name__)

POSTER_PROFILE = "poster"
POSTER_FINGERPRINT = f"jpeg-w{480}-v1"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


@dataclass
class IngestResult:
    course: Course
    transcoded: list[str] = field(default_factory=list)  # profiles made this time
    reused: list[str] = field(default_factory=list)  # profiles found already made


def profiles_for(cfg: HeadendConfig) -> list[Profile]:
    profiles = load_profiles()
    if not cfg.profiles:
        return list(profiles.values())
    missing = [p for p in cfg.profiles if p not in profiles]
    if missing:
        raise IngestError(f"headend.toml [ingest] profiles names unknown profiles {missing}; known: {sorted(profiles)}")
    return [profiles[p] for p in cfg.profiles]


class Ingester:
    def __init__(self, cfg: HeadendConfig, db: Database) -> None:
        self.cfg = cfg
        self.db = db

    async def ingest(self, src: Path, title: str | None, category: str, description: str = "") -> IngestResult:
        src = Path(src)
        name = src.name
        if not src.is_file():
            raise IngestError(f"{name}: no such file ({src})")
        if src.stat().st_size == 0:
            raise IngestError(f"{name}: the file is empty (0 bytes); copy it again from the source")
        if find_category(category) is None:
            raise IngestError(f"{name}: {UnknownCategory.describe(category)}")
        info = await probe(src)
        if info.duration_s > self.cfg.max_duration_s:
            raise IngestError(
                f"{name}: {info.duration_s / 60:.0f} minutes is longer than the {self.cfg.max_duration_s / 60:.0f}-minute "
                "limit; split it into episodes or raise [ingest] max_duration_s"
            )
        source_sha = await asyncio.to_thread(sha256_file, src)
        try:
            course = Course(
                id=course_id_for(source_sha),
                title=title if title is not None else src.stem,
                category=category,
                description=description,
                duration_s=round(info.duration_s, 3),
                source_sha256=source_sha,
            )
        except CatalogueError as exc:
            raise IngestError(f"{name}: {exc}") from exc
        try:
            profiles = profiles_for(self.cfg)
        except ProfileError as exc:
            raise IngestError(str(exc)) from exc

        result = IngestResult(course=course)
        for prof in profiles:
            made = await self._ensure(
                src, source_sha, prof.name, prof.fingerprint, prof.extension,
                self._rendition_mime(prof, info), lambda dest, p=prof: rendition_args(src, dest, p, info),
            )
            (result.transcoded if made else result.reused).append(prof.name)
        await self._ensure(
            src, source_sha, POSTER_PROFILE, POSTER_FINGERPRINT, "jpg", "image/jpeg",
            lambda dest: poster_args(src, dest, info),
        )
        await asyncio.to_thread(self.db.upsert_course, course, name)
        log.info("ingested %s as %s (%s); transcoded %s, reused %s", name, course.id, course.title,
                 result.transcoded or "nothing", result.reused or "nothing")
        return result

    @staticmethod
    def _rendition_mime(prof: Profile, info: MediaInfo) -> str:
        if prof.kind == "video" and info.has_video:
            return prof.mime
        return "audio/mp4"

    async def _ensure(self, src: Path, source_sha: str, profile: str, fingerprint: str, ext: str, mime: str, make_args) -> bool:
        """Make one output unless it exists; True when ffmpeg ran."""
        row = await asyncio.to_thread(self.db.rendition, source_sha, profile, fingerprint)
        if row is not None and (self.cfg.root / row["path"]).is_file():
            return False
        self.cfg.work_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.cfg.work_dir / f"{source_sha[:12]}-{profile}-{uuid.uuid4().hex[:8]}.{ext}"
        try:
            await run_ffmpeg(make_args(tmp), f"{src.name} → {profile}")
            sha = await asyncio.to_thread(sha256_file, tmp)
            await asyncio.to_thread(_fsync_file, tmp)
            rel = media_path(sha, ext)
            size = tmp.stat().st_size
            await asyncio.to_thread(atomic_move, tmp, self.cfg.root / rel)
        finally:
            tmp.unlink(missing_ok=True)
        await asyncio.to_thread(self.db.add_rendition, source_sha, profile, fingerprint, rel, sha, size, mime)
        return True
