"""The rubric county staff rate stations by (星级评定标准): ``ratings.toml`` at the headend root,
read strictly like every settings file (``catalogue.tomlcheck``: unknown keys refused, each
error naming the file, the line and the key). README "Star ratings" explains the default.

A rubric holds:

* ``[rubric]``: its title, the star cut-offs (total points for 1 … 5 stars) and the minimum share
  of its days a station must have reported to be ranked (below it: 数据不全, shown apart);
* ``[[indicator]]``: what is scored — a source figure (``SOURCES``, or ``inspection:<item>``),
  normalised per month, per day or over the whole period, scored by steps (the first
  ``[value, points]`` the value reaches) or linearly between two values, out of ``weight``
  points, with a Chinese label and explanation;
* ``[[inspection]]``: the items staff score on a visit (the place, posted rules, equipment), each
  on a scale 0 … ``max`` and valid ``valid_days`` after the visit;
* ``[flags]``: the plausibility rules (``catalogue.plausibility``), each on or off or a threshold;
* ``[[override]]``: a region's own scoring of one indicator (the longest matching prefix wins).

Pure: ``load_rubric(raw_bytes, name)`` returns a ``Rubric`` or raises ``SettingsError``."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from catalogue.tomlcheck import Document, SettingsError, Table

RUBRIC_NAME = "ratings.toml"

# source id → (label, unit, what it is): the figures an indicator may score
SOURCES: dict[str, tuple[str, str, str]] = {
    "sessions": ("集中学习场次", "场", "管理员组织并登记的集中学习（提前结束的不计）"),
    "session_person_times": ("集中学习人次", "人次", "各场集中学习登记人数之和"),
    "individual_plays": ("自学人次", "人次", "集中学习以外看满 1 分钟的播放（同一电视同一课程每天计一次）"),
    "person_times": ("学习人次", "人次", "集中学习人次加自学人次"),
    "person_times_per_member": ("党员人均学习人次", "人次/人", "学习人次除以站点登记的党员人数"),
    "study_hours": ("学习时长", "小时", "播放课程的观看时长"),
    "active_days": ("活跃天数", "天", "有播放或集中学习的天数"),
    "online_share": ("心跳天数占比", "", "站点自己记下心跳的天数占应上报天数的比例（离线时也会记）"),
    "contact_share": ("联网上报率", "", "县里收到站点上报的天数占应上报天数的比例（按县里的时钟，站点无法代记）"),
    "days_behind": ("内容落后天数", "天", "没有心跳证明已装好前一天发布的版本的天数（未上报的天也算落后）"),
    "logbook": ("工作日志", "条", "管理员在站点写的工作日志条数"),
    "notice_views": ("通知展示", "次", "活动通知在电视或管理页上被查看的次数"),
    "fives_days": ("距上次五个一自查全部达标", "天", "距最近一次五个一自查全部达标的天数"),
}
PER = {"period": "本期", "month": "每月", "day": "每天"}

DEFAULT_RUBRIC = (Path(__file__).parent / "ratings.default.toml").read_text(encoding="utf-8")  # README explains it


@dataclass(frozen=True)
class Scoring:
    """How a value turns into points: ``steps`` ((threshold, points), … the first reached), or
    ``linear`` (no points at the first value, all at the second; either may be the larger)."""

    weight: float
    better: str = "higher"  # or "lower" (steps read "at most")
    steps: tuple[tuple[float, float], ...] = ()
    linear: tuple[float, float] | None = None

    def points(self, value: float) -> float:
        if self.linear is not None:
            zero, full = self.linear
            share = (value - zero) / (full - zero)
            return round(self.weight * min(1.0, max(0.0, share)), 2)
        for threshold, points in self.steps:
            if (value >= threshold) if self.better == "higher" else (value <= threshold):
                return points
        return 0.0


@dataclass(frozen=True)
class Indicator:
    id: str
    label: str
    explain: str
    source: str  # a key of SOURCES, or inspection:<item>
    per: str  # period, month, day
    scoring: Scoring

    @property
    def weight(self) -> float:
        return self.scoring.weight

    @cached_property
    def inspection(self) -> str | None:
        return self.source.split(":", 1)[1] if self.source.startswith("inspection:") else None


@dataclass(frozen=True)
class InspectionItem:
    id: str
    label: str
    max: float
    valid_days: int


@dataclass(frozen=True)
class FlagRules:
    headcount_over_capacity: bool = True
    headcount_members_factor: float = 1.5  # 0: off
    max_hours_per_day: float = 16.0  # 0: off
    hours_over_opening: bool = True
    watched_over_wall: bool = True
    plays_while_offline: bool = True
    overlapping_sessions: bool = True
    max_sessions_per_day: int = 4  # 0: off
    max_clients_per_day: int = 10  # 0: off
    time_uncertain: bool = True
    identical_events: int = 3  # 0: off
    clock_unmeasured: bool = True


@dataclass(frozen=True)
class Override:
    region: tuple[str, ...]
    indicator: str
    scoring: Scoring


@dataclass(frozen=True)
class Rubric:
    title: str
    stars: tuple[float, ...]  # total points for 1 … 5 stars
    min_coverage: float
    indicators: tuple[Indicator, ...]
    inspections: tuple[InspectionItem, ...]
    flags: FlagRules
    overrides: tuple[Override, ...]
    sha256: str  # of the file's bytes: a rubric version is its content
    text: str

    @cached_property
    def max_total(self) -> float:
        return sum(i.weight for i in self.indicators)

    def stars_for(self, total: float) -> int:
        return sum(total >= cut for cut in self.stars)

    def indicators_for(self, region: tuple[str, ...]) -> tuple[Indicator, ...]:
        """The indicators as scored in ``region``: each with the longest matching override."""
        if not self.overrides:
            return self.indicators
        held = self._by_region.get(region)
        if held is None:
            held = self._by_region[region] = self._indicators_for(region)
        return held

    @cached_property
    def _by_region(self) -> dict[tuple[str, ...], tuple[Indicator, ...]]:
        return {}

    def _indicators_for(self, region: tuple[str, ...]) -> tuple[Indicator, ...]:
        best: dict[str, Override] = {}
        for o in self.overrides:
            if region[: len(o.region)] == o.region:
                held = best.get(o.indicator)
                if held is None or len(o.region) > len(held.region):
                    best[o.indicator] = o
        if not best:
            return self.indicators
        return tuple(replace(i, scoring=best[i.id].scoring) if i.id in best else i for i in self.indicators)

    def inspection(self, item: str) -> InspectionItem | None:
        return next((i for i in self.inspections if i.id == item), None)


def _scoring(t: Table, weight: float | None = None) -> Scoring:
    if weight is None:
        weight = t.float("weight", min=0, max=1000, unit="points")
    better = t.str("better", "higher", choices=("higher", "lower"))
    steps = t.number_pairs("steps", None)
    linear = t.number_list("linear", None, size=2, example="[0, 20]")
    if (steps is None) == (linear is None):
        raise t.fail(None, "give exactly one of steps = [[value, points], …] or linear = [from, to]")
    if steps is not None:
        for _value, points in steps:
            if not 0 <= points <= weight:
                raise t.fail("steps", f"gives {points:g} points; each step gives 0 to weight ({weight:g}) points")
        order = [v for v, _ in steps]
        wanted = sorted(set(order), reverse=better == "higher")
        if order != wanted:
            raise t.fail(
                "steps",
                'must list the best step first, each value once (largest first; smallest first when better = "lower")',
            )
        return Scoring(weight, better, tuple(steps))
    assert linear is not None
    if linear[0] == linear[1]:
        raise t.fail("linear", "needs two different values (no points at the first, all at the second)")
    return Scoring(weight, better, (), (linear[0], linear[1]))


def _region(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.replace("／", "/").split("/") if p.strip())


def load_rubric(raw: bytes, name: str = RUBRIC_NAME) -> Rubric:
    """The rubric in ``raw`` (the file's bytes), checked; SettingsError names file, line and key."""
    doc = Document.parse(raw, name)
    root = doc.root()
    if "rubric" not in root:
        raise SettingsError(f"{name}: missing table [rubric] (its title, stars and min_coverage)")
    top = root.table("rubric")
    title = top.str("title", max_len=200)
    example = "[40, 55, 70, 80, 90]"
    stars = top.number_list("stars", (40.0, 55.0, 70.0, 80.0, 90.0), size=5, example=example)
    if any(b <= a for a, b in itertools.pairwise(stars)):
        raise top.fail("stars", f"must be five increasing totals, for 1 to 5 stars, e.g. {example}")
    min_coverage = top.float("min_coverage", 0.6, min=0, max=1, unit="(a share of days)")
    inspections = []
    for t in root.tables("inspection", max_items=50):
        item = InspectionItem(
            id=t.str("id", max_len=40),
            label=t.str("label", max_len=40),
            max=t.float("max", min=1, max=100, unit="points"),
            valid_days=t.int("valid_days", 365, min=1, max=3650, unit="days"),
        )
        if any(i.id == item.id for i in inspections):
            raise t.fail("id", f"{item.id!r} is listed twice")
        inspections.append(item)

    indicators = []
    for t in root.tables("indicator", max_items=100):
        ind_id = t.str("id", max_len=40)
        label = t.str("label", max_len=40)
        explain = t.str("explain", "", max_len=500)
        source = t.str("source", max_len=60)
        if source.startswith("inspection:"):
            if not any(i.id == source.split(":", 1)[1] for i in inspections):
                raise t.fail(
                    "source",
                    f"= {source!r} names no [[inspection]] item (items: {', '.join(i.id for i in inspections) or 'none'})",
                )
        elif source not in SOURCES:
            raise t.fail("source", f"= {source!r} is no figure; one of {', '.join(SOURCES)} or inspection:<item>")
        per = t.str("per", "period", choices=tuple(PER))
        if any(i.id == ind_id for i in indicators):
            raise t.fail("id", f"{ind_id!r} is listed twice")
        indicators.append(Indicator(ind_id, label, explain, source, per, _scoring(t)))
    if not indicators:
        raise SettingsError(f"{name}: no [[indicator]]; a rubric scores at least one")

    f = root.table("flags")
    flags = FlagRules(
        headcount_over_capacity=f.bool("headcount_over_capacity", True),
        headcount_members_factor=f.float("headcount_members_factor", 1.5, min=0, max=100),
        max_hours_per_day=f.float("max_hours_per_day", 16.0, min=0, max=24, unit="hours"),
        hours_over_opening=f.bool("hours_over_opening", True),
        watched_over_wall=f.bool("watched_over_wall", True),
        plays_while_offline=f.bool("plays_while_offline", True),
        overlapping_sessions=f.bool("overlapping_sessions", True),
        max_sessions_per_day=f.int("max_sessions_per_day", 4, min=0, max=1000),
        max_clients_per_day=f.int("max_clients_per_day", 10, min=0, max=100_000),
        time_uncertain=f.bool("time_uncertain", True),
        identical_events=f.int("identical_events", 3, min=0, max=100_000),
        clock_unmeasured=f.bool("clock_unmeasured", True),
    )

    overrides = []
    by_id = {i.id: i for i in indicators}
    for t in root.tables("override", max_items=1000):
        region = _region(t.str("region", max_len=300))
        if not region:
            raise t.fail("region", 'must name a region, e.g. "广东省/肇庆市/高要市"')
        ind = t.str("indicator", max_len=40)
        if ind not in by_id:
            raise t.fail("indicator", f"= {ind!r} is no [[indicator]] id (ids: {', '.join(by_id)})")
        weight = t.float("weight", by_id[ind].weight, min=0, max=1000, unit="points")
        if weight != by_id[ind].weight:
            raise t.fail("weight", "cannot change in one region (totals must compare); change steps or linear")
        overrides.append(Override(region, ind, _scoring(t, weight)))

    doc.finish()
    rubric = Rubric(
        title=title,
        stars=stars,
        min_coverage=min_coverage,
        indicators=tuple(indicators),
        inspections=tuple(inspections),
        flags=flags,
        overrides=tuple(overrides),
        sha256=hashlib.sha256(raw).hexdigest(),
        text=raw.decode("utf-8"),
    )
    if stars[0] > rubric.max_total:
        raise SettingsError(
            f"{doc.where('rubric', 'stars')} 1 star needs {stars[0]:g} points but the indicators give at most "
            f"{rubric.max_total:g}; lower the cut-offs or raise the weights"
        )
    return rubric


def default_rubric() -> Rubric:
    return load_rubric(DEFAULT_RUBRIC.encode(), f"{RUBRIC_NAME} (the default)")
