"""What the TV pages show, computed from the installed set (pure: no I/O, no clock reads; the
page modules pass ``now``).

Shelves by category, series and episodes, the programme schedule, the next programme for
channel mode and the small sync indicator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from catalogue.categories import CATEGORIES
from catalogue.display import china_hhmm
from playlists.schedule import CHINA, Live
from station.i18n import N_
from station.model import InstalledCourse, InstalledSet, SyncStatus

HOME_ROW_TILES = 4  # tiles across a 1280×720 screen; a longer shelf ends in a "more" tile
CATEGORY_PAGE_TILES = 24  # a category page shows this many tiles, then "next page" (5,000 courses stay small pages)
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


def category_order(courses: tuple[InstalledCourse, ...] | list[InstalledCourse]) -> list[str]:
    """Categories that have courses, in catalogue order (unknown ones last, by first appearance)."""
    present: list[str] = []
    for c in courses:
        if c.category not in present:
            present.append(c.category)
    return [cid for cid in KNOWN if cid in present] + [cid for cid in present if cid not in KNOWN]


def shelves(
    courses: tuple[InstalledCourse, ...] | list[InstalledCourse], row: int | None = HOME_ROW_TILES
) -> list[Shelf]:
    """Courses grouped by category. With ``row``, a shelf longer than ``row`` shows ``row - 1``
    tiles and a "more" tile. Shelves 1-9 are numbered for the digit keys."""
    out = []
    for n, cid in enumerate(category_order(courses), start=1):
        items = [c for c in courses if c.category == cid]
        shown = items if row is None or len(items) <= row else items[: row - 1]
        out.append(Shelf(n if n <= 9 else 0, cid, tuple(shown), len(items)))
    return out


@dataclass(frozen=True)
class CategoryPage:
    shelf: Shelf  # this page's tiles; ``total``: the whole category
    number: int  # 1-based
    pages: int

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def category_page(
    courses: tuple[InstalledCourse, ...] | list[InstalledCourse],
    category: str,
    page: int,
    per_page: int = CATEGORY_PAGE_TILES,
) -> CategoryPage:
    """One page of a category's courses; a page number past either end shows the nearest page
    (an old link never ends on an empty page)."""
    items = [c for c in courses if c.category == category]
    pages = max(1, -(-len(items) // per_page))
    number = min(max(page, 1), pages)
    shown = tuple(items[(number - 1) * per_page : number * per_page])
    return CategoryPage(Shelf(0, category, shown, len(items)), number, pages)


# ---- series and episodes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Episode:
    id: str
    title: str
    episode: int


def series_of(course: InstalledCourse) -> tuple[str, int] | None:
    """(series, episode) from the course's ``series``/``episode``, else from a title like
    "雨季养鹅 第2集" (how ``headend ingest`` names several files under one title)."""
    if course.series:
        return course.series, course.episode or 0
    m = _EPISODE_TITLE.match(course.title)
    if m and m.group(1):
        return m.group(1), int(m.group(2))
    return None


def episodes(courses: tuple[InstalledCourse, ...], course_id: str) -> list[Episode]:
    """The episodes of the course's series in order (empty when the course is not in a series)."""
    me = next((c for c in courses if c.id == course_id), None)
    key = series_of(me) if me else None
    if me is None or key is None:
        return []
    eps = [(k[1], c) for c in courses if (k := series_of(c)) and k[0] == key[0] and c.category == me.category]
    if len(eps) < 2:
        return []
    eps.sort(key=lambda e: (e[0], e[1].title))
    return [Episode(c.id, c.title, n) for n, c in eps]


def episode_of(courses: tuple[InstalledCourse, ...], course_id: str) -> Episode | None:
    return next((e for e in episodes(courses, course_id) if e.id == course_id), None)


def next_episode(courses: tuple[InstalledCourse, ...], course_id: str) -> Episode | None:
    eps = episodes(courses, course_id)
    ids = [e.id for e in eps]
    if course_id in ids and ids.index(course_id) + 1 < len(ids):
        return eps[ids.index(course_id) + 1]
    return None


# ---- programme schedule (channel mode) --------------------------------------------------------


@dataclass(frozen=True)
class Programme:
    start: datetime
    course: str  # a course id; for a live class, its replay's once that is on the box (else "")
    title: str
    installed: bool  # its course is on the box (a live class needs nothing on the box: True)
    playlist: str
    live: Live | None = None  # a live class (网络党课), streamed at its time

    @property
    def key(self) -> str:
        return f"{int(self.start.timestamp())}-{'live-' + self.live.id if self.live else self.course}"

    @property
    def hhmm(self) -> str:
        return china_hhmm(self.start)

    @property
    def end(self) -> datetime | None:
        return self.live.end if self.live else None

    @property
    def url(self) -> str:
        """Where channel mode goes at its start."""
        if self.live:
            return f"/watch/{self.live.id}?channel={self.key}"
        return f"/play/{self.course}?channel={self.key}"


def programmes(installed: InstalledSet, start: datetime, end: datetime) -> list[Programme]:
    """Every scheduled programme in [start, end) across the installed playlists, by time (a
    live class also while it is on air)."""
    out = []
    for pl in installed.playlists:
        for occ in pl.schedule.occurrences(start, end):
            c = installed.course(occ.course)
            out.append(Programme(occ.start, occ.course, c.title if c else occ.course, c is not None, pl.name))
        for x in pl.schedule.lives(start, end):
            replay = x.replay if x.replay and installed.course(x.replay) else ""  # 回看, once on the box
            out.append(Programme(x.start, replay, x.title, True, pl.name, x))
    out.sort(key=lambda p: (p.start, p.course, p.key))
    return out


def live_class(installed: InstalledSet, live_id: str) -> Live | None:
    """The installed live class ``live_id``."""
    for pl in installed.playlists:
        for x in pl.schedule.live:
            if x.id == live_id:
                return x
    return None


def today(installed: InstalledSet, now: datetime) -> list[Programme]:
    day = now.astimezone(CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    return programmes(installed, day, day + timedelta(days=1))


def programmes_due(installed: InstalledSet, now: datetime) -> list[Programme]:
    """Programmes that started at most LATE_START_S ago or start within the coming day, and live
    classes on air (a TV turned on during a class joins it)."""
    return [
        p
        for p in programmes(installed, now - timedelta(seconds=LATE_START_S), now + timedelta(days=1))
        if p.live is None or p.live.end > now
    ]


def next_programme(
    installed: InstalledSet, now: datetime, played: set[str] | frozenset = frozenset()
) -> Programme | None:
    """The next installed programme that has not started more than LATE_START_S ago and has not
    been played yet, within the coming day."""
    for p in programmes_due(installed, now):
        if p.installed and p.key not in played:
            return p
    return None


# ---- the sync indicator ------------------------------------------------------------------------


def indicator(status: SyncStatus, has_courses: bool) -> tuple[str, str, dict]:
    """(css class, msgid, params) for the TV's small sync/offline indicator."""
    if status.running:
        done, total, _ = status.fraction()
        if total:
            return "busy", N_("Updating %(pct)d%%"), {"pct": int(100 * done / total)}
        return "busy", N_("Updating"), {}
    if status.state == "failed":
        if has_courses:
            return "off", N_("Offline: downloaded lessons still play"), {}
        return "off", N_("Offline"), {}
    if status.state in ("ok", "partial") or status.last_success:
        return "ok", N_("Up to date"), {}
    return "none", N_("Not synced yet"), {}
