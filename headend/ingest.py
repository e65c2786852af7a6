"""Ingest: courseware file → validated course + one rendition per player profile + a poster.

Two steps, so that a refusal changes nothing:

1. ``prepare`` (before any work): the file exists and is not empty; its metadata (file-name
   defaults, sidecar, command line) is valid; ffprobe reads it, finds a stream, a sane duration and
   decodable first seconds; a picture without sound is refused unless the editor allows it.
2. ``Ingester.run`` (a job in the queue, ``headend.jobs``): loudness pass 1, the ladder (one ffmpeg
   process for every missing rendition, or one per profile: ``[ingest] ladder``), the poster,
   then the catalogue row. Every output is moved into the blob store atomically and recorded.

Renditions are keyed by (source sha256, profile fingerprint): ingesting the same file again starts
no ffmpeg process; changing one profile redoes only that profile.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from catalogue import CatalogueError, Course, course_id_for
from headend.config import HeadendConfig
from headend.db import Database
from headend.errors import IngestError, ProbeError, TranscodeError
from headend.jobs import Job, JobStore
from headend.loudness import Measured, Target, parse_measurements
from headend.media import MediaInfo, ProgressClock, probe, run_ffmpeg
from headend.recipe import card_text, ladder_args, measure_args, poster_args
from headend.sidecar import Metadata, SidecarError, check_category, check_episode, check_text, defaults_from_filename, parse_sidecar
from catalogue.course import MAX_DESCRIPTION_CHARS
from players import Profile, ProfileError, load_profiles
from playlists import media_path
from playlists.atomic import atomic_move

log = logging.getLogger(__name__)

POSTER_PROFILE = "poster"
POSTER_FINGERPRINT = "jpeg-480x270-v3"
LADDER_MODES = ("one-process", "per-profile")
# Share of a job's progress bar each stage takes.
_WEIGHTS = {"loudness": 0.08, "transcode": 0.88, "poster": 0.04}

ProgressCallback = Callable[[str, float, "float | None"], None]  # stage, percent, eta seconds


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


@dataclass(frozen=True)
class Accepted:
    """A file that passed every check; nothing has been written yet."""
    src: Path
    sha256: str
    meta: Metadata
    info: MediaInfo
    course: Course


def profiles_for(cfg: HeadendConfig) -> list[Profile]:
    if cfg.profiles_file is None:
        profiles = load_profiles()
    else:
        try:
            profiles = load_profiles(cfg.profiles_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise IngestError(f"{cfg.profiles_file}: cannot read the player profiles ({exc.strerror}); fix [ingest] profiles_file") from exc
        except (ValueError, ProfileError) as exc:
            raise IngestError(f"{cfg.profiles_file}: {exc}") from exc
    if not cfg.profiles:
        return list(profiles.values())
    missing = [p for p in cfg.profiles if p not in profiles]
    if missing:
        raise IngestError(f"headend.toml [ingest] profiles names unknown profiles {missing}; known: {sorted(profiles)}")
    return [profiles[p] for p in cfg.profiles]


def sidecar_for(src: Path) -> Path | None:
    """``NAME.toml`` beside ``NAME.mp4`` (or ``NAME.mp4.toml``)."""
    for cand in (src.with_suffix(".toml"), src.with_name(src.name + ".toml")):
        if cand != src and cand.is_file():
            return cand
    return None


def command_line_metadata(where: str, *, title=None, category=None, description=None, series=None, episode=None,
                          speaker=None, tags=None, allow_silent=None) -> dict:
    """Command-line values checked by the same rules as a sidecar's (no paths, one line…)."""
    out: dict = {}
    if title is not None:
        out["title"] = check_text(where, "--title", title)
    if category is not None:
        out["category"] = check_category(where, category)
    if description is not None:
        out["description"] = check_text(where, "--description", description, multiline=True, limit=MAX_DESCRIPTION_CHARS)
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


