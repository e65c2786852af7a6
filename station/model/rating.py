"""The station's own star rating as the county sent it back (docs/reporting.md, the ``rating``
field of the collector's answer): the previous month's and this month's, each with its stars,
ranks, every indicator's reason and the flagged days. Pure.

What the headend sends is untrusted until ``checked_rating`` has seen it: exactly the documented
shape, texts at most ``MAX_TEXT`` characters, at most ``MAX_INDICATORS`` indicators and
``MAX_FLAGS`` flags a period; anything else is a ``RatingShapeError`` saying where, and the
station keeps the rating it held. The stored form (``<data_dir>/rating.json``) is the same shape
plus when it arrived, and is checked the same way when read back."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from station.model.times import iso, moment

VERSION = 1
MAX_TEXT = 300  # characters of any one text
MAX_INDICATORS = 40
MAX_FLAGS = 50
MAX_PERIODS = 4
MAX_NUMBER = 1e6  # points, totals, weights
MAX_COUNT = 10_000_000  # ranks and counts of stations


class RatingShapeError(ValueError):
    """The rating is not the documented shape (the message names the field)."""


@dataclass(frozen=True)
class RatedIndicator:
    label: str
    points: float
    weight: float  # the most points it can give
    reason: str  # why it gave these points, in words (Chinese, from the county)


@dataclass(frozen=True)
class RatedFlag:
    day: str  # China day, or the period's name
    label: str  # the plausibility rule, in words
    evidence: str  # the figures that broke it
    counted: bool  # an admin at the county counted them after all


@dataclass(frozen=True)
class PeriodRating:
    period: str  # "2026-11"
    label: str  # "2026年11月"
    state: str  # provisional, frozen
    state_words: str
    status: str  # ranked, incomplete, unexpected
    status_words: str
    total: float
    max_total: float
    stars: int  # 0 … 5
    county_rank: int | None
    county_ranked: int  # stations ranked in its county
    township_rank: int | None
    township_ranked: int
    indicators: tuple[RatedIndicator, ...]
    flags: tuple[RatedFlag, ...]
    flags_more: int  # flags the headend left out to keep the answer small


@dataclass(frozen=True)
class HeldRating:
    station: str
    made_at: str  # when the headend computed it (ISO 8601, as sent)
    periods: tuple[PeriodRating, ...]
    received_at: datetime | None = None  # when this station got it

    def same_as(self, other: HeldRating | None) -> bool:
        """The same rating, whenever it arrived."""
        return other is not None and (self.station, self.made_at, self.periods) == (
            other.station,
            other.made_at,
            other.periods,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "station": self.station,
            "made_at": self.made_at,
            "received_at": iso(self.received_at),
            "periods": [
                {
                    **{k: v for k, v in p.__dict__.items() if k not in ("indicators", "flags")},
                    "indicators": [dict(i.__dict__) for i in p.indicators],
                    "flags": [dict(f.__dict__) for f in p.flags],
                }
                for p in self.periods
            ],
        }


def checked_rating(data: object, received_at: datetime | None = None) -> HeldRating:
    """``data`` (the answer's ``rating``, or the stored form) as a ``HeldRating``; a
    ``RatingShapeError`` naming the first field that is not as documented."""
    d = _object(data, "rating")
    if d.get("v") != VERSION:
        raise RatingShapeError(f"rating.v: not version {VERSION}")
    periods = _list(d.get("periods"), "rating.periods", MAX_PERIODS)
    if received_at is None:
        received_at = moment(d["received_at"]) if isinstance(d.get("received_at"), str) else None
    return HeldRating(
        station=_text(d.get("station"), "rating.station"),
        made_at=_text(d.get("made_at"), "rating.made_at"),
        periods=tuple(_period(p, f"rating.periods[{n}]") for n, p in enumerate(periods)),
        received_at=received_at,
    )


def _period(data: object, where: str) -> PeriodRating:
    d = _object(data, where)
    indicators = _list(d.get("indicators"), f"{where}.indicators", MAX_INDICATORS)
    flags = _list(d.get("flags"), f"{where}.flags", MAX_FLAGS)
    stars = _count(d.get("stars"), f"{where}.stars")
    if stars > 5:
        raise RatingShapeError(f"{where}.stars: {stars} is more than 5")
    return PeriodRating(
        period=_text(d.get("period"), f"{where}.period"),
        label=_text(d.get("label"), f"{where}.label"),
        state=_text(d.get("state"), f"{where}.state"),
        state_words=_text(d.get("state_words"), f"{where}.state_words"),
        status=_text(d.get("status"), f"{where}.status"),
        status_words=_text(d.get("status_words"), f"{where}.status_words"),
        total=_number(d.get("total"), f"{where}.total"),
        max_total=_number(d.get("max_total"), f"{where}.max_total"),
        stars=stars,
        county_rank=_rank(d.get("county_rank"), f"{where}.county_rank"),
        county_ranked=_count(d.get("county_ranked"), f"{where}.county_ranked"),
        township_rank=_rank(d.get("township_rank"), f"{where}.township_rank"),
        township_ranked=_count(d.get("township_ranked"), f"{where}.township_ranked"),
        indicators=tuple(_indicator(i, f"{where}.indicators[{n}]") for n, i in enumerate(indicators)),
        flags=tuple(_flag(f, f"{where}.flags[{n}]") for n, f in enumerate(flags)),
        flags_more=_count(d.get("flags_more", 0), f"{where}.flags_more"),
    )


def _indicator(data: object, where: str) -> RatedIndicator:
    d = _object(data, where)
    return RatedIndicator(
        label=_text(d.get("label"), f"{where}.label"),
        points=_number(d.get("points"), f"{where}.points"),
        weight=_number(d.get("weight"), f"{where}.weight"),
        reason=_text(d.get("reason"), f"{where}.reason"),
    )


def _flag(data: object, where: str) -> RatedFlag:
    d = _object(data, where)
    counted = d.get("counted")
    if not isinstance(counted, bool):
        raise RatingShapeError(f"{where}.counted: not true or false")
    return RatedFlag(
        day=_text(d.get("day"), f"{where}.day"),
        label=_text(d.get("label"), f"{where}.label"),
        evidence=_text(d.get("evidence"), f"{where}.evidence"),
        counted=counted,
    )


def _object(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise RatingShapeError(f"{where}: not an object")
    return value


def _list(value: object, where: str, most: int) -> list:
    if not isinstance(value, list):
        raise RatingShapeError(f"{where}: not a list")
    if len(value) > most:
        raise RatingShapeError(f"{where}: {len(value)} items, at most {most}")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise RatingShapeError(f"{where}: not text")
    if len(value) > MAX_TEXT:
        raise RatingShapeError(f"{where}: {len(value)} characters, at most {MAX_TEXT}")
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RatingShapeError(f"{where}: not a number")
    if abs(value) > MAX_NUMBER or not math.isfinite(value):  # a huge int: no float for isfinite
        raise RatingShapeError(f"{where}: {value!r} is out of range")
    return float(value)


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise RatingShapeError(f"{where}: not a whole number from 0 to {MAX_COUNT}")
    return value


def _rank(value: object, where: str) -> int | None:
    if value is None:
        return None
    rank = _count(value, where)
    if rank < 1:
        raise RatingShapeError(f"{where}: a rank starts at 1")
    return rank
