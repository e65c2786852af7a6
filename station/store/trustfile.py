"""The trust state on disk, in files of its own::

    trust.json       what playlists.trust remembers between runs: the highest index version and its
                     sha256, the newest signed timestamp, keys added and retired by rotation
                     (written atomically and fsync'd as soon as an index is verified)
    trust.json.bak   the trust.json it replaced: the last known good copy

It is kept apart from station.json because it is the one record a sync cannot derive again: the
installed set and mirror health are rebuilt from the verified files on disk and the mirrors, but a
trust state rebuilt from what mirrors serve would accept whatever older version someone replays (a
rollback attack). So a damaged trust.json is never reset by the program: every reader refuses with
``DamagedFileError``, which says how to restore the last good copy or start over from
``[sync] trusted_keys`` — a person's decision, not the program's.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from catalogue.display import china_time
from playlists import RepositoryError, TrustState
from playlists.atomic import atomic_write
from station.errors import DamagedFileError, StoreError
from station.store.jsonfile import read_json


class TrustFile:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "trust.json"
        self.backup = data_dir / "trust.json.bak"

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> TrustState | None:
        """The trust state, None when this station has no trust.json yet; DamagedFileError
        saying what to do when it does not read back."""
        try:
            return _parse(self.path, "")
        except _Unreadable as exc:
            raise DamagedFileError(self.path, exc.why, self._hint()) from exc

    def write(self, state: TrustState) -> None:
        """Replace trust.json (atomic, fsync'd), keeping the copy it replaces as trust.json.bak."""
        data = json.dumps(state.to_dict(), ensure_ascii=False, sort_keys=True).encode("utf-8")
        try:
            if self.path.exists():
                tmp = self.backup.with_name(f".{self.backup.name}.{os.getpid()}.tmp")
                try:
                    os.link(self.path, tmp)  # the old inode itself: no copy, no half-written backup
                except OSError:
                    shutil.copyfile(self.path, tmp)
                os.replace(tmp, self.backup)
            atomic_write(self.path, data)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot save the trust state ({exc.strerror or exc})") from exc

    def _hint(self) -> str:
        why = (
            "it remembers the newest content version this station accepted, so that no mirror can send "
            "older content back, and the station does not rebuild it by itself"
        )
        try:
            good = _parse(self.backup, "")
        except _Unreadable:
            good = None
        restore = ""
        if good is not None:
            seen = f", signed {china_time(good.newest_timestamp)} China time" if good.newest_timestamp else ""
            restore = (
                f"if nobody has tampered with this box, restore the last good copy (version {good.highest_version}"
                f"{seen}): `cp {self.backup} {self.path}`, then sync again; "
            )
        return (
            f"{why}. {restore}otherwise make sure [sync] trusted_keys holds the headend's key from county "
            f"staff, delete {self.path.name}{' and ' + self.backup.name if self.backup.exists() else ''} "
            "and sync again to start over from those keys"
        )


class _Unreadable(Exception):
    def __init__(self, why: str) -> None:
        self.why = why


def _parse(path: Path, hint: str) -> TrustState | None:
    try:
        doc = read_json(path, hint)
    except DamagedFileError as exc:
        raise _Unreadable(exc.why) from exc
    if doc is None:
        if path.exists():
            raise _Unreadable("empty")
        return None
    if not isinstance(doc, dict):
        raise _Unreadable("not a trust state")
    try:
        return TrustState.from_dict(doc)
    except RepositoryError as exc:
        raise _Unreadable(str(exc)) from exc
