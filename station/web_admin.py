"""The admin page (信息管理员, usually from a phone on the village LAN): PIN login, sync status,
storage, installed courses and the 立即同步 button.

Sessions are random tokens kept in memory (a restart logs everyone out) and sent back as an
HttpOnly, SameSite=Strict cookie. A wrong PIN costs ``failure_delay_s`` and counts against the
client's address; ``max_failures`` within ``window_s`` locks that address out (429) until the
oldest failure leaves the window.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import secrets
import time
from datetime import datetime
from typing import Any, Callable

from aiohttp import web

from catalogue.categories import category_label
from players import ProfileError, profile
from station.web import CONFIG, STORE, SYNC_NOW, render
from station.web_tv import minutes

COOKIE = "yj_admin"


class AdminGuard:
    """Admin sessions and PIN-guessing limits per client address."""

    def __init__(
        self,
        pin: str,
        *,
        failure_delay_s: float = 1.0,
        max_failures: int = 5,
        window_s: float = 300.0,
        session_ttl_s: float = 12 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pin = pin
        self.failure_delay_s = failure_delay_s
        self.max_failures = max_failures
        self.window_s = window_s
        self.session_ttl_s = session_ttl_s
        self.clock = clock
        self._sessions: dict[str, float] = {}  # token -> expiry (clock)
        self._failures: dict[str, list[float]] = {}  # client address -> failure times (clock)

    # ---- PIN guessing ------------------------------------------------------------------------

    def _recent(self, client: str) -> list[float]:
        cutoff = self.clock() - self.window_s
        recent = [t for t in self._failures.get(client, ()) if t > cutoff]
        if recent:
            self._failures[client] = recent
        else:
            self._failures.pop(client, None)
        return recent

    def locked_for_s(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: not locked)."""
        recent = self._recent(client)
        if len(recent) < self.max_failures:
            return 0.0
        return max(0.0, recent[-self.max_failures] + self.window_s - self.clock())

    def tries_left(self, client: str) -> int:
        return max(0, self.max_failures - len(self._recent(client)))

    def record_failure(self, client: str) -> None:
        if len(self._failures) > 10_000:  # bound memory under a flood of addresses
            for key in list(self._failures):
                self._recent(key)
        self._failures.setdefault(client, []).append(self.clock())

    def check_pin(self, pin: str) -> bool:
        return bool(self.pin) and hmac.compare_digest(pin.encode("utf-8"), self.pin.encode("utf-8"))

    # ---- sessions ----------------------------------------------------------------------------

    def new_session(self, client: str) -> str:
        now = self.clock()
        self._sessions = {t: exp for t, exp in self._sessions.items() if exp > now}
        token = secrets.token_urlsafe(32)
        self._sessions[token] = now + self.session_ttl_s
        self._failures.pop(client, None)
        return token

    def valid(self, token: str | None) -> bool:
        if not token:
            return False
        expiry = self._sessions.get(token)
        return expiry is not None and expiry > self.clock()

    def end(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)


ADMIN = web.AppKey("admin", AdminGuard)


# ---- display helpers (the template only prints these) ------------------------------------------

_STATES = {
    "ok": ("正常", "ok"),
    "failed": ("失败", "bad"),
    "running": ("正在同步", "busy"),
}


def fmt_bytes(n: Any) -> str:
    try:
        value = float(n)
    except (TypeError, ValueError):
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover


def fmt_time(value: Any) -> str:
    """ISO text or epoch seconds as local ``YYYY-MM-DD HH:MM:SS``; anything else as given."""
    if value is None or value == "":
        return "—"
    try:
        if isinstance(value, (int, float)):
            dt = datetime.fromtimestamp(value)
        else:
            dt = datetime.fromisoformat(str(value))
            if dt.tzinfo is not None:
                dt = dt.astimezone()
        return dt.strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):
        return str(value)


