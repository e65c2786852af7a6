"""One sync pass: verified index → verified playlists → the files this station's player needs,
each checked against its pinned sha256 before it enters the store → one atomic install.

The rules live in ``playlists.trust`` (pure); this module decides what to fetch and does the I/O.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urljoin

from playlists import (
    INDEX_NAME,
    FileRef,
    Index,
    Playlist,
    PlaylistRef,
    PublicKey,
    RepositoryError,
    SignatureError,
    StationIdentity,
    check_index,
    check_playlist,
    check_rotation,
    rotation_path,
)
from playlists.minisign import MAX_SIGNATURE_FILE_BYTES, signer_key_id
from playlists.trust import MAX_ROTATION_BYTES
from playlists.models import MAX_INDEX_BYTES, MAX_PLAYLIST_BYTES
from playlists.times import utc_iso
from station.config import StationConfig
from station.errors import DownloadError, StoreError, SyncError
from station.fetcher import Fetcher
from station.store import Store

log = logging.getLogger(__name__)

MAX_ROTATION_CHAIN = 8
# What the installed document keeps of each playlist's index entry (besides its schedule).
PLAYLIST_FIELDS = ("name", "version", "title", "priority", "valid_from", "valid_until")


@dataclass
class SyncReport:
    index_version: int = 0
    mirror: str = ""
    up_to_date: bool = False
    courses_total: int = 0
    courses_installed: int = 0
    files_downloaded: int = 0
    bytes_downloaded: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failures and self.courses_installed == self.courses_total


class Syncer:
    def __init__(self, cfg: StationConfig, store: Store, fetcher: Fetcher, clock: Callable[[], datetime] | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.fetcher = fetcher
        self.clock = clock or (lambda: datetime.now(timezone.utc))  # the box's clock, which may be wrong

    async def _fetch_signed(self, mirror: str, path: str, max_bytes: int) -> tuple[bytes, bytes]:
        data = await self.fetcher.fetch(urljoin(mirror, path), max_bytes)
        sig = await self.fetcher.fetch(urljoin(mirror, path + ".minisig"), MAX_SIGNATURE_FILE_BYTES)
        return data, sig

    def _trusted_keys(self) -> list[PublicKey]:
        """Keys from station.toml plus keys added by rotation, minus keys rotation retired."""
        trust = self.store.trust()
        retired = set(trust.get("retired_keys", []))
        keys = [*self.cfg.trusted_keys, *(PublicKey.from_base64(k) for k in trust.get("added_keys", []))]
        seen, out = set(), []
        for k in keys:
            if k.id_hex not in retired and k.id_hex not in seen:
                seen.add(k.id_hex)
                out.append(k)
        return out

    async def _follow_rotation(self, mirror: str, wanted: str, depth: int = 0) -> None:
        """Trust key ``wanted`` if a chain of rotation files leads to it from a trusted key."""
        if depth >= MAX_ROTATION_CHAIN:
            raise SignatureError(f"key {wanted}: no rotation chain to a trusted key within {MAX_ROTATION_CHAIN} steps")
        path = rotation_path(wanted)
        try:
            data, sig = await self._fetch_signed(mirror, path, MAX_ROTATION_BYTES)
        except DownloadError as exc:
            raise SignatureError(
                f"signed by key {wanted}, which is not a trusted key, and no rotation announces it ({exc}); "
                "if the headend changed its key, copy its new .pub file into [sync] trusted_keys"
            ) from exc
        signer = signer_key_id(sig)
        if signer and signer not in {k.id_hex for k in self._trusted_keys()}:
            await self._follow_rotation(mirror, signer, depth + 1)
        rot = check_rotation(data, sig, self._trusted_keys(), wanted)
        trust = self.store.trust()
        trust["added_keys"] = sorted({*trust.get("added_keys", []), rot.new_key.to_base64()})
        trust["retired_keys"] = sorted({*trust.get("retired_keys", []), rot.previous_key_id})
        await asyncio.to_thread(self.store.record_trust, trust)
        log.warning("signing key rotated: %s replaces %s (announced on %s)", wanted, rot.previous_key_id, mirror)

    async def _remember(self, index: Index, data: bytes) -> None:
        """Persist the highest version and newest timestamp as soon as the index is verified."""
        trust = self.store.trust()
        seen = trust.get("newest_timestamp")
        newest = max(filter(None, [datetime.fromisoformat(seen) if seen else None, index.timestamp]))
        trust.update(highest_version=index.version, highest_sha256=hashlib.sha256(data).hexdigest(),
                     newest_timestamp=newest.isoformat())
        await asyncio.to_thread(self.store.record_trust, trust)

    async def _verified_index(self, report: SyncReport) -> tuple[str, Index, bytes]:
        errors = []
        for mirror in self.cfg.mirrors:
            for attempt in (1, 2):
                try:
                    data, sig = await self._fetch_signed(mirror, INDEX_NAME, MAX_INDEX_BYTES)
                    signer = signer_key_id(sig)
                    if signer and signer not in {k.id_hex for k in self._trusted_keys()}:
                        await self._follow_rotation(mirror, signer)
                    index = check_index(data, sig, self._trusted_keys(), self.store.trust_state(), self.clock())
                    await self._remember(index, data)
                    return mirror, index, data
                except SignatureError as exc:
                    # The index and its signature are two files; a mirror mid-update can hand us
                    # one of each. Ask once more before calling it an attack.
                    if attempt == 1:
                        continue
                    errors.append(f"{mirror}: {exc}")
                except (DownloadError, RepositoryError) as exc:
                    errors.append(f"{mirror}: {exc}")
                    break
        raise SyncError("no mirror gave a valid index; nothing was changed.\n  " + "\n  ".join(errors))

    async def _playlist(self, first_mirror: str, ref) -> Playlist:
        errors = []
        for mirror in _ordered(self.cfg.mirrors, first_mirror):
            try:
                data, sig = await self._fetch_signed(mirror, ref.file.path, min(MAX_PLAYLIST_BYTES, ref.file.size))
                return check_playlist(data, sig, ref, self._trusted_keys())
            except (DownloadError, RepositoryError) as exc:
                errors.append(f"{mirror}: {exc}")
        raise SyncError("; ".join(errors))

    async def _ensure_file(self, first_mirror: str, ref: FileRef, report: SyncReport) -> None:
        if self.store.has_blob(ref):
            return
        partial = self.store.partial_path(ref)
        errors = []
        for mirror in _ordered(self.cfg.mirrors, first_mirror):
            before = self.fetcher.bytes_received
            try:
                digest = await self.fetcher.download(urljoin(mirror, ref.path), partial, ref)
            except DownloadError as exc:
                errors.append(str(exc))
                continue
            finally:
                report.bytes_downloaded += self.fetcher.bytes_received - before
            if digest != ref.sha256:
                partial.unlink(missing_ok=True)
                errors.append(f"{urljoin(mirror, ref.path)}: sha256 differs from the signed playlist (altered or damaged); discarded")
                continue
            await asyncio.to_thread(self.store.add_blob, partial, ref)
            report.files_downloaded += 1
            return
        raise SyncError("; ".join(errors))

    async def run(self) -> SyncReport:
        report = SyncReport()
        mirror, index, index_bytes = await self._verified_index(report)
        report.index_version, report.mirror = index.version, mirror
        installed = self.store.installed()
        index_sha = hashlib.sha256(index_bytes).hexdigest()
        if installed.get("index_sha256") == index_sha and installed.get("complete"):
            report.up_to_date = True
            report.courses_total = report.courses_installed = len(installed.get("courses", []))
            return report

        now = self.clock()
        me = StationIdentity(self.cfg.station_id, self.cfg.region, self.cfg.tags)
        refs = sorted((r for r in index.playlists if r.targets(me, now)), key=lambda r: -r.priority)
        playlists: list[tuple[PlaylistRef, Playlist]] = []
        for ref in refs:
            try:
                playlists.append((ref, await self._playlist(mirror, ref)))
            except SyncError as exc:
                report.failures.append(f"playlist {ref.name}: {exc}")

        courses: dict[str, dict] = {}
        for _, pl in playlists:
            for entry in pl.courses:
                c = entry.course
                if c.id in courses:
                    courses[c.id]["playlists"].append(pl.name)
                    continue
                report.courses_total += 1
                rendition = entry.renditions.get(self.cfg.player)
                if rendition is None:
                    report.failures.append(f"{c.id} 《{c.title}》: no rendition for player {self.cfg.player}; ask county staff to transcode it")
                    continue
                try:
                    await self._ensure_file(mirror, rendition, report)
                    if entry.poster is not None:
                        try:
                            await self._ensure_file(mirror, entry.poster, report)
                        except SyncError as exc:
                            report.failures.append(f"{c.id} poster: {exc}")
                except SyncError as exc:
                    report.failures.append(f"{c.id} 《{c.title}》: {exc}")
                    continue
                courses[c.id] = {
                    **c.to_dict(),
                    "kind": "video" if rendition.mime.startswith("video/") else "audio",
                    "mime": rendition.mime,
                    "media": rendition.path,
                    "poster": entry.poster.path if entry.poster and self.store.has_blob(entry.poster) else None,
                    "playlists": [pl.name],
                }
        report.courses_installed = len(courses)
        try:
            await asyncio.to_thread(
                self.store.install,
                {
                    "index_version": index.version,
                    "index_sha256": index_sha,
                    "expires": utc_iso(index.expires),
                    "installed_at": utc_iso(datetime.now(timezone.utc)),
                    "complete": not report.failures,
                    "playlists": [
                        {**{k: v for k, v in ref.to_dict().items() if k in PLAYLIST_FIELDS}, "schedule": p.schedule.to_dict()}
                        for ref, p in playlists
                    ],
                    "notices": [
                        n.to_dict() for n in index.notices
                        if n.audience.matches(me) and (n.valid_until is None or now < n.valid_until)
                    ],
                    "courses": list(courses.values()),
                },
            )
        except StoreError as exc:
            raise SyncError(f"could not install version {index.version}: {exc}; the previous content stays") from exc
        return report


def _ordered(mirrors: tuple[str, ...], first: str) -> list[str]:
    return [first, *[m for m in mirrors if m != first]]


def status_record(report: SyncReport | None, error: str | None, previous: dict) -> dict:
    """The dict the admin page and ``station status`` show (kept between runs in the store)."""
    now = utc_iso(datetime.now(timezone.utc))
    rec = dict(previous)
    rec["last_attempt"] = now
    if report is not None:
        rec.update(
            state="ok" if report.complete else "partial",
            last_success=now,
            index_version=report.index_version,
            mirror=report.mirror,
            courses_total=report.courses_total,
            courses_installed=report.courses_installed,
            bytes_downloaded=report.bytes_downloaded,
            files_downloaded=report.files_downloaded,
            failures=report.failures,
            last_error="; ".join(report.failures) or None,
        )
    else:
        rec.update(state="failed", last_error=error)
    return rec
