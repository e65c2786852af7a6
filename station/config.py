"""station.toml, loaded once into a typed dataclass. Every key is documented in README.md.

Read through ``catalogue.tomlcheck``, the strict reader both programs share: an unknown table or
key is refused with the file, the line and the nearest known name; types are checked as TOML
gives them; numbers must be finite and within range. Each refusal is one line naming the file
and the key (``ConfigError``); ``station`` prints it and exits 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from catalogue.ids import ID_RULE, is_id
from catalogue.tomlcheck import Document, SettingsError, Table
from players import ProfileError, profile
from playlists import PublicKey, SignatureError
from station.errors import ConfigError

LANGUAGES = ("zh-CN", "en")
MAX_MB = 10**8  # 100 TB: quota_mb and reserve_free_mb


@dataclass(frozen=True)
class StationConfig:
    path: Path  # the station.toml file itself
    station_id: str
    name: str
    region: tuple[str, ...]  # province … village
    player: str  # a profile name from players/
    data_dir: Path  # absolute
    mirrors: tuple[str, ...]  # base URLs ending in '/'
    trusted_keys: tuple[PublicKey, ...]
    sync_interval_s: float
    sync_timeout_s: float
    report_url: str
    report_token: str
    ui_host: str
    ui_port: int
    admin_pin: str | None  # None: not in station.toml (the stored hash, or the first-run page)
    language: str
    ui_hostnames: tuple[
        str, ...
    ] = ()  # names the box is reached by, besides IPs, localhost, single labels, .local/.lan
    tags: tuple[str, ...] = ()  # audience tags the headend can target, e.g. ("party-school",)
    max_rate_bytes_per_s: int = 0  # 0: no cap
    min_rate_bytes_per_s: int = 1024  # a download averaging less after the grace is a slow mirror; 0: no floor
    slow_grace_s: float = 30.0  # seconds each download may take before its average rate counts
    window: tuple[int, int] | None = None  # download window, minutes after midnight China time; None: any time
    due_ahead_h: float = 24.0  # content scheduled within this many hours downloads outside the window
    quota_bytes: int = 0  # most media the store may hold; 0: no quota besides the disk
    reserve_free_bytes: int = 200_000_000  # never fill the disk beyond this much free space
    keep_unreferenced_days: float = 3.0  # files no playlist needs are deleted after this long
    capacity: int | None = None  # seats in the study room: the most a session's headcount can be; None: not set
    journal_budget_bytes: int = 200_000_000  # most the attendance journal may hold ([journal] budget_mb)
    screens: int = 2  # TVs (client addresses) that may have a play open at once ([station] screens, 1-16)
    health_interval_s: float = 900.0  # a health event this often ([report] health_interval_s, 60-86400)
    report_max_rate_bytes_per_s: int = 0  # uploads paced to this; 0: no cap
    report_keep_days: int = 400  # acknowledged journal days older than this are deleted
    report_timeout_s: float = 30.0  # one upload request may take this long


def _mirror(url: str) -> str | None:
    """Why a mirror URL cannot be used, or None: ``http(s)://host[:port]/…`` or ``file:///folder``."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — raises ValueError for a port that is not a number 0-65535
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https", "file"):
        return "it must start with http://, https:// or file://"
    if parts.scheme != "file" and not parts.hostname:
        return "it names no host"
    if parts.scheme != "file" and any(ch.isspace() for ch in parts.netloc):
        return "the host has a space in it"
    return None


def _load_key(entry: str, base: Path, where: str) -> PublicKey:
    entry = entry.strip()
    try:
        if entry.startswith("RW") and "/" not in entry[:3] and len(entry) == 56:
            return PublicKey.from_base64(entry)
        key_path = (base / entry).resolve()
        try:
            text = key_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"{where}: cannot read trusted key file {key_path} ({exc.strerror}); "
                "copy the headend's public key (keys/headend.pub) there or put the key line itself"
            ) from exc
        return PublicKey.from_text(text)
    except SignatureError as exc:
        raise ConfigError(f"{where}: trusted key {entry!r}: {exc}") from exc


