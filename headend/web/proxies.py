"""The client's address behind a reverse proxy: nginx in front of ``headend serve`` (TLS, a county
cache) connects from 127.0.0.1 for every client, and says who the client was in
``X-Forwarded-For``. Only a proxy listed in ``[serve] trusted_proxies`` is believed: walking the
header from its right end (the hop nearest us), the first address that is not a trusted proxy is
the client. Login throttling and the audit log then see each member of staff's own address,
rather than one address that a few failed logins would lock for everyone."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import hdrs, web

from headend.config import Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:4711
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:4711
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy, then the nearest hop of
    ``forwarded_for`` (its header lines, in order) that is not; a hop that is no address ends
    the walk at the last believed one."""
    here = _address(peer or "")
    if here is None or not any(here in n for n in trusted):
        return peer or ""
    hops = [h for line in forwarded_for for h in line.split(",") if h.strip()]
    for hop in reversed(hops):
        addr = _address(hop)
        if addr is None:
            break
        here = addr
        if not any(addr in n for n in trusted):
            break
    return str(here)


def forwarded_middleware(trusted: tuple[Network, ...]):
    """The middleware that gives each request its client's address as ``request.remote``."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        lines = request.headers.getall(hdrs.X_FORWARDED_FOR, ())
        if lines and trusted:
            remote = client_address(request.remote, lines, trusted)
            if remote != request.remote:
                request = request.clone(remote=remote)
        return await handler(request)

    return middleware
