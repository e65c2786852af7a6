"""The headend's courses page: ``/county/courses`` (the transcoding queue with a live row per job,
and the catalogue) and ``/county/courses/{id}`` (edit title, category, description, series,
episode, speaker). ``/api/v1/jobs`` gives the queue as JSON for the live rows.

``setup_courses(app)`` adds the routes and the background job worker + inbox watcher (cleanup_ctx).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from catalogue import CATEGORIES, category_label
from headend.errors import IngestError
from headend.jobs import JobStore
from headend.watch import courseware_service

WORKER = web.AppKey("courseware_worker", object)


async def _courseware_ctx(app: web.Application):
    from headend.app import CONFIG

    async with courseware_service(app[CONFIG]) as (worker, _watcher):
        app[WORKER] = worker
        yield


def _deps(request: web.Request):
    from headend.app import CONFIG, DB, TEMPLATES

    return request.app[CONFIG], request.app[DB], request.app[TEMPLATES]


async def courses_page(request: web.Request) -> web.Response:
    cfg, db, templates = _deps(request)
    store = JobStore(db)
    await asyncio.to_thread(store.create)
    jobs, courses = await asyncio.gather(asyncio.to_thread(store.recent, 30), asyncio.to_thread(db.courses))
    html = templates.get_template("courses.html").render(
        jobs=jobs, courses=courses, category_label=category_label, inbox=str(cfg.inbox_dir),
    )
    return web.Response(text=html, content_type="text/html")


async def api_jobs(request: web.Request) -> web.Response:
    _, db, _ = _deps(request)
    store = JobStore(db)
    await asyncio.to_thread(store.create)
    jobs = await asyncio.to_thread(store.recent, 30)
    return web.json_response({"jobs": [j.to_dict() for j in jobs]})


async def _render_edit(request: web.Request, course, error: str = "", status: int = 200) -> web.Response:
    _, _, templates = _deps(request)
    html = templates.get_template("course_edit.html").render(
        course=course, categories=CATEGORIES, category_label=category_label, error=error,
    )
    return web.Response(text=html, content_type="text/html", status=status)


async def course_edit_page(request: web.Request) -> web.Response:
    _, db, _ = _deps(request)
    course = await asyncio.to_thread(db.course, request.match_info["id"])
    if course is None:
        raise web.HTTPNotFound(text=f"no course {request.match_info['id']}")
    return await _render_edit(request, course)


async def course_edit_post(request: web.Request) -> web.Response:
    from headend.cli_courses import edit_course

    _, db, _ = _deps(request)
    course_id = request.match_info["id"]
    course = await asyncio.to_thread(db.course, course_id)
    if course is None:
        raise web.HTTPNotFound(text=f"no course {course_id}")
    form = await request.post()
    episode_text = str(form.get("episode", "")).strip()
    changes = {k: str(form.get(k, "")) for k in ("title", "category", "description", "series", "speaker")}
    if episode_text and not episode_text.isdigit():
        return await _render_edit(request, course, f"集数必须是数字（episode must be a whole number, not {episode_text!r}）", 400)
    changes["episode"] = int(episode_text) if episode_text else 0
    try:
        await asyncio.to_thread(edit_course, db, course_id, changes)
    except IngestError as exc:
        return await _render_edit(request, course, str(exc), 400)
    raise web.HTTPSeeOther(f"/county/courses?saved={course_id}")


def setup_courses(app: web.Application, background: bool = True) -> None:
    app.router.add_get("/county/courses", courses_page)
    app.router.add_get("/county/courses/{id}", course_edit_page)
    app.router.add_post("/county/courses/{id}", course_edit_post)
    app.router.add_get("/api/v1/jobs", api_jobs)
    if background:
        app.cleanup_ctx.append(_courseware_ctx)
