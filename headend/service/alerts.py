"""Station alerts (issue 12): ``check`` judges every station against the rules
(``headend.service.alert_rules``) at an injected moment, opens the alerts that newly hold, updates
the words of those still holding and clears the rest — queueing a recovery message for the webhook
only for an alert that went out in a digest. ``acknowledge`` is an account's "seen, on it"
(audit-logged); ``visible`` lists what an account's region holds. Blocking: the loops and pages
call these in a thread. The daily digest and the webhook are ``headend.service.digests``."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from catalogue.clocks import CHINA
from catalogue.hours import HoursError, parse_hours
from headend.db.records import Alert, Health, Station, User
from headend.errors import NotFound
from headend.service import questions
from headend.service.alert_rules import KIND_LABELS, Facts, evaluate, failing_since
from headend.service.audit import Actor, audit
from headend.service.dashboard import moment
from headend.service.root import Headend

log = logging.getLogger(__name__)

CLEARED_SHOWN_DAYS = 7  # how long a cleared alert stays on the pages
_MAX_SAMPLES = 5000  # health samples read back for a station that does not say since when sync fails


def iso(t: datetime) -> str:
    """A moment as the database keeps it (UTC, whole seconds)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def region_words(region: Sequence[str]) -> str:
    return "/".join(region) or "全部地区"


def alert_json(a: Alert) -> dict:
    """An alert as the API, the digest and the webhook give it."""
    return {
        "id": a.id,
        "station": a.station,
        "station_name": a.station_name,
        "region": list(a.region),
        "kind": a.kind,
        "kind_label": KIND_LABELS.get(a.kind, a.kind),
        "words": a.words,
        "detail": {k: v for k, v in a.detail.items() if k != "words"},
        "opened_at": a.opened_at,
        "cleared_at": a.cleared_at,
        "acknowledged_by": a.acknowledged_by,
        "acknowledged_at": a.acknowledged_at,
    }


@dataclass(frozen=True)
class CheckResult:
    stations: int  # judged (revoked ones are not)
    opened: int
    cleared: int
    recoveries: int  # recovery messages queued for the webhook
    open: int  # open after the check


def _hours(station: Station):
    try:
        return parse_hours(station.opening_hours or "")
    except HoursError:
        log.warning(
            "station %s: opening hours %r unreadable; counted as always open", station.id, station.opening_hours
        )
        return ()


def _failing_since(
    h: Headend, station: Station, health: Health, health_at: datetime | None, offset_s: float | None
) -> datetime | None:
    """Since when the station's sync fails: its own word (the box's clock, corrected by the
    offset measured at its last upload), or (older stations) the first of its unbroken run of
    failed health samples over the last ``sync_failing_hours`` and a day."""
    if health.sync_state != "failed":
        return None
    said = moment(health.sync_failing_since)
    if said is not None:
        return said + timedelta(seconds=offset_s or 0)
    last = health_at or datetime.now(UTC)
    window_s = h.cfg.alerts.sync_failing_hours * 3600 + 86400
    first = (last - timedelta(seconds=window_s)).astimezone(CHINA).date()
    limit = min(_MAX_SAMPLES, int(window_s / max(health.interval_s or 60, 60)) + 2)
    samples = h.db.dashboard.events(station.id, ("health",), first, last.astimezone(CHINA).date(), limit)
    return failing_since([(moment(e["at"]), str(e["event"].get("sync_state", ""))) for e in samples])


def _facts(h: Headend, now: datetime) -> dict[str, Facts]:
    """What the headend knows about each station that may report (revoked ones are left out)."""
    db = h.db
    today = now.astimezone(CHINA).date()
    health, offsets = db.dashboard.health(), db.dashboard.offsets()
    figures, fives = db.dashboard.activity(None, today, today), db.alerts.latest_fives()
    overdue = questions.overdue_by_station(h, now)
    out = {}
    for s in db.stations():
        if s.revoked_at:
            continue
        sample = health.get(s.id)
        sample_at = moment(sample.at) if sample else None
        offset = offsets[s.id][0] if s.id in offsets else None
        day_fives = fives.get(s.id)
        out[s.id] = Facts(
            enrolled=moment(s.created_at) or now,
            hours=_hours(s),
            last_contact=moment(s.last_report_at),
            health=sample,
            health_at=sample_at,
            failing_since=_failing_since(h, s, sample, sample_at, offset) if sample else None,
            offset_s=offset,
            pin_failures_today=figures[s.id].failed_logins if s.id in figures else 0,
            fives=day_fives[1] if day_fives else None,
            fives_day=day_fives[0] if day_fives else None,
            overdue_questions=tuple(overdue.get(s.id, ())),
        )
    return out


