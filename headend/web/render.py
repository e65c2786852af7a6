"""A page from the headend's templates, rendered with the filters the app factory installs; the
template sees the response's ``status`` too (the error page prints it)."""

from __future__ import annotations

from aiohttp import web

from headend.web.keys import TEMPLATES


def render(request: web.Request, template: str, *, status: int = 200, **context: object) -> web.Response:
    html = request.app[TEMPLATES].get_template(template).render(status=status, **context)
    return web.Response(text=html, content_type="text/html", status=status)
