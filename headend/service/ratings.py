"""Star ratings (星级站点评定, issue 13): every station rated for a period (month, quarter,
half-year, year in China time) under the rubric in ``<root>/ratings.toml`` (``catalogue.rubric``;
the default when the file is absent), ranked within its county and township.

A period is *provisional* until ``[ratings] close_days`` after its last day: each look computes
it afresh from the daily roll-ups, so late reports change it. The first look after that (or the
check loop of ``headend serve``) *freezes* it: every station's rating — indicators, flags and
the figures it was computed from — is kept with the rubric version, and is what every later
look shows, whatever arrives or changes afterwards. A changed rubric is a new version; frozen
periods keep theirs.

Plausibility (``catalogue.plausibility``): the days a rule flags have the voided figures
taken out of the sums; an admin's override (with a written reason, audit-logged) counts them
again. Blocking: the web layer calls these in a thread."""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from catalogue.clocks import CHINA
from catalogue.figures import FIVES
from catalogue.hours import HoursError, parse_hours
from catalogue.periods import Period, parse_period, period_of
from catalogue.plausibility import (
    RULES,
    Flag,
    StationFacts,
    Sums,
    apply_flags,
    day_flags,
    judged,
    void_period,
)
from catalogue.rating import Context, Rating, Standing, rank, rate
from catalogue.rubric import DEFAULT_RUBRIC, RUBRIC_NAME, Rubric, load_rubric
from catalogue.tomlcheck import SettingsError
from headend.db.records import Station
from headend.errors import BadRequest, ConfigError
from headend.service.audit import SYSTEM, audit
from headend.service.dashboard import moment, today_china
from headend.service.root import Headend

log = logging.getLogger(__name__)

RATED_KINDS = ("month", "quarter", "half", "year")
COUNTY_DEPTH, TOWNSHIP_DEPTH = 3, 4  # province / city / county / township / village


@dataclass(frozen=True)
class Entry:
    station: Station
    rating: Rating
    county_rank: int | None  # among the ranked stations of its county (None: not ranked)
    township_rank: int | None
    previous: Standing | None  # the period before (None: not rated then)

    @property
    def change(self) -> float | None:
        """Points gained since the period before (None: not comparable)."""
        if self.previous is None or self.previous.status != "ranked" or self.rating.status != "ranked":
            return None
        return round(self.rating.total - self.previous.total, 2)

    def to_dict(self) -> dict:
        d = self.rating.to_dict()
        d.update(
            name=self.station.name,
            region=list(self.station.region),
            county_rank=self.county_rank,
            township_rank=self.township_rank,
            previous_total=self.previous.total if self.previous else None,
            previous_stars=self.previous.stars if self.previous else None,
            change=self.change,
        )
        return d


@dataclass(frozen=True)
class RatingTable:
    period: Period
    region: tuple[str, ...]
    state: str  # provisional, frozen
    closes_on: date  # the day the period freezes (provisional until then)
    rubric_version: int
    rubric: Rubric
    entries: list[Entry]  # ranked stations by total (highest first), then the others

    @property
    def state_words(self) -> str:
        if self.state == "frozen":
            return "已定稿"
        return f"暂定（{self.closes_on.month}月{self.closes_on.day}日定稿，之前补报的数据会计入）"

    def entry(self, station_id: str) -> Entry | None:
        return next((e for e in self.entries if e.station.id == station_id), None)

    def to_dict(self) -> dict:
        return {
            "period": self.period.name,
            "label": self.period.label,
            "region": list(self.region),
            "state": self.state,
            "closes_on": self.closes_on.isoformat(),
            "rubric_version": self.rubric_version,
            "stations": [e.to_dict() for e in self.entries],
        }


def rubric_path(h: Headend):
    return h.cfg.root / RUBRIC_NAME


def current_rubric(h: Headend) -> Rubric:
    """``<root>/ratings.toml`` checked (the default rubric when there is none); ConfigError names
    the line and key of a mistake."""
    path = rubric_path(h)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raw = DEFAULT_RUBRIC.encode()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the rubric ({exc.strerror}); check its owner and mode") from exc
    try:
        return load_rubric(raw, str(path))
    except SettingsError as exc:
        raise ConfigError(
            f"{exc}; fix it there: open periods cannot be rated until then (frozen ones still show)"
        ) from None