_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def _window(text: str, where: str) -> tuple[int, int] | None:
    """'00:00-06:00' → (0, 360); '22:00-05:00' wraps midnight; '' → None (any time)."""
    text = text.replace(" ", "")
    if not text:
        return None
    m = _WINDOW.match(text)
    if not m:
        raise ConfigError(f"{where}: {text!r} must look like 00:00-06:00 (China time), or be empty for any time")
    start, end = int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])
    if start == end:
        raise ConfigError(f"{where}: {text!r} is empty; leave window empty to download at any time")
    return start, end


def _station(doc: Document, st: Table) -> tuple[str, str]:
    station_id = st.str("id", max_len=64)
    if not is_id(station_id):
        raise ConfigError(f"{doc.where('station', 'id')} is {station_id!r}; it must be {ID_RULE}")
    player = st.str("player")
    try:
        profile(player)
    except ProfileError as exc:
        raise ConfigError(f"{doc.where('station', 'player')}: {exc}") from exc
    return station_id, player


def _report(doc: Document, rp: Table, base: Path) -> tuple[str, str]:
    """``[report] url`` (empty: reporting off) and the token, from ``token`` or ``token_file``."""
    url = rp.str("url", "").strip()
    if url:
        problem = _mirror(url)
        if problem or url.startswith("file:"):
            raise ConfigError(
                f"{doc.where('report', 'url')}: {url!r} is not the headend's API address "
                f"({problem or 'it must start with http:// or https://'}); e.g. http://headend:8700/api/v1/"
            )
        url = url if url.endswith("/") else url + "/"
    token = rp.str("token", "", max_len=200).strip()
    token_file = rp.str("token_file", "").strip()
    if token and token_file:
        raise ConfigError(
            f"{doc.where('report', 'token_file')}: both token and token_file are set; "
            "keep one (token_file, mode 0600, keeps the token out of station.toml)"
        )
    if token_file:
        path = (base / token_file).resolve()
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise ConfigError(
                f"{doc.where('report', 'token_file')}: cannot read {path} ({why}); "
                "put the token `headend station add` printed there (one line, mode 0600)"
            ) from exc
        if mode & 0o077:
            raise ConfigError(
                f"{doc.where('report', 'token_file')}: {path} can be read by other users (mode {mode & 0o777:04o}); "
                f"run `chmod 600 {path}` (it holds the station's reporting token)"
            )
        if not text or len(text) > 200 or any(ch.isspace() for ch in text):
            raise ConfigError(
                f"{doc.where('report', 'token_file')}: {path} must hold the token alone on one line "
                "(as `headend station add` printed it)"
            )
        token = text
    return url, token


def _mirrors(doc: Document, sy: Table) -> tuple[str, ...]:
    mirrors = sy.str_list("mirrors", min_items=1)
    for url in mirrors:
        problem = _mirror(url)
        if problem:
            raise ConfigError(f"{doc.where('sync', 'mirrors')}: {url!r} is not a usable URL ({problem})")
    return tuple(m if m.endswith("/") else m + "/" for m in mirrors)


def load_config(path: str | Path, *, keys_out: dict[str, set[str]] | None = None) -> StationConfig:
    """Load station.toml; ``keys_out`` receives every key the loader knows, by table."""
    path = Path(path).resolve()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the station configuration ({exc.strerror})") from exc
    try:
        doc = Document.parse(raw, path.name)
        cfg = _read(doc, path)
        doc.finish()
    except SettingsError as exc:
        raise ConfigError(str(exc)) from exc
    if keys_out is not None:
        keys_out.update(doc.known())
    return cfg


