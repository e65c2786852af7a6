"""The signing key of a data root: made by ``headend init``, read by every publish, replaced by
``headend key rotate`` (the new key announced in a rotation file signed by the old one)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from headend.config import HeadendConfig
from headend.errors import ConfigError
from playlists import SecretKey, SignatureError, make_rotation
from playlists.atomic import atomic_write, fsync_dir


def install_key(cfg: HeadendConfig, key: SecretKey) -> None:
    """The secret key (mode 0600 from the start) and its public key, each replaced atomically."""
    cfg.keys_dir.mkdir(parents=True, exist_ok=True)
    tmp = cfg.secret_key_path.with_name(f".{cfg.secret_key_path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.to_text())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, cfg.secret_key_path)
    fsync_dir(cfg.keys_dir)
    atomic_write(cfg.public_key_path, key.public_key.to_text().encode())


def load_secret_key(cfg: HeadendConfig) -> SecretKey:
    path = cfg.secret_key_path
    try:
        return SecretKey.from_text(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: signing key missing; restore it from backup or run `headend init` on a new root"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: signing key unreadable ({exc.strerror}); check its owner and mode 0600") from exc
    except SignatureError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def rotate_key(cfg: HeadendConfig) -> tuple[SecretKey, SecretKey, Path]:
    """A new signing key, announced under the current one: (old, new, the rotation file)."""
    old = load_secret_key(cfg)
    new = SecretKey.generate()
    data, sig = make_rotation(old, new.public_key, datetime.now(UTC))
    rot = cfg.published_dir / "keys" / f"rotate-{new.public_key.id_hex}.json"
    atomic_write(rot.with_name(rot.name + ".minisig"), sig)
    atomic_write(rot, data)
    retired = cfg.keys_dir / "retired"
    retired.mkdir(exist_ok=True)
    kept = retired / f"{old.public_key.id_hex}.key"
    kept.unlink(missing_ok=True)
    os.link(cfg.secret_key_path, kept)
    install_key(cfg, new)  # a power cut before this leaves the old key in place: run rotate again
    return old, new, rot