async def prepare(cfg: HeadendConfig, src: Path, overrides: dict | None = None, *,
                  default_category: str = "", sidecar: Path | None = None, use_sidecar: bool = True) -> Accepted:
    """Every check that can refuse a file, before any work. IngestError names the file and says
    what to do."""
    src = Path(src)
    name = src.name
    try:
        if not src.is_file():
            raise IngestError(f"{name}: no such file ({src})")
        size = src.stat().st_size
    except OSError as exc:
        raise IngestError(f"{name}: cannot read it ({exc.strerror}); check the file's permissions") from exc
    if size == 0:
        raise IngestError(f"{name}: the file is empty (0 bytes); copy it again from the source")

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
    if not meta.category:
        if not default_category:
            raise IngestError(f"{name}: no category; give --category (e.g. agriculture or 农业技术) or category in {src.stem}.toml")
        meta = meta.merged(category=check_category("headend.toml [watch] default_category", default_category))

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
    try:
        course = _course(sha, meta, info)
    except CatalogueError as exc:
        raise IngestError(f"{name}: {exc}") from exc
    return Accepted(src=src, sha256=sha, meta=meta, info=info, course=course)


def _course(sha: str, meta: Metadata, info: MediaInfo) -> Course:
    return Course(
        id=course_id_for(sha), title=meta.title, category=meta.category, description=meta.description,
        duration_s=round(info.duration_s, 3), source_sha256=sha, tags=meta.tags, series=meta.series,
        episode=meta.episode, speaker=meta.speaker,
    )


def meta_to_json(meta: Metadata) -> dict:
    d = asdict(meta)
    d["tags"] = list(meta.tags)
    return d


def meta_from_json(d: dict) -> Metadata:
    return Metadata(**{**d, "tags": tuple(d.get("tags", ()))})


class _Progress:
    """A job's progress: stage weights → overall percent and ETA; written to the job row at most
    once a second (by ``flush_loop``) and passed to the caller's callback."""

    def __init__(self, store: JobStore, job_id: int, stages: dict[str, float], callback: ProgressCallback | None) -> None:
        total = sum(stages.values()) or 1.0
        self.weights = {k: v / total for k, v in stages.items()}
        self.store, self.job_id, self.callback = store, job_id, callback
        self.clock = ProgressClock(1.0)
        self.done_before = 0.0
        self.stage = ""
        self.percent, self.eta = 0.0, None
        self.dirty = False

    def enter(self, stage: str) -> None:
        if self.stage in self.weights:
            self.done_before += self.weights[self.stage]
        self.stage = stage
        self.update(0.0)

    def update(self, stage_fraction: float) -> None:
        frac = self.done_before + self.weights.get(self.stage, 0.0) * min(max(stage_fraction, 0.0), 1.0)
        self.percent, self.eta = self.clock.estimate(frac)
        self.dirty = True
        if self.callback:
            self.callback(self.stage, self.percent, self.eta)

    async def flush_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.dirty:
                self.dirty = False
                await asyncio.to_thread(self.store.progress, self.job_id, self.stage, self.percent, self.eta)


@asynccontextmanager
async def transcode_slot(cfg: HeadendConfig) -> AsyncIterator[None]:
    """One of ``[ingest] concurrent_jobs`` slots shared by every process on this root (``headend
    serve``'s queue and any ``headend ingest`` at the command line): lock files in the root (not in
    work/, which holds only half-made output), taken without blocking the event loop."""
    held = None
    while held is None:
        for i in range(cfg.concurrent_jobs):
            fh = open(cfg.root / f".transcode-slot-{i}.lock", "w")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            held = fh
            break
        else:
            await asyncio.sleep(1.0)
    try:
        yield
    finally:
        held.close()  # closing releases the lock


