r"""Every piece of state the station's web app keeps, as typed ``web.AppKey``\s (one module, so
the page modules and the daemon import keys, never each other's globals).

``SYNC_NOW`` is an ``asyncio.Event`` the sync loop waits on and the admin page's "sync now" sets.
``PIN`` is where the admin PIN lives (station.toml or the stored hash), ``TOKENS`` the
page tokens and ``RATE`` the rate limit of state-changing requests (``station.web.forms``).
``ATTENDANCE`` holds the local attendance records; ``CHANNEL_PLAYED`` the programme keys this
box has already started in channel mode; ``LIVE`` the relay of live classes (``station.live``).
"""

from __future__ import annotations

import asyncio
import time

import jinja2
from aiohttp import web

from station.config import StationConfig
from station.live import LiveRelay
from station.records.attendance import Attendance
from station.store import Store
from station.web.guard import AdminGuard, PageTokens, RateLimit
from station.web.pin import AdminPin

CONFIG = web.AppKey("config", StationConfig)
STORE = web.AppKey("store", Store)
SYNC_NOW = web.AppKey("sync_now", asyncio.Event)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
ATTENDANCE = web.AppKey("attendance", Attendance)
ADMIN = web.AppKey("admin", AdminGuard)
CHANNEL_PLAYED = web.AppKey("channel_played", set)
PIN = web.AppKey("pin", AdminPin)
TOKENS = web.AppKey("tokens", PageTokens)
RATE = web.AppKey("rate", RateLimit)
LIVE = web.AppKey("live", LiveRelay)


class Contact:
    """When a TV page last reached the box (epoch seconds; in memory: the health sample's
    ``tv_seen``)."""

    def __init__(self) -> None:
        self.at: float | None = None

    def touch(self) -> None:
        self.at = time.time()


TV_SEEN = web.AppKey("tv_seen", Contact)
SETUP_LOCK = web.AppKey("setup_lock", asyncio.Lock)  # one first-run PIN at a time
