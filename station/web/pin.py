"""The admin PIN: what counts as strong enough, and where it lives.

Two places may hold it:

- ``[ui] admin_pin`` in station.toml. If set it wins, and it must be strong (``weakness``):
  ``station serve`` refuses to start with one that is too easy to guess.
- ``admin_pin.json`` in the data dir: a salted scrypt hash, written by the first-run page of
  ``/admin`` (offered only while no PIN exists anywhere) or by ``station pin set`` on the box's
  console (which also resets a forgotten one). Written atomically, mode 0600.

With neither, ``/admin`` shows the first-run page that makes the administrator choose one; it
asks for a set-up code that only the box's own TV shows (and ``station serve`` prints), so
someone else on the LAN cannot take the station over by opening ``/admin`` first.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import secrets
from pathlib import Path

from playlists.atomic import atomic_write
from station.errors import StoreError
from station.i18n import N_

MIN_DIGITS = 6
MAX_DIGITS = 12
FILE_NAME = "admin_pin.json"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~50 ms and 16 MiB on a small box: slow enough for a LAN guesser


def weakness(pin: str) -> str | None:
    """Why ``pin`` is too easy to guess (a gettext msgid), or None when it is acceptable: 6-12 ASCII
    digits, not a digit or a group of up to 3 repeated, not an even row (constant step, mod 10)."""
    if not pin.isascii() or not pin.isdigit():
        return N_("The PIN must be digits only (0-9), so it can be typed on the remote.")
    if not MIN_DIGITS <= len(pin) <= MAX_DIGITS:
        return N_("The PIN must have 6 to 12 digits.")
    if any(pin == (pin[:n] * len(pin))[: len(pin)] for n in (1, 2, 3)):  # 111111, 121212, 1231231
        return N_("The PIN must not be one digit or a short group repeated (like 111111 or 121212).")
    if len({(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}) == 1:
        return N_("The PIN must not be digits in an even row (like 123456, 654321 or 135791).")
    return None


def serve_refusal(configured: str | None, config_path: Path) -> str | None:
    """Why ``station serve`` must not start with station.toml's ``admin_pin`` (None: it may)."""
    if configured is None:
        return None
    problem = weakness(configured)
    if problem is None:
        return None
    return (
        f"{config_path}: [ui] admin_pin is too easy to guess: {problem} "
        "Anyone on the village network could open /admin with it, so the station will not start. "
        "Either set 6 to 12 digits there (not all the same, not in a row), or delete the admin_pin "
        "line and choose the PIN on the first visit to /admin "
        f"(or on the box: station --config {config_path} pin set)."
    )


def hash_pin(pin: str) -> dict:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return {"kdf": "scrypt", **_SCRYPT, "salt": salt.hex(), "hash": digest.hex()}


def _well_formed(record: object) -> bool:
    """A record ``hash_pin`` could have written: scrypt, sane parameters, hex salt and hash."""
    if not isinstance(record, dict) or record.get("kdf") != "scrypt":
        return False
    try:
        n, r, p = (record[k] for k in ("n", "r", "p"))
        salt, want = bytes.fromhex(record["salt"]), bytes.fromhex(record["hash"])
    except (KeyError, TypeError, ValueError):
        return False
    numbers = all(type(v) is int for v in (n, r, p))
    return (
        numbers and 2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16 and salt and len(want) >= 16
    )


def _matches(record: dict, pin: str) -> bool:
    """Check ``pin`` against a record ``_well_formed`` accepted."""
    salt, want = bytes.fromhex(record["salt"]), bytes.fromhex(record["hash"])
    params = {k: record[k] for k in ("n", "r", "p")}
    got = hashlib.scrypt(pin.encode("utf-8"), salt=salt, dklen=len(want), maxmem=2**30, **params)
    return hmac.compare_digest(got, want)


class AdminPin:
    """The PIN the admin page checks: station.toml's ``admin_pin`` if set, else the stored hash."""

    def __init__(self, configured: str | None, data_dir: Path) -> None:
        self.configured = configured
        self.path = Path(data_dir) / FILE_NAME
        # The first-run page also asks for this code, shown only on the box's own TV (loopback)
        # and printed by ``station serve``: whoever sets the PIN must be at the box, not merely
        # the first on the LAN to open /admin. A new code each start.
        self.setup_code = f"{secrets.randbelow(10**6):06d}"
        self._found = False  # a stored PIN was seen (a PIN is never unset while the station runs)

    def setup_code_ok(self, code: str) -> bool:
        return hmac.compare_digest(code.encode("utf-8"), self.setup_code.encode("utf-8"))

    def _stored(self) -> dict | None:
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"{self.path}: cannot read the stored admin PIN ({exc}); set it again: station pin set"
            ) from exc
        if not _well_formed(record):
            raise StoreError(
                f"{self.path}: the stored admin PIN is damaged (not a PIN record); set it again: station pin set"
            )
        return record

    def needs_setup(self) -> bool:
        """No PIN anywhere: /admin offers the first-run page (and the box's TV its set-up code).
        Once a PIN is found it stays found, so the TV's home page reads no file on each render."""
        if self.configured is not None or self._found:
            return False
        try:
            self._found = self._stored() is not None
        except StoreError:
            return False  # damaged, not missing: never reopen the first-run page
        return not self._found

    def check(self, pin: str) -> bool:
        """Slow (scrypt): call from a thread."""
        if self.configured is not None:
            return bool(self.configured) and hmac.compare_digest(pin.encode(), self.configured.encode())
        record = self._stored()
        return record is not None and _matches(record, pin)

    def store(self, pin: str) -> None:
        """Save the hash of ``pin`` atomically, mode 0600. Run as root (``sudo station pin set``)
        on a data dir owned by the service's user, the file goes to that user, or the service
        could not read it."""
        try:
            atomic_write(self.path, json.dumps(hash_pin(pin)).encode(), mode=0o600)
            owner = self.path.parent.stat()
            if os.geteuid() == 0 and owner.st_uid != 0:
                os.chown(self.path, owner.st_uid, owner.st_gid)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot save the admin PIN ({exc.strerror or exc})") from exc
