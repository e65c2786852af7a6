"""The inbox watcher: files dropped into ``<root>/inbox/`` are ingested without anyone typing a
command — by ``headend serve`` (through the app's cleanup_ctx) or ``headend watch`` alone.

::

    inbox/雨季养鹅 第3集.mp4   (+ optional 雨季养鹅 第3集.toml sidecar)
      │  taken once its size and time have not changed for [watch] settle_s (uploads take minutes)
      ▼
    inbox/processing/   checked (headend.courseware.prepare), queued as a job, transcoded
      ├─► inbox/done/        finished: the course is in the catalogue
      └─► inbox/rejected/    refused or failed, with NAME.error.txt: what is wrong, what to do

watchdog tells us something changed; a short timer re-reads the folder anyway (events can be
missed on network shares) and is what notices that a file has stopped growing. A pass that fails
(the inbox gone or unreadable, the database down) is recorded in ``status``, logged once per new
kind of failure, and the next pass runs after a back-off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from headend.courseware.inbox import Settler, list_inbox, make_dirs
from headend.loops.status import LoopStatus
from headend.service import Headend
from headend.service.courseware import take_dropped

log = logging.getLogger(__name__)

RESCAN_S = 1.0


class InboxWatcher:
    def __init__(
        self, h: Headend, on_queued: Callable[[], None] | None = None, after: asyncio.Event | None = None
    ) -> None:
        self.h = h
        self.on_queued = on_queued
        self.after = after  # set once the worker has put back what a stop left in processing/
        self.settler = Settler(h.cfg.watch_settle_s)
        self.changed = asyncio.Event()
        self.status = LoopStatus("inbox", "导入文件夹")

    async def scan(self) -> tuple[int, int]:
        """One look at the inbox; take every settled file. (taken, still settling)."""
        loop = asyncio.get_running_loop()
        listing = await asyncio.to_thread(list_inbox, self.h.cfg.inbox_dir)
        ready = self.settler.observe(listing, loop.time())
        for name in ready:
            self.settler.forget(name)
            job = await take_dropped(self.h, self.h.cfg.inbox_dir / name)
            if job is not None and self.on_queued is not None:
                self.on_queued()
        return len(ready), len(listing) - len(ready)

    async def run(self) -> None:
        """Watch until cancelled."""
        observer = None
        loop = asyncio.get_running_loop()
        if self.after is not None:
            await self.after.wait()
        try:
            while True:
                delay = RESCAN_S
                try:
                    await asyncio.to_thread(make_dirs, self.h.cfg)
                    if observer is None:
                        observer = await asyncio.to_thread(self._start_observer, loop)
                    await self.scan()
                    self.status.ok()
                except Exception as exc:
                    self.status.failed(exc)
                    delay = self.status.backoff_s(RESCAN_S, 30.0)
                self.changed.clear()
                try:
                    await asyncio.wait_for(self.changed.wait(), delay)
                except TimeoutError:
                    pass
        finally:
            if observer:
                observer.stop()
                await asyncio.to_thread(observer.join, 5)

    def _start_observer(self, loop: asyncio.AbstractEventLoop):
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        changed = self.changed

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                loop.call_soon_threadsafe(changed.set)

        try:
            observer = Observer()
            observer.schedule(Handler(), str(self.h.cfg.inbox_dir), recursive=False)
            observer.start()
            return observer
        except OSError as exc:  # inotify limits, odd filesystems: the timer still rescans
            log.warning("inbox: no change notifications (%s); re-reading the folder every %.0f s", exc, RESCAN_S)
            return False
