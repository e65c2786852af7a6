"""The courses pages: ``/county/courses`` (the transcoding queue with a live row per job, and the
catalogue) and ``/county/courses/{id}`` (edit title, category, description, series, episode,
speaker). ``/api/v1/jobs`` gives the queue as JSON for the live rows."""

from __future__ import annotations

import asyncio
import dataclasses
import re

from aiohttp import web

from catalogue import CATEGORIES, category_label
from headend.db import Job
from headend.errors import IngestError, NotFound
from headend.service.courseware import edit_course
from headend.web.auth import actor_of, current_user, for_account, loops_for_account, role
from headend.web.forms import read_form
from headend.web.keys import CONFIG, HEADEND
from headend.web.render import render


def _shown(request: web.Request, job: Job) -> Job:
    """A job as this account may see it: server paths (the source's path, the data root in
    messages, ffmpeg's output) only for admins."""
    if current_user(request).can("admin"):
        return job
    return dataclasses.replace(job, source_path=job.source_name, message=for_account(request, job.message), log_tail="")


async def courses_page(request: web.Request) -> web.Response:
    db = request.app[HEADEND].db
    jobs, courses = await asyncio.gather(asyncio.to_thread(db.jobs.recent, 30), asyncio.to_thread(db.courses))
    admin = current_user(request).can("admin")
    return render(
        request,
        "courses.html",
        jobs=[_shown(request, j) for j in jobs],
        courses=courses,
        category_label=category_label,
        inbox=str(request.app[CONFIG].inbox_dir) if admin else "inbox/",
        saved=next((c for c in courses if c.id == request.query.get("saved")), None),
        loops=loops_for_account(request),
    )


async def api_jobs(request: web.Request) -> web.Response:
    jobs = await asyncio.to_thread(request.app[HEADEND].db.jobs.recent, 30)
    loops = [s.to_dict() for s in loops_for_account(request)]
    return web.json_response({"jobs": [_shown(request, j).to_dict() for j in jobs], "loops": loops})


async def _render_edit(request: web.Request, course, error: str = "", status: int = 200) -> web.Response:
    return render(
        request,
        "course_edit.html",
        status=status,
        course=course,
        categories=CATEGORIES,
        category_label=category_label,
        error=error,
    )


async def _course(request: web.Request):
    course = await asyncio.to_thread(request.app[HEADEND].db.course, request.match_info["id"])
    if course is None:
        raise web.HTTPNotFound(text=f"no course {request.match_info['id']}")
    return course


async def course_edit_page(request: web.Request) -> web.Response:
    return await _render_edit(request, await _course(request))


@role("editor")
async def course_edit_post(request: web.Request) -> web.Response:
    course = await _course(request)
    form = await read_form(request)
    episode_text = str(form.get("episode", "")).strip()
    changes = {k: str(form.get(k, "")) for k in ("title", "category", "description", "series", "speaker")}
    if episode_text and not re.fullmatch(r"[0-9]{1,4}", episode_text):  # "²" is a digit to isdigit()
        return await _render_edit(
            request, course, f"集数必须是数字（episode must be a whole number, not {episode_text!r}）", 400
        )
    changes["episode"] = int(episode_text) if episode_text else 0
    try:
        await asyncio.to_thread(edit_course, request.app[HEADEND], course.id, changes, actor_of(request))
    except NotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    except IngestError as exc:
        return await _render_edit(request, course, str(exc), 400)
    raise web.HTTPSeeOther(f"/county/courses?saved={course.id}")


def setup_courses(app: web.Application) -> None:
    app.router.add_get("/county/courses", courses_page)
    app.router.add_get("/county/courses/{id}", course_edit_page)
    app.router.add_post("/county/courses/{id}", course_edit_post)
    app.router.add_get("/api/v1/jobs", api_jobs)
