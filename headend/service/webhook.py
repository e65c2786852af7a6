"""The network behind one small interface: ``Webhook.post(body)`` sends one JSON message to
``[alerts] webhook_url`` and turns every failure — no connection, a timeout, an answer other than
2xx — into one ``WebhookError`` that says what to check, naming the URL without its query or
user (chat robots' URLs carry their key there, and loop errors are shown to every account). The
caller owns the ``ClientSession`` (one per loop, never one per message)."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from headend.errors import WebhookError

_SHOWN_BYTES = 200  # of a refusing receiver's answer, in the error


def shown(url: str) -> str:
    """``url`` as an error may show it: scheme, host, port and path only."""
    try:
        parts = urlsplit(url)
        host = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname or ""
    except ValueError:  # a port that is not a number
        return "(unreadable URL)"
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else "(not a URL)"


class Webhook:
    def __init__(self, session: aiohttp.ClientSession, url: str, timeout_s: float) -> None:
        self.session, self.url, self.timeout_s = session, url, timeout_s
        self.shown = shown(url)

    def _scrub(self, exc: BaseException) -> str:
        """The library's words, without the URL's query or user (aiohttp's may quote the URL)."""
        text = str(exc) or type(exc).__name__
        parts = urlsplit(self.url) if "://" in self.url else None
        for secret in (self.url, parts.query if parts else "", parts.password if parts else ""):
            if secret:
                text = text.replace(secret, "…")
        return text

    async def post(self, body: bytes) -> None:
        """POST ``body`` (UTF-8 JSON) and wait for a 2xx; WebhookError otherwise."""
        try:
            async with self.session.post(
                self.url,
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                allow_redirects=False,
            ) as r:
                if 200 <= r.status < 300:
                    return
                said = (await r.content.read(_SHOWN_BYTES)).decode("utf-8", "replace").strip()
        except TimeoutError as exc:
            raise WebhookError(
                f"webhook {self.shown}: no answer within {self.timeout_s:g} s ([alerts] webhook_timeout_s); "
                "tried again later"
            ) from exc
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError, ValueError) as exc:  # ValueError: a bad port
            raise WebhookError(
                f"webhook {self.shown}: not an http:// or https:// URL; fix [alerts] webhook_url in headend.toml"
            ) from exc
        except aiohttp.ClientError as exc:
            raise WebhookError(
                f"webhook {self.shown}: {self._scrub(exc)}; check [alerts] webhook_url in headend.toml "
                "and that the receiver runs (tried again later)"
            ) from exc
        raise WebhookError(
            f"webhook {self.shown} answered {r.status}{': ' + said if said else ''}; it must answer 2xx (tried again later)"
        )
