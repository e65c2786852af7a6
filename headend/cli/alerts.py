"""``headend alerts``: the open alerts (words, or ``--json``); ``--check`` first runs one pass of
what ``headend serve`` does in the background — judge every station now, write the day's digests
once ``digest_hour`` has come, post what is due to ``[alerts] webhook_url`` — so cron can run it on
a headend without ``serve``; ``--test-webhook`` posts one test message to ``[alerts] webhook_url``
at once and says how the receiver answered. Exit 1 when the webhook could not be reached (the
message says what to do); what was not delivered is tried again at the next pass."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime

import aiohttp

from catalogue.display import people_time
from headend.cli.table import table
from headend.service import Headend, open_root
from headend.service.alert_rules import KIND_LABELS
from headend.service.alerts import alert_json, check, region_words
from headend.service.dashboard import moment
from headend.service.digests import Delivered, deliver, digest, test_message
from headend.service.webhook import Webhook


async def _deliver(h: Headend, now: datetime) -> Delivered:
    async with aiohttp.ClientSession() as session:
        webhook = Webhook(session, h.cfg.alerts.webhook_url, h.cfg.alerts.webhook_timeout_s)
        return await deliver(h, now, webhook.post)


async def _post_test(h: Headend) -> None:
    async with aiohttp.ClientSession() as session:
        webhook = Webhook(session, h.cfg.alerts.webhook_url, h.cfg.alerts.webhook_timeout_s)
        await webhook.post(test_message(datetime.now(UTC)))


def cmd_test_webhook(h: Headend) -> int:
    url = h.cfg.alerts.webhook_url
    if not url:
        print(
            f"headend alerts: [alerts] webhook_url is empty in {h.cfg.root}/headend.toml; set it first", file=sys.stderr
        )
        return 1
    asyncio.run(_post_test(h))  # a WebhookError is the command's one-line error
    print(f"webhook {url} answered 2xx: alert digests and recovery messages will reach it")
    return 0


def _one_pass(h: Headend, quiet: bool) -> tuple[dict, list[str]]:
    now = datetime.now(UTC)
    result = check(h, now)
    made = digest(h, now)
    sent = asyncio.run(_deliver(h, now))
    if not quiet:
        print(
            f"checked {result.stations} stations: {result.opened} opened, {result.cleared} cleared, "
            f"{result.open} open; {result.recoveries} recovery messages queued"
        )
        for m in made:
            queued = ", queued for the webhook" if m.queued else ""
            print(f"digest for {region_words(m.region)}: {m.path} ({m.open} open, {m.cleared} cleared{queued})")
        if sent.delivered:
            print(f"webhook: {sent.delivered} delivered")
    summary = {
        **result.__dict__,
        "digests": [str(m.path) for m in made],
        "delivered": sent.delivered,
        "webhook_errors": sent.errors,
    }
    return summary, sent.errors


def cmd_alerts(args: argparse.Namespace) -> int:
    if args.test_webhook:
        with open_root(args.root) as h:
            return cmd_test_webhook(h)
    with open_root(args.root) as h:
        summary, errors = _one_pass(h, args.json) if args.check else ({}, [])
        found = h.db.alerts.open_alerts()
        waiting = h.db.alerts.waiting() if h.cfg.alerts.webhook_url else []
    if args.json:
        doc = {"open": [alert_json(a) for a in found], "webhook_waiting": len(waiting)}
        print(json.dumps({**doc, "check": summary} if args.check else doc, ensure_ascii=False, indent=1))
    elif not found:
        print("no open alerts")
    else:
        head = ["id", "站点 station", "地区 region", "告警 alert", "开始 since", "情况 detail", "确认 acknowledged"]
        rows = [
            [
                str(a.id),
                a.station,
                region_words(a.region),
                KIND_LABELS.get(a.kind, a.kind),
                people_time(moment(a.opened_at)),
                a.words,
                a.acknowledged_by or "—",
            ]
            for a in found
        ]
        print(table(head, rows))
    for e in errors:
        print(f"headend alerts: {e}", file=sys.stderr)
    if waiting and not args.json:
        print(f"webhook: {len(waiting)} message(s) waiting; last error: {waiting[-1].last_error or '—'}")
    return 1 if errors else 0


def add_commands(sub, root: argparse.ArgumentParser) -> None:
    s = sub.add_parser("alerts", parents=[root], help="open station alerts; --check runs one check now")
    what = s.add_mutually_exclusive_group()
    what.add_argument(
        "--check", action="store_true", help="check every station now, write due digests, post to the webhook"
    )
    what.add_argument("--test-webhook", action="store_true", help="post a test message to [alerts] webhook_url now")
    s.add_argument("--json", action="store_true", help="JSON")
    s.set_defaults(func=cmd_alerts)
