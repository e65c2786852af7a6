"""The TV page: home, category, course and player pages.

Server-rendered and usable as plain links; ``static/tv.js`` adds remote-control focus, the
player's on-screen display and the Back key. Views here turn store records into what the
templates show, so the templates hold no logic beyond loops.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from catalogue.categories import CATEGORIES, category_label
from station.store import InstalledCourse
from station.web import STORE, render

HOME_ROW_TILES = 4  # tiles across a 1280×720 screen; a longer shelf ends in a "全部 N 个" tile

_KNOWN = [c.id for c in CATEGORIES]


@dataclass(frozen=True)
class Shelf:
    category: str
    label: str  # zh-CN
    courses: tuple[InstalledCourse, ...]  # the tiles shown
    total: int  # courses in the category

    @property
    def more(self) -> bool:
        return self.total > len(self.courses)


def shelves(courses: list[InstalledCourse], row: int | None = HOME_ROW_TILES) -> list[Shelf]:
    """Courses grouped by category in catalogue order (unknown categories last, by first
    appearance). With ``row``, a shelf longer than ``row`` shows ``row - 1`` tiles and a "more" tile."""
    groups: dict[str, list[InstalledCourse]] = {}
    for c in courses:
        groups.setdefault(c.category, []).append(c)
    order = [cid for cid in _KNOWN if cid in groups] + [cid for cid in groups if cid not in _KNOWN]
    out = []
    for cid in order:
        items = groups[cid]
        shown = items if row is None or len(items) <= row else items[: row - 1]
        out.append(Shelf(cid, category_label(cid), tuple(shown), len(items)))
    return out


def minutes(duration_s: float) -> int:
    """Whole minutes for display; a short clip still reads "1 分钟", never "0 分钟"."""
    return max(1, round(duration_s / 60))


def clock(seconds: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour (the player's on-screen time uses the same form)."""
    total = max(0, int(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _course_or_404(request: web.Request) -> InstalledCourse:
    course = request.app[STORE].course(request.match_info["id"])
    if course is None:
        raise web.HTTPNotFound(text="没有找到这个课程。它可能已被删除，或者还没有同步完成。")
    return course


async def home(request: web.Request) -> web.Response:
    return render(request, "home.html", {"shelves": shelves(request.app[STORE].courses())})


async def category(request: web.Request) -> web.Response:
    cid = request.match_info["id"]
    found = shelves([c for c in request.app[STORE].courses() if c.category == cid], row=None)
    if not found and cid not in _KNOWN:
        raise web.HTTPNotFound(text="没有这个课程类别。")
    shelf = found[0] if found else Shelf(cid, category_label(cid), (), 0)
    return render(request, "category.html", {"shelf": shelf})


async def course(request: web.Request) -> web.Response:
    c = _course_or_404(request)
    return render(
        request, "course.html", {"course": c, "label": category_label(c.category), "minutes": minutes(c.duration_s)}
    )


async def play(request: web.Request) -> web.Response:
    c = _course_or_404(request)
    return render(request, "player.html", {"course": c, "length": clock(c.duration_s)})


def setup(app: web.Application) -> None:
    app.router.add_get("/", home, name="home")
    app.router.add_get("/category/{id}", category, name="category")
    app.router.add_get("/course/{id}", course, name="course")
    app.router.add_get("/play/{id}", play, name="play")
