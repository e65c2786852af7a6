"""``headend serve``: the published tree under ``/repo/`` (Range, ETag), ``/api/v1/``, and the
county dashboard under ``/county``. One app factory; one error middleware."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import jinja2
from aiohttp import web

from catalogue import CATEGORIES, category_label
from headend.config import HeadendConfig
from headend.db import Database
from headend.courses_web import setup_courses
from headend.errors import HeadendError
from headend.programming import load_all

log = logging.getLogger(__name__)

CONFIG = web.AppKey("config", HeadendConfig)
DB = web.AppKey("db", Database)
TEMPLATES = web.AppKey("templates", jinja2.Environment)


def _error_page(request: web.Request, status: int, message: str) -> web.Response:
    if request.path.startswith("/api/"):
        return web.json_response({"error": message, "status": status}, status=status)
    if request.path.startswith("/repo/"):
        return web.Response(status=status, text=f"{status} {message}\n")
    html = request.app[TEMPLATES].get_template("error.html").render(status=status, message=message)
    return web.Response(status=status, text=html, content_type="text/html")


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error_page(request, exc.status, exc.text or exc.reason)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error_page(request, 500, "internal error; see the headend log")


async def repo_file(request: web.Request) -> web.StreamResponse:
    repo = request.app[CONFIG].repo_dir.resolve()
    rel = request.match_info["path"]
    target = (repo / rel).resolve()
    if not target.is_relative_to(repo) or not target.is_file() or any(part.startswith(".") for part in Path(rel).parts):
        raise web.HTTPNotFound(text=f"{rel}: not in the repository")
    resp = web.FileResponse(target, headers={"Cache-Control": _cache_control(rel)})
    return resp


def _cache_control(rel: str) -> str:
    # Media and playlists are immutable (named by sha256 / version); the index changes.
    if rel.startswith(("media/", "playlists/")):
        return "public, max-age=31536000, immutable"
    return "public, max-age=60"


async def api_health(request: web.Request) -> web.Response:
    db = request.app[DB]
    last = await asyncio.to_thread(db.last_publication)
    return web.json_response({"ok": True, "published_version": last["version"] if last else 0})


async def api_stations(request: web.Request) -> web.Response:
    return web.json_response({"stations": await asyncio.to_thread(request.app[DB].stations)})


async def county(request: web.Request) -> web.Response:
    db = request.app[DB]
    courses, stations, last = await asyncio.gather(
        asyncio.to_thread(db.courses), asyncio.to_thread(db.stations), asyncio.to_thread(db.last_publication)
    )
    programming_error = None
    try:
        playlists, notices = await asyncio.to_thread(load_all, request.app[CONFIG].root)
    except HeadendError as exc:  # a broken file: show it, the rest of the page still works
        playlists, notices, programming_error = [], [], str(exc)
    html = request.app[TEMPLATES].get_template("county.html").render(
        courses=courses, stations=stations, last=dict(last) if last else None,
        category_label=category_label, categories=CATEGORIES,
        playlists=playlists, notices=notices, programming_error=programming_error,
    )
    return web.Response(text=html, content_type="text/html")


async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/county")


def create_app(cfg: HeadendConfig) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app[CONFIG] = cfg
    app[DB] = Database(cfg.db_path)
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.PackageLoader("headend", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    app.router.add_get("/", root)
    app.router.add_get("/county", county)
    app.router.add_get("/api/v1/health", api_health)
    app.router.add_get("/api/v1/stations", api_stations)
    app.router.add_get("/repo/{path:.+}", repo_file)
    setup_courses(app)  # /county/courses, /api/v1/jobs; job worker + inbox watcher (headend/courses_web.py)
    return app
