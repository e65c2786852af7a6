"""A page from the headend's templates, rendered with the filters the app factory installs; the
template sees the response's ``status``, the logged-in ``user`` (or None) and the ``csrf`` token
every form posts back as ``_csrf``."""

from __future__ import annotations

from aiohttp import web

from headend.web.keys import CSRF, TEMPLATES, USER


def render(request: web.Request, template: str, *, status: int = 200, **context: object) -> web.Response:
    context.setdefault("user", request.get(USER))
    context.setdefault("csrf", request.get(CSRF, ""))
    html = request.app[TEMPLATES].get_template(template).render(status=status, **context)
    return web.Response(text=html, content_type="text/html", status=status)
