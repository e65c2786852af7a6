"""The audit log: every change (an account, a station, a course, a publication, an alert
acknowledged) is recorded after it succeeded — who, when, from where, what, to what — by the
service that made it. ``Actor`` is who: a county account and its address, or the command line."""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from dataclasses import dataclass

from headend.db import now_iso
from headend.service.root import Headend


@dataclass(frozen=True)
class Actor:
    """Who makes a change, for the audit log: an account and the address it came from."""

    name: str
    address: str = ""

    @classmethod
    def cli(cls) -> Actor:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = "?"
        return cls(f"cli:{who}", "local")


SYSTEM = Actor("system", "headend")


def audit(
    h: Headend,
    actor: Actor | None,
    action: str,
    target: str = "",
    detail: dict | None = None,
    region: Iterable[str] = (),
) -> None:
    """Record one change that was made (call after it succeeded); no actor: the command line."""
    who = actor or Actor.cli()
    h.db.audit.record(now_iso(), who.name, who.address, action, target, detail or {}, region)
