"""One sync pass: verified index → verified playlists → the files this station's player needs,
each checked against its pinned sha256 before it enters the store → one atomic install.

The rules live in ``playlists.trust`` (pure); this module decides what to fetch and does the I/O.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urljoin

from playlists import (
    INDEX_NAME,
    FileRef,
    Index,
    Playlist,
    RepositoryError,
    SignatureError,
    check_index,
    check_playlist,
)
from playlists.minisign import MAX_SIGNATURE_FILE_BYTES
from playlists.models import MAX_INDEX_BYTES, MAX_PLAYLIST_BYTES
from playlists.times import utc_iso
from station.config import StationConfig
from station.errors import DownloadError, StoreError, SyncError
from station.fetcher import Fetcher
from station.store import Store

log = logging.getLogger(__name__)


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
    def __init__(self, cfg: StationConfig, store: Store, fetcher: Fetcher) -> None:
        self.cfg = cfg
        self.store = store
        self.fetcher = fetcher

    async def _fetch_signed(self, mirror: str, path: str, max_bytes: int) -> tuple[bytes, bytes]:
        data = await self.fetcher.fetch(urljoin(mirror, path), max_bytes)
        sig = await self.fetcher.fetch(urljoin(mirror, path + ".minisig"), MAX_SIGNATURE_FILE_BYTES)
        return data, sig

    async def _verified_index(self, report: SyncReport) -> tuple[str, Index, bytes]:
        errors = []
        state = self.store.trust_state()
        for mirror in self.cfg.mirrors:
            for attempt in (1, 2):
                try:
                    data, sig = await self._fetch_signed(mirror, INDEX_NAME, MAX_INDEX_BYTES)
                    index = check_index(data, sig, list(self.cfg.trusted_keys), state, datetime.now(timezone.utc))
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
                return check_playlist(data, sig, ref, list(self.cfg.trusted_keys))
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

        playlists: list[Playlist] = []
        for ref in index.playlists:
            try:
                playlists.append(await self._playlist(mirror, ref))
            except SyncError as exc:
                report.failures.append(f"playlist {ref.name}: {exc}")

        courses: dict[str, dict] = {}
        for pl in playlists:
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
        state = self.store.trust_state()
        newest = max(filter(None, [state.newest_timestamp, index.timestamp]))
        try:
            await asyncio.to_thread(
                self.store.install,
                {
                    "index_version": index.version,
                    "index_sha256": index_sha,
                    "newest_timestamp": newest.isoformat(),
                    "expires": utc_iso(index.expires),
                    "installed_at": utc_iso(datetime.now(timezone.utc)),
                    "complete": not report.failures,
                    "playlists": [
                        {"name": p.name, "version": p.version, "title": p.title, "schedule": p.schedule.to_dict()}
                        for p in playlists
                    ],
                    "notices": list(index.notices),
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
