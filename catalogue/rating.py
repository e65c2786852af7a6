"""Rating one station for one period under a rubric (``catalogue.rubric``), and ranking them.

The headend's database adds up a period's daily roll-ups per station (``Sums``, in SQL) and
hands over the few days a plausibility rule flags (``DayFigures``). ``day_flags`` says which rules
a day breaks and with what evidence; each rule voids a group of that day's figures (``RULES``):
a voided figure is shown with its flag and not counted, until an admin overrides the flag with a
written reason. ``contribution`` is what one day adds to the sums — the SQL mirrors it exactly,
so a flagged day is taken out by subtracting its contribution and adding back what its unvoided
groups give.

``rate`` turns the sums into every indicator's value, points and reason in words, the total, the
stars and whether the data suffice to rank (``min_coverage``); ``rank`` gives competition ranks
(ties share a rank: 1, 1, 3) within a region level. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from functools import cached_property, partial
from itertools import repeat
from typing import NamedTuple

from catalogue.periods import Period
from catalogue.rubric import PER, SOURCES, FlagRules, Indicator, Rubric

# rule → (what it means, in Chinese; the figures it voids: sessions, plays, day or period)
RULES: dict[str, tuple[str, str]] = {
    "headcount_over_capacity": ("集中学习人数超过场所座位数", "sessions"),
    "headcount_over_members": ("集中学习人数超过登记党员人数的上限倍数", "sessions"),
    "overlapping_sessions": ("集中学习时间相互重叠", "sessions"),
    "hours_over_day": ("一天的学习时长超过上限", "plays"),
    "hours_over_opening": ("一天的学习时长超过站点开放时间", "plays"),
    "watched_over_wall": ("观看时长超过播放的起止时间", "plays"),
    "plays_while_offline": ("当天没有收到心跳却有播放", "plays"),
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
STATUS_WORDS = {"ranked": "参与排名", "incomplete": "数据不全", "unexpected": "本期未开通"}


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
    days_behind: int = 0
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
    behind: bool = False  # its installed version was older than the one published the day before
    max_headcount: int = 0
    overlapping_sessions: int = 0
    overlong_plays: int = 0
    identical_events: int = 0
    time_uncertain: int = 0


@dataclass(frozen=True)
class StationFacts:
    """What the county registered about a station, which the rules compare against."""

    capacity: int | None = None
    members: int | None = None
    open_s: float | None = None  # seconds a day it is open (None: always)


@dataclass(frozen=True)
class Flag:
    rule: str
    day: str  # China day, or the period's name for a period's flag
    evidence: str  # the figures that broke the rule, in words
    override: tuple[str, str, str] | None = None  # (who, why, when) an admin overrode it

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
            d["override"] = dict(zip(("by", "reason", "at"), self.override, strict=True))
        return d


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
        days_behind=int(d.behind),
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
    cap = rules.max_hours_per_day * 3600
    if cap and d.watched_s > cap:
        out.append(("hours_over_day", f"当天学习时长 {_h(d.watched_s)}，超过每天 {rules.max_hours_per_day:g} 小时"))
    elif rules.hours_over_opening and s.open_s is not None and d.watched_s > s.open_s:
        out.append(("hours_over_opening", f"当天学习时长 {_h(d.watched_s)}，站点只开放 {_h(s.open_s)}"))
    if rules.watched_over_wall and d.overlong_plays:
        out.append(("watched_over_wall", f"{d.overlong_plays} 次播放的观看时长超过了播放的起止时间"))
    if rules.plays_while_offline and d.plays and d.online_minutes <= 0:
        out.append(("plays_while_offline", f"当天没有收到任何心跳，却报了 {d.plays} 次播放"))
    if rules.time_uncertain and d.time_uncertain:
        out.append(("time_uncertain", f"{d.time_uncertain} 条事件的时间无法校正，不知道是否属于这一天"))
    if rules.identical_events and d.identical_events >= rules.identical_events:
        out.append(("identical_events", f"同一条记录出现了 {d.identical_events} 次"))
    return out


def suspicious(d: DayFigures, s: StationFacts, rules: FlagRules) -> bool:
    return bool(day_flags(d, s, rules))


# ---- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What a station's rating depends on besides its sums."""

    period: Period
    days: int  # days it was to report: from its enrolment (or the period's start) to today or the end
    as_of: date  # the period's last day, or today while it runs
    members: int | None = None
    fives_day: date | None = None  # the last five-ones self-check with every item met
    inspections: Mapping[str, tuple[float, str]] = field(default_factory=dict)  # item → (score, date) valid now

    @cached_property
    def months(self) -> float:
        per_period = {"month": 1, "quarter": 3, "half": 6, "year": 12}.get(self.period.kind, 1)
        return max(per_period * self.days / self.period.days, 1 / 31)