def rated_period(text: str) -> Period:
    """A period a rating covers: a month, quarter, half-year or year (BadRequest otherwise)."""
    try:
        p = parse_period(text)
    except ValueError as exc:
        raise BadRequest(str(exc), field="period") from None
    if p.kind not in RATED_KINDS:
        raise BadRequest(
            f"period {text!r}: ratings are for a month 2026-11, a quarter 2026-Q4, a half-year 2026-H2 or a year 2026",
            field="period",
        )
    return p


def closes_on(h: Headend, period: Period) -> date:
    return period.last + timedelta(days=h.cfg.ratings_close_days)


@functools.lru_cache(maxsize=256)
def _open_s(opening_hours: str | None) -> float | None:
    """Seconds a day a station with these opening hours is open (None: always, or unreadable)."""
    try:
        hours = parse_hours(opening_hours or "")
    except HoursError:
        return None
    return float(sum(b - a for a, b in hours) * 60) if hours else None


@functools.lru_cache(maxsize=4096)
def _enrolled_day(created_at: str) -> date | None:
    enrolled = moment(created_at)
    return enrolled.astimezone(CHINA).date() if enrolled else None


def _days_expected(station: Station, period: Period, as_of: date, first_reported: date | None) -> int:
    """Days of ``period`` up to ``as_of`` from the station's enrolment on — or from the first day
    it reported, when its box ran before it was registered: every day it has figures for is a day
    it was to report, so a backlog from before enrolment is not divided by fewer days."""
    enrolled = _enrolled_day(station.created_at) if station.created_at else None
    start = max(period.first, enrolled) if enrolled else period.first
    if first_reported is not None:
        start = min(start, first_reported)
    return max(0, (min(as_of, period.last) - start).days + 1)


def compute(h: Headend, rubric: Rubric, stations: Sequence[Station], period: Period, now: datetime) -> list[Rating]:
    """Every station's rating for ``period`` from the roll-ups as they stand (nothing kept)."""
    store = h.db.ratings
    today = today_china(now)
    as_of = min(today, period.last)
    last = as_of
    steps = store.required_versions(last)
    sums, firsts = store.sums(period.first, last, steps)
    facts = {s.id: StationFacts(s.capacity, s.members, _open_s(s.opening_hours)) for s in stations}
    opens = [f.open_s for f in facts.values() if f.open_s is not None]
    suspicious = store.suspicious_days(period.first, last, steps, rubric.flags, min(opens) if opens else None)
    overrides = store.overrides(period.first.isoformat(), last.isoformat(), period.name)
    flags: dict[str, list[Flag]] = {}
    for station, day in suspicious:
        fact = facts.get(station)
        if fact is None:
            continue
        broken = [
            judged(rule, day.day, why, overrides.get((station, day.day, rule)))
            for rule, why in day_flags(day, fact, rubric.flags)
        ]
        if broken:
            flags.setdefault(station, []).extend(broken)
            sums[station] = apply_flags(sums[station], day, broken)
    if rubric.flags.clock_unmeasured:
        first_utc = datetime.combine(period.first, datetime.min.time(), CHINA).astimezone(UTC)
        measured = store.clocks_measured(first_utc.strftime("%Y-%m-%dT%H:%M:%S"))
        for s in stations:
            if s.id in sums and s.id not in measured:
                why = "本期收到了数据，但从未在上报时测到站点的时钟，时间都不可信"
                flag = judged(
                    "clock_unmeasured", period.name, why, overrides.get((s.id, period.name, "clock_unmeasured"))
                )
                flags.setdefault(s.id, []).append(flag)
                if not flag.counted:
                    sums[s.id] = void_period(sums[s.id])
    need_fives = any(i.source == "fives_days" for i in rubric.indicators)
    fives = store.fives_complete(period.first - timedelta(days=366), last, len(FIVES)) if need_fives else {}
    inspections = _valid_inspections(h, rubric, as_of)
    need_contacts = any(i.source == "contact_share" for i in rubric.indicators)
    contacts = store.contact_days(period.first, last) if need_contacts else {}
    out = []
    with _no_gc():
        for s in stations:
            ctx = Context(
                period=period,
                days=_days_expected(s, period, as_of, firsts.get(s.id)),
                as_of=as_of,
                members=s.members,
                fives_day=fives.get(s.id),
                inspections=inspections.get(s.id, {}),
                contact_days=contacts.get(s.id, 0),
            )
            out.append(rate(rubric, s.id, s.region, sums.get(s.id, Sums()), ctx, flags.get(s.id, ()), facts.get(s.id)))
    return out


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Without the cycle collector while scoring: a province's ranking makes a million small
    objects, none in a cycle, and the collector's passes over them took 60 % of the time
    (measured: 1.0 s → 0.4 s for 20,000 stations); reference counting still frees them."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _valid_inspections(h: Headend, rubric: Rubric, as_of: date) -> dict[str, dict[str, tuple[float, str]]]:
    """station → item → (score, visit date) of its latest visit still valid on ``as_of``."""
    if not rubric.inspections:
        return {}
    longest = max(i.valid_days for i in rubric.inspections)
    out: dict[str, dict[str, tuple[float, str]]] = {}
    for v in h.db.ratings.inspections(since=as_of - timedelta(days=longest), until=as_of):  # newest first
        item = rubric.inspection(v.item)
        if item is None or v.item in out.get(v.station, {}):
            continue
        if date.fromisoformat(v.inspected_on) + timedelta(days=item.valid_days) < as_of:
            continue
        out.setdefault(v.station, {})[v.item] = (min(v.score, item.max), _day_words(v.inspected_on))
    return out


