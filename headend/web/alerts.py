"""``/county/alerts``: the open alerts of the account's region (with who acknowledged them) and
those cleared in the last days; editors and admins acknowledge (``POST
/county/alerts/{id}/acknowledge``, audit-logged; a viewer's POST is a 403, an alert outside the
region a 404). ``/api/v1/alerts`` gives the same as JSON; ``?region=`` narrows both."""

from __future__ import annotations

import asyncio

from aiohttp import web

from headend.errors import NotFound
from headend.service import alerts
from headend.service.alert_rules import KIND_LABELS, NEVER_CONNECTED_DAYS
from headend.web.auth import actor_of, current_user, role
from headend.web.dashboard import region_from
from headend.web.keys import CONFIG, HEADEND
from headend.web.render import render


async def alerts_page(request: web.Request) -> web.Response:
    region = region_from(request)
    found = await asyncio.to_thread(alerts.visible, request.app[HEADEND], current_user(request), region)
    return render(
        request,
        "alerts.html",
        found=found,
        region=region,
        labels=KIND_LABELS,
        settings=request.app[CONFIG].alerts,
        shown_days=alerts.CLEARED_SHOWN_DAYS,
        never_days=NEVER_CONNECTED_DAYS,
    )


async def api_alerts(request: web.Request) -> web.Response:
    region = region_from(request)
    found = await asyncio.to_thread(alerts.visible, request.app[HEADEND], current_user(request), region)
    return web.json_response(
        {
            "region": list(region),
            "open": [alerts.alert_json(a) for a in found.open],
            "cleared": [alerts.alert_json(a) for a in found.cleared],
        }
    )


@role("editor")
async def acknowledge(request: web.Request) -> web.Response:
    text = request.match_info["id"]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise NotFound(f"没有这条告警（no alert {text[:40]}）")
    alert = await asyncio.to_thread(
        alerts.acknowledge, request.app[HEADEND], actor_of(request), current_user(request), int(text)
    )
    raise web.HTTPSeeOther(f"/county/alerts#alert-{alert.id}")


def setup_alerts(app: web.Application) -> None:
    app.router.add_get("/county/alerts", alerts_page)
    app.router.add_post("/county/alerts/{id}/acknowledge", acknowledge)
    app.router.add_get("/api/v1/alerts", api_alerts)
