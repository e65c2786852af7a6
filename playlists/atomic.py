"""Atomic file replacement, the one disk helper both programs share (STYLE rule 11).

Write to a temporary file in the same folder, fsync it, rename it over the target, fsync the
folder: after a power cut the target holds the old bytes or the new, never half of each.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def fsync_dir(folder: str | os.PathLike) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, data: bytes, *, mode: int = 0o666) -> None:
    """Write ``data`` to ``path`` so a power cut leaves the old file or the new one, never a mix:
    a temporary file in the same folder (created with ``mode``, less the umask), fsync, rename,
    fsync the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with open(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_move(src: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Move an already fsync'd file into place (same file system) and make the rename durable."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
    fsync_dir(dest.parent)
