"""The daily alert digest and the webhook (issue 12).

``digest(h, now)``: from ``[alerts] digest_hour`` (China time) on, once per China day for each
region prefix an active account is bound to (``()`` is the whole headend), write
``<root>/digests/<day>_<region>.json`` and a ``.txt`` beside it in Chinese — the open alerts
under that region (the ones no digest listed before marked new) and those cleared since the
region's previous digest — and, when ``[alerts] webhook_url`` is set, queue the same JSON for it.
The database claims each (day, region) once, so however often it runs, and from however many
headend processes, a region gets one digest a day. Its open alerts count as notified from then on:
only those send a recovery message when they clear (``headend.service.alerts.check``).

``deliver(h, now, post)``: post each due delivery (digest or recovery) with ``post`` (a
``Webhook``'s); one that fails waits 1, 2, 4 … up to 60 minutes and is tried again, never given
up; one answered 2xx is never posted again. Receivers get each message at least once (the
``key`` field names it, for dropping a repeat after a lost answer)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from catalogue.clocks import CHINA
from headend.db.records import Alert
from headend.errors import HeadendError, WebhookError
from headend.service.alert_rules import KIND_LABELS
from headend.service.alerts import alert_json, iso, region_words
from headend.service.dashboard import moment
from headend.service.root import Headend
from playlists.atomic import atomic_write

FIRST_RETRY_S = 60
LAST_RETRY_S = 3600
_UNSAFE = re.compile(r"[^\w\u4e00-\u9fff-]+")


@dataclass(frozen=True)
class DigestMade:
    region: tuple[str, ...]
    path: Path  # the .json (the .txt beside it)
    open: int
    cleared: int
    queued: bool  # for the webhook


def file_stem(day: date, region: Sequence[str]) -> str:
    """ "2026-12-07_广东省-肇庆市-高要市" ("…_全部地区" for the whole headend)."""
    parts = [_UNSAFE.sub("_", p).strip("_") or "_" for p in region]
    return f"{day.isoformat()}_{'-'.join(parts) or '全部地区'}"


def due_day(h: Headend, now: datetime) -> date | None:
    """The China day whose digests are due at ``now`` (None before ``digest_hour``)."""
    china = now.astimezone(CHINA)
    return china.date() if china.hour >= h.cfg.alerts.digest_hour else None


def _under(a: Alert, region: tuple[str, ...]) -> bool:
    return tuple(a.region[: len(region)]) == region


def _by_place(a: Alert) -> tuple:
    """A digest reads region by region, station by station."""
    return (a.region, a.station, a.opened_at)


def _short(text: str | None) -> str:
    t = moment(text)
    if t is None:
        return "—"
    t = t.astimezone(CHINA)
    return f"{t.month}月{t.day}日 {t:%H:%M}"


def _line(a: Alert, new: bool = False) -> str:
    label = KIND_LABELS.get(a.kind, a.kind)
    where = f"{a.station_name}（{a.station}，{region_words(a.region)}）"
    if a.cleared_at:
        return f"- {where} {label}：{a.words}；{_short(a.opened_at)} 至 {_short(a.cleared_at)}"
    ack = f"；{a.acknowledged_by} 已确认" if a.acknowledged_by else "；未确认"
    return f"- {'[新] ' if new else ''}{where} {label}：{a.words}；自 {_short(a.opened_at)} 起{ack}"


def _text(day: date, region: tuple[str, ...], now: datetime, opened: list[Alert], cleared: list[Alert]) -> str:
    new = [a for a in opened if a.notified_at is None]
    unacknowledged = [a for a in opened if a.acknowledged_by is None]
    lines = [
        f"远教站点告警日报 {day.year}年{day.month}月{day.day}日 · {region_words(region)}",
        f"生成于 {_short(iso(now))}（北京时间）",
        "",
    ]
    if opened:
        lines.append(f"未恢复的告警 {len(opened)} 条（新 {len(new)} 条，未确认 {len(unacknowledged)} 条）：")
        lines += [_line(a, a.notified_at is None) for a in opened]
    else:
        lines.append("没有未恢复的告警。")
    if cleared:
        lines += ["", f"上次日报以来已恢复 {len(cleared)} 条："] + [_line(a) for a in cleared]
    return "\n".join(lines) + "\n"


def _payload(day: date, region: tuple[str, ...], now: datetime, opened: list[Alert], cleared: list[Alert]) -> dict:
    return {
        "kind": "digest",
        "key": f"digest:{day.isoformat()}:{'/'.join(region)}",
        "day": day.isoformat(),
        "region": list(region),
        "made_at": iso(now),
        "counts": {
            "open": len(opened),
            "new": sum(a.notified_at is None for a in opened),
            "unacknowledged": sum(a.acknowledged_by is None for a in opened),
            "cleared": len(cleared),
        },
        "open": [{**alert_json(a), "new": a.notified_at is None} for a in opened],
        "cleared": [alert_json(a) for a in cleared],
        "text": _text(day, region, now, opened, cleared),
    }


def digest(h: Headend, now: datetime | None = None) -> list[DigestMade]:
    """Make the digests due at ``now`` that no pass made yet (see the module's docstring)."""
    now = now or datetime.now(UTC)
    day = due_day(h, now)
    if day is None:
        return []
    db = h.db.alerts
    todo = [r for r in (h.db.users.active_regions() or [()]) if not db.digest_made(day.isoformat(), r)]
    if not todo:
        return []
    open_now = db.open_alerts()
    made = []
    for region in todo:
        since = db.last_digest_at(region) or iso(now - timedelta(days=1))
        opened = sorted((a for a in open_now if _under(a, region)), key=_by_place)
        cleared = sorted((a for a in db.recent(since) if a.cleared_at is not None and _under(a, region)), key=_by_place)
        payload = _payload(day, region, now, opened, cleared)
        stem = file_stem(day, region)
        text = json.dumps(payload, ensure_ascii=False, indent=1)
        folder = h.cfg.digests_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(folder / f"{stem}.txt", payload["text"].encode("utf-8"))
            atomic_write(folder / f"{stem}.json", text.encode("utf-8"))
        except OSError as exc:
            raise HeadendError(
                f"{folder}: cannot write the alert digest {stem}.json ({exc.strerror or exc}); "
                "check the folder's owner and the free disk (tried again at the next check)"
            ) from exc
        webhook = bool(h.cfg.alerts.webhook_url)
        if db.record_digest(
            day.isoformat(), region, iso(now), f"{stem}.json", [a.id for a in opened], text if webhook else None
        ):
            made.append(DigestMade(region, folder / f"{stem}.json", len(opened), len(cleared), webhook))
    return made


def test_message(now: datetime) -> bytes:
    """What ``headend alerts --test-webhook`` posts: a message of kind ``test``."""
    doc = {
        "kind": "test",
        "key": f"test:{iso(now)}",
        "made_at": iso(now),
        "text": "远教告警推送测试：收到这条消息，说明告警推送设置正确。",
    }
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Delivered:
    delivered: int
    errors: list[str]  # one per failed post, what the webhook error said


def retry_after_s(attempts: int) -> float:
    """The pause after the ``attempts``-th failed post: 1, 2, 4 … minutes, at most an hour."""
    return min(LAST_RETRY_S, FIRST_RETRY_S * 2 ** max(0, attempts - 1))


async def deliver(h: Headend, now: datetime, post: Callable[[bytes], Awaitable[None]]) -> Delivered:
    """Post the deliveries due at ``now`` (none when no ``webhook_url`` is set)."""
    cfg = h.cfg.alerts
    if not cfg.webhook_url:
        return Delivered(0, [])
    lease = now + timedelta(seconds=cfg.webhook_timeout_s + FIRST_RETRY_S)
    due = await asyncio.to_thread(h.db.alerts.claim_due, iso(now), iso(lease))
    delivered, errors = 0, []
    for d in due:
        try:
            await post(d.payload.encode("utf-8"))
        except WebhookError as exc:
            errors.append(str(exc))
            retry = now + timedelta(seconds=retry_after_s(d.attempts))
            await asyncio.to_thread(h.db.alerts.failed, d.id, str(exc), iso(retry))
        else:
            delivered += 1
            await asyncio.to_thread(h.db.alerts.delivered, d.id, iso(now))
    return Delivered(delivered, errors)
