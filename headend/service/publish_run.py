"""A publish started from the dashboard's "立即发布" button: it runs in the background (a thread:
publishing is blocking file work) while the page shows its stage and progress; one at a time per
``headend serve`` (and the publish lock keeps it to one per data root across processes). The
state lives in memory: a restarted server shows no run, and the published versions say the rest."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from headend.db import now_iso
from headend.errors import HeadendError
from headend.service.audit import Actor
from headend.service.repository import publish
from headend.service.root import Headend

log = logging.getLogger(__name__)

STAGES = {
    "waiting": "等待另一次发布结束",
    "checking": "检查课程和节目单",
    "playlists": "签名播放列表",
    "answers": "签名问答",
    "linking": "建立发布目录",
    "switching": "切换到新版本",
    "done": "完成",
}


@dataclass
class PublishRun:
    state: str = "idle"  # idle, running, done, failed
    by: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    stage: str = ""
    done: int = 0
    total: int = 0
    version: int | None = None
    summary: str = ""
    notes: list[str] = field(default_factory=list)  # courses left out, warnings
    error: str = ""
    _task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def stage_words(self) -> str:
        words = STAGES.get(self.stage, self.stage)
        return f"{words}（{self.done}/{self.total}）" if self.total else words

    def _progress(self, stage: str, done: int, total: int) -> None:  # called from the publishing thread
        self.stage, self.done, self.total = stage, done, total

    def start(self, h: Headend, actor: Actor) -> bool:
        """Begin a publish in the background; False when one is already running."""
        if self.running:
            return False
        self.state, self.by, self.started_at, self.finished_at = "running", actor.name, now_iso(), None
        self.stage, self.done, self.total, self.version, self.summary, self.notes, self.error = (
            "waiting",
            0,
            0,
            None,
            "",
            [],
            "",
        )
        self._task = asyncio.create_task(self._run(h, actor), name="publish-now")
        return True

    async def _run(self, h: Headend, actor: Actor) -> None:
        try:
            res = await asyncio.to_thread(publish, h, False, actor, self._progress)
        except HeadendError as exc:
            self.state, self.error = "failed", str(exc)
        except Exception as exc:  # a task must never die silently: say so on the page and in the log
            log.exception("publish from the dashboard failed")
            self.state, self.error = "failed", f"内部错误（{type(exc).__name__}），详见 headend 日志"
        else:
            self.state, self.version = "done", res.version
            self.summary = f"已发布第 {res.version} 版：{res.playlists} 个播放列表，{res.courses} 门课程"
            self.notes = [*res.skipped, *res.warnings]
        finally:
            self.finished_at = now_iso()

    async def wait(self) -> None:
        """Let a running publish finish (on shutdown: the thread cannot be stopped half way)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    def to_dict(self) -> dict:
        return {
            "state": self.state,
            "by": self.by,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "stage": self.stage,
            "stage_words": self.stage_words,
            "done": self.done,
            "total": self.total,
            "version": self.version,
            "summary": self.summary,
            "notes": list(self.notes),
            "error": self.error,
        }
