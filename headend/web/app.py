"""``headend serve``'s app factory: ``create_app(cfg)`` sets every app key (``headend.web.keys``),
adds the routes of each page module and one error middleware; its cleanup_ctx opens the data
root's database and runs the background loops (job worker, inbox watcher), and closes both."""

from __future__ import annotations

import asyncio

import jinja2
from aiohttp import web

from headend.config import HeadendConfig
from headend.loops import background
from headend.service import open_headend
from headend.web.county import setup_county
from headend.web.courses import setup_courses
from headend.web.errors import error_middleware
from headend.web.keys import CONFIG, HEADEND, LOOPS, TEMPLATES
from headend.web.repo import setup_repo


def create_app(cfg: HeadendConfig, background_loops: bool = True) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app[CONFIG] = cfg
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.PackageLoader("headend", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    app[LOOPS] = []

    async def root_ctx(app: web.Application):
        h = await asyncio.to_thread(open_headend, cfg)
        app[HEADEND] = h
        try:
            if background_loops:
                async with background(h) as statuses:
                    app[LOOPS].extend(statuses)
                    yield
            else:
                yield
        finally:
            await asyncio.to_thread(h.close)

    app.cleanup_ctx.append(root_ctx)
    setup_county(app)
    setup_courses(app)
    setup_repo(app)
    return app
