"""Rating one station for one period under a rubric (``catalogue.rubric``), and ranking them.
The sums come in with what the plausibility rules void already taken out
(``catalogue.plausibility``).

``rate`` turns the sums into every indicator's value, points and reason in words, the total, the
stars and whether the data suffice to rank (``min_coverage``); ``rank`` gives competition ranks
(ties share a rank: 1, 1, 3) within a region level. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, partial
from itertools import repeat
from typing import NamedTuple

from catalogue.periods import Period
from catalogue.plausibility import Flag, Override, StationFacts, Sums
from catalogue.rubric import PER, SOURCES, Indicator, Rubric

STATUS_WORDS = {"ranked": "参与排名", "incomplete": "数据不全", "unexpected": "本期未开通"}


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
    contact_days: int = 0  # China days of the period the headend received an upload from it

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
    region: tuple[str, ...] = ()  # where it was rated (a closed period ranks by this, not today's)
    basis: Mapping = field(default_factory=dict)  # the rest it was rated on (days, members, …): JSON

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
                Flag(f["rule"], f["day"], f["evidence"], _override(f.get("override"), f["evidence"]))
                for f in d["flags"]
            ),
            sums=Sums(**d["inputs"]),
            region=tuple(d.get("region", ())),
            basis=d.get("basis", {}),
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
            "region": list(self.region),
            "basis": dict(self.basis),
        }


def _override(d: Mapping | None, evidence: str) -> Override | None:
    return Override(d["by"], d["reason"], d["at"], evidence) if d else None


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
    fmt = _share if ind.source in ("online_share", "contact_share") else _num
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
    if src == "contact_share":
        return (min(ctx.contact_days, ctx.days) / ctx.days if ctx.days else 0.0), ""
    if src == "fives_days":
        if ctx.fives_day is None:
            return None, "没有全部达标的五个一自查"
        return float((ctx.as_of - ctx.fives_day).days), ""
    if src == "person_times":
        return float(sums.person_times), ""
    if src == "days_behind":  # a day not known to be current counts as behind: silence never helps
        return float(max(0, ctx.days - sums.current_days)), ""
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
    facts: StationFacts | None = None,
) -> Rating:
    region = tuple(region)
    inds = rubric.indicators_for(region)
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
        region=region,
        basis=_basis(ctx, facts),
    )


def _basis(ctx: Context, facts: StationFacts | None) -> dict:
    """What besides the sums a rating was computed on, kept with a closed period's ratings."""
    d = {
        "days": ctx.days,
        "as_of": ctx.as_of.isoformat(),
        "members": ctx.members,
        "fives_day": ctx.fives_day.isoformat() if ctx.fives_day else None,
        "inspections": {k: list(v) for k, v in ctx.inspections.items()},
        "contact_days": ctx.contact_days,
    }
    if facts is not None:
        d.update(capacity=facts.capacity, open_s=facts.open_s)
    return d


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
