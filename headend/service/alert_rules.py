"""The alert rules (issue 12), pure: each takes what the headend knows about one station
(``Facts``), the ``[alerts]`` settings and the moment to judge at, and says whether its kind of
alert holds, with the words county staff read ("失联 26 小时（开放时间内）"). No I/O: the check
(``headend.service.alerts``) gathers the facts and keeps the alerts.

- **silent**: no upload (any report, a heartbeat too) for ``offline_hours``, counting only the
  hours within the station's opening hours when it has them. A station that never connected is
  not silent: it is *never_connected* once enrolled ``NEVER_CONNECTED_DAYS`` ago (a box set up
  with a wrong token or address reports nothing, and nobody else would notice).
- **sync_failing**: the newest health sample says sync failed, and it has been failing (since the
  time the station gives, its clock corrected by the measured offset, or since the first of its
  unbroken run of failed samples) for ``sync_failing_hours`` up to that sample — a silent
  station's time since then is the silence's, not the sync's.
- **disk_low**: free disk under ``disk_free_percent`` of the box's disk.
- **clock_off**: the box's clock, as measured at its last upload, off by more than
  ``clock_offset_minutes`` (the offset the box heard last when the headend never measured one).
- **pin_failures**: ``pin_failures`` wrong admin PINs or more on the China day of the check.
- **fives_failed**: an item of the newest five-ones self-check not met.
- **question_overdue**: a question the station sent is still unanswered past its deadline
  (``[questions] answer_days``; the county's failing, shown on the asking station).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from catalogue.clocks import CHINA
from catalogue.figures import FIVES
from catalogue.hours import Hours, open_seconds
from headend.config import AlertSettings
from headend.db.records import Health

NEVER_CONNECTED_DAYS = 7

KIND_LABELS = {
    "silent": "失联",
    "never_connected": "从未上报",
    "sync_failing": "同步一直失败",
    "disk_low": "磁盘快满",
    "clock_off": "时钟不准",
    "pin_failures": "管理密码多次输错",
    "fives_failed": "五个一未达标",
    "question_overdue": "群众提问逾期未答",
}
FIVES_LABELS = {
    "place": "一处固定场所",
    "equipment": "一套信息化设备",
    "administrator": "一名信息管理员",
    "rules": "一套管理制度",
    "assessment": "一套应用考核办法",
}


@dataclass(frozen=True)
class Facts:
    """What the headend knows about one station at the moment of a check."""

    enrolled: datetime
    hours: Hours = ()  # opening hours (China time); () always open
    last_contact: datetime | None = None  # the last upload it made (None: never)
    health: Health | None = None  # its newest health sample
    health_at: datetime | None = None  # that sample's (corrected) time
    failing_since: datetime | None = None  # sync has failed since (station's word, or its samples')
    offset_s: float | None = None  # headend time − box clock (s) measured at its last upload: > 0 the box is slow
    pin_failures_today: int = 0  # wrong admin PINs on the China day of the check
    fives: Mapping[str, bool] | None = None  # the newest five-ones check: item → met
    fives_day: str | None = None  # its China day
    overdue_questions: tuple[tuple[str, float], ...] = ()  # (number, seconds past the deadline), unanswered


@dataclass(frozen=True)
class Finding:
    """An alert that holds: its kind and what it says (``detail['words']`` and the facts)."""

    kind: str
    words: str
    facts: Mapping[str, object] = field(default_factory=dict)

    @property
    def detail(self) -> dict:
        return {"words": self.words, **self.facts}


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(CHINA).isoformat(timespec="seconds") if t else None


def _when(t: datetime) -> str:
    t = t.astimezone(CHINA)
    return f"{t.month}月{t.day}日 {t:%H:%M}"


def span_words(seconds: float) -> str:
    """ "40 分钟", "26 小时" (under three days), "3 天 2 小时"."""
    s = max(0, int(seconds))
    if s < 3600:
        return f"{s // 60} 分钟"
    if s < 3 * 86400:
        return f"{s // 3600} 小时"
    days, hours = s // 86400, (s % 86400) // 3600
    return f"{days} 天 {hours} 小时" if hours else f"{days} 天"


def silent(f: Facts, s: AlertSettings, now: datetime) -> Finding | None:
    if f.last_contact is None:
        return None
    counted = open_seconds(f.hours, f.last_contact, now)
    if counted < s.offline_hours * 3600:
        return None
    within = "（开放时间内）" if f.hours else ""
    return Finding(
        "silent",
        f"失联 {span_words(counted)}{within}，最后上报 {_when(f.last_contact)}",
        {"silent_s": round(counted), "last_contact": _iso(f.last_contact)},
    )


def never_connected(f: Facts, s: AlertSettings, now: datetime) -> Finding | None:
    if f.last_contact is not None or now - f.enrolled < timedelta(days=NEVER_CONNECTED_DAYS):
        return None
    return Finding(
        "never_connected",
        f"登记已 {span_words((now - f.enrolled).total_seconds())}，从未上报"
        "（检查站点 station.toml 的 [report] url 和令牌）",
        {"enrolled": _iso(f.enrolled)},
    )


def sync_failing(f: Facts, s: AlertSettings, now: datetime) -> Finding | None:
    h = f.health
    if h is None or h.sync_state != "failed" or f.failing_since is None:
        return None
    as_of = f.health_at or now
    failing = (as_of - f.failing_since).total_seconds()
    if failing < s.sync_failing_hours * 3600:
        return None
    error = f"：{h.sync_error}" if h.sync_error else ""
    return Finding(
        "sync_failing",
        f"同步失败已 {span_words(failing)}{error}",
        {"failing_since": _iso(f.failing_since), "error": h.sync_error},
    )


def disk_low(f: Facts, s: AlertSettings, now: datetime) -> Finding | None:
    share = f.health.disk_free_share if f.health else None
    if share is None or share * 100 >= s.disk_free_percent:
        return None
    return Finding(
        "disk_low",
        f"磁盘剩余 {share * 100:.0f}%（{f.health.disk_free_mb:.0f} MB / {f.health.disk_total_mb:.0f} MB）",
        {"free_percent": round(share * 100, 1), "free_mb": f.health.disk_free_mb},
    )


def clock_off(f: Facts, s: AlertSettings, now: datetime) -> Finding | None:
    offset = f.offset_s
    if offset is None and f.health is not None:
        offset = f.health.offset_s
    if offset is None or abs(offset) <= s.clock_offset_minutes * 60:
        return None
    amount = f"{abs(offset) / 3600:.1f} 小时" if abs(offset) >= 3600 else f"{abs(offset) / 60:.0f} 分钟"
    return Finding("clock_off", f"时钟{'慢' if offset > 0 else '快'} {amount}", {"offset_s": round(offset)})


def pin_failures(f: Facts, s: AlertSettings, now: datetime) -> Finding | None:
    if f.pin_failures_today < s.pin_failures:
        return None
    today = now.astimezone(CHINA).date()
    return Finding(
        "pin_failures",
        f"今天管理密码输错 {f.pin_failures_today} 次（{today.month}月{today.day}日）",
        {"failures": f.pin_failures_today, "day": today.isoformat()},
    )


def fives_failed(f: Facts, s: AlertSettings, now: datetime) -> Finding | None:
    if not f.fives:
        return None
    failed = [k for k in FIVES if k in f.fives and not f.fives[k]]
    if not failed:
        return None
    return Finding(
        "fives_failed",
        f"五个一自查未达标：{'、'.join(FIVES_LABELS[k] for k in failed)}",
        {"items": failed, "day": f.fives_day},
    )


def question_overdue(f: Facts, s: AlertSettings, now: datetime) -> Finding | None:
    if not f.overdue_questions:
        return None
    worst = max(late for _, late in f.overdue_questions)
    numbers = sorted(n for n, _ in f.overdue_questions)
    return Finding(
        "question_overdue",
        f"{len(numbers)} 个群众提问超过答复时限未答（{'、'.join(numbers[:5])}{'等' if len(numbers) > 5 else ''}），"
        f"最久逾期 {span_words(worst)}",
        {"questions": numbers, "worst_late_s": round(worst)},
    )


RULES: Sequence[Callable[[Facts, AlertSettings, datetime], Finding | None]] = (
    silent,
    never_connected,
    sync_failing,
    disk_low,
    clock_off,
    pin_failures,
    fives_failed,
    question_overdue,
)


def evaluate(f: Facts, s: AlertSettings, now: datetime) -> list[Finding]:
    """Every alert that holds for the station at ``now``."""
    return [found for rule in RULES if (found := rule(f, s, now)) is not None]


def failing_since(samples: Sequence[tuple[datetime, str]]) -> datetime | None:
    """For a station that does not say since when its sync fails (older ones): the time of the
    first sample of the unbroken run of ``failed`` samples up to the newest. ``samples``: (time,
    sync_state), newest first. None when the newest did not fail."""
    since = None
    for at, state in samples:
        if state != "failed":
            break
        since = at
    return since
