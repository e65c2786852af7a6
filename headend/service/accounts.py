"""Staff accounts (roles viewer < editor < admin, each bound to a region prefix, and apart from
the role the right to review notices, ``reviewer``), logging in with
a throttle that a burst of concurrent attempts cannot race, and the audit log every change goes
into (``audit``). Passwords are argon2id hashes (argon2-cffi); a password the headend made up
(``add_user``, ``reset_password``, the first admin of ``headend init``) is shown once and must be
replaced at the first login (``must_change``)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from catalogue.ids import is_id
from headend.db import now_iso
from headend.db.records import ROLES, User
from headend.errors import AccountError, ConfigError, LoginFailed, LoginThrottled, NotFound
from headend.service.audit import Actor, audit
from headend.service.root import Headend
from playlists.atomic import atomic_write

MIN_PASSWORD = 10
MAX_PASSWORD = 200
ACCOUNT_ATTEMPTS = 5  # attempts an account may have in a window …
ADDRESS_ATTEMPTS = 30  # … and an address (over every account it tries)
WINDOW_S = 15 * 60
LOCK_S = 15 * 60
FIRST_ADMIN = "admin"

# argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane): about 60 ms a check on
# this class of server; the login throttle, not the hash's cost, is what stops guessing online.
# Hashes made with other parameters are upgraded at the next successful login.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_DUMMY = _hasher.hash("not a password anyone has")  # checked for unknown names: same time either way


def _password_stamp() -> str:
    """When a password was set, to the microsecond: a session remembers it and ends when it
    changes, so two changes within one second must not look the same (a reset right after the
    account chose its own password left the old session logged in)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def one_time_password() -> str:
    return secrets.token_urlsafe(12)


def _check_name(name: str) -> None:
    if not is_id(name) or len(name) > 40:
        raise AccountError(f"account name {name[:60]!r}: use 1–40 lowercase letters, digits and '-' (e.g. li-ming)")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"role {role[:40]!r}: choose one of {', '.join(ROLES)}")


def parse_region(text: str | None) -> tuple[str, ...]:
    """ "广东省/肇庆市/高要市" → a prefix; empty → () (the whole headend)."""
    parts = tuple(p.strip() for p in (text or "").split("/") if p.strip())
    if len(parts) > 8 or any(len(p) > 40 or any(c in p for c in "<>\"'&\0") for p in parts):
        raise AccountError(f"region {str(text)[:80]!r}: write it like 广东省/肇庆市/高要市 (at most 8 levels)")
    return parts


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"a password needs {MIN_PASSWORD}–{MAX_PASSWORD} characters")
    if len(set(password)) < 4:
        raise AccountError("this password is too easy to guess; use more different characters")


def add_user(
    h: Headend,
    actor: Actor,
    name: str,
    role: str,
    region: str | None,
    password: str | None = None,
    reviewer: bool = False,
) -> str:
    """Create an account (``reviewer``: with the right to review notices, 审核); its password
    (``password``, or a one-time one to be replaced at the first login). AccountError for a bad
    or taken name, role, region or password."""
    _check_name(name)
    _check_role(role)
    prefix = parse_region(region)
    must_change = password is None
    password = password if password is not None else one_time_password()
    _check_password(password)
    if not h.db.users.add(name, role, prefix, _hasher.hash(password), must_change, _password_stamp(), reviewer):
        raise AccountError(f"account {name} already exists")
    audit(h, actor, "user.add", name, {"role": role, "region": "/".join(prefix), "reviewer": reviewer}, prefix)
    return password


def _existing(h: Headend, name: str) -> User:
    user = h.db.users.get(name)
    if user is None:
        raise NotFound(f"no account {name}; `headend user list` shows them")
    return user


def reset_password(h: Headend, actor: Actor, name: str, password: str | None = None) -> str:
    """A new password for an account (one-time unless given); its sessions end."""
    user = _existing(h, name)
    must_change = password is None
    password = password if password is not None else one_time_password()
    _check_password(password)
    h.db.users.update(
        name, password_hash=_hasher.hash(password), must_change=must_change, password_set_at=_password_stamp()
    )
    audit(h, actor, "user.passwd", name, {"one_time": must_change}, user.region)
    return password


def change_own_password(h: Headend, actor: Actor, name: str, old: str, new: str) -> User:
    """The account replaces its own password (knowing the old one)."""
    found = h.db.users.password_hash(name)
    if found is None or not _verify(found[1], old):
        raise AccountError("the current password is not right")
    if new == old:
        raise AccountError("choose a password different from the current one")
    _check_password(new)
    h.db.users.update(name, password_hash=_hasher.hash(new), must_change=False, password_set_at=_password_stamp())
    audit(h, actor, "user.password_changed", name, {}, found[0].region)
    return _existing(h, name)


