"""Admin sessions and PIN-guessing limits (pure: a clock is passed in; no aiohttp).

Sessions are random tokens kept in memory (a restart logs everyone out). A wrong PIN counts
against the client's address; ``max_failures`` within ``window_s`` locks that address out until
the oldest failure leaves the window.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable


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