def _day_words(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.year}年{d.month}月{d.day}日"


def _frozen(h: Headend, period: Period) -> tuple[int, Rubric, dict[str, Rating]] | None:
    store = h.db.ratings
    frozen = store.frozen(period.name)
    if frozen is None:
        return None
    text = store.rubric_text(frozen.rubric_version) or DEFAULT_RUBRIC
    rubric = load_rubric(text.encode(), f"{RUBRIC_NAME} version {frozen.rubric_version}")
    rows = store.frozen_ratings(period.name)
    return frozen.rubric_version, rubric, {k: Rating.from_dict(v) for k, v in rows.items()}


def period_ratings(
    h: Headend, period: Period, now: datetime, stations: Sequence[Station] | None = None
) -> tuple[str, int, Rubric, dict[str, Rating]]:
    """(state, rubric version, that rubric, station → rating) of ``period`` for every station
    (``stations``: every registered one, given to save reading them again): as frozen, or
    computed now (and frozen now when the period has closed)."""
    held = _frozen(h, period)
    if held is not None:
        return "frozen", *held
    store = h.db.ratings
    rubric = current_rubric(h)
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    version, new = store.rubric_version(rubric.sha256, rubric.text, stamp)
    if new:  # a changed ratings.toml rates from now on: say so where every change is kept
        audit(h, SYSTEM, "rating.rubric", f"version {version}", {"sha256": rubric.sha256, "title": rubric.title})
    if stations is None:
        stations = h.db.stations()
    rated = compute(h, rubric, [s for s in stations if s.revoked_at is None], period, now)
    if today_china(now) > closes_on(h, period):
        kept = [r.to_dict() for r in rated if r.status != "unexpected"]  # not enrolled then: nothing to keep
        if not store.freeze(period.name, version, kept, stamp):
            held = _frozen(h, period)  # another process froze it first: its ratings stand
            if held is not None:
                return "frozen", *held
        log.info("ratings of %s frozen under rubric version %d (%d stations)", period.name, version, len(kept))
        return "frozen", version, rubric, {r.station: r for r in rated if r.status != "unexpected"}
    return "provisional", version, rubric, {r.station: r for r in rated}