class Ingester:
    def __init__(self, cfg: HeadendConfig, db: Database) -> None:
        self.cfg = cfg
        self.db = db
        self.store = JobStore(db)

    async def submit(self, acc: Accepted, origin: str, claim: bool = False) -> Job:
        return await asyncio.to_thread(
            self.store.enqueue, str(acc.src.resolve()), acc.src.name, acc.sha256, meta_to_json(acc.meta), origin, claim
        )

    async def ingest(self, src: Path, title: str | None, category: str, description: str = "",
                     on_progress: ProgressCallback | None = None, **more) -> IngestResult:
        """Check, queue as this process's own job and run it now (the ``headend ingest`` path)."""
        overrides = command_line_metadata(Path(src).name, title=title, category=category,
                                          description=description or None, **more)
        acc = await prepare(self.cfg, Path(src), overrides)
        job = await self.submit(acc, "cli", claim=True)
        return await self.run(job, on_progress)

    async def run(self, job: Job, on_progress: ProgressCallback | None = None) -> IngestResult:
        """Run one claimed job; records done/failed in the queue. IngestError says why it failed."""
        try:
            async with transcode_slot(self.cfg):
                result = await self._run(job, on_progress)
        except IngestError as exc:
            await asyncio.to_thread(self.store.fail, job.id, str(exc), getattr(exc, "log_tail", ""))
            raise
        except (OSError, ProfileError) as exc:
            await asyncio.to_thread(self.store.fail, job.id, f"{job.source_name}: {exc}")
            raise IngestError(f"{job.source_name}: {exc}") from exc
        await asyncio.to_thread(self.store.finish, job.id, result.course.id, result.transcoded)
        return result

    def _clean_work(self, job: Job) -> None:
        self.cfg.work_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.cfg.work_dir.glob(f"job{job.id}-*"):
            leftover.unlink(missing_ok=True)  # from an interrupted attempt: start cleanly

    async def _run(self, job: Job, on_progress: ProgressCallback | None) -> IngestResult:
        src = Path(job.source_path)
        name = job.source_name
        await asyncio.to_thread(self._clean_work, job)
        if not src.is_file():
            raise IngestError(f"{name}: the file is no longer at {src}; put it back or ingest it again")
        info = await probe(src)
        meta = meta_from_json(job.meta)
        try:
            course = _course(job.source_sha256, meta, info)
            profiles = profiles_for(self.cfg)
        except (CatalogueError, ProfileError) as exc:
            raise IngestError(f"{name}: {exc}") from exc

        have = {}
        for prof in profiles:
            row = await asyncio.to_thread(self.db.rendition, job.source_sha256, prof.name, prof.fingerprint)
            have[prof.name] = row is not None and (self.cfg.root / row["path"]).is_file()
        prow = await asyncio.to_thread(self.db.rendition, job.source_sha256, POSTER_PROFILE, POSTER_FINGERPRINT)
        need_poster = not (prow is not None and (self.cfg.root / prow["path"]).is_file())
        needed = [p for p in profiles if not have[p.name]]
        result = IngestResult(course=course, reused=[p.name for p in profiles if have[p.name]])

        if needed or need_poster:
            stages = {"transcode": _WEIGHTS["transcode"] if needed else 0.0, "poster": _WEIGHTS["poster"] if need_poster else 0.0}
            if needed and info.has_audio:
                stages = {"loudness": _WEIGHTS["loudness"], **stages}
            progress = _Progress(self.store, job.id, stages, on_progress)
            flusher = asyncio.create_task(progress.flush_loop())
            try:
                title_file = None
                if not info.has_video:
                    title_file = f"job{job.id}-title.txt"
                    await asyncio.to_thread((self.cfg.work_dir / title_file).write_text, card_text(course.title), "utf-8")
                if needed:
                    measured = {}
                    if info.has_audio:
                        progress.enter("loudness")
                        measured = await self._loudness(job, src, info, needed, progress)
                    progress.enter("transcode")
                    await self._transcode(job, src, info, needed, measured, title_file, progress)
                    result.transcoded = [p.name for p in needed]
                if need_poster:
                    progress.enter("poster")
                    await self._poster(job, src, info, title_file)
                    progress.update(1.0)
            finally:
                flusher.cancel()
                try:
                    await flusher
                except asyncio.CancelledError:
                    pass
                await asyncio.to_thread(self._clean_work, job)
        await asyncio.to_thread(self.db.upsert_course, course, name)
        log.info("ingested %s as %s (%s); transcoded %s, reused %s", name, course.id, course.title,
                 result.transcoded or "nothing", result.reused or "nothing")
        return result

    async def _loudness(self, job: Job, src: Path, info: MediaInfo, needed: list[Profile], progress: _Progress) -> dict[int, Measured]:
        """Pass 1, once per source and channel layout (remembered in the database)."""
        first = needed[0].audio
        target = Target(first.loudness_lufs, first.true_peak_dbtp)
        channels = sorted({p.audio.channels for p in needed})
        out: dict[int, Measured] = {}
        for ch in channels:
            saved = await asyncio.to_thread(self.store.loudness, job.source_sha256, ch, target.key())
            if saved:
                out[ch] = Measured.from_json(saved)
        todo = [ch for ch in channels if ch not in out]
        if todo:
            err = await run_ffmpeg(measure_args(src, todo, target), f"{job.source_name} → loudness measurement",
                                   on_progress=lambda s: progress.update(s / info.duration_s))
            for ch, m in zip(todo, parse_measurements(err, len(todo), f"{job.source_name} → loudness measurement")):
                out[ch] = m
                await asyncio.to_thread(self.store.save_loudness, job.source_sha256, ch, target.key(), m.to_json())
        return out

    async def _transcode(self, job: Job, src: Path, info: MediaInfo, needed: list[Profile], measured: dict,
                         title_file: str | None, progress: _Progress) -> None:
        work = self.cfg.work_dir
        outputs = [(p, work / f"job{job.id}-{p.name}.{p.extension}") for p in needed]
        groups = [outputs] if self.cfg.ladder == "one-process" else [[o] for o in outputs]
        for n, group in enumerate(groups):
            args = ladder_args(src, group, info, measured=measured, title_file=title_file)
            what = f"{job.source_name} → {', '.join(p.name for p, _ in group)}"
            await run_ffmpeg(args, what, cwd=work,
                             on_progress=lambda s, n=n: progress.update((n + min(s / info.duration_s, 1.0)) / len(groups)))
            for prof, tmp in group:
                await self._store(job, tmp, prof.name, prof.fingerprint, prof.extension, prof.mime)

    async def _poster(self, job: Job, src: Path, info: MediaInfo, title_file: str | None) -> None:
        tmp = self.cfg.work_dir / f"job{job.id}-poster.jpg"
        what = f"{job.source_name} → poster"
        await run_ffmpeg(poster_args(src, tmp, info, title_file=title_file), what, cwd=self.cfg.work_dir)
        if info.has_video and (not tmp.is_file() or tmp.stat().st_size == 0):
            # every frame in the window is dark: take the most typical one anyway
            await run_ffmpeg(poster_args(src, tmp, info, skip_dark=False), what, cwd=self.cfg.work_dir)
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise TranscodeError(f"{what}: ffmpeg wrote no picture; the video may be damaged after its first seconds")
        await self._store(job, tmp, POSTER_PROFILE, POSTER_FINGERPRINT, "jpg", "image/jpeg")

    async def _store(self, job: Job, tmp: Path, profile: str, fingerprint: str, ext: str, mime: str) -> None:
        """Move one finished output into the blob store (atomic, fsync'd) and record it."""
        sha = await asyncio.to_thread(sha256_file, tmp)
        await asyncio.to_thread(_fsync_file, tmp)
        rel = media_path(sha, ext)
        size = tmp.stat().st_size
        await asyncio.to_thread(atomic_move, tmp, self.cfg.root / rel)
        await asyncio.to_thread(self.db.add_rendition, job.source_sha256, profile, fingerprint, rel, sha, size, mime)
