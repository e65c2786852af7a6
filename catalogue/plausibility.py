"""Figures a station reports that cannot be true are flagged, shown and not counted.

The headend adds up a period's daily roll-ups per station (``Sums``, in SQL) and hands over the
few days that may break a rule (``DayFigures``). ``day_flags`` says which rules a day breaks and
with what evidence; each rule voids a group of that day's figures (``RULES``): the day's study
sessions, its plays, all of it, or the whole period. ``contribution`` is what one day adds to the
sums — the SQL mirrors it exactly — so a flagged day is taken out by subtracting its
contribution and adding back what its unvoided groups give (``apply_flags``). Voiding never
helps a station: a voided day stops counting as a day its box had the current courses.

An admin may override a flag with a written reason; the override holds the evidence it judged,
so a day that later gets worse figures (a late backlog adding a 500-person session to a day
judged for 45 people) is flagged again. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

from catalogue.rubric import FlagRules

# rule → (what it means, in Chinese; the figures it voids: sessions, plays, day or period)
RULES: dict[str, tuple[str, str]] = {
    "headcount_over_capacity": ("集中学习人数超过场所座位数", "sessions"),
    "headcount_over_members": ("集中学习人数超过登记党员人数的上限倍数", "sessions"),
    "overlapping_sessions": ("集中学习时间相互重叠", "sessions"),
    "sessions_over_day": ("一天的集中学习场次超过上限", "sessions"),
    "hours_over_day": ("一天的学习时长超过上限", "plays"),
    "hours_over_opening": ("一天的学习时长超过站点开放时间", "plays"),
    "watched_over_wall": ("观看时长超过播放的起止时间", "plays"),
    "plays_while_offline": ("当天没有收到心跳却有播放", "plays"),
    "clients_over_day": ("一天里观看的电视（终端）数超过上限", "plays"),
    "time_uncertain": ("有事件的时间无法校正", "day"),
    "identical_events": ("一天内出现多条完全相同的记录", "day"),
    "clock_unmeasured": ("本期从未测得站点时钟", "period"),
}
GROUP_WORDS = {
    "sessions": "当天集中学习不计",
    "plays": "当天播放和自学不计",
    "day": "当天全部数据不计",
    "period": "本期数据不计",
}


@dataclass(frozen=True)
class Sums:
    """A station's figures over some days (what ``contribution`` adds up)."""

    sessions: int = 0
    session_person_times: int = 0
    individual_plays: int = 0
    plays: int = 0
    watched_s: float = 0.0
    active_days: int = 0
    online_days: int = 0
    logbook: int = 0
    notice_views: int = 0
    current_days: int = 0  # days a heartbeat said the box had the version published the day before
    reported_days: int = 0

    def __add__(self, other: Sums) -> Sums:
        return Sums(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def __sub__(self, other: Sums) -> Sums:
        return Sums(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})

    @property
    def person_times(self) -> int:
        return self.session_person_times + self.individual_plays

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class DayFigures:
    """One station-day's roll-up as the plausibility rules and the sums read it."""

    day: str
    sessions: int = 0
    session_person_times: int = 0
    individual_plays: int = 0
    plays: int = 0
    watched_s: float = 0.0
    logbook: int = 0
    notice_views: int = 0
    online_minutes: float = 0.0
    current: bool = False  # its installed version was at least the one published the day before
    max_headcount: int = 0
    overlapping_sessions: int = 0
    overlong_plays: int = 0
    identical_events: int = 0
    time_uncertain: int = 0
    clients: int = 0  # TVs (addresses) with a play that counted as individual study


@dataclass(frozen=True)
class StationFacts:
    """What the county registered about a station, which the rules compare against."""

    capacity: int | None = None
    members: int | None = None
    open_s: float | None = None  # seconds a day it is open (None: always)


@dataclass(frozen=True)
class Override:
    """An admin judged a flag wrong: who, why, when, and the evidence they judged."""

    by: str
    reason: str
    at: str
    evidence: str


@dataclass(frozen=True)
class Flag:
    rule: str
    day: str  # China day, or the period's name for a period's flag
    evidence: str  # the figures that broke the rule, in words
    override: Override | None = None  # standing only while the evidence is the one judged

    @property
    def label(self) -> str:
        return RULES[self.rule][0]

    @property
    def voids(self) -> str:
        return RULES[self.rule][1]

    @property
    def counted(self) -> bool:
        """Overridden: its figures count after all."""
        return self.override is not None

    def to_dict(self) -> dict:
        d = {"rule": self.rule, "label": self.label, "day": self.day, "evidence": self.evidence, "voids": self.voids}
        if self.override:
            o = self.override
            d["override"] = {"by": o.by, "reason": o.reason, "at": o.at}
        return d