class Score(NamedTuple):  # a tuple: a province's ranking makes 240,000 of them
    indicator: str
    label: str
    value: float | None  # normalised as the indicator scores it (None: nothing to score)
    points: float
    weight: float
    said: str | Callable[[], str]  # the reason, or how to write it when it is read

    @property
    def reason(self) -> str:
        """Why these points, in a sentence: "集中学习场次 3 场，达到每月 2 场的标准：20/20 分"."""
        return self.said if isinstance(self.said, str) else self.said()

    def to_dict(self) -> dict:
        return {
            "indicator": self.indicator,
            "label": self.label,
            "value": self.value,
            "points": self.points,
            "weight": self.weight,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Score:
        return cls(d["indicator"], d["label"], d["value"], float(d["points"]), float(d["weight"]), str(d["reason"]))


@dataclass(frozen=True)
class Standing:
    """A rating's headline — what the next period's change is measured against."""

    total: float
    stars: int
    status: str

    @property
    def status_words(self) -> str:
        return STATUS_WORDS[self.status]


@dataclass(frozen=True)
class Rating:
    station: str
    total: float
    max_total: float
    stars: int
    status: str  # ranked, incomplete, unexpected
    coverage: float  # reported days / days it was to report
    scores: tuple[Score, ...]
    flags: tuple[Flag, ...]
    sums: Sums

    @property
    def status_words(self) -> str:
        return STATUS_WORDS[self.status]

    @property
    def standing(self) -> Standing:
        return Standing(self.total, self.stars, self.status)

    @classmethod
    def from_dict(cls, d: Mapping) -> Rating:
        """A rating as ``to_dict`` wrote it (a closed period's, from the database)."""
        return cls(
            station=d["station"],
            total=float(d["total"]),
            max_total=float(d["max_total"]),
            stars=int(d["stars"]),
            status=d["status"],
            coverage=float(d["coverage"]),
            scores=tuple(Score.from_dict(s) for s in d["indicators"]),
            flags=tuple(
                Flag(
                    f["rule"],
                    f["day"],
                    f["evidence"],
                    tuple(f["override"][k] for k in ("by", "reason", "at")) if f.get("override") else None,  # type: ignore[arg-type]
                )
                for f in d["flags"]
            ),
            sums=Sums(**d["inputs"]),
        )

    def to_dict(self) -> dict:
        return {
            "station": self.station,
            "total": self.total,
            "max_total": self.max_total,
            "stars": self.stars,
            "status": self.status,
            "coverage": round(self.coverage, 4),
            "indicators": [s.to_dict() for s in self.scores],
            "flags": [f.to_dict() for f in self.flags],
            "inputs": self.sums.to_dict(),
        }


def _num(v: float) -> str:
    text = f"{v:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _share(v: float) -> str:
    return f"{v * 100:.0f}%"


@dataclass(frozen=True)
class _Plan:
    """What an indicator's reason says whatever the value (made once per indicator)."""

    label: str
    sp: str  # " 场", or "" for a share
    prefix: str  # 每月, 每天, or ""
    fmt: Callable[[float], str]
    linear_rule: str
    weight_text: str
    item: str | None


_PLANS: dict[int, tuple[tuple[Indicator, ...], tuple[_Plan, ...]]] = {}


def _plans(inds: tuple[Indicator, ...]) -> tuple[_Plan, ...]:
    """The plans of a rubric's indicators as scored in a region (kept while that tuple lives)."""
    held = _PLANS.get(id(inds))
    if held is not None and held[0] is inds:
        return held[1]
    plans = tuple(_plan(i) for i in inds)
    if len(_PLANS) > 1000:
        _PLANS.clear()
    _PLANS[id(inds)] = (inds, plans)
    return plans


def _plan(ind: Indicator) -> _Plan:
    label, unit, _ = SOURCES.get(ind.source, (ind.label, "分", ""))
    fmt = _share if ind.source == "online_share" else _num
    sp = f" {unit}" if unit else ""
    prefix = "" if ind.per == "period" else PER[ind.per]
    linear = ""
    if ind.scoring.linear is not None:
        zero, full = ind.scoring.linear
        linear = f"按{prefix} {fmt(zero)}{sp}不得分、{fmt(full)}{sp}得满分的比例计分"
    return _Plan(label, sp, prefix, fmt, linear, _num(ind.scoring.weight), ind.inspection)


def _raw_value(ind: Indicator, item: str | None, sums: Sums, ctx: Context) -> tuple[float | None, str]:
    """The source figure over the period, and why it is missing when it is."""
    if item is not None:
        held = ctx.inspections.get(item)
        if held is None:
            return None, "没有有效的实地检查记录"
        return held[0], ""
    src = ind.source
    if src == "person_times_per_member":
        if not ctx.members:
            return None, "站点未登记党员人数"
        return sums.person_times / ctx.members, ""
    if src == "study_hours":
        return sums.watched_s / 3600, ""
    if src == "online_share":
        return (sums.online_days / ctx.days if ctx.days else 0.0), ""
    if src == "fives_days":
        if ctx.fives_day is None:
            return None, "没有全部达标的五个一自查"
        return float((ctx.as_of - ctx.fives_day).days), ""
    if src == "person_times":
        return float(sums.person_times), ""
    return float(getattr(sums, src)), ""


def score(ind: Indicator, sums: Sums, ctx: Context, plan: _Plan | None = None) -> Score:
    plan = plan or _plan(ind)
    raw, missing = _raw_value(ind, plan.item, sums, ctx)
    sc = ind.scoring
    if raw is None:
        return Score(ind.id, ind.label, None, 0.0, sc.weight, f"{ind.label}：{missing}，0/{plan.weight_text} 分")
    per = ind.per
    value = raw / ctx.months if per == "month" else raw / max(ctx.days, 1) if per == "day" else raw
    points = sc.points(value)
    visit = ctx.inspections[plan.item][1] if plan.item is not None else ""
    return Score(
        ind.id, ind.label, round(value, 4), points, sc.weight, partial(_reason, ind, plan, raw, value, points, visit)
    )


def _reason(ind: Indicator, plan: _Plan, raw: float, value: float, points: float, visit: str) -> str:
    sc, per, fmt, sp, prefix = ind.scoring, ind.per, plan.fmt, plan.sp, plan.prefix
    if plan.item is not None:
        said = f"{ind.label}检查得 {_num(raw)} 分（{visit}）"
    else:
        said = f"{plan.label} {fmt(raw)}{sp}"
        if per != "period" and abs(value - raw) > 1e-9:
            said += f"（{prefix} {fmt(value)}{sp}）"
    if sc.linear is not None:
        rule = plan.linear_rule
    else:
        higher = sc.better == "higher"
        hit = next((t for t, p in sc.steps if (value >= t if higher else value <= t) and p == points), None)
        if hit is not None:
            rule = f"{'达到' if higher else '不超过'}{prefix} {fmt(hit)}{sp}的标准"
        elif higher:
            rule = f"未达到{prefix} {fmt(sc.steps[-1][0])}{sp}的最低标准"
        else:
            rule = f"超过了{prefix} {fmt(sc.steps[-1][0])}{sp}的上限"
    return f"{said}，{rule}：{_num(points)}/{plan.weight_text} 分"


def rate(
    rubric: Rubric,
    station: str,
    region: Sequence[str],
    sums: Sums,
    ctx: Context,
    flags: Sequence[Flag] = (),
) -> Rating:
    inds = rubric.indicators_for(tuple(region))
    scores = tuple(map(score, inds, repeat(sums), repeat(ctx), _plans(inds)))
    total = round(sum(s.points for s in scores), 2)
    coverage = sums.reported_days / ctx.days if ctx.days else 0.0
    if ctx.days <= 0:
        status = "unexpected"
    elif coverage < rubric.min_coverage:
        status = "incomplete"
    else:
        status = "ranked"
    return Rating(
        station=station,
        total=total,
        max_total=rubric.max_total,
        stars=rubric.stars_for(total) if status == "ranked" else 0,
        status=status,
        coverage=min(coverage, 1.0),
        scores=scores,
        flags=tuple(flags),
        sums=sums,
    )


def apply_flags(sums: Sums, day: DayFigures, flags: Sequence[Flag]) -> Sums:
    """``sums`` (which hold ``day`` in full) with the figures its standing flags void taken out."""
    voided = {f.voids for f in flags if not f.counted}
    if not voided:
        return sums
    return sums - contribution(day) + contribution(day, voided)


def void_period(sums: Sums) -> Sums:
    """A period's flag voids every figure (the days still count as reported)."""
    return Sums(reported_days=sums.reported_days)


def competition_ranks(totals: Mapping[str, float]) -> dict[str, int]:
    """Rank by total, highest first; equal totals share a rank and the next rank skips (1, 1, 3)."""
    order = sorted(totals.items(), key=lambda kv: -kv[1])
    ranks: dict[str, int] = {}
    prev: float | None = None
    rank = 0
    for i, (key, total) in enumerate(order, start=1):
        if prev is None or total != prev:
            rank = i
            prev = total
        ranks[key] = rank
    return ranks


def rank(ratings: Iterable[Rating], regions: Mapping[str, Sequence[str]], depth: int) -> dict[str, int]:
    """Each ranked station's rank among the ranked stations of its region cut at ``depth`` levels
    (3: the county, 4: the township)."""
    groups: dict[tuple[str, ...], dict[str, float]] = {}
    for r in ratings:
        if r.status == "ranked":
            groups.setdefault(tuple(regions[r.station][:depth]), {})[r.station] = r.total
    out: dict[str, int] = {}
    for totals in groups.values():
        out.update(competition_ranks(totals))
    return out


def with_flags(rating: Rating, flags: Sequence[Flag]) -> Rating:
    return replace(rating, flags=tuple(flags))