def _read(doc: Document, path: Path) -> StationConfig:
    base = path.parent
    st, sy = doc.table("station", required=True), doc.table("sync", required=True)
    rp, ui = doc.table("report", required=True), doc.table("ui", required=True)
    station_id, player = _station(doc, st)
    name = st.str("name")
    region = st.str_list("region")
    tags = st.str_list("tags", [])
    data_dir = (base / st.str("data_dir")).resolve()
    capacity = st.int("capacity", 0, min=0, max=9999, unit="seats")
    screens = st.int("screens", 2, min=1, max=16, unit="screens")
    jr = doc.table("journal")
    budget = jr.float("budget_mb", 200.0, min=1, max=MAX_MB, unit="MB")
    mirrors = _mirrors(doc, sy)
    keys = sy.str_list("trusted_keys", min_items=1)
    trusted = tuple(_load_key(k, base, doc.where("sync", "trusted_keys")) for k in keys)
    interval = sy.float("interval_s", 300.0, min=10, max=86400, unit="seconds")
    timeout = sy.float("timeout_s", 30.0, min=1, max=3600, unit="seconds")
    rate = sy.int("max_rate_bytes_per_s", 0, min=0, max=10**10, unit="bytes per second")
    min_rate = sy.int("min_rate_bytes_per_s", 1024, min=0, max=10**10, unit="bytes per second")
    grace = sy.float("slow_grace_s", 30.0, min=0.1, max=3600, unit="seconds")
    window = _window(sy.str("window", ""), doc.where("sync", "window"))
    due_ahead = sy.float("due_ahead_h", 24.0, min=0, max=8760, unit="hours")
    quota = sy.float("quota_mb", 0.0, min=0, max=MAX_MB, unit="MB")
    reserve = sy.float("reserve_free_mb", 200.0, min=0, max=MAX_MB, unit="MB")
    keep_days = sy.float("keep_unreferenced_days", 3.0, min=0, max=3650, unit="days")
    report_url, report_token = _report(doc, rp, base)
    health = rp.float("health_interval_s", 900.0, min=60, max=86400, unit="seconds")
    report_rate = rp.int("max_rate_bytes_per_s", 0, min=0, max=10**10, unit="bytes per second")
    report_keep = rp.int("keep_days", 400, min=1, max=36500, unit="days")
    report_timeout = rp.float("timeout_s", 30.0, min=1, max=3600, unit="seconds")
    host = ui.str("host")
    port = ui.int("port", min=1, max=65535)
    admin_pin = ui.str("admin_pin", max_len=64) if "admin_pin" in ui else None
    if admin_pin is not None and not admin_pin.strip():
        raise ConfigError(
            f"{doc.where('ui', 'admin_pin')} is empty, so /admin could never be opened; "
            "delete the admin_pin line to choose the PIN on the first visit to /admin, "
            "or set 6 to 12 digits the administrator can type on the remote"
        )
    hostnames = tuple(h.lower().rstrip(".") for h in ui.str_list("hostnames", [], max_len=253))
    language = ui.str("language", "zh-CN")
    if language not in LANGUAGES:
        line = doc.line_of("ui", "language")
        raise ConfigError(
            f"{doc.name}{f':{line}' if line else ''}: [ui]: language {language!r} must be "
            + " or ".join(f'"{lang}"' for lang in LANGUAGES)
        )
    return StationConfig(
        path=path,
        station_id=station_id,
        name=name,
        region=region,
        tags=tags,
        player=player,
        data_dir=data_dir,
        mirrors=mirrors,
        trusted_keys=trusted,
        sync_interval_s=interval,
        sync_timeout_s=timeout,
        max_rate_bytes_per_s=rate,
        min_rate_bytes_per_s=min_rate,
        slow_grace_s=grace,
        window=window,
        due_ahead_h=due_ahead,
        quota_bytes=int(quota * 1_000_000),
        reserve_free_bytes=int(reserve * 1_000_000),
        keep_unreferenced_days=keep_days,
        capacity=capacity or None,
        screens=screens,
        journal_budget_bytes=int(budget * 1_000_000),
        report_url=report_url,
        report_token=report_token,
        health_interval_s=health,
        report_max_rate_bytes_per_s=report_rate,
        report_keep_days=report_keep,
        report_timeout_s=report_timeout,
        ui_host=host,
        ui_port=port,
        admin_pin=admin_pin,
        language=language,
        ui_hostnames=hostnames,
    )
