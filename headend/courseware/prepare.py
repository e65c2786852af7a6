"""Every check that can refuse a courseware file, before any work (step 1 of an ingest).

The file exists and is not empty; its metadata (file-name defaults, sidecar, command line) is
valid; ffprobe reads it, finds a stream, a sane duration and decodable first seconds; a picture
without sound is refused unless the editor allows it. The result, ``Accepted``, is what a job is
made from; nothing has been written yet.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from catalogue import CatalogueError, Course, course_id_for
from catalogue.course import MAX_DESCRIPTION_CHARS
from headend.config import HeadendConfig
from headend.courseware.media import NOT_MEDIA, MediaInfo, probe
from headend.courseware.sidecar import (
    Metadata,
    SidecarError,
    check_category,
    check_episode,
    check_text,
    defaults_from_filename,
    parse_sidecar,
)
from headend.errors import IngestError, ProbeError


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@dataclass(frozen=True)
class Accepted:
    """A file that passed every check; nothing has been written yet."""

    src: Path
    sha256: str
    meta: Metadata
    info: MediaInfo
    course: Course


def sidecar_for(src: Path) -> Path | None:
    """``NAME.toml`` beside ``NAME.mp4`` (or ``NAME.mp4.toml``)."""
    for cand in (src.with_suffix(".toml"), src.with_name(src.name + ".toml")):
        if cand != src and cand.is_file():
            return cand
    return None


def command_line_metadata(
    where: str,
    *,
    title=None,
    category=None,
    description=None,
    series=None,
    episode=None,
    speaker=None,
    tags=None,
    allow_silent=None,
) -> dict:
    """Command-line values checked by the same rules as a sidecar's (no paths, one line…)."""
    out: dict = {}
    if title is not None:
        out["title"] = check_text(where, "--title", title)
    if category is not None:
        out["category"] = check_category(where, category)
    if description is not None:
        out["description"] = check_text(
            where, "--description", description, multiline=True, limit=MAX_DESCRIPTION_CHARS
        )
    for key, value in (("series", series), ("speaker", speaker)):
        if value is not None:
            out[key] = check_text(where, f"--{key}", value)
    if episode is not None:
        out["episode"] = check_episode(where, episode)
    if tags is not None:
        out["tags"] = tuple(check_text(where, "--tag", t, limit=30) for t in tags)
    if allow_silent:
        out["allow_silent"] = True
    return out


async def prepare(
    cfg: HeadendConfig,
    src: Path,
    overrides: dict | None = None,
    *,
    default_category: str = "",
    sidecar: Path | None = None,
    use_sidecar: bool = True,
    catalogue: Callable[[str], Course | None] | None = None,
) -> Accepted:
    """Every check that can refuse a file, before any work. IngestError names the file and says
    what to do. ``catalogue`` (blocking: a course id to its catalogue row) lets a course already
    there keep its edited metadata (its category then need not be given again); the job applies
    the same rule again when it runs (``Metadata.keeping``)."""
    src = Path(src)
    name = src.name
    try:
        if not src.is_file():
            raise IngestError(f"{name}: no such file ({src})")
        size = src.stat().st_size
    except OSError as exc:
        raise IngestError(f"{name}: cannot read it ({exc.strerror}); check the file's permissions") from exc
    if size == 0:
        raise IngestError(f"{name}: the file is empty (0 bytes), {NOT_MEDIA}; copy it again from the source")

    meta = defaults_from_filename(name)
    side = sidecar if sidecar is not None else (sidecar_for(src) if use_sidecar else None)
    if side is not None:
        try:
            text = side.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise SidecarError(f"{side.name}: not UTF-8 text; save it as UTF-8") from exc
        except OSError as exc:
            raise SidecarError(f"{side.name}: cannot read it ({exc.strerror})") from exc
        meta = parse_sidecar(text, side.name, meta)
    meta = meta.merged(**(overrides or {}))
    if not meta.category and default_category:
        meta = meta.merged(
            explicit=False, category=check_category("headend.toml [watch] default_category", default_category)
        )

    info = await probe(src)
    if info.duration_s > cfg.max_duration_s:
        raise ProbeError(
            f"{name}: {info.duration_s / 60:.0f} minutes is longer than the {cfg.max_duration_s / 60:.0f}-minute "
            "limit; split it into episodes or raise [ingest] max_duration_s in headend.toml"
        )
    if info.has_video and not info.has_audio and not meta.allow_silent:
        raise ProbeError(
            f"{name}: the video has no sound track; if it is meant to be silent, put allow_silent = true in "
            f"{src.stem}.toml (or pass --allow-silent), otherwise export it again with its sound"
        )
    sha = await asyncio.to_thread(sha256_file, src)
    existing = await asyncio.to_thread(catalogue, course_id_for(sha)) if catalogue is not None else None
    checked = meta.keeping(existing)[0] if existing is not None else meta
    if not checked.category:
        raise IngestError(
            f"{name}: no category; give --category (e.g. agriculture or 农业技术) or category in {src.stem}.toml"
        )
    try:
        course = course_for(sha, checked, info)
    except CatalogueError as exc:
        raise IngestError(f"{name}: {exc}") from exc
    return Accepted(src=src, sha256=sha, meta=meta, info=info, course=course)


def course_for(sha: str, meta: Metadata, info: MediaInfo) -> Course:
    return Course(
        id=course_id_for(sha),
        title=meta.title,
        category=meta.category,
        description=meta.description,
        duration_s=round(info.duration_s, 3),
        source_sha256=sha,
        tags=meta.tags,
        series=meta.series,
        episode=meta.episode,
        speaker=meta.speaker,
    )


def meta_to_json(meta: Metadata) -> dict:
    d = asdict(meta)
    d["tags"] = list(meta.tags)
    d["given"] = list(meta.given)
    return d


def meta_from_json(d: dict) -> Metadata:
    return Metadata(**{**d, "tags": tuple(d.get("tags", ())), "given": tuple(d.get("given", ()))})