def recovery_payload(a: Alert, now: datetime) -> str:
    """The webhook's message that a notified alert cleared (JSON text, posted as is)."""
    cleared = now.astimezone(CHINA)
    opened = moment(a.opened_at).astimezone(CHINA)
    doc = {
        "kind": "recovery",
        "key": f"recovery:{a.id}",
        "alert": {**alert_json(a), "cleared_at": iso(now)},
        "text": (
            f"已恢复：{a.station_name}（{region_words(a.region)}）{KIND_LABELS.get(a.kind, a.kind)}"
            f"——{a.words}；{opened.month}月{opened.day}日 {opened:%H:%M} 起，"
            f"{cleared.month}月{cleared.day}日 {cleared:%H:%M} 恢复"
        ),
    }
    return json.dumps(doc, ensure_ascii=False)


def check(h: Headend, now: datetime | None = None) -> CheckResult:
    """Judge every station at ``now`` and bring the alerts up to date."""
    now = now or datetime.now(UTC)
    facts = _facts(h, now)
    found = {
        (station, f.kind): f
        for station, station_facts in facts.items()
        for f in evaluate(station_facts, h.cfg.alerts, now)
    }
    current = {(a.station, a.kind): a for a in h.db.alerts.open_alerts()}
    webhook = bool(h.cfg.alerts.webhook_url)
    opened = [(station, kind, f.detail) for (station, kind), f in found.items() if (station, kind) not in current]
    changed = {a.id: found[k].detail for k, a in current.items() if k in found and found[k].words != a.words}
    cleared = {
        a.id: (a.region, recovery_payload(a, now)) if webhook else None for k, a in current.items() if k not in found
    }
    n_opened, n_cleared, n_recoveries = h.db.alerts.record_check(iso(now), opened, changed, cleared)
    return CheckResult(len(facts), n_opened, n_cleared, n_recoveries, len(current) + n_opened - n_cleared)


@dataclass(frozen=True)
class AlertList:
    open: list[Alert]
    cleared: list[Alert]  # within CLEARED_SHOWN_DAYS, newest first


def visible(h: Headend, user: User, region: Sequence[str] = (), now: datetime | None = None) -> AlertList:
    """The alerts of the stations under ``region`` that the account may see: open ones and those
    cleared within the last ``CLEARED_SHOWN_DAYS``."""
    since = (now or datetime.now(UTC)) - timedelta(days=CLEARED_SHOWN_DAYS)
    region = tuple(region)
    shown = [
        a for a in h.db.alerts.recent(iso(since)) if user.sees(a.region) and tuple(a.region[: len(region)]) == region
    ]
    return AlertList([a for a in shown if a.cleared_at is None], [a for a in shown if a.cleared_at is not None])


def open_counts(h: Headend, user: User, region: Sequence[str]) -> tuple[int, int]:
    """How many alerts are open under ``region`` within the account's, and how many of those
    nobody acknowledged yet."""
    region = tuple(region)
    shown = [a for a in h.db.alerts.open_alerts() if user.sees(a.region) and tuple(a.region[: len(region)]) == region]
    return len(shown), sum(a.acknowledged_by is None for a in shown)


def station_alerts(h: Headend, station_id: str, now: datetime | None = None) -> list[Alert]:
    """One station's open alerts and those cleared within ``CLEARED_SHOWN_DAYS``, newest first."""
    since = (now or datetime.now(UTC)) - timedelta(days=CLEARED_SHOWN_DAYS)
    return h.db.alerts.recent(iso(since), station_id)


def acknowledge(h: Headend, actor: Actor, user: User, alert_id: int) -> Alert:
    """The account has seen the alert (the first acknowledgement stays; audit-logged). NotFound
    for an alert that does not exist or lies outside the account's region."""
    alert = h.db.alerts.get(alert_id)
    if alert is None or not user.sees(alert.region):
        raise NotFound(f"没有这条告警（no alert {alert_id}）")
    if h.db.alerts.acknowledge(alert_id, user.name, iso(datetime.now(UTC))):
        audit(
            h,
            actor,
            "alert.acknowledge",
            f"{alert.station}/{alert.kind}",
            {"alert": alert.id, "words": alert.words},
            alert.region,
        )
    return h.db.alerts.get(alert_id) or alert
