"""The station's web server: the TV page (``station.web_tv``), the admin page
(``station.web_admin``), media files, ``/api/status`` and the one error middleware.

Routes::

    GET  /                      TV home: installed courses by category
    GET  /category/{id}         one category's courses
    GET  /course/{id}           a course: poster, description, 播放
    GET  /play/{id}             full-screen player (video, or audio with the poster)
    GET  /media/{path}          verified files from the store (Range, ETag)
    GET  /static/{file}         tv.js, tv.css
    GET  /admin                 PIN login, then sync status, storage, courses, 立即同步
    POST /admin/login, /admin/logout, /admin/sync
    GET  /api/status            JSON: station, sync status, courses, disk usage

State lives under the ``web.AppKey``\\s below; ``SYNC_NOW`` is an ``asyncio.Event`` that the sync
loop (started by ``station serve``) waits on and the admin page's 立即同步 button sets.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

import jinja2
from aiohttp import web

from station.config import StationConfig
from station.errors import StoreError
from station.store import Store

log = logging.getLogger(__name__)

CONFIG = web.AppKey("config", StationConfig)
STORE = web.AppKey("store", Store)
SYNC_NOW = web.AppKey("sync_now", asyncio.Event)
TEMPLATES = web.AppKey("templates", jinja2.Environment)

HERE = Path(__file__).parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

# Chinese titles for the error page, by HTTP status; anything else gets the generic one.
_ERROR_TITLES = {
    400: "请求有误",
    401: "需要登录",
    403: "没有权限",
    404: "找不到这个页面",
    405: "不支持这个操作",
    413: "内容太大",
    429: "尝试次数太多",
}
_ERROR_HINTS = {
    404: "这个页面或课程不存在，可能已被删除，或者还没有同步完成。",
    429: "请过几分钟再试。",
}
_GENERIC_ERROR = "出错了"
_GENERIC_HINT = "请稍后再试。如果一直这样，请告诉本站的信息管理员。"


def render(
    request: web.Request, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    """Render a jinja2 template (autoescaped) to an HTML response."""
    env = request.app[TEMPLATES]
    ctx: dict[str, Any] = {"station": request.app[CONFIG]}
    ctx.update(context or {})
    html = env.get_template(template).render(ctx)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def media_url(repo_path: str | None) -> str:
    """The URL of a store file: repository path ``media/ab/<sha>.mp4`` is served at ``/media/ab/<sha>.mp4``."""
    if not repo_path:
        return ""
    return "/" + repo_path.lstrip("/")


def _detail(exc: web.HTTPException) -> str:
    """The message a handler put in the exception (``text=``), not aiohttp's default ``"404: Not Found"``."""
    text = exc.text or ""
    if not text or text.startswith(f"{exc.status}:"):
        return ""
    return text


def error_response(
    request: web.Request, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    keep = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-type", "content-length")}
    title = _ERROR_TITLES.get(status, _GENERIC_ERROR)
    if request.path.startswith("/api/"):
        body = {"error": detail or title, "status": status}
        return web.json_response(body, status=status, headers=keep)
    hint = detail or _ERROR_HINTS.get(status) or _GENERIC_HINT
    home, home_label = ("/admin", "回到管理页") if request.path.startswith("/admin") else ("/", "回到首页")
    ctx = {"status": status, "title": title, "hint": hint, "home": home, "home_label": home_label}
    resp = render(request, "error.html", ctx, status=status)
    resp.headers.update(keep)
    return resp


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The one place errors become responses: JSON under /api/, a Chinese page elsewhere."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and 304s are not errors
            raise
        return error_response(request, exc.status, _detail(exc), exc.headers)
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.path_qs)
        return error_response(request, 500, "")


# ---- media and API ---------------------------------------------------------------------------


async def media(request: web.Request) -> web.StreamResponse:
    """A verified file from the store. Only regular files under data_dir/media/ are served."""
    store = request.app[STORE]
    repo_path = "media/" + request.match_info["path"]
    not_found = web.HTTPNotFound(text="没有这个媒体文件。")
    try:
        path = store.blob_path(repo_path)
    except StoreError:
        raise not_found from None
    media_root = (store.data_dir / "media").resolve()
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise not_found from None
    if not resolved.is_relative_to(media_root) or not resolved.is_file():
        raise not_found
    # Blobs are named by their sha256, so a given URL never changes content.
    return web.FileResponse(resolved, headers={"Cache-Control": "public, max-age=31536000, immutable"})


async def api_status(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    store = request.app[STORE]
    courses = store.courses()
    disk = await asyncio.to_thread(store.disk_usage)
    return web.json_response(
        {
            "station_id": config.station_id,
            "name": config.name,
            "player": config.player,
            "sync": store.sync_status(),
            "courses_installed": len(courses),
            "disk": disk,
        },
        dumps=_dumps,
    )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


# ---- the factory ---------------------------------------------------------------------------


def _static_versions() -> dict[str, str]:
    """``/static/tv.js?v=<hash>`` so a box never runs an old script after an upgrade."""
    versions = {}
    for p in STATIC_DIR.iterdir():
        if p.is_file():
            versions[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()[:10]
    return versions


def create_app(config: StationConfig, store: Store, *, admin_failure_delay_s: float = 1.0) -> web.Application:
    # Imported here: both modules import the keys and render() from this one.
    from station import web_admin, web_tv

    app = web.Application(middlewares=[error_middleware], client_max_size=64 * 1024)
    app[CONFIG] = config
    app[STORE] = store
    app[SYNC_NOW] = asyncio.Event()

    versions = _static_versions()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["media_url"] = media_url
    env.globals["static_url"] = lambda name: f"/static/{name}?v={versions.get(name, '0')}"
    app[TEMPLATES] = env

    web_tv.setup(app)
    web_admin.setup(app, failure_delay_s=admin_failure_delay_s)
    app.router.add_get("/media/{path:.+}", media, name="media")
    app.router.add_get("/api/status", api_status, name="api_status")
    app.router.add_static("/static/", STATIC_DIR, name="static")
    return app
