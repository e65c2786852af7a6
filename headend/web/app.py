"""``headend serve``'s app factory: ``create_app(cfg)`` sets every app key (``headend.web.keys``),
adds the routes of each page module, one error middleware and the access rules (``auth``); its cleanup_ctx opens the data
root's database and runs the background loops (job worker, inbox watcher, alerts, star ratings), and closes both."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import jinja2
from aiohttp import web

from catalogue.display import NONE, chinese, duration, people_day, people_time
from headend.config import HeadendConfig, networks
from headend.loops import background
from headend.loops.live import LiveLoop
from headend.loops.ratings import RatingLoop
from headend.service import open_headend
from headend.service.publish_run import PublishRun
from headend.web.accounts import setup_accounts
from headend.web.alerts import setup_alerts
from headend.web.auth import setup_auth
from headend.web.bulletin import setup_bulletin
from headend.web.courses import setup_courses
from headend.web.dashboard import setup_dashboard
from headend.web.errors import error_middleware, http_log
from headend.web.keys import CONFIG, HEADEND, LOOPS, PUBLISHER, TEMPLATES
from headend.web.live import setup_live
from headend.web.live_page import setup_live_page
from headend.web.notices import setup_notices
from headend.web.proxies import forwarded_middleware
from headend.web.publishing import setup_publishing
from headend.web.questions import setup_questions
from headend.web.ratings import setup_ratings
from headend.web.receipts import setup_receipts
from headend.web.repo import setup_repo
from headend.web.reports import RATINGS, setup_reports
from headend.web.station_page import setup_stations
from players import ProfileError, profile
from playlists.errors import FormatError
from playlists.times import parse_moment


def when(value: str | datetime | None) -> str:
    """A moment (a datetime, or ISO 8601 text as the database holds it) as county staff read it,
    in China time: "11月22日 22:11" (with the year when it is not this year)."""
    if isinstance(value, str):
        try:
            value = parse_moment(value, "time", naive=UTC)
        except FormatError:
            return value or NONE
    return people_time(value)


def day(value: str | date | None) -> str:
    """A China date (or ISO date text) as "11月22日"."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value or NONE
    return people_day(value)


def profile_label(name: str) -> str:
    """A player profile as county staff know it: "标清机顶盒（IPTV 浏览器）" for stb-sd."""
    try:
        return profile(name).label
    except ProfileError:
        return name


def templates() -> jinja2.Environment:
    """The headend's pages, with the filters ``china_time`` and ``duration`` (in Chinese)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("headend", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters["china_time"] = when
    env.filters["when"] = when
    env.filters["day"] = day
    env.filters["profile"] = profile_label
    env.filters["duration"] = lambda seconds: duration(chinese, seconds)
    return env


def create_app(cfg: HeadendConfig, background_loops: bool = True) -> web.Application:
    # auto_decompress off: the collector inflates gzip itself, with a cap (a gzip bomb is a 413)
    middlewares = [error_middleware]
    if cfg.trusted_proxies:  # nginx in front: each request gets its client's own address
        middlewares.insert(0, forwarded_middleware(networks(cfg.trusted_proxies)))
    app = web.Application(middlewares=middlewares, handler_args={"logger": http_log, "auto_decompress": False})
    app[CONFIG] = cfg
    app[TEMPLATES] = templates()
    app[LOOPS] = []
    app[PUBLISHER] = PublishRun()

    async def root_ctx(app: web.Application):
        h = await asyncio.to_thread(open_headend, cfg)
        app[HEADEND] = h
        app[RATINGS] = RatingLoop(h)  # without its task (background_loops off) it has no summary
        try:
            if background_loops:
                async with (
                    background(h, alerts=True) as statuses,
                    app[RATINGS].running() as rating_status,
                    LiveLoop(h, app[PUBLISHER]).running() as live_status,
                ):
                    app[LOOPS].extend([*statuses, rating_status, live_status])
                    yield
            else:
                yield
        finally:
            await app[PUBLISHER].wait()
            await asyncio.to_thread(h.close)

    app.cleanup_ctx.append(root_ctx)
    setup_auth(app, cfg)
    setup_accounts(app)
    setup_dashboard(app)
    setup_stations(app)
    setup_alerts(app)
    setup_receipts(app)
    setup_questions(app)
    setup_live_page(app)
    setup_bulletin(app)
    setup_ratings(app)
    setup_publishing(app)
    setup_notices(app)
    setup_courses(app)
    setup_repo(app)
    setup_live(app)
    setup_reports(app)
    return app
