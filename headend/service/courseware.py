"""Courseware actions: ingest files now (the command line), take a file dropped into the inbox
(the watcher), run one job or the whole queue (the worker, ``headend jobs --run``, ``watch
--once``), put back what a stop interrupted, retry a job, edit a course (the CLI and the web page).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from catalogue import CatalogueError, Course
from headend.courseware.inbox import finish_watched, make_dirs, move_with_sidecar, recover_processing, reject
from headend.courseware.ingest import IngestResult
from headend.courseware.prepare import command_line_metadata, prepare
from headend.courseware.processes import is_alive, process_tag
from headend.courseware.progress import ProgressCallback
from headend.db import Job
from headend.errors import DatabaseError, HeadendError, IngestError, NotFound
from headend.service.audit import Actor, audit
from headend.service.root import Headend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How one job ended: its result, or the error that says why it failed."""

    job: Job
    result: IngestResult | None = None
    error: HeadendError | None = None


def episodes(
    files: list[Path], title: str | None, series: str | None, episode: int | None
) -> list[tuple[str | None, str | None, int | None]]:
    """Title, series and episode for each file: several files given one title become episodes."""
    out = []
    for n, _ in enumerate(files, 1):
        if title and len(files) > 1:
            out.append((f"{title} 第{n}集", series or title, episode or n))
        else:
            out.append((title, series, episode))
    return out


async def ingest_files(
    h: Headend,
    files: list[Path],
    *,
    title: str | None = None,
    category: str | None = None,
    description: str = "",
    series: str | None = None,
    episode: int | None = None,
    speaker: str | None = None,
    tags: list[str] | None = None,
    allow_silent: bool = False,
    progress_for: Callable[[Path], ProgressCallback | None] | None = None,
) -> AsyncIterator[tuple[Path, IngestResult | HeadendError]]:
    """Check, queue as this process's own job and run each file now; yields each file with its
    result or the error that refused it (the next file is still tried)."""
    for path, (t, s, e) in zip(files, episodes(files, title, series, episode), strict=True):
        try:
            overrides = command_line_metadata(
                path.name,
                title=t,
                category=category,
                description=description or None,
                series=s,
                episode=e,
                speaker=speaker,
                tags=tags or None,
                allow_silent=allow_silent,
            )
            acc = await prepare(h.cfg, path, overrides, catalogue=h.db.course)
            job = await h.ingester.submit(acc, "cli", claim=True)
            yield path, await h.ingester.run(job, progress_for(path) if progress_for else None)
        except HeadendError as exc:
            yield path, exc


async def run_job(h: Headend, job: Job, on_progress: ProgressCallback | None = None) -> Outcome:
    """Run one claimed job to done or failed (never raises for the job's own failure); a
    watch-folder file then goes to done/ or, with the reason, to rejected/."""
    error: HeadendError | None = None
    result = None
    try:
        result = await h.ingester.run(job, on_progress)
    except IngestError as exc:
        error = exc
    except DatabaseError:
        raise  # JobNotRecorded: the caller backs off and then queues the job again (``requeue``)
    except Exception as exc:
        log.exception("job %d (%s) failed unexpectedly", job.id, job.source_name)
        error = IngestError(f"{job.source_name}: internal error ({exc}); see the headend log")
        await asyncio.to_thread(h.db.jobs.fail, job.id, str(error))
    if job.origin == "watch":
        await asyncio.to_thread(
            finish_watched, h.cfg, job, None if error is None else str(error), getattr(error, "log_tail", "")
        )
    return Outcome(job, result, error)


def recover(h: Headend) -> tuple[list[int], list[str]]:
    """After a stop: jobs whose process is gone go back to the queue, and files left in
    inbox/processing/ without a job go back to the inbox. (job ids, file names)"""
    lost = h.db.jobs.recover_interrupted(is_alive)
    if lost:
        log.warning("jobs %s were interrupted (their process stopped); queued again", lost)
    make_dirs(h.cfg)
    return lost, recover_processing(h.cfg, h.db.jobs.active_paths())


