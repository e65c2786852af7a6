"""Repository versions as whole trees: each built aside from hard links, fsync'd, renamed into
``trees/v<N>``, then ``repo`` (a symlink) switched to it in one rename. A reader sees version N-1
or version N, never a mix; the tree before the current one stays for requests in flight. An older
tree, which would be deleted after the switch, is made into the new one instead (only the files
that differ are unlinked or linked, only the folders that changed fsync'd): a county's re-publish
changes a few files of 20,000."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from headend.config import HeadendConfig
from playlists import INDEX_NAME
from playlists.atomic import atomic_write, fsync_dir

KEEP_TREES = 2  # the current tree and the one before it

Progress = Callable[[str, int, int], None]  # (stage, done, total): where a publish has got to


FSYNC_THREADS = 16  # folders fsync'd at once: the file system commits them together


def _link(src: str | Path, dest: str) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
        with open(dest, "rb+") as fh:
            os.fsync(fh.fileno())


def _fsync_all(folders: list[str]) -> None:
    """fsync every folder, deepest first within each worker's share, several at a time (each
    fsync waits for a journal commit; concurrent ones share it). All are done when it returns."""
    if len(folders) < 8:
        for d in folders:
            fsync_dir(d)
        return
    with ThreadPoolExecutor(FSYNC_THREADS) as pool:
        list(pool.map(fsync_dir, folders))


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
        _remove_tree(old)
    for build in cfg.trees_dir.glob(".build-*"):
        shutil.rmtree(build, ignore_errors=True)  # left by an interrupted publish


def _remove_tree(tree: Path) -> None:
    """Delete a tree (20,000 links in a county), its media fan-out folders a few at a time."""
    media = tree / "media"
    if media.is_dir():
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda d: shutil.rmtree(d, ignore_errors=True), list(media.iterdir())))
    shutil.rmtree(tree, ignore_errors=True)


def _recyclable(cfg: HeadendConfig) -> Path | None:
    """A tree the next collection would delete anyway (neither the current one nor, after this
    publish, the one before it): the newest of them, to be made into the new tree."""
    current = cfg.repo_dir.resolve() if cfg.repo_dir.is_symlink() else None
    trees = [p for p in cfg.trees_dir.iterdir() if p.name[:1] == "v" and p.name[1:].isdigit() and p.is_dir()]
    old = sorted((t for t in trees if t.resolve() != current), key=lambda p: p.stat().st_mtime)
    return old[-1] if old else None


def _files_in(base: str) -> set[str]:
    """Relative paths of the files under ``base`` (a tree: plain folders, files and links)."""
    out: set[str] = set()
    for folder, _dirs, names in os.walk(base):
        rel = os.path.relpath(folder, base)
        out.update(n if rel == "." else f"{rel}/{n}" for n in names)
    return out


def _same_file(rel: str, src: str | Path, dest: str) -> bool:
    """``dest`` already is the file to publish at ``rel``: media are named by their sha256 (a
    path holds one content); anything else must be the very same file (a link to it)."""
    if rel.startswith("media/"):
        return True
    try:
        a, b = os.stat(src), os.stat(dest)
    except OSError:
        return False
    return (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)


def build_tree(
    cfg: HeadendConfig,
    version: int,
    files: dict[str, Path | str],
    index_bytes: bytes,
    index_sig: bytes,
    progress: Progress | None = None,
) -> Path:
    """Build version ``version``'s tree aside, from hard links, and rename it into place. A tree
    that the collection after this publish would delete is made into it instead (renamed, then
    only what differs unlinked or linked): a county's re-publish changes a few files of 20,000."""
    cfg.trees_dir.mkdir(parents=True, exist_ok=True)
    build = cfg.trees_dir / f".build-{version}"
    shutil.rmtree(build, ignore_errors=True)
    base = str(build)
    recycled = _recyclable(cfg)
    have: set[str] = set()
    changed: set[str] = {""}  # folders (relative) whose entries change: each is fsync'd
    if recycled is not None:
        recycled.rename(build)
        have = _files_in(base) - {INDEX_NAME, INDEX_NAME + ".minisig"}
        for rel in have - files.keys():
            os.unlink(os.path.join(base, rel))
            changed.add(os.path.dirname(rel))
    made: set[str] = set()
    todo = [
        (rel, src) for rel, src in sorted(files.items()) if rel not in have or not _same_file(rel, src, f"{base}/{rel}")
    ]
    for i, (rel, src) in enumerate(todo):
        folder = os.path.dirname(rel)
        if folder not in made:
            os.makedirs(os.path.join(base, folder), exist_ok=True)
            made.add(folder)
        dest = os.path.join(base, rel)
        if rel in have:
            os.unlink(dest)
        _link(src, dest)
        changed.add(folder)
        if progress is not None and i % 50 == 0:
            progress("linking", i + 1, len(todo))
    if progress is not None:
        progress("linking", len(todo), len(todo))
    for folder in sorted(changed - made, key=lambda f: f.count("/"), reverse=True):
        if folder and not os.listdir(os.path.join(base, folder)):  # emptied: a tree built afresh has none
            os.rmdir(os.path.join(base, folder))
            changed.add(os.path.dirname(folder))
    # The folders whose entries changed, each with its parents (a new folder is an entry too).
    dirs = set()
    for f in changed | made:
        while True:
            if os.path.isdir(os.path.join(base, f)):
                dirs.add(os.path.join(base, f) if f else base)
            if not f:
                break
            f = os.path.dirname(f)
    _fsync_all(sorted(dirs, key=lambda d: d.count(os.sep), reverse=True))
    atomic_write(build / (INDEX_NAME + ".minisig"), index_sig)
    atomic_write(build / INDEX_NAME, index_bytes)
    final = cfg.trees_dir / f"v{version}"
    shutil.rmtree(final, ignore_errors=True)
    build.rename(final)
    fsync_dir(cfg.trees_dir)
    return final
