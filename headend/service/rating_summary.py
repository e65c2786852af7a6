"""What a station is told of its own star rating (issue 13): for every station, the previous
month's rating and the current month's so far, as a small JSON-able dict that travels back in
the report collector's answer (docs/reporting.md, ``"rating"``) to the station's /admin page.

One summary::

    {"v": 1, "station": "gaoyao-xiangang-xianyi", "made_at": "2026-12-07T08:00:00Z",
     "periods": [                                   # the previous month, then this month
        {"period": "2026-11", "label": "2026年11月",
         "state": "frozen", "state_words": "已定稿",
         "status": "ranked", "status_words": "参与排名",
         "total": 72.5, "max_total": 100.0, "stars": 4,
         "county_rank": 3, "county_ranked": 12,      # rank among the ranked stations of its county
         "township_rank": 1, "township_ranked": 4,   # None / 0 when it is not ranked
         "indicators": [{"label", "points", "weight", "reason"}, ...],
         "flags": [{"day", "label", "evidence", "counted"}, ...],
         "flags_more": 0}]}                          # flags left out to keep it small

Texts are capped (``MAX_TEXT`` characters) and so is the number of flags (``MAX_FLAGS``) so a
summary stays within a few KB. Blocking (reads the database): call it in a thread."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from catalogue.periods import period_of
from headend.errors import BadRequest
from headend.service.ratings import COUNTY_DEPTH, TOWNSHIP_DEPTH, Entry, RatingTable, ratings_table, today_china
from headend.service.root import Headend

VERSION = 1
MAX_TEXT = 300  # characters of any one text (the station refuses longer)
MAX_FLAGS = 20  # flags of one period (the station refuses more than 50)
MAX_INDICATORS = 40  # the station refuses more


def _text(value: object) -> str:
    s = str(value)
    return s if len(s) <= MAX_TEXT else s[: MAX_TEXT - 1] + "…"


def _ranked(table: RatingTable, depth: int) -> Counter:
    """How many stations are ranked in each region cut at ``depth`` levels."""
    return Counter(tuple(e.station.region[:depth]) for e in table.entries if e.rating.status == "ranked")


def period_summary(table: RatingTable, entry: Entry, county: Counter, township: Counter) -> dict:
    """One station's rating of one period, as the station is told it."""
    r = entry.rating
    ranked = r.status == "ranked"
    flags = list(r.flags)
    return {
        "period": table.period.name,
        "label": table.period.label,
        "state": table.state,
        "state_words": _text(table.state_words),
        "status": r.status,
        "status_words": _text(r.status_words),
        "total": float(r.total),
        "max_total": float(r.max_total),
        "stars": int(r.stars),
        "county_rank": entry.county_rank,
        "county_ranked": county[tuple(entry.station.region[:COUNTY_DEPTH])] if ranked else 0,
        "township_rank": entry.township_rank,
        "township_ranked": township[tuple(entry.station.region[:TOWNSHIP_DEPTH])] if ranked else 0,
        "indicators": [
            {"label": _text(s.label), "points": float(s.points), "weight": float(s.weight), "reason": _text(s.reason)}
            for s in r.scores[:MAX_INDICATORS]
        ],
        "flags": [
            {"day": _text(f.day), "label": _text(f.label), "evidence": _text(f.evidence), "counted": f.counted}
            for f in flags[:MAX_FLAGS]
        ],
        "flags_more": max(0, len(flags) - MAX_FLAGS),
    }


def rating_summaries(h: Headend, now: datetime | None = None) -> dict[str, dict]:
    """station id → its summary (the previous month's rating, then this month's so far), for
    every station rated in either month."""
    now = now or datetime.now(UTC)
    month = period_of("month", today_china(now))
    made_at = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out: dict[str, dict] = {}
    for period in (month.previous(), month):
        try:
            table = ratings_table(h, period, now=now)
        except BadRequest:  # the month before any station was enrolled: nothing to say about it
            continue
        county, township = _ranked(table, COUNTY_DEPTH), _ranked(table, TOWNSHIP_DEPTH)
        for entry in table.entries:
            summary = out.setdefault(
                entry.station.id, {"v": VERSION, "station": entry.station.id, "made_at": made_at, "periods": []}
            )
            summary["periods"].append(period_summary(table, entry, county, township))
    return out