def set_disabled(h: Headend, actor: Actor, name: str, disabled: bool) -> User:
    user = _existing(h, name)
    if disabled and actor.name == name:
        raise AccountError("you cannot disable your own account")
    if disabled and user.role == "admin" and user.disabled_at is None and not user.region:
        others = [u for u in h.db.users.all() if u.role == "admin" and not u.region and u.disabled_at is None]
        if len(others) <= 1:
            raise AccountError("this is the last admin for the whole headend; add another before disabling it")
    h.db.users.update(name, disabled_at=now_iso() if disabled else None)
    audit(h, actor, "user.disable" if disabled else "user.enable", name, {}, user.region)
    return _existing(h, name)


def edit_user(
    h: Headend,
    actor: Actor,
    name: str,
    role: str | None = None,
    region: str | None = None,
    reviewer: bool | None = None,
) -> User:
    """Change an account's role, region or reviewer right (None: leave it)."""
    user = _existing(h, name)
    changes: dict = {}
    if role is not None:
        _check_role(role)
        changes["role"] = role
    if region is not None:
        changes["region"] = parse_region(region)
    if reviewer is not None:
        changes["reviewer"] = reviewer
    if changes:
        h.db.users.update(name, **changes)
        detail = {k: "/".join(v) if k == "region" else v for k, v in changes.items()}
        audit(h, actor, "user.edit", name, detail, user.region)
    return _existing(h, name)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _z(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _throttle(h: Headend, keys: list[tuple[str, int]], now: datetime) -> None:
    """Count this attempt against each key before the password is checked; LoginThrottled when
    one is locked or just went over its limit (then it stays locked for LOCK_S)."""
    stamp, floor = _z(now), _z(now - timedelta(seconds=WINDOW_S))
    for key, limit in keys:
        attempts, locked_until = h.db.users.count_attempt(key, stamp, floor)
        if locked_until is None or locked_until <= stamp:
            if attempts <= limit:
                continue
            locked_until = _z(now + timedelta(seconds=LOCK_S))
            h.db.users.lock(key, locked_until)
        wait = max(1, int((datetime.fromisoformat(locked_until.replace("Z", "+00:00")) - now).total_seconds()))
        raise LoginThrottled(
            f"登录尝试太多，请 {max(1, wait // 60)} 分钟后再试（too many attempts; try again in {wait} s）", wait
        )


def login(h: Headend, name: str, password: str, address: str, now: datetime | None = None) -> User:
    """The account, if ``password`` is its own and it is not disabled; LoginFailed (one message,
    whatever was wrong) or LoginThrottled. Every attempt counts against the account and the
    address before the password is checked; a success clears the account's count."""
    now = now or datetime.now(UTC)
    name = name.strip().lower()[:64]
    _throttle(h, [(f"user:{name}", ACCOUNT_ATTEMPTS), (f"addr:{address}", ADDRESS_ATTEMPTS)], now)
    found = h.db.users.password_hash(name) if name else None
    ok = _verify(found[1] if found else _DUMMY, password[:MAX_PASSWORD]) and found is not None
    if not ok or found[0].disabled_at is not None:
        raise LoginFailed("用户名或密码不对（wrong name or password）")
    h.db.users.clear_attempts(f"user:{name}")
    h.db.users.update(name, last_login_at=_z(now))
    if _hasher.check_needs_rehash(found[1]):
        h.db.users.update(name, password_hash=_hasher.hash(password))
    return found[0]


def first_admin(h: Headend) -> str | None:
    """When the headend has no account yet: create ``admin`` (whole headend) and return its
    one-time password; None when accounts exist. Makes the login cookies' key too (``headend
    init`` calls this after ``init_root``)."""
    session_key(h.cfg)
    if h.db.users.count():
        return None
    return add_user(h, Actor("system", "init"), FIRST_ADMIN, "admin", None)


def session_key(cfg) -> bytes:
    """The key that encrypts staff login cookies (``keys/session.key``, 32 random bytes, mode
    0600), made on first use. Replacing the file ends every login."""
    path = cfg.session_key_path
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the session key ({exc.strerror}); check its owner and mode") from exc
    key = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, key, mode=0o600)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the session key ({exc.strerror}); check the folder's mode") from exc
    return key
