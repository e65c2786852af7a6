"""The records the database layer hands out: frozen dataclasses, never rows or dicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Rendition:
    """One made file of a source for one profile definition (posters use profile 'poster')."""

    source_sha256: str
    profile: str
    fingerprint: str
    path: str  # relative to the data root: media/ab/<sha>.<ext>
    sha256: str
    size: int
    mime: str
    created_at: str


@dataclass(frozen=True)
class Station:
    id: str
    name: str
    region: tuple[str, ...]
    player: str
    created_at: str

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "region": list(self.region),
            "player": self.player,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Publication:
    version: int
    published_at: str
    expires_at: str
    index_sha256: str
    courses: int


@dataclass(frozen=True)
class Job:
    """One accepted courseware file in the transcoding queue (see ``headend.db.jobs``)."""

    id: int
    source_path: str
    source_name: str
    source_sha256: str
    meta: Mapping[str, object]  # read-only
    origin: str
    state: str
    owner: str
    attempts: int
    stage: str
    percent: float
    eta_s: float | None
    message: str
    log_tail: str
    course_id: str | None
    transcoded: tuple[str, ...]
    created_at: str
    started_at: str | None
    finished_at: str | None
    heartbeat_at: str | None = None  # refreshed by the running process

    def to_dict(self) -> dict:
        return {**self.__dict__, "meta": dict(self.meta), "transcoded": list(self.transcoded)}
