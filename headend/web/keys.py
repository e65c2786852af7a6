"""The state every handler reads, under ``web.AppKey``s (set by ``create_app`` and its cleanup_ctx),
and what ``headend.web.auth`` puts on each request (``web.RequestKey``)."""

from __future__ import annotations

import jinja2
from aiohttp import web

from headend.config import HeadendConfig
from headend.db.records import User
from headend.loops import LoopStatus
from headend.service import Headend
from headend.service.publish_run import PublishRun

CONFIG = web.AppKey("config", HeadendConfig)
HEADEND = web.AppKey("headend", Headend)  # the open data root: config + database
TEMPLATES = web.AppKey("templates", jinja2.Environment)
LOOPS = web.AppKey("loops", list[LoopStatus])  # the job worker's and inbox watcher's status
PUBLISHER = web.AppKey("publisher", PublishRun)  # the dashboard's "publish now" run
USER = web.RequestKey("user", User | None)  # the logged-in account (set by headend.web.auth), or None
SESSION_NAME = web.RequestKey("session_name", str)  # the account the session cookie names ('' if none)
CSRF = web.RequestKey("csrf", str)  # the session's CSRF token, which every form posts back as _csrf
