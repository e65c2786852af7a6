"""``headend`` commands for courseware: ingest (with a progress bar), watch, course list/edit, jobs.

``headend.cli`` registers them with ``add_commands``. Exit codes as in ``headend.cli``: 0 done,
1 refused or failed (the message says why and what to do), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from catalogue import category_label
from headend.config import load_config
from headend.db import Database
from headend.errors import HeadendError, IngestError
from headend.jobs import JobStore


def open_root(root: str):
    cfg = load_config(root)
    db = Database(cfg.db_path)
    db.create()
    JobStore(db).create()
    return cfg, db


class ProgressBar:
    """``[██████····] 60%  ETA 0:42  transcode`` on a terminal (redrawn in place); elsewhere one
    line per quarter, so logs stay short."""

    WIDTH = 30

    def __init__(self, label: str, stream=None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_draw = 0.0
        self.last_quarter = -1

    @staticmethod
    def eta_text(eta: float | None) -> str:
        if eta is None:
            return "ETA …"
        m, s = divmod(int(eta + 0.5), 60)
        h, m = divmod(m, 60)
        return f"ETA {h}:{m:02d}:{s:02d}" if h else f"ETA {m}:{s:02d}"

    def __call__(self, stage: str, percent: float, eta: float | None) -> None:
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw < 0.2 and percent < 100:
                return
            self.last_draw = now
            filled = int(self.WIDTH * percent / 100)
            bar = "█" * filled + "·" * (self.WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {percent:5.1f}%  {self.eta_text(eta)}  {stage:<10}")
            self.stream.flush()
        else:
            quarter = int(percent // 25)
            if quarter > self.last_quarter:
                self.last_quarter = quarter
                print(f"{self.label}: {percent:.0f}% {self.eta_text(eta)} ({stage})", file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty and self.last_draw:
            self.stream.write("\n")
            self.stream.flush()


def _print_result(path_name: str, res) -> None:
    c = res.course
    made = ", ".join(res.transcoded) or "none (already made)"
    ep = f" {c.series} 第{c.episode}集" if c.series and c.episode else ""
    print(f"ingested {path_name}: {c.id} 《{c.title}》 [{c.category}]{ep} {c.duration_s:.0f} s; transcoded: {made}")


async def _ingest(args: argparse.Namespace) -> int:
    from headend.ingest import Ingester

    cfg, db = open_root(args.root)
    ing = Ingester(cfg, db)
    failed = 0
    files = [Path(f) for f in args.files]
    for n, path in enumerate(files, 1):
        title, series, episode = args.title, args.series, args.episode
        if title and len(files) > 1:
            series = series or title
            episode = episode or n
            title = f"{title} 第{n}集"
        bar = ProgressBar(path.name)
        try:
            res = await ing.ingest(
                path, title, args.category, args.description or "", on_progress=None if args.quiet else bar,
                series=series, episode=episode, speaker=args.speaker, tags=args.tag or None, allow_silent=args.allow_silent,
            )
        except HeadendError as exc:
            bar.close()
            failed += 1
            print(f"refused: {exc}", file=sys.stderr)
            log_tail = getattr(exc, "log_tail", "")
            if log_tail:
                print("ffmpeg said:\n" + log_tail, file=sys.stderr)
            continue
        bar.close()
        _print_result(path.name, res)
    return 1 if failed else 0


def cmd_ingest(args: argparse.Namespace) -> int:
    return asyncio.run(_ingest(args))


def cmd_watch(args: argparse.Namespace) -> int:
    from headend.watch import run_watch

    cfg, _ = open_root(args.root)
    print(f"watching {cfg.inbox_dir} (files are taken once unchanged for {cfg.watch_settle_s:g} s; Ctrl-C stops)", flush=True)
    try:
        asyncio.run(run_watch(cfg, once=args.once))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_course_list(args: argparse.Namespace) -> int:
    _, db = open_root(args.root)
    for c in db.courses():
        ep = f"  {c.series} 第{c.episode}集" if c.series and c.episode else (f"  {c.series}" if c.series else "")
        print(f"{c.id}  [{c.category} {category_label(c.category)}]  《{c.title}》{ep}  {c.duration_s / 60:.1f} 分钟")
    return 0


def edit_course(db: Database, course_id: str, changes: dict):
    """Apply title/category/description/series/episode/speaker changes; IngestError if wrong."""
    from dataclasses import replace

    from catalogue import CatalogueError
    from headend.ingest import command_line_metadata

    course = db.course(course_id)
    if course is None:
        raise IngestError(f"no course {course_id!r}; `headend course list --root …` shows the ids")
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
    with db.connect() as conn:
        source_name = conn.execute("SELECT source_name FROM courses WHERE id=?", (course_id,)).fetchone()[0]
    db.upsert_course(new, source_name)
    return new


def cmd_course_edit(args: argparse.Namespace) -> int:
    _, db = open_root(args.root)
    changes = {"title": args.title, "category": args.category, "description": args.description,
               "series": args.series, "episode": args.episode, "speaker": args.speaker}
    if all(v is None for v in changes.values()):
        raise IngestError("nothing to change: give --title, --category, --description, --series, --episode or --speaker")
    c = edit_course(db, args.id, changes)
    print(f"{c.id}: 《{c.title}》 [{c.category} {category_label(c.category)}] saved; run `headend publish` to send it to stations")
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    _, db = open_root(args.root)
    store = JobStore(db)
    if args.retry is not None:
        if not store.retry(args.retry):
            raise IngestError(f"job {args.retry} is not a failed job; `headend jobs --root …` lists them")
        print(f"job {args.retry} queued again; `headend serve` or `headend jobs --run` runs it")
    if args.run:
        return asyncio.run(_run_queue(args.root))
    for j in store.recent(args.limit):
        line = f"{j.id:>5}  {j.state:<8} {j.percent:5.1f}%  {j.source_name}"
        if j.state == "failed":
            line += f"\n       {j.message}"
        elif j.course_id:
            line += f"  → {j.course_id}"
        print(line)
    return 0


async def _run_queue(root: str) -> int:
    """Run every queued job (and any a stopped process left unfinished), then return."""
    from headend.ingest import Ingester
    from headend.watch import finish_watched

    cfg, db = open_root(root)
    ing = Ingester(cfg, db)
    await asyncio.to_thread(ing.store.recover_interrupted)
    failed = 0
    while (job := await asyncio.to_thread(ing.store.claim_next)) is not None:
        bar = ProgressBar(job.source_name)
        try:
            res = await ing.run(job, bar)
            bar.close()
            _print_result(job.source_name, res)
            error = None
        except IngestError as exc:
            bar.close()
            failed += 1
            error = str(exc)
            print(f"failed: {exc}", file=sys.stderr)
        if job.origin == "watch":
            await asyncio.to_thread(finish_watched, cfg, job, error)
    return 1 if failed else 0


def add_commands(sub) -> None:
    s = sub.add_parser("ingest", help="probe, transcode for every player profile, add to the catalogue")
    s.add_argument("--root", required=True)
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--title", help="course title (default: the sidecar's, else the file name); several files become episodes")
    s.add_argument("--category", help="category id or zh-CN label, e.g. agriculture or 农业技术 (or category in NAME.toml)")
    s.add_argument("--description", default="")
    s.add_argument("--series", help="series the course belongs to, e.g. 雨季养鹅技术")
    s.add_argument("--episode", type=int, help="episode number within the series")
    s.add_argument("--speaker", help="who teaches it")
    s.add_argument("--tag", action="append", help="a tag (repeat for more)")
    s.add_argument("--allow-silent", action="store_true", help="accept a video without sound (a silent track is added)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("watch", help="ingest files dropped into ROOT/inbox/ (what `serve` also does)")
    s.add_argument("--root", required=True)
    s.add_argument("--once", action="store_true", help="take what is in the inbox now, finish its jobs, exit")
    s.set_defaults(func=cmd_watch)

    co = sub.add_parser("course", help="list and edit the catalogue").add_subparsers(dest="course_command", required=True)
    s = co.add_parser("list", help="every course with its id")
    s.add_argument("--root", required=True)
    s.set_defaults(func=cmd_course_list)
    s = co.add_parser("edit", help="change a course's title, category, description, series, episode or speaker")
    s.add_argument("--root", required=True)
    s.add_argument("id")
    s.add_argument("--title")
    s.add_argument("--category")
    s.add_argument("--description")
    s.add_argument("--series")
    s.add_argument("--episode", type=int, help="episode number (0 clears it)")
    s.add_argument("--speaker")
    s.set_defaults(func=cmd_course_edit)

    s = sub.add_parser("jobs", help="the transcoding queue: list, --retry ID, --run")
    s.add_argument("--root", required=True)
    s.add_argument("--retry", type=int, metavar="ID", help="queue a failed job again")
    s.add_argument("--run", action="store_true", help="run queued and interrupted jobs now, then exit")
    s.add_argument("--limit", type=int, default=30)
    s.set_defaults(func=cmd_jobs)
