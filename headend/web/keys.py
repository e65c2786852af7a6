"""The state every handler reads, under ``web.AppKey``s (set by ``create_app`` and its cleanup_ctx)."""

from __future__ import annotations

import jinja2
from aiohttp import web

from headend.config import HeadendConfig
from headend.loops import LoopStatus
from headend.service import Headend

CONFIG = web.AppKey("config", HeadendConfig)
HEADEND = web.AppKey("headend", Headend)  # the open data root: config + database
TEMPLATES = web.AppKey("templates", jinja2.Environment)
LOOPS = web.AppKey("loops", list[LoopStatus])  # the job worker's and inbox watcher's status
