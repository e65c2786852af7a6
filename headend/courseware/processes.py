"""Which process runs a job: ``pid:start-time`` tags that survive pid reuse, and whether the
process behind a tag is still alive (a job whose process is gone is queued again)."""

from __future__ import annotations

import os

import psutil


def process_tag(pid: int | None = None) -> str:
    """'pid:start-time': survives pid reuse."""
    pid = os.getpid() if pid is None else pid
    try:
        return f"{pid}:{psutil.Process(pid).create_time():.0f}"
    except psutil.Error:
        return f"{pid}:0"


def is_alive(tag: str) -> bool:
    pid_s, _, _ = tag.partition(":")
    try:
        return process_tag(int(pid_s)) == tag and psutil.pid_exists(int(pid_s))
    except ValueError:
        return False
