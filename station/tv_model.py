"""What the TV pages show, computed from the installed document (pure: no I/O, no clock reads).

Shelves by category, series and episodes, today's programme schedule, the notices in force, the
next programme for channel mode and the small sync indicator. The web modules pass ``now``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from catalogue.categories import CATEGORIES
from playlists.errors import RepositoryError
from playlists.schedule import CHINA, Schedule
from station.attendance import N_
from station.store import InstalledCourse

log = logging.getLogger(__name__)

HOME_ROW_TILES = 4  # tiles across a 1280×720 screen; a longer shelf ends in a "more" tile
COUNTDOWN_S = 60  # channel mode: the countdown shows this long before a programme starts
LATE_START_S = 30  # …and a programme that started this recently still starts on a TV just turned on

KNOWN = [c.id for c in CATEGORIES]
_EPISODE_TITLE = re.compile(r"^(.*?)\s*第\s*(\d{1,4})\s*[集讲课期]$")


@dataclass(frozen=True)
class Shelf:
    number: int  # the digit key that opens it (1-9), 0 for none
    category: str
    courses: tuple[InstalledCourse, ...]  # the tiles shown
    total: int  # courses in the category

    @property
    def more(self) -> bool:
        return self.total > len(self.courses)


def category_order(courses: list[InstalledCourse]) -> list[str]:
    """Categories that have courses, in catalogue order (unknown ones last, by first appearance)."""
    present: list[str] = []
    for c in courses:
        if c.category not in present:
            present.append(c.category)
    return [cid for cid in KNOWN if cid in present] + [cid for cid in present if cid not in KNOWN]


def shelves(courses: list[InstalledCourse], row: int | None = HOME_ROW_TILES) -> list[Shelf]:
    """Courses grouped by category. With ``row``, a shelf longer than ``row`` shows ``row - 1``
    tiles and a "more" tile. Shelves 1-9 are numbered for the digit keys."""
    out = []
    for n, cid in enumerate(category_order(courses), start=1):
        items = [c for c in courses if c.category == cid]
        shown = items if row is None or len(items) <= row else items[: row - 1]
        out.append(Shelf(n if n <= 9 else 0, cid, tuple(shown), len(items)))
    return out


def minutes(duration_s: float) -> int:
    """Whole minutes for display; a short clip still reads "1 minute", never "0"."""
    return max(1, round(duration_s / 60))


def clock(seconds: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour (the player's on-screen time uses the same form)."""
    total = max(0, int(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


# ---- series and episodes -----------------------------------------------------------------------


def series_of(doc: dict) -> tuple[str, int] | None:
    """(series, episode) from the optional ``series``/``episode`` keys, else from a title like
    "雨季养鹅 第2集" (how ``headend ingest`` names several files under one title)."""
    series, episode = doc.get("series"), doc.get("episode")
    if isinstance(series, str) and series:
        try:
            return series, int(episode)
        except (TypeError, ValueError):
            return series, 0
    m = _EPISODE_TITLE.match(str(doc.get("title", "")))
    if m and m.group(1):
        return m.group(1), int(m.group(2))
    return None


def episodes(docs: list[dict], course_id: str) -> list[dict]:
    """The episodes of the course's series in order (empty when the course is not in a series)."""
    me = next((d for d in docs if d.get("id") == course_id), None)
    key = series_of(me) if me else None
    if key is None:
        return []
    same = [(series_of(d), d) for d in docs]
    eps = [(k[1], d) for k, d in same if k and k[0] == key[0] and d.get("category") == me.get("category")]
    if len(eps) < 2:
        return []
    eps.sort(key=lambda e: (e[0], str(e[1].get("title"))))
    return [{"id": d["id"], "title": d.get("title", d["id"]), "episode": n} for n, d in eps]


def next_episode(docs: list[dict], course_id: str) -> dict | None:
    eps = episodes(docs, course_id)
    ids = [e["id"] for e in eps]
    if course_id in ids and ids.index(course_id) + 1 < len(ids):
        return eps[ids.index(course_id) + 1]
    return None


# ---- notices -----------------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=CHINA)


def active_notices(notices: Any, now: datetime) -> list[dict]:
    """Notices in force now, newest first; a notice without dates is always in force, one without
    a title or id is shown with what it has (the headend promises id, title, body, valid_*)."""
    out = []
    for i, n in enumerate(notices if isinstance(notices, list) else []):
        if not isinstance(n, dict):
            continue
        start, end = _when(n.get("valid_from")), _when(n.get("valid_until"))
        if (start and now < start) or (end and now > end):
            continue
        title = str(n.get("title") or "").strip()
        body = str(n.get("body") or "").strip()
        if not title and not body:
            continue
        out.append({"id": str(n.get("id") or f"notice-{i}"), "title": title or body[:30], "body": body,
                    "valid_until": n.get("valid_until"), "start": start})
    out.sort(key=lambda n: n["start"] or datetime.min.replace(tzinfo=CHINA), reverse=True)
    return out


# ---- programme schedule (channel mode) --------------------------------------------------------


@dataclass(frozen=True)
class Programme:
    start: datetime
    course: str
    title: str
    installed: bool
    playlist: str

    @property
    def key(self) -> str:
        return f"{int(self.start.timestamp())}-{self.course}"

    @property
    def hhmm(self) -> str:
        return self.start.astimezone(CHINA).strftime("%H:%M")


def programmes(installed: dict, start: datetime, end: datetime) -> list[Programme]:
    """Every scheduled programme in [start, end) across the installed playlists, by time."""
    titles = {c.get("id"): c.get("title", c.get("id")) for c in installed.get("courses", []) if isinstance(c, dict)}
    out = []
    for pl in installed.get("playlists", []) or []:
        if not isinstance(pl, dict) or not pl.get("schedule"):
            continue
        try:
            sched = Schedule.from_dict(pl["schedule"], f"playlist {pl.get('name')}")
        except (RepositoryError, ValueError, TypeError) as exc:
            log.warning("schedule of playlist %s ignored: %s", pl.get("name"), exc)
            continue
        for occ in sched.occurrences(start, end):
            out.append(Programme(occ.start, occ.course, str(titles.get(occ.course, occ.course)),
                                 occ.course in titles, str(pl.get("name", ""))))
    out.sort(key=lambda p: (p.start, p.course))
    return out


def today(installed: dict, now: datetime) -> list[Programme]:
    day = now.astimezone(CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    return programmes(installed, day, day + timedelta(days=1))


def next_programme(installed: dict, now: datetime, played: set[str] | frozenset = frozenset()) -> Programme | None:
    """The next installed programme that has not started more than LATE_START_S ago and has not
    been played yet, within the coming day."""
    for p in programmes(installed, now - timedelta(seconds=LATE_START_S), now + timedelta(days=1)):
        if p.installed and p.key not in played:
            return p
    return None


# ---- the sync indicator ------------------------------------------------------------------------


def indicator(status: dict, has_courses: bool) -> tuple[str, str, dict]:
    """(css class, msgid, params) for the TV's small sync/offline indicator."""
    state = status.get("state")
    if state == "running":
        done, total = progress(status)
        if total:
            return "busy", N_("Updating %(pct)d%%"), {"pct": int(100 * done / total)}
        return "busy", N_("Updating"), {}
    if state == "failed":
        if has_courses:
            return "off", N_("Offline: downloaded lessons still play"), {}
        return "off", N_("Offline"), {}
    if state in ("ok", "partial") or status.get("last_success"):
        return "ok", N_("Up to date"), {}
    return "none", N_("Not synced yet"), {}


_DONE_KEYS = ("bytes_done", "done_bytes", "downloaded_bytes", "bytes_received")
_TOTAL_KEYS = ("bytes_total", "total_bytes")


def _first(d: dict, keys: tuple[str, ...]) -> float | None:
    for k in keys:
        v = d.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def progress(status: dict) -> tuple[float, float]:
    """(done, total) of a running sync: bytes when the sync loop reports them (top level or under
    ``progress``), else installed/total courses; (0, 0) when nothing is known."""
    for d in (status.get("progress") if isinstance(status.get("progress"), dict) else {}, status):
        done, total = _first(d, _DONE_KEYS), _first(d, _TOTAL_KEYS)
        if done is not None and total:
            return min(done, total), total
    done, total = _first(status, ("courses_installed",)), _first(status, ("courses_total",))
    if done is not None and total:
        return min(done, total), total
    return 0.0, 0.0


def rate_and_eta(status: dict) -> tuple[float | None, float | None]:
    d = status.get("progress") if isinstance(status.get("progress"), dict) else {}
    rate = _first(d, ("rate_bytes_per_s", "rate")) or _first(status, ("rate_bytes_per_s", "rate"))
    eta = _first(d, ("eta_s", "eta")) or _first(status, ("eta_s", "eta"))
    return rate, eta
