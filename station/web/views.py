"""Display helpers every page module shares: the clock the TV trusts, category names in the
viewer's language, what every TV page shows around its content (sync indicator, study session,
next programme), a course or a 404, and a study session as the summary and the admin list show
it. Views turn store records into what templates print, so templates hold no logic beyond loops.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from aiohttp import web

from catalogue.categories import CATEGORIES, category_label
from catalogue.display import china_hhmm, clock, duration
from playlists.schedule import CHINA
from station.i18n import Gettext
from station.model import InstalledCourse
from station.model.attendance import StudySession
from station.web import tv_view
from station.web.keys import ATTENDANCE, CHANNEL_PLAYED, STORE
from station.web.responses import translator

_EN = {c.id: c.label_en for c in CATEGORIES}


def now_china() -> datetime:
    return datetime.now(CHINA)


def media_url(repo_path: str | None) -> str:
    """The URL of a store file: repository path ``media/ab/<sha>.mp4`` is served at ``/media/ab/<sha>.mp4``."""
    if not repo_path:
        return ""
    return "/" + repo_path.lstrip("/")


def category_name(request: web.Request, cid: str) -> str:
    return _EN.get(cid, cid) if translator(request).tag == "en" else category_label(cid)


def media_missing(request: web.Request, course: InstalledCourse) -> bool:
    return not request.app[STORE].has_file(course.media)


def course_or_404(request: web.Request, course_id: str | None = None) -> InstalledCourse:
    course = request.app[STORE].course(request.match_info["id"] if course_id is None else course_id)
    if course is None:
        _ = translator(request)
        raise web.HTTPNotFound(
            text=_("This course was not found. It may have been removed, or it has not finished syncing yet.")
        )
    return course


def tv_context(request: web.Request, *, channel: bool = True) -> dict[str, Any]:
    """What every TV page shows around its content: the sync indicator, the study session in
    progress and, for channel mode, the next scheduled programme (with the server's clock, since
    a set-top box's own clock is not to be trusted)."""
    _ = translator(request)
    store = request.app[STORE]
    installed = store.installed_set()
    css, msg, params = tv_view.indicator(store.sync_status(), bool(installed.courses))
    ctx: dict[str, Any] = {
        "indicator": {"css": css, "label": _(msg, **params)},
        "session": request.app[ATTENDANCE].current_session(),
        "programme": None,
        "now_ms": int(time.time() * 1000),
        "category_name": lambda cid: category_name(request, cid),
    }
    if channel:
        p = tv_view.next_programme(installed, now_china(), request.app[CHANNEL_PLAYED])
        if p is not None:
            ctx["programme"] = {
                "course": p.course,
                "title": p.title,
                "key": p.key,
                "hhmm": p.hhmm,
                "start_ms": int(p.start.timestamp() * 1000),
                "end_ms": int(p.end.timestamp() * 1000) if p.end else 0,  # a live class: joined until it ends
                "url": p.url,
                "live": p.live is not None,
            }
    return ctx


def summary_view(_: Gettext, s: StudySession) -> dict:
    """A finished (or running) study session as the summary page and the admin list show it."""
    return {
        "id": s.id,
        "topic": s.topic,
        "facilitator": s.facilitator or _("the station administrator"),
        "headcount": s.headcount,
        "names": list(s.names),
        "date": s.started.astimezone(CHINA).strftime("%Y-%m-%d"),
        "started": china_hhmm(s.started),
        "ended": china_hhmm(s.ended) if s.ended else "",
        "duration": duration(_, float(s.duration_s)),
        "courses": [{"title": c.title, "watched": clock(c.watched_s)} for c in s.courses],
    }


def programme_key(request: web.Request, key: str) -> str:
    """``key`` if it names a programme of the installed schedule (then remembered as played), else
    "" (a plain play). The played set keeps only keys still in the window, so it stays small."""
    if not key:
        return ""
    installed = request.app[STORE].installed_set()
    due = {p.key for p in tv_view.programmes_due(installed, now_china())}
    played = request.app[CHANNEL_PLAYED]
    played.intersection_update(due)
    if key not in due:
        return ""
    played.add(key)
    return key
