"""What ``station status`` prints and ``/api/status`` answers: content, the sync pass (progress,
the last error and since when), per-course state, mirrors and storage, from what the store
remembers. ``collect_status`` gathers a ``StationStatus``; ``to_json`` is the ``--json`` form,
``describe`` the words (times in China time)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from catalogue.display import china_time, duration, size
from playlists.times import utc_iso
from station.config import StationConfig
from station.i18n import english as _
from station.model import DiskUsage, InstalledSet, MirrorHealth, SyncStatus
from station.model.attendance import JournalUsage
from station.model.reporting import UploadState
from station.store import Store
from station.store.reportfile import read_upload_state
from station.store.streams import current_id


@dataclass(frozen=True)
class StationStatus:
    station: str
    name: str
    player: str
    installed: InstalledSet
    newest_version: int  # highest index version verified (maybe not installed yet)
    sync: SyncStatus
    mirrors: tuple[tuple[str, MirrorHealth], ...]  # in configured order
    storage: DiskUsage
    journal: JournalUsage | None = None
    reporting: UploadState | None = None
    report_url: str = ""

    def reporting_json(self) -> dict | None:
        r = self.reporting
        if r is None:
            return None
        backlog = self.journal.unreported if self.journal is not None else r.backlog
        return {
            "url": self.report_url,
            "state": "partial" if r.state == "ok" and backlog else r.state,  # events journalled since
            "backlog": backlog,
            "acknowledged_seq": self.journal.acknowledged_seq if self.journal is not None else r.acknowledged_seq,
            "last_attempt": utc_iso(r.last_attempt) if r.last_attempt else None,
            "last_success": utc_iso(r.last_success) if r.last_success else None,
            "last_error": r.last_error,
            "error_kind": r.error_kind,
            "error_since": utc_iso(r.error_since) if r.error_since else None,
            "sent_events": r.sent_events,
            "offset_s": r.offset_s,
            "headend_time": utc_iso(r.headend_time) if r.headend_time else None,
            "next_attempt": utc_iso(r.next_attempt) if r.next_attempt else None,
            "stream": r.stream,
        }

    def to_json(self) -> dict:
        return {
            "station": self.station,
            "name": self.name,
            "player": self.player,
            "installed_version": self.installed.index_version,
            "newest_version": self.newest_version,
            "courses": len(self.installed.courses),
            "complete": self.installed.complete,
            "expires": utc_iso(self.installed.expires) if self.installed.expires else None,
            "sync": self.sync.to_dict(with_courses=False),
            "course_states": [
                {"id": c.id, "title": c.title, "state": c.state, **({"reason": c.reason} if c.reason else {})}
                for c in self.sync.courses
            ],
            "mirrors": [{"url": url, **h.to_dict(with_validators=False)} for url, h in self.mirrors],
            "storage": self.storage.to_dict(),
            "journal": None
            if self.journal is None
            else {
                "bytes": self.journal.bytes,
                "budget_bytes": self.journal.budget_bytes,
                "segments": self.journal.segments,
                "last_seq": self.journal.last_seq,
                "acknowledged_seq": self.journal.acknowledged_seq,
            },
            "reporting": self.reporting_json(),
        }


def collect_status(cfg: StationConfig, store: Store, journal: JournalUsage | None = None) -> StationStatus:
    """Blocks (disk usage walks the media folder): call it from a thread in the event loop."""
    health = store.mirrors()
    return StationStatus(
        station=cfg.station_id,
        name=cfg.name,
        player=cfg.player,
        installed=store.installed_set(),
        newest_version=store.trust().highest_version,
        sync=store.sync_status(),
        mirrors=tuple((m, health.get(m, MirrorHealth())) for m in cfg.mirrors),
        storage=store.disk_usage(),
        journal=journal,
        reporting=_reporting(cfg),
        report_url=cfg.report_url,
    )


def _reporting(cfg: StationConfig) -> UploadState:
    state = read_upload_state(cfg.data_dir)
    if not cfg.report_url:
        state = replace(state, state="off")
    if not state.stream:
        state = replace(state, stream=current_id(cfg.data_dir / "journal"))
    return state


STATE_WORDS = {"have": "ready", "downloading": "downloading", "queued": "queued", "failed": "failed"}


def describe(status: StationStatus) -> list[str]:
    """The status in words, one line each."""
    inst, sync = status.installed, status.sync
    lines = [f"station {status.station} ({status.name}), player {status.player}"]
    if not inst.index_version:
        lines.append("content: nothing installed yet (run `station sync --once` or start `station serve`)")
    else:
        newer = f" (newest seen {status.newest_version})" if status.newest_version > inst.index_version else ""
        lines.append(
            f"content: version {inst.index_version}{newer}, {len(inst.courses)} courses, "
            f"{'complete' if inst.complete else 'incomplete'}, index valid until {china_time(inst.expires)}"
        )
    if sync.state:
        lines.append(
            f"last sync: {sync.state} at {china_time(sync.last_attempt)} (China time); "
            f"last success {china_time(sync.last_success) if sync.last_success else 'never'}"
        )
        p = sync.progress
        if sync.running and p is not None:
            eta = f", about {duration(_, p.eta_s)} left" if p.eta_s is not None else ""
            lines.append(
                f"downloading {p.current}: {size(p.bytes_done)} of {size(p.bytes_total)} "
                f"at {size(p.rate_bytes_per_s or 0)}/s{eta}"
            )
        if sync.next_window:
            lines.append(f"waiting for the download window, which opens {china_time(sync.next_window, seconds=False)}")
        if sync.space_needed_bytes:
            lines.append(f"needs {size(sync.space_needed_bytes)} more space for everything")
        if sync.last_error:
            since = f" (failing since {china_time(sync.error_since)})" if sync.error_since else ""
            lines.append(f"last error{since}: {sync.last_error}")
    for c in sync.courses:
        if c.state != "have":
            reason = f" — {c.reason}" if c.reason else ""
            lines.append(f"  {STATE_WORDS.get(c.state, c.state)}: {c.title} ({c.id}){reason}")
    for url, m in status.mirrors:
        err = f"; last error {china_time(m.last_error_at)}: {m.last_error}" if m.last_error else ""
        lines.append(f"mirror {url}: last success {china_time(m.last_success) if m.last_success else 'never'}{err}")
    st = status.storage
    lines.append(f"storage: {st.media_files} files, {size(st.media_bytes)}; {size(st.free_bytes)} free")
    j = status.journal
    if j is not None:
        state = " — FULL: plays are not recorded" if j.full else " — nearly full" if j.near else ""
        lines.append(
            f"attendance journal: {size(j.bytes)} of {size(j.budget_bytes)} ([journal] budget_mb) in {j.segments} "
            f"segments{state}; {j.unreported} events not yet acknowledged by the headend"
        )
    r = status.reporting_json()
    if r is not None:
        lines.extend(_describe_reporting(r, status.reporting))
    return lines


REPORT_WORDS = {
    "never": "never tried",
    "ok": "up to date",
    "partial": "partly sent",
    "failed": "failing",
    "revoked": "REVOKED",
    "off": "off",
}


def _describe_reporting(r: dict, st: UploadState) -> list[str]:
    if r["state"] == "off":
        return ["reporting: off ([report] url is empty in station.toml)"]
    when = china_time(st.last_success) if st.last_success else "never"
    lines = [
        f"reporting to {r['url']}: {REPORT_WORDS.get(r['state'], r['state'])}; {r['backlog']} events not yet "
        f"acknowledged; last upload {when} (China time); stream {r['stream'] or 'none yet'}"
    ]
    if r["offset_s"] is not None:
        lines.append(
            f"box clock: {abs(r['offset_s']):.0f} s {'behind' if r['offset_s'] > 0 else 'ahead of'} the headend"
        )
    if r["last_error"]:
        since = f" (since {china_time(st.error_since)})" if st.error_since else ""
        lines.append(f"last upload error{since}: {r['last_error']}")
    return lines