def sync_view(status: dict) -> dict:
    label, css = _STATES.get(status.get("state", ""), ("还没有同步过", "none"))
    rows = [("上次尝试", fmt_time(status.get("last_attempt"))), ("上次成功", fmt_time(status.get("last_success")))]
    if "index_version" in status:
        rows.append(("内容版本", str(status["index_version"])))
    if "courses_installed" in status or "courses_total" in status:
        rows.append(("课程", f"已安装 {status.get('courses_installed', '—')} / 共 {status.get('courses_total', '—')}"))
    if "bytes_downloaded" in status:
        rows.append(("已下载", fmt_bytes(status["bytes_downloaded"])))
    if status.get("mirror"):
        rows.append(("内容来源", str(status["mirror"])))
    return {
        "label": label,
        "css": css,
        "running": status.get("state") == "running",
        "rows": rows,
        "message": str(status.get("message") or ""),
        "error": str(status.get("last_error") or "") if status.get("state") != "ok" else "",
    }


def _player_label(name: str) -> str:
    try:
        return f"{profile(name).label}（{name}）"
    except ProfileError:
        return name


# ---- handlers ----------------------------------------------------------------------------------


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _client(request: web.Request) -> str:
    return request.remote or "unknown"


def _logged_in(request: web.Request) -> bool:
    return request.app[ADMIN].valid(request.cookies.get(COOKIE))


def _login_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    return render(request, "admin_login.html", {"error": error}, status=status)


async def admin(request: web.Request) -> web.Response:
    if not _logged_in(request):
        return _login_page(request)
    config, store = request.app[CONFIG], request.app[STORE]
    disk = await asyncio.to_thread(store.disk_usage)
    courses = [
        {"id": c.id, "title": c.title, "label": category_label(c.category), "minutes": minutes(c.duration_s),
         "kind": "音频" if c.kind == "audio" else "视频"}
        for c in store.courses()
    ]
    return render(
        request,
        "admin.html",
        {
            "player_label": _player_label(config.player),
            "sync": sync_view(store.sync_status()),
            "sync_requested": request.app[SYNC_NOW].is_set() or request.query.get("sync") == "requested",
            "courses": courses,
            "disk": {
                "media": fmt_bytes(disk.get("media_bytes")),
                "files": disk.get("media_files", 0),
                "free": fmt_bytes(disk.get("free_bytes")),
            },
        },
    )


async def login(request: web.Request) -> web.StreamResponse:
    guard, client = request.app[ADMIN], _client(request)
    wait_s = guard.locked_for_s(client)
    if wait_s > 0:
        raise web.HTTPTooManyRequests(
            text=f"PIN 输错次数太多。请 {math.ceil(wait_s / 60)} 分钟后再试。",
            headers={"Retry-After": str(math.ceil(wait_s))},
        )
    form = await request.post()
    pin = str(form.get("pin", "")).strip()
    if guard.check_pin(pin):
        resp = _see_other("/admin")
        resp.set_cookie(
            COOKIE, guard.new_session(client), path="/admin", httponly=True, samesite="Strict",
            max_age=int(guard.session_ttl_s),
        )
        return resp
    guard.record_failure(client)
    await asyncio.sleep(guard.failure_delay_s)
    left = guard.tries_left(client)
    error = "PIN 不正确。" + (f"还可以再试 {left} 次。" if left else "请过几分钟再试。")
    return _login_page(request, error, status=403)


async def logout(request: web.Request) -> web.StreamResponse:
    request.app[ADMIN].end(request.cookies.get(COOKIE))
    resp = _see_other("/admin")
    resp.del_cookie(COOKIE, path="/admin")
    return resp


async def sync_now(request: web.Request) -> web.StreamResponse:
    if not _logged_in(request):
        return _see_other("/admin")
    request.app[SYNC_NOW].set()
    return _see_other("/admin?sync=requested")


def setup(app: web.Application, *, failure_delay_s: float = 1.0) -> None:
    app[ADMIN] = AdminGuard(app[CONFIG].admin_pin, failure_delay_s=failure_delay_s)
    app.router.add_get("/admin", admin, name="admin")
    app.router.add_post("/admin/login", login, name="admin_login")
    app.router.add_post("/admin/logout", logout, name="admin_logout")
    app.router.add_post("/admin/sync", sync_now, name="admin_sync")
