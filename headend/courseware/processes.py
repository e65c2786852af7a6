"""Which process runs a job, and whether it is still alive.

A job's owner is tagged ``pid:start-time@host/boot-id``: the start time survives pid reuse, the
host and boot id say which machine (and which boot of it) the process runs on, since several
headend processes on different hosts may share one PostgreSQL database. Only a process on this
machine can be checked (``is_alive`` answers None for another host's job: the queue then goes by
the job's heartbeat, see ``headend.db.jobs``). A tag without a host (written before hosts were
recorded) is taken as this machine's."""

from __future__ import annotations

import os
import socket
from functools import cache

import psutil

BOOT_ID = "/proc/sys/kernel/random/boot_id"


@cache
def host_id() -> str:
    """``hostname/boot-id`` (the boot id's first 8 hex digits; ``0`` where there is none)."""
    try:
        with open(BOOT_ID, encoding="ascii") as fh:
            boot = fh.read().strip().replace("-", "")[:8] or "0"
    except OSError:
        boot = "0"
    return f"{socket.gethostname()}/{boot}"


def process_tag(pid: int | None = None) -> str:
    """'pid:start-time@host/boot-id' of a process on this machine."""
    pid = os.getpid() if pid is None else pid
    try:
        start = f"{psutil.Process(pid).create_time():.0f}"
    except psutil.Error:
        start = "0"
    return f"{pid}:{start}@{host_id()}"


def is_alive(tag: str) -> bool | None:
    """True: the process behind ``tag`` runs on this machine; False: it is gone (or the machine
    has rebooted since); None: it runs on another host, which this process cannot check."""
    proc, _, where = tag.partition("@")
    if where:
        host, _, _ = where.partition("/")
        mine_host, _, _ = host_id().partition("/")
        if host != mine_host:
            return None
        if where != host_id():
            return False  # this machine, an earlier boot
    pid_s, _, _ = proc.partition(":")
    try:
        pid = int(pid_s)
    except ValueError:
        return False
    return process_tag(pid).partition("@")[0] == proc and psutil.pid_exists(pid)