def judged(rule: str, day: str, evidence: str, override: Override | None) -> Flag:
    """The flag, with the override only if it judged this very evidence."""
    return Flag(rule, day, evidence, override if override is not None and override.evidence == evidence else None)


def contribution(d: DayFigures, voided: Iterable[str] = ()) -> Sums:
    """What one day adds to a station's sums with the figure groups ``voided`` left out."""
    voided = set(voided)
    if "day" in voided or "period" in voided:
        return Sums(reported_days=1)
    sessions = "sessions" not in voided
    plays = "plays" not in voided
    return Sums(
        sessions=d.sessions if sessions else 0,
        session_person_times=d.session_person_times if sessions else 0,
        individual_plays=d.individual_plays if plays else 0,
        plays=d.plays if plays else 0,
        watched_s=d.watched_s if plays else 0.0,
        active_days=int((plays and d.plays > 0) or (sessions and d.sessions > 0)),
        online_days=int(d.online_minutes > 0),
        logbook=d.logbook,
        notice_views=d.notice_views,
        current_days=int(d.current),
        reported_days=1,
    )


def _h(seconds: float) -> str:
    return f"{seconds / 3600:.1f} 小时"


def day_flags(d: DayFigures, s: StationFacts, rules: FlagRules) -> list[tuple[str, str]]:
    """The rules ``d`` breaks, each with its evidence in words."""
    out = []
    if rules.headcount_over_capacity and s.capacity and d.max_headcount > s.capacity:
        out.append(("headcount_over_capacity", f"一场集中学习登记 {d.max_headcount} 人，场所只有 {s.capacity} 个座位"))
    factor = rules.headcount_members_factor
    if factor and s.members and d.max_headcount > factor * s.members:
        out.append(
            (
                "headcount_over_members",
                f"一场集中学习登记 {d.max_headcount} 人，超过登记党员 {s.members} 人的 {factor:g} 倍",
            )
        )
    if rules.overlapping_sessions and d.overlapping_sessions:
        out.append(("overlapping_sessions", f"{d.overlapping_sessions} 场集中学习的时间相互重叠"))
    if rules.max_sessions_per_day and d.sessions > rules.max_sessions_per_day:
        out.append(
            ("sessions_over_day", f"当天登记了 {d.sessions} 场集中学习，超过每天 {rules.max_sessions_per_day} 场")
        )
    cap = rules.max_hours_per_day * 3600
    if cap and d.watched_s > cap:
        out.append(("hours_over_day", f"当天学习时长 {_h(d.watched_s)}，超过每天 {rules.max_hours_per_day:g} 小时"))
    elif rules.hours_over_opening and s.open_s is not None and d.watched_s > s.open_s:
        out.append(("hours_over_opening", f"当天学习时长 {_h(d.watched_s)}，站点只开放 {_h(s.open_s)}"))
    if rules.watched_over_wall and d.overlong_plays:
        out.append(("watched_over_wall", f"{d.overlong_plays} 次播放的观看时长超过了播放的起止时间"))
    if rules.plays_while_offline and d.plays and d.online_minutes <= 0:
        out.append(("plays_while_offline", f"当天没有收到任何心跳，却报了 {d.plays} 次播放"))
    if rules.max_clients_per_day and d.clients > rules.max_clients_per_day:
        out.append(
            ("clients_over_day", f"当天有 {d.clients} 台电视（终端）计入自学，超过每天 {rules.max_clients_per_day} 台")
        )
    if rules.time_uncertain and d.time_uncertain:
        out.append(("time_uncertain", f"{d.time_uncertain} 条事件的时间无法校正，不知道是否属于这一天"))
    if rules.identical_events and d.identical_events >= rules.identical_events:
        out.append(("identical_events", f"同一条记录出现了 {d.identical_events} 次"))
    return out


def apply_flags(sums: Sums, day: DayFigures, flags: Sequence[Flag]) -> Sums:
    """``sums`` (which hold ``day`` in full) with the figures its standing flags void taken out."""
    voided = {f.voids for f in flags if not f.counted}
    if not voided:
        return sums
    return sums - contribution(day) + contribution(day, voided)


def void_period(sums: Sums) -> Sums:
    """A period's flag voids every figure (the days still count as reported)."""
    return Sums(reported_days=sums.reported_days)