def period_standings(
    h: Headend, period: Period, now: datetime, stations: Sequence[Station] | None = None
) -> dict[str, Standing]:
    """station → total, stars and status of ``period`` (for the change since it)."""
    if h.db.ratings.frozen(period.name) is not None:
        return h.db.ratings.frozen_standings(period.name)
    return {k: r.standing for k, r in period_ratings(h, period, now, stations)[3].items()}


def ratings_table(
    h: Headend,
    period: Period,
    stations: Sequence[Station] | None = None,
    region: Sequence[str] = (),
    now: datetime | None = None,
) -> RatingTable:
    """The ratings of the stations under ``region`` (of ``stations``, default: all registered),
    ranked, each with the period before for the change."""
    now = now or datetime.now(UTC)
    check_rated(h, period, now)
    with _no_gc():
        return _table(h, period, stations, tuple(region), now)


def _table(
    h: Headend, period: Period, stations: Sequence[Station] | None, prefix: tuple[str, ...], now: datetime
) -> RatingTable:
    registered = h.db.stations()
    everyone = {s.id: s for s in registered}
    state, version, rubric, rated = period_ratings(h, period, now, registered)
    regions = {k: r.region or (everyone[k].region if k in everyone else ()) for k, r in rated.items()}
    county = rank(rated.values(), regions, COUNTY_DEPTH)
    township = rank(rated.values(), regions, TOWNSHIP_DEPTH)
    before: dict[str, Standing] = {}
    prev = period.previous()
    if prev.first.year >= 2000:
        try:
            check_rated(h, prev, now)
            before = period_standings(h, prev, now, registered)
        except (BadRequest, ConfigError):  # nothing rated then, or a rubric to mend first: no change shown
            before = {}
    wanted = stations if stations is not None else registered
    entries = [
        Entry(s, rated[s.id], county.get(s.id), township.get(s.id), before.get(s.id))
        for s in wanted
        if s.id in rated and tuple(s.region[: len(prefix)]) == prefix
    ]
    entries.sort(key=lambda e: (e.rating.status != "ranked", -e.rating.total, e.station.id))
    return RatingTable(period, prefix, state, closes_on(h, period), version, rubric, entries)


def check_rated(h: Headend, period: Period, now: datetime) -> None:
    """BadRequest for a period that has not begun, or that ended before any station was enrolled
    (nothing to rate, and a look at it would keep a frozen table of nothing)."""
    if period.first > today_china(now):
        raise BadRequest(f"{period.label} has not begun yet; choose a period up to this one", field="period")
    first = h.db.ratings.first_enrolled()
    if first is not None and (day := _enrolled_day(first)) is not None and period.last < day:
        raise BadRequest(
            f"{period.label} ended before the first station was enrolled ({day.isoformat()}); choose a later period",
            field="period",
        )


def freeze_closed(h: Headend, now: datetime | None = None) -> list[str]:
    """Freeze every rated period (month, quarter, half-year, year) that has closed since the first
    station was enrolled and is not frozen yet — all of them, so a headend that was down, or a
    ``close_days`` longer than a month, leaves none to be frozen by whoever looks first; the
    names of those frozen now."""
    now = now or datetime.now(UTC)
    today = today_china(now)
    first = h.db.ratings.first_enrolled()
    start = _enrolled_day(first) if first else None
    if start is None:
        return []
    frozen = h.db.ratings.frozen_names()
    stations = h.db.stations()
    done = []
    for kind in RATED_KINDS:
        p = period_of(kind, start)
        while today > closes_on(h, p):
            if p.name not in frozen:
                period_ratings(h, p, now, stations)
                done.append(p.name)
            p = p.next()
    return done


def check_override(rule: str, day: str) -> None:
    if rule not in RULES:
        raise BadRequest(f"no plausibility rule {rule[:40]!r}; one of {', '.join(RULES)}", field="rule")
    if not day or len(day) > 16:
        raise BadRequest("say which day (or period) the flag is about", field="day")


__all__ = ["Entry", "RatingTable", "current_rubric", "rated_period", "ratings_table", "today_china"]
