"""The admin PIN: what counts as strong enough, and where it lives.

Two places may hold it:

- ``[ui] admin_pin`` in station.toml. If set it wins, and it must be strong (``weakness``):
  ``station serve`` refuses to start with one that is too easy to guess.
- ``admin_pin.json`` in the data dir: a salted scrypt hash, written by the first-run page of
  ``/admin`` (offered only while no PIN exists anywhere) or by ``station pin set`` on the box's
  console (which also resets a forgotten one). Written atomically, mode 0600.

With neither, ``/admin`` shows the first-run page that makes the administrator choose one.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import secrets
from pathlib import Path

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
    if any(pin == pin[:n] * (len(pin) // n) for n in (1, 2, 3) if len(pin) % n == 0):
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


def _matches(record: dict, pin: str) -> bool:
    try:
        salt, want = bytes.fromhex(record["salt"]), bytes.fromhex(record["hash"])
        params = {k: int(record[k]) for k in ("n", "r", "p")}
        if record.get("kdf") != "scrypt" or params["n"] > 2**20 or params["r"] > 32 or params["p"] > 16:
            return False
        got = hashlib.scrypt(pin.encode("utf-8"), salt=salt, dklen=len(want), maxmem=2**30, **params)
    except (KeyError, TypeError, ValueError):
        return False
    return hmac.compare_digest(got, want)


class AdminPin:
    """The PIN the admin page checks: station.toml's ``admin_pin`` if set, else the stored hash."""

    def __init__(self, configured: str | None, data_dir: Path) -> None:
        self.configured = configured
        self.path = Path(data_dir) / FILE_NAME

    def _stored(self) -> dict | None:
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"{self.path}: cannot read the stored admin PIN ({exc}); set it again: station pin set"
            ) from exc
        return record if isinstance(record, dict) else {}

    def needs_setup(self) -> bool:
        """No PIN anywhere: /admin offers the first-run page."""
        if self.configured is not None:
            return False
        try:
            return self._stored() is None
        except StoreError:
            return False  # damaged, not missing: never reopen the first-run page

    def check(self, pin: str) -> bool:
        """Slow (scrypt): call from a thread."""
        if self.configured is not None:
            return bool(self.configured) and hmac.compare_digest(pin.encode(), self.configured.encode())
        record = self._stored()
        return record is not None and _matches(record, pin)

    def store(self, pin: str) -> None:
        """Save the hash of ``pin``: temp file (0600) in the same folder, fsync, rename, fsync the folder."""
        data = json.dumps(hash_pin(pin)).encode()
        tmp = self.path.with_name(f".{FILE_NAME}.{secrets.token_hex(4)}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"{self.path}: cannot save the admin PIN ({exc.strerror or exc})") from exc
