"""The watch folder's files: files dropped into ``<root>/inbox/`` are ingested without anyone
typing a command (the loop that looks is ``headend.loops.watcher``; this module decides when a
file has settled and moves files and their sidecars, fsync'd, between the inbox's folders).

::

    inbox/雨季养鹅 第3集.mp4   (+ optional 雨季养鹅 第3集.toml sidecar)
      │  taken once its size and time have not changed for [watch] settle_s (uploads take minutes)
      ▼
    inbox/processing/   checked (headend.courseware.ingest.prepare), queued as a job, transcoded
      ├─► inbox/done/        finished: the course is in the catalogue
      └─► inbox/rejected/    refused or failed, with NAME.error.txt: what is wrong, what to do

"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from catalogue.display import china_time
from headend.config import HeadendConfig
from headend.courseware.prepare import sidecar_for
from headend.db import Job
from playlists.atomic import atomic_write, fsync_dir

log = logging.getLogger(__name__)

SUBDIRS = ("processing", "done", "rejected")
IGNORED_SUFFIXES = (".toml", ".error.txt", ".part", ".tmp", ".crdownload", "~")


def is_candidate(name: str) -> bool:
    """A file in the inbox that may be courseware (not a sidecar, note, hidden or partial file)."""
    return not name.startswith(".") and not name.lower().endswith(IGNORED_SUFFIXES)


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # when it was first seen with this size and time


class Settler:
    """Decides when a file has stopped growing: the same (size, mtime) for ``settle_s`` seconds.
    Pure: feed it listings and the time."""

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self.seen: dict[str, _Seen] = {}

    def observe(self, listing: dict[str, tuple[int, int]], now: float) -> list[str]:
        ready = []
        for name in list(self.seen):
            if name not in listing:
                del self.seen[name]
        for name, (size, mtime) in sorted(listing.items()):
            prev = self.seen.get(name)
            if prev is None or (prev.size, prev.mtime_ns) != (size, mtime):
                self.seen[name] = _Seen(size, mtime, now)
                if self.settle_s > 0:
                    continue
            if now - self.seen[name].since >= self.settle_s:
                ready.append(name)
        return ready

    def forget(self, name: str) -> None:
        self.seen.pop(name, None)


def list_inbox(inbox: Path) -> dict[str, tuple[int, int]]:
    """Candidate files with (size, mtime); a sidecar's own size and time are folded in, so a file
    whose sidecar is still being written is not taken yet."""
    out = {}
    try:
        entries = list(os.scandir(inbox))
    except FileNotFoundError:
        return out
    stats = {}
    for e in entries:
        try:
            if e.is_file(follow_symlinks=False):
                st = e.stat(follow_symlinks=False)
                stats[e.name] = (st.st_size, st.st_mtime_ns)
        except OSError:
            continue
    for name, (size, mtime) in stats.items():
        if not is_candidate(name):
            continue
        stem = name.rsplit(".", 1)[0]
        for side in (f"{stem}.toml", f"{name}.toml"):
            if side in stats:
                size, mtime = size + stats[side][0], max(mtime, stats[side][1])
        out[name] = (size, mtime)
    return out


def recover_processing(cfg: HeadendConfig, active_paths: set[str]) -> list[str]:
    """Files left in processing/ by a stop, with no queued or running job: back to the inbox, to
    be taken again (a finished course is found again without transcoding)."""
    moved = []
    folder = cfg.inbox_dir / "processing"
    if not folder.is_dir():
        return moved
    for path in sorted(folder.iterdir()):
        if path.is_file() and is_candidate(path.name) and str(path.resolve()) not in active_paths:
            move_with_sidecar(path, cfg.inbox_dir)
            moved.append(path.name)
    if moved:
        log.warning("inbox: %s were left in processing/ by a stop; taken again", moved)
    return moved


def _free_name(folder: Path, name: str) -> Path:
    dest = folder / name
    n = 2
    stem, dot, ext = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
    while dest.exists() or dest.with_name(dest.name + ".error.txt").exists():
        dest = folder / (f"{stem} ({n}).{ext}" if dot else f"{name} ({n})")
        n += 1
    return dest


def move_with_sidecar(path: Path, folder: Path) -> Path:
    """Move a file (and its sidecar) into ``folder`` under a free name; fsync the folders."""
    folder.mkdir(parents=True, exist_ok=True)
    side = sidecar_for(path)
    dest = _free_name(folder, path.name)
    os.replace(path, dest)
    if side is not None:
        side_dest = (
            dest.with_suffix(".toml")
            if side.name == path.with_suffix(".toml").name
            else dest.with_name(dest.name + ".toml")
        )
        os.replace(side, side_dest)
    fsync_dir(folder)
    fsync_dir(path.parent)
    return dest


def reject(path: Path, rejected: Path, message: str, log_tail: str = "") -> Path:
    """Move a refused file to ``rejected/`` with ``NAME.error.txt`` saying what is wrong and what to do."""
    dest = move_with_sidecar(path, rejected) if path.exists() else _free_name(rejected, path.name)
    when = f"{china_time(datetime.now(UTC), seconds=False)} China time"
    text = (
        f"{dest.name} was not ingested ({when}).\n\n{message}\n\n"
        "When it is fixed, put the file (and its .toml) back into the inbox folder; it will be taken again.\n"
    )
    if log_tail:
        text += f"\nffmpeg's last lines:\n{log_tail}\n"
    atomic_write(dest.with_name(dest.name + ".error.txt"), text.encode("utf-8"))
    log.warning("inbox: %s refused: %s", path.name, message)
    return dest


def finish_watched(cfg: HeadendConfig, job: Job, error: str | None, log_tail: str = "") -> None:
    """After a watch-folder job: its file goes to done/ or, with the reason, to rejected/."""
    path = Path(job.source_path)
    if not path.exists():
        return
    if error is None:
        move_with_sidecar(path, cfg.inbox_dir / "done")
    else:
        reject(path, cfg.inbox_dir / "rejected", error, log_tail)


def make_dirs(cfg: HeadendConfig) -> None:
    for sub in SUBDIRS:
        (cfg.inbox_dir / sub).mkdir(parents=True, exist_ok=True)
