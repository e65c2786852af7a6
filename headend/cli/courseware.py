"""``headend`` commands for courseware: ingest (with a progress bar), watch, course list/edit, jobs.

``headend.cli`` registers them with ``add_commands``. Exit codes as in ``headend.cli``: 0 done,
1 refused or failed (the message says why and what to do), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from catalogue import category_label
from catalogue.display import chinese, duration
from headend.cli.progress import ProgressBar
from headend.courseware.ingest import IngestResult
from headend.errors import HeadendError, IngestError
from headend.loops import background, watch_once
from headend.service import open_root
from headend.service.courseware import edit_course, ingest_files, retry_job, run_queue


def _print_result(path_name: str, res: IngestResult) -> None:
    c = res.course
    made = ", ".join(res.transcoded) or "none (already made)"
    ep = f" {c.series} 第{c.episode}集" if c.series and c.episode else ""
    print(f"ingested {path_name}: {c.id} 《{c.title}》 [{c.category}]{ep} {c.duration_s:.0f} s; transcoded: {made}")
    if res.note:
        print(f"  {res.note}")


def _print_error(verb: str, exc: HeadendError) -> None:
    print(f"{verb}: {exc}", file=sys.stderr)
    log_tail = getattr(exc, "log_tail", "")
    if log_tail:
        print("ffmpeg said:\n" + log_tail, file=sys.stderr)


class _Bars:
    """One progress bar per file or job, closed when its result is printed."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet, self.bars = quiet, {}

    def __call__(self, key, label: str):
        self.bars[key] = bar = ProgressBar(label)
        return None if self.quiet else bar

    def close(self, key) -> None:
        bar = self.bars.pop(key, None)
        if bar is not None:
            bar.close()


async def _ingest(args: argparse.Namespace) -> int:
    failed = 0
    bars = _Bars(args.quiet)
    with open_root(args.root) as h:
        async for path, res in ingest_files(
            h,
            [Path(f) for f in args.files],
            title=args.title,
            category=args.category,
            description=args.description,
            series=args.series,
            episode=args.episode,
            speaker=args.speaker,
            tags=args.tag,
            allow_silent=args.allow_silent,
            progress_for=lambda p: bars(p, p.name),
        ):
            bars.close(path)
            if isinstance(res, HeadendError):
                failed += 1
                _print_error("refused", res)
            else:
                _print_result(path.name, res)
    return 1 if failed else 0


async def _report(outcomes, bars: _Bars) -> int:
    failed = 0
    async for o in outcomes:
        bars.close(o.job.id)
        if o.error is not None:
            failed += 1
            print(f"failed: {o.error}", file=sys.stderr)
        else:
            _print_result(o.job.source_name, o.result)
    return 1 if failed else 0


def cmd_ingest(args: argparse.Namespace) -> int:
    return asyncio.run(_ingest(args))


async def _watch(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        print(
            f"watching {h.cfg.inbox_dir} (files are taken once unchanged for {h.cfg.watch_settle_s:g} s; Ctrl-C stops)",
            flush=True,
        )
        if args.once:
            bars = _Bars()
            await _report(watch_once(h, lambda job: bars(job.id, job.source_name)), bars)
            return 0
        async with background(h):
            await asyncio.Event().wait()
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_watch(args))
    except KeyboardInterrupt:
        return 0


def cmd_course_list(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        for c in h.db.courses():
            ep = f"  {c.series} 第{c.episode}集" if c.series and c.episode else (f"  {c.series}" if c.series else "")
            print(
                f"{c.id}  [{c.category} {category_label(c.category)}]  《{c.title}》{ep}  {duration(chinese, c.duration_s)}"
            )
    return 0


def cmd_course_edit(args: argparse.Namespace) -> int:
    changes = {
        "title": args.title,
        "category": args.category,
        "description": args.description,
        "series": args.series,
        "episode": args.episode,
        "speaker": args.speaker,
    }
    if all(v is None for v in changes.values()):
        raise IngestError(
            "nothing to change: give --title, --category, --description, --series, --episode or --speaker"
        )
    with open_root(args.root) as h:
        c = edit_course(h, args.id, changes)
    print(
        f"{c.id}: 《{c.title}》 [{c.category} {category_label(c.category)}] saved; run `headend publish` to send it to stations"
    )
    return 0


async def _run_jobs(root: str) -> int:
    bars = _Bars()
    with open_root(root) as h:
        return await _report(run_queue(h, lambda job: bars(job.id, job.source_name)), bars)


def cmd_jobs(args: argparse.Namespace) -> int:
    with open_root(args.root) as h:
        if args.retry is not None:
            retry_job(h, args.retry)
            print(f"job {args.retry} queued again; `headend serve` or `headend jobs --run` runs it")
        if not args.run:
            for j in h.db.jobs.recent(args.limit):
                line = f"{j.id:>5}  {j.state:<8} {j.percent:5.1f}%  {j.source_name}"
                if j.state == "failed":
                    line += f"\n       {j.message}"
                elif j.course_id:
                    line += f"  → {j.course_id}" + (f"\n       {j.message}" if j.message else "")
                print(line)
            return 0
    return asyncio.run(_run_jobs(args.root))


def add_commands(sub, root: argparse.ArgumentParser) -> None:
    s = sub.add_parser("ingest", parents=[root], help="probe, transcode for every player profile, add to the catalogue")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument(
        "--title", help="course title (default: the sidecar's, else the file name); several files become episodes"
    )
    s.add_argument(
        "--category", help="category id or zh-CN label, e.g. agriculture or 农业技术 (or category in NAME.toml)"
    )
    s.add_argument("--description", default="")
    s.add_argument("--series", help="series the course belongs to, e.g. 雨季养鹅技术")
    s.add_argument("--episode", type=int, help="episode number within the series")
    s.add_argument("--speaker", help="who teaches it")
    s.add_argument("--tag", action="append", help="a tag (repeat for more)")
    s.add_argument("--allow-silent", action="store_true", help="accept a video without sound (a silent track is added)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("watch", parents=[root], help="ingest files dropped into ROOT/inbox/ (what `serve` also does)")
    s.add_argument("--once", action="store_true", help="take what is in the inbox now, finish its jobs, exit")
    s.set_defaults(func=cmd_watch)

    co = sub.add_parser("course", help="list and edit the catalogue").add_subparsers(
        dest="course_command", required=True
    )
    co.add_parser("list", parents=[root], help="every course with its id").set_defaults(func=cmd_course_list)
    s = co.add_parser(
        "edit", parents=[root], help="change a course's title, category, description, series, episode or speaker"
    )
    s.add_argument("id")
    for opt in ("--title", "--category", "--description", "--series"):
        s.add_argument(opt)
    s.add_argument("--episode", type=int, help="episode number (0 clears it)")
    s.add_argument("--speaker")
    s.set_defaults(func=cmd_course_edit)

    s = sub.add_parser("jobs", parents=[root], help="the transcoding queue: list, --retry ID, --run")
    s.add_argument("--retry", type=int, metavar="ID", help="queue a failed job again")
    s.add_argument("--run", action="store_true", help="run queued and interrupted jobs now, then exit")
    s.add_argument("--limit", type=int, default=30)
    s.set_defaults(func=cmd_jobs)
