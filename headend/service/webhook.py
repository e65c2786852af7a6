"""The network behind one small interface: ``Webhook.post(body)`` sends one JSON message to
``[alerts] webhook_url`` and turns every failure — no connection, a timeout, an answer other than
2xx — into one ``WebhookError`` that says what to check. The caller owns the ``ClientSession``
(one per loop, never one per message)."""

from __future__ import annotations

import aiohttp

from headend.errors import WebhookError

_SHOWN_BYTES = 200  # of a refusing receiver's answer, in the error


class Webhook:
    def __init__(self, session: aiohttp.ClientSession, url: str, timeout_s: float) -> None:
        self.session, self.url, self.timeout_s = session, url, timeout_s

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
                f"webhook {self.url}: no answer within {self.timeout_s:g} s ([alerts] webhook_timeout_s); "
                "tried again later"
            ) from exc
        except (aiohttp.ClientError, ValueError) as exc:  # ValueError: a URL aiohttp cannot use
            raise WebhookError(
                f"webhook {self.url}: {exc or type(exc).__name__}; check [alerts] webhook_url in headend.toml "
                "and that the receiver runs (tried again later)"
            ) from exc
        raise WebhookError(
            f"webhook {self.url} answered {r.status}{': ' + said if said else ''}; it must answer 2xx (tried again later)"
        )
