"""Ingest: courseware file → validated course + one rendition per player profile + a poster.

Two steps, so that a refusal changes nothing:

1. ``prepare`` (``headend.courseware.prepare``), before any work: the file is media, its metadata
   is valid, ffprobe can read it.
2. ``Ingester.run`` (a job in the queue, ``headend.db.jobs``): loudness pass 1, the ladder (one ffmpeg
   process for every missing rendition, or one per profile: ``[ingest] ladder``), the poster,
   then the catalogue row. Every output is moved into the blob store atomically and recorded.

Renditions are keyed by (source sha256, profile fingerprint): ingesting the same file again starts
no ffmpeg process; changing one profile redoes only that profile.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from catalogue import CatalogueError, Course, course_id_for
from headend.config import HeadendConfig
from headend.courseware.loudness import Measured, Target, parse_measurements
from headend.courseware.media import MediaInfo, probe, run_ffmpeg
from headend.courseware.prepare import Accepted, course_for, meta_from_json, meta_to_json, sha256_file
from headend.courseware.processes import process_tag
from headend.courseware.profiles import POSTER_FINGERPRINT, POSTER_PROFILE, profiles_for
from headend.courseware.progress import JobProgress, ProgressCallback, heartbeat_loop, transcode_slot
from headend.courseware.recipe import card_text, ladder_args, measure_args, poster_args
from headend.db import Database, Job
from headend.errors import DatabaseError, IngestError, JobNotRecorded, TranscodeError
from players import Profile, ProfileError
from playlists import media_path
from playlists.atomic import atomic_move

log = logging.getLogger(__name__)

# Share of a job's progress bar each stage takes.
_WEIGHTS = {"loudness": 0.08, "transcode": 0.88, "poster": 0.04}
# Back-off between the tries to record a job's outcome when the database fails (then the job is
# handed back to be queued again: JobNotRecorded).
RECORD_RETRY_S = (0.5, 1.0, 2.0, 4.0)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


@dataclass
class IngestResult:
    course: Course
    transcoded: list[str] = field(default_factory=list)  # profiles made this time
    reused: list[str] = field(default_factory=list)  # profiles found already made
    known: bool = False  # the course was already in the catalogue (a re-ingest)
    kept: list[str] = field(default_factory=list)  # catalogue fields kept over this file's defaults
    changed: list[str] = field(default_factory=list)  # catalogue fields the sidecar or command line changed

    @property
    def note(self) -> str:
        """What a re-ingest did, in words ("" for a new course)."""
        if not self.known:
            return ""
        media = f"re-transcoded {', '.join(self.transcoded)}" if self.transcoded else "media unchanged"
        parts = [f"already in the catalogue as {self.course.id} 《{self.course.title}》", media]
        if self.kept:
            parts.append(f"kept edits to {', '.join(self.kept)}")
        if self.changed:
            parts.append(f"changed {', '.join(self.changed)} as the sidecar or command line says")
        if not self.kept and not self.changed:
            parts.append("metadata kept")
        return "; ".join(parts)


class Ingester:
    def __init__(self, cfg: HeadendConfig, db: Database) -> None:
        self.cfg = cfg
        self.db = db
        self.store = db.jobs

    async def submit(self, acc: Accepted, origin: str, claim: bool = False) -> Job:
        """Queue an accepted file; with ``claim`` it is this process's own job, running now."""
        return await asyncio.to_thread(
            self.store.enqueue,
            str(acc.src.resolve()),
            acc.src.name,
            acc.sha256,
            meta_to_json(acc.meta),
            origin,
            process_tag() if claim else "",
        )

    async def run(self, job: Job, on_progress: ProgressCallback | None = None) -> IngestResult:
        """Run one claimed job; records done/failed in the queue. IngestError says why it failed;
        JobNotRecorded: the database failed meanwhile (the job is still 'running', to be queued
        again by the caller once the database answers)."""
        beat = asyncio.create_task(heartbeat_loop(self.store, job.id))
        try:
            try:
                async with transcode_slot(self.cfg):
                    result = await self._run(job, on_progress)
            except IngestError as exc:
                await self._record(job, self.store.fail, job.id, str(exc), getattr(exc, "log_tail", ""))
                raise
            except (OSError, ProfileError) as exc:
                await self._record(job, self.store.fail, job.id, f"{job.source_name}: {exc}")
                raise IngestError(f"{job.source_name}: {exc}") from exc
            except DatabaseError as exc:
                raise JobNotRecorded(
                    f"job {job.id} ({job.source_name}) stopped: {exc}; it is queued again once the database answers",
                    job.id,
                ) from exc
            await self._record(job, self.store.finish, job.id, result.course.id, result.transcoded, result.note)
            return result
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)

    async def _record(self, job: Job, write, *args) -> None:
        """Write a job's outcome, trying again with back-off while the database fails."""
        for delay in (*RECORD_RETRY_S, None):
            try:
                await asyncio.to_thread(write, *args)
                return
            except DatabaseError as exc:
                if delay is None:
                    raise JobNotRecorded(
                        f"job {job.id} ({job.source_name}): its outcome could not be recorded ({exc}); "
                        "it is queued again once the database answers",
                        job.id,
                    ) from exc
                log.warning("job %d: cannot record its outcome (%s); trying again in %.1f s", job.id, exc, delay)
                await asyncio.sleep(delay)

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
        existing = await asyncio.to_thread(self.db.course, course_id_for(job.source_sha256))
        kept: list[str] = []
        changed: list[str] = []
        if existing is not None:  # a re-ingest: the editor's edits stay unless the sidecar or CLI says otherwise
            meta, kept, changed = meta.keeping(existing)
        try:
            course = course_for(job.source_sha256, meta, info)
            profiles = profiles_for(self.cfg)
        except (CatalogueError, ProfileError) as exc:
            raise IngestError(f"{name}: {exc}") from exc

        have = {}
        for prof in profiles:
            row = await asyncio.to_thread(self.db.rendition, job.source_sha256, prof.name, prof.fingerprint)
            have[prof.name] = row is not None and (self.cfg.root / row.path).is_file()
        prow = await asyncio.to_thread(self.db.rendition, job.source_sha256, POSTER_PROFILE, POSTER_FINGERPRINT)
        need_poster = not (prow is not None and (self.cfg.root / prow.path).is_file())
        needed = [p for p in profiles if not have[p.name]]
        result = IngestResult(
            course=course,
            reused=[p.name for p in profiles if have[p.name]],
            known=existing is not None,
            kept=kept,
            changed=changed,
        )

        if needed or need_poster:
            stages = {
                "transcode": _WEIGHTS["transcode"] if needed else 0.0,
                "poster": _WEIGHTS["poster"] if need_poster else 0.0,
            }
            if needed and info.has_audio:
                stages = {"loudness": _WEIGHTS["loudness"], **stages}
            progress = JobProgress(self.store, job.id, stages, on_progress)
            flusher = asyncio.create_task(progress.flush_loop())
            try:
                title_file = None
                if not info.has_video:
                    title_file = f"job{job.id}-title.txt"
                    await asyncio.to_thread(
                        (self.cfg.work_dir / title_file).write_text, card_text(course.title), "utf-8"
                    )
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
                await asyncio.gather(flusher, return_exceptions=True)  # it never fails the job
                await asyncio.to_thread(self._clean_work, job)
        await asyncio.to_thread(self.db.upsert_course, course, name)
        log.info(
            "ingested %s as %s (%s); transcoded %s, reused %s%s",
            name,
            course.id,
            course.title,
            result.transcoded or "nothing",
            result.reused or "nothing",
            f"; {result.note}" if result.note else "",
        )
        return result

    async def _loudness(
        self, job: Job, src: Path, info: MediaInfo, needed: list[Profile], progress: JobProgress
    ) -> dict[int, Measured]:
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
            err = await run_ffmpeg(
                measure_args(src, todo, target),
                f"{job.source_name} → loudness measurement",
                on_progress=lambda s: progress.update(s / info.duration_s),
            )
            for ch, m in zip(
                todo, parse_measurements(err, len(todo), f"{job.source_name} → loudness measurement"), strict=True
            ):
                out[ch] = m
                await asyncio.to_thread(self.store.save_loudness, job.source_sha256, ch, target.key(), m.to_json())
        return out

    async def _transcode(
        self,
        job: Job,
        src: Path,
        info: MediaInfo,
        needed: list[Profile],
        measured: dict,
        title_file: str | None,
        progress: JobProgress,
    ) -> None:
        work = self.cfg.work_dir
        outputs = [(p, work / f"job{job.id}-{p.name}.{p.extension}") for p in needed]
        groups = [outputs] if self.cfg.ladder == "one-process" else [[o] for o in outputs]
        for n, group in enumerate(groups):
            args = ladder_args(src, group, info, measured=measured, title_file=title_file)
            what = f"{job.source_name} → {', '.join(p.name for p, _ in group)}"
            await run_ffmpeg(
                args,
                what,
                cwd=work,
                on_progress=lambda s, n=n: progress.update((n + min(s / info.duration_s, 1.0)) / len(groups)),
            )
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
