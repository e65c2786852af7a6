"""Who may change what on the station (pure: a clock is passed in; no aiohttp).

- ``AdminGuard``: admin sessions and PIN-guessing limits. A login *reserves* a try before it
  awaits anything (the body, the PIN check): the reservation counts as a failure at once and is
  forgiven only when the PIN is right, so however many guesses are in flight, at most
  ``max_failures`` per ``window_s`` are ever evaluated for one address, and at most
  ``global_max_failures`` per ``global_window_s`` for all addresses together (a LAN with many
  addresses gets no more guesses than that). One address alone cannot reach the LAN's ceiling
  (5 per 15 minutes is 20 an hour of 60), and the box itself (loopback: its own TV and console) is
  never held by the LAN's ceiling, so the administrator can always log in at the box.
- ``PageTokens``: the token every state-changing request must carry, an HMAC of a per-boot secret:
  one for the TV pages, one per admin session, one for the admin's login and first-run pages.
- ``RateLimit``: a token bucket per client address for state-changing requests.

Sessions are random tokens kept in memory (a restart logs everyone out).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Callable

ADMIN_COOKIE = "yj_admin"


PRUNE_AT = 10_000  # addresses remembered before the tables are swept


def _next_prune(kept: int) -> int:
    """Sweep again only when the table has doubled since: a flood of live addresses (IPv6 has
    plenty) costs each request O(1) on average, not a sweep of every address every time."""
    return max(PRUNE_AT, 2 * kept)


def _on_the_box(client: str) -> bool:
    try:
        return ipaddress.ip_address(client).is_loopback
    except ValueError:
        return False


class AdminGuard:
    """Admin sessions and PIN-guessing limits per client address and for the whole LAN."""

    def __init__(
        self,
        *,
        failure_delay_s: float = 1.0,
        max_failures: int = 5,
        window_s: float = 900.0,
        global_max_failures: int = 60,
        global_window_s: float = 3600.0,
        session_ttl_s: float = 12 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_delay_s = failure_delay_s
        self.max_failures = max_failures
        self.window_s = window_s
        self.global_max_failures = global_max_failures
        self.global_window_s = global_window_s
        self.session_ttl_s = session_ttl_s
        self.clock = clock
        self._sessions: dict[str, float] = {}  # token -> expiry (clock)
        self._failures: dict[str, list[float]] = {}  # client address -> failure (or try) times
        self._all: list[float] = []  # every address's failure (or try) times
        self._prune_at = PRUNE_AT

    # ---- PIN guessing ------------------------------------------------------------------------

    def _recent(self, client: str) -> list[float]:
        cutoff = self.clock() - self.window_s
        recent = [t for t in self._failures.get(client, ()) if t > cutoff]
        if recent:
            self._failures[client] = recent
        else:
            self._failures.pop(client, None)
        return recent

    def _recent_all(self) -> list[float]:
        cutoff = self.clock() - self.global_window_s
        self._all = [t for t in self._all if t > cutoff]
        return self._all

    def locked_for_s(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: not locked), for this address or the LAN."""
        now = self.clock()
        wait = 0.0
        recent = self._recent(client)
        if len(recent) >= self.max_failures:
            wait = recent[-self.max_failures] + self.window_s - now
        everyone = self._recent_all()
        if len(everyone) >= self.global_max_failures and not _on_the_box(client):
            wait = max(wait, everyone[-self.global_max_failures] + self.global_window_s - now)
        return max(0.0, wait)

    def tries_left(self, client: str) -> int:
        mine = self.max_failures - len(self._recent(client))
        if _on_the_box(client):
            return max(0, mine)
        return max(0, min(mine, self.global_max_failures - len(self._recent_all())))

    def reserve(self, client: str) -> float | None:
        """Take one try for ``client`` now (it counts as a failure until ``forgive``), or None when
        locked. Check and count happen together, with nothing awaited in between."""
        if self.locked_for_s(client) > 0:
            return None
        if len(self._failures) > self._prune_at:  # bound memory under a flood of addresses
            for key in list(self._failures):
                self._recent(key)
            self._prune_at = _next_prune(len(self._failures))
        stamp = self.clock()
        self._failures.setdefault(client, []).append(stamp)
        if not _on_the_box(client):
            self._all.append(stamp)
        return stamp

    def forgive(self, client: str, stamp: float) -> None:
        """The reserved try was the right PIN: it is no failure."""
        for times in (self._failures.get(client, []), self._all):
            if stamp in times:
                times.remove(stamp)

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


class PageTokens:
    """The token a page of this station stamps into its forms and its script's requests.

    ``for_path(path, session)``: the admin pages' token is bound to the admin session (a stolen TV
    token opens nothing on /admin); before login, the login and first-run forms share one; every
    other page (the TV's) shares the TV token. All are HMACs of a secret made at boot, so a restart
    makes old pages' tokens stale (the page says to reload)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def _mac(self, label: str) -> str:
        return hmac.new(self._secret, label.encode("utf-8"), hashlib.sha256).hexdigest()

    def for_path(self, path: str, session: str | None) -> str:
        if path == "/admin" or path.startswith("/admin/"):
            return self._mac("admin-session:" + session) if session else self._mac("admin-login")
        return self._mac("tv")

    def check(self, path: str, session: str | None, given: str) -> bool:
        return hmac.compare_digest(self.for_path(path, session).encode(), given.encode("utf-8", "replace"))


class RateLimit:
    """A token bucket per client address: ``burst`` requests at once, then ``per_s`` a second."""

    def __init__(self, *, burst: float = 30.0, per_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.per_s = per_s
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)
        self._prune_at = PRUNE_AT

    def _level(self, client: str, now: float) -> float:
        tokens, at = self._buckets.get(client, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.per_s)

    def take(self, client: str) -> float:
        """0 when the request may go on (one token taken), else seconds until it may."""
        now = self.clock()
        if len(self._buckets) > self._prune_at:  # forget full buckets: they are the same as new ones
            self._buckets = {c: b for c, b in self._buckets.items() if self._level(c, now) < self.burst}
            self._prune_at = _next_prune(len(self._buckets))
        tokens = self._level(client, now)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.per_s
        self._buckets[client] = (tokens - 1.0, now)
        return 0.0
