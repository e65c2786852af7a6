"""What ``station status`` and the admin page show: content, sync progress, per-course state,
mirrors and storage, from what the store remembers."""

from __future__ import annotations

from station.config import StationConfig
from station.store import Store


def collect_status(cfg: StationConfig, store: Store) -> dict:
    installed = store.installed()
    sync = store.sync_status()
    courses = sync.get("courses") or {}
    return {
        "station": cfg.station_id,
        "name": cfg.name,
        "player": cfg.player,
        "installed_version": installed.get("index_version", 0),
        "newest_version": store.trust().get("highest_version", 0),
        "courses": len(installed.get("courses", [])),
        "complete": bool(installed.get("complete")),
        "expires": installed.get("expires"),
        "sync": {k: v for k, v in sync.items() if k != "courses"},
        "course_states": [{"id": cid, **c} for cid, c in courses.items()],
        "mirrors": [{"url": m, **{k: v for k, v in store.mirrors().get(m, {}).items() if k != "validators"}}
                    for m in cfg.mirrors],
        "storage": store.disk_usage(),
    }


STATE_WORDS = {"have": "ready", "downloading": "downloading", "queued": "queued", "failed": "failed"}


def describe(status: dict) -> list[str]:
    """The status in words, one line each."""
    lines = [f"station {status['station']} ({status['name']}), player {status['player']}"]
    if not status["installed_version"]:
        lines.append("content: nothing installed yet (run `station sync --once` or start `station serve`)")
    else:
        newer = status["newest_version"] > status["installed_version"]
        lines.append(
            f"content: version {status['installed_version']}{' (newest seen ' + str(status['newest_version']) + ')' if newer else ''}, "
            f"{status['courses']} courses, {'complete' if status['complete'] else 'incomplete'}, index valid until {status['expires']}")
    sync = status["sync"]
    if sync:
        lines.append(f"last sync: {sync.get('state')} at {sync.get('last_attempt')}; last success {sync.get('last_success') or 'never'}")
        p = sync.get("progress")
        if sync.get("state") == "running" and p:
            rate = p.get("rate_bytes_per_s") or 0
            eta = f", about {p['eta_s'] // 60} min left" if p.get("eta_s") is not None else ""
            lines.append(f"downloading {p.get('current', '')}: {p.get('bytes_done', 0) / 1e6:.1f} of "
                         f"{p.get('bytes_total', 0) / 1e6:.1f} MB at {rate / 1e3:.0f} kB/s{eta}")
        if sync.get("next_window"):
            lines.append(f"waiting for the download window, which opens {sync['next_window']}")
        if sync.get("space_needed_bytes"):
            lines.append(f"needs {sync['space_needed_bytes'] / 1e6:.0f} MB more space for everything")
        if sync.get("last_error"):
            lines.append(f"last error: {sync['last_error']}")
    for c in status["course_states"]:
        if c.get("state") != "have":
            reason = f" — {c['reason']}" if c.get("reason") else ""
            lines.append(f"  {STATE_WORDS.get(c.get('state'), c.get('state'))}: {c.get('title')} ({c['id']}){reason}")
    for m in status["mirrors"]:
        err = f"; last error {m['last_error_at']}: {m['last_error']}" if m.get("last_error") else ""
        lines.append(f"mirror {m['url']}: last success {m.get('last_success') or 'never'}{err}")
    st = status["storage"]
    lines.append(f"storage: {st['media_files']} files, {st['media_bytes'] / 1e6:.1f} MB; {st['free_bytes'] / 1e9:.1f} GB free")
    return lines
