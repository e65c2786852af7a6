"""A county-sized repository on disk for the scale tests and `scripts/bench_sync.py`: thousands of
courses, each with a rendition for every player and a poster, listed by an ``all`` playlist and by
many small ones, signed with the real ``playlists`` code as the headend signs. Only the files an
``stb-sd`` station fetches exist (tiny, distinct); the other players' renditions are pinned but
never served."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from catalogue import Course
from catalogue.categories import CATEGORIES
from playlists import (
    INDEX_NAME,
    CourseEntry,
    FileRef,
    Index,
    Playlist,
    PlaylistRef,
    SecretKey,
    media_path,
    sign_repository_file,
)
from playlists.atomic import atomic_write

PLAYERS = ("stb-sd", "tv-hd", "audio")
SERVED_PLAYER = "stb-sd"


def _file(root: Path | None, body: bytes, ext: str, mime: str) -> FileRef:
    sha = hashlib.sha256(body).hexdigest()
    ref = FileRef(media_path(sha, ext), sha, len(body), mime)
    if root is not None:
        (root / ref.path).parent.mkdir(parents=True, exist_ok=True)
        (root / ref.path).write_bytes(body)
    return ref


def course_entry(i: int, root: Path | None = None) -> CourseEntry:
    """Course ``i``: its record, a poster and a rendition per player (the ``stb-sd`` one and the
    poster written under ``root``)."""
    src = hashlib.sha256(f"scale source {i}".encode()).hexdigest()
    cat = CATEGORIES[i % len(CATEGORIES)]
    course = Course(
        id=f"c-{src[:12]}",
        title=f"{cat.label}课程第{i}讲：农村实用技术",
        category=cat.id,
        duration_s=600.0 + i,
        source_sha256=src,
        description="讲解要点。" * 10,
        speaker="县农技站",
    )
    renditions = {
        p: _file(root if p == SERVED_PLAYER else None, f"{i}:{p}".encode(), "mp4", "video/mp4") for p in PLAYERS
    }
    poster = _file(root, f"{i}:poster".encode(), "jpg", "image/jpeg")
    return CourseEntry(course=course, poster=poster, renditions=renditions)


@dataclass
class ScaleRepo:
    root: Path
    courses: int = 5000
    playlists: int = 200  # besides ``all``
    per_playlist: int = 25
    key: SecretKey = field(default_factory=SecretKey.generate)
    version: int = 0
    refs: tuple[PlaylistRef, ...] = ()
    playlist_bytes: int = 0

    def _write(self, rel: str, data: bytes) -> None:
        atomic_write(self.root / rel, data)

    def publish(self) -> None:
        """Write every media file, playlist and the index, as version 1 (or the next)."""
        self.version += 1
        now = datetime.now(UTC).replace(microsecond=0)
        entries = [course_entry(i, self.root) for i in range(self.courses)]
        lists = [Playlist("all", self.version, "全部课程", tuple(entries))]
        for p in range(self.playlists):
            picked = tuple(entries[(p * self.per_playlist + k) % self.courses] for k in range(self.per_playlist))
            lists.append(Playlist(f"p{p}", self.version, f"专题 {p}", picked))
        refs = []
        self.playlist_bytes = 0
        for pl in lists:
            data = pl.to_bytes()
            self.playlist_bytes += len(data)
            self._write(pl.path, data)
            self._write(pl.path + ".minisig", sign_repository_file(self.key, pl.path, data, pl.version, now))
            refs.append(PlaylistRef(pl.name, pl.version, FileRef(pl.path, hashlib.sha256(data).hexdigest(), len(data))))
        self.refs = tuple(refs)
        self._index(now)

    def resign(self) -> None:
        """A new index version naming the same playlists (what a headend's daily refresh does)."""
        self.version += 1
        self._index(datetime.now(UTC).replace(microsecond=0))

    def _index(self, now: datetime) -> None:
        index = Index(self.version, now, now + timedelta(days=7), self.refs)
        data = index.to_bytes()
        self._write(INDEX_NAME + ".minisig", sign_repository_file(self.key, INDEX_NAME, data, self.version, now))
        self._write(INDEX_NAME, data)