def requeue(h: Headend, job_ids: set[int]) -> None:
    """Jobs this process could not finish because the database failed (``JobNotRecorded``) go
    back to the queue; each id is removed from ``job_ids`` once done. DatabaseError: try later."""
    for job_id in sorted(job_ids):
        if h.db.jobs.requeue(job_id, process_tag()):
            log.warning("job %d: queued again now that the database answers", job_id)
        job_ids.discard(job_id)


def claim_next(h: Headend) -> Job | None:
    return h.db.jobs.claim_next(process_tag())


async def run_queue(
    h: Headend,
    progress_for: Callable[[Job], ProgressCallback | None] | None = None,
) -> AsyncIterator[Outcome]:
    """Run every queued job (and any a stopped process left unfinished), yielding each outcome."""
    await asyncio.to_thread(h.db.jobs.recover_interrupted, is_alive)
    while (job := await asyncio.to_thread(claim_next, h)) is not None:
        yield await run_job(h, job, progress_for(job) if progress_for else None)


async def take_dropped(h: Headend, path: Path) -> Job | None:
    """A file that has settled in the inbox: into processing/, checked, queued (the job), or
    moved to rejected/ with a note saying what is wrong (None). DatabaseError: the file is back
    in the inbox, to be taken again."""
    inbox = h.cfg.inbox_dir
    try:
        moved = await asyncio.to_thread(move_with_sidecar, path, inbox / "processing")
    except OSError as exc:
        log.error("inbox: cannot move %s into processing/ (%s)", path.name, exc)
        return None
    try:
        acc = await prepare(h.cfg, moved, default_category=h.cfg.watch_default_category, catalogue=h.db.course)
        same = await asyncio.to_thread(h.db.jobs.active_for, acc.sha256)
        if same is not None:
            raise IngestError(
                f"{path.name}: the same file (same content) is already being ingested as job {same.id} "
                f"({same.source_name}); this copy was not needed — nothing to do"
            )
        job = await h.ingester.submit(acc, "watch")
    except IngestError as exc:
        await asyncio.to_thread(reject, moved, inbox / "rejected", str(exc).replace(moved.name, path.name, 1))
        return None
    except DatabaseError:  # not the file's fault: back to the inbox, taken again once the database answers
        await asyncio.to_thread(move_with_sidecar, moved, inbox)
        raise
    except Exception as exc:
        log.exception("inbox: %s could not be checked", path.name)
        await asyncio.to_thread(
            reject,
            moved,
            inbox / "rejected",
            f"{path.name}: the headend could not check it ({exc}); see the headend log, then drop it again",
        )
        return None
    log.info("inbox: %s queued as job %d", path.name, job.id)
    return job


def retry_job(h: Headend, job_id: int) -> None:
    if not h.db.jobs.retry(job_id):
        raise IngestError(f"job {job_id} is not a failed job; `headend jobs --root …` lists them")


def edit_course(h: Headend, course_id: str, changes: dict, actor: Actor | None = None) -> Course:
    """Apply title/category/description/series/episode/speaker changes (``episode`` 0 clears
    it); NotFound or IngestError (saying what is wrong) and nothing is saved."""
    course = h.db.course(course_id)
    if course is None:
        raise NotFound(f"no course {course_id!r}; `headend course list --root …` shows the ids")
    where = f"course {course_id}"
    clear_episode = changes.get("episode") == 0
    if clear_episode:
        changes = {k: v for k, v in changes.items() if k != "episode"}
    checked = command_line_metadata(where, **{k: v for k, v in changes.items() if v is not None})
    checked.pop("allow_silent", None)
    if clear_episode:
        checked["episode"] = None
    try:
        new = replace(course, **checked)
    except CatalogueError as exc:
        raise IngestError(f"{where}: {exc}") from exc
    if not h.db.update_course(new):
        raise NotFound(f"no course {course_id!r}; it was removed meanwhile")
    changed = {k: getattr(new, k) for k in checked if getattr(new, k) != getattr(course, k)}
    if changed:
        audit(h, actor, "course.edit", course_id, changed)
    return new
