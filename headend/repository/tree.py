"""Repository versions as whole trees: each built aside from hard links, fsync'd, renamed into
``trees/v<N>``, then ``repo`` (a symlink) switched to it in one rename. A reader sees version N-1
or version N, never a mix; the tree before the current one stays for requests in flight."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from headend.config import HeadendConfig
from playlists import INDEX_NAME
from playlists.atomic import atomic_write, fsync_dir

KEEP_TREES = 2  # the current tree and the one before it

Progress = Callable[[str, int, int], None]  # (stage, done, total): where a publish has got to


def _link(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
        with open(dest, "rb+") as fh:
            os.fsync(fh.fileno())


def switch_repo(cfg: HeadendConfig, tree: Path) -> None:
    repo = cfg.repo_dir
    if repo.is_dir() and not repo.is_symlink():
        # A root published before trees existed: move its folder aside once.
        repo.rename(cfg.trees_dir / f"legacy-{datetime.now(UTC):%Y%m%d%H%M%S}")
    tmp = cfg.root / ".repo.switch"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(tree, cfg.root), tmp)
    os.replace(tmp, repo)
    fsync_dir(cfg.root)


def collect_trees(cfg: HeadendConfig, current: Path) -> None:
    trees = sorted(
        (p for p in cfg.trees_dir.iterdir() if p.is_dir() and (p.name.startswith("v") or p.name.startswith("legacy-"))),
        key=lambda p: p.stat().st_mtime,
    )
    for old in [t for t in trees if t != current][: max(0, len(trees) - KEEP_TREES)]:
        shutil.rmtree(old, ignore_errors=True)
    for build in cfg.trees_dir.glob(".build-*"):
        shutil.rmtree(build, ignore_errors=True)  # left by an interrupted publish


def build_tree(
    cfg: HeadendConfig,
    version: int,
    files: dict[str, Path],
    index_bytes: bytes,
    index_sig: bytes,
    progress: Progress | None = None,
) -> Path:
    cfg.trees_dir.mkdir(parents=True, exist_ok=True)
    build = cfg.trees_dir / f".build-{version}"
    shutil.rmtree(build, ignore_errors=True)
    dirs = set()
    for i, (rel, src) in enumerate(sorted(files.items())):
        _link(src, build / rel)
        dirs.add((build / rel).parent)
        if progress is not None and (i % 50 == 0 or i + 1 == len(files)):
            progress("linking", i + 1, len(files))
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        fsync_dir(d)
    atomic_write(build / (INDEX_NAME + ".minisig"), index_sig)
    atomic_write(build / INDEX_NAME, index_bytes)
    final = cfg.trees_dir / f"v{version}"
    shutil.rmtree(final, ignore_errors=True)
    build.rename(final)
    fsync_dir(cfg.trees_dir)
    return final
