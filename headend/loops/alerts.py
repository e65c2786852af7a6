"""The alert loops of ``headend serve``: ``checks`` judges every station every ``[alerts]
check_interval_s`` and makes the day's digests once ``digest_hour`` has come
(``headend.service.alerts.check``, ``headend.service.digests.digest``); ``deliveries`` posts what
is due to ``[alerts] webhook_url`` (only when it is set), woken when a check queues something and
every ``poll_s`` for retries. Each catches everything per pass and shows its state
(``LoopStatus``) on /county/publishing and /api/v1/health; a webhook that refuses is a failed
pass there until a post succeeds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp

from headend.errors import WebhookError
from headend.loops.status import LoopStatus
from headend.service import Headend
from headend.service.alerts import check
from headend.service.digests import deliver, digest
from headend.service.webhook import Webhook


class AlertLoops:
    def __init__(self, h: Headend, poll_s: float = 30.0) -> None:
        self.h = h
        self.poll_s = poll_s
        self.checks_status = LoopStatus("alerts", "告警检查")
        self.deliveries_status = LoopStatus("webhook", "告警推送")
        self._queued = asyncio.Event()

    async def checks(self) -> None:
        status, interval = self.checks_status, self.h.cfg.alerts.check_interval_s
        while True:
            try:
                now = datetime.now(UTC)
                result = await asyncio.to_thread(check, self.h, now)
                made = await asyncio.to_thread(digest, self.h, now)
                if result.recoveries or any(m.queued for m in made):
                    self._queued.set()
                status.ok()
            except Exception as exc:
                status.failed(exc)
                await asyncio.sleep(min(interval, status.backoff_s(5.0, 300.0)))
                continue
            await asyncio.sleep(interval)

    async def deliveries(self) -> None:
        status, cfg = self.deliveries_status, self.h.cfg.alerts
        async with aiohttp.ClientSession() as session:
            webhook = Webhook(session, cfg.webhook_url, cfg.webhook_timeout_s)
            while True:
                self._queued.clear()
                try:
                    result = await deliver(self.h, datetime.now(UTC), webhook.post)
                    if result.errors:
                        status.failed(WebhookError(result.errors[-1]))
                    elif result.delivered or status.state != "failed":  # a failure stands until a post succeeds
                        status.ok()
                except Exception as exc:
                    status.failed(exc)
                try:
                    await asyncio.wait_for(self._queued.wait(), self.poll_s)
                except TimeoutError:
                    pass
