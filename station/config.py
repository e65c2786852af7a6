"""station.toml, loaded once into a typed dataclass. Every key is documented in README.md."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from players import ProfileError, profile
from playlists import PublicKey, SignatureError
from station.errors import ConfigError

_STATION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


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
    admin_pin: str
    language: str
    tags: tuple[str, ...] = ()  # audience tags the headend can target, e.g. ("party-school",)
    max_rate_bytes_per_s: int = 0  # 0: no cap
    window: tuple[int, int] | None = None  # download window, minutes after midnight China time; None: any time
    due_ahead_h: float = 24.0  # content scheduled within this many hours downloads outside the window
    quota_bytes: int = 0  # most media the store may hold; 0: no quota besides the disk
    reserve_free_bytes: int = 200_000_000  # never fill the disk beyond this much free space
    keep_unreferenced_days: float = 3.0  # files no playlist needs are deleted after this long


class _Table(dict):
    """A TOML table that remembers which keys the loader asked for, so unknown ones (typos)
    are refused and every known one can be checked against the README."""

    def __init__(self, name: str, data: dict) -> None:
        super().__init__(data)
        self.name = name
        self.used: set[str] = set()


def _get(table: dict, key: str, typ, where: str, default=...):
    if isinstance(table, _Table):
        table.used.add(key)
    if key not in table:
        if default is ...:
            raise ConfigError(f"{where}: missing key '{key}'")
        return default
    value = table[key]
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: key '{key}' must be {typ.__name__}, not {type(value).__name__}")
    return value


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


def load_config(path: str | Path, *, keys_out: dict[str, set[str]] | None = None) -> StationConfig:
    """Load station.toml; ``keys_out`` receives every key the loader knows, by table."""
    path = Path(path).resolve()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the station configuration ({exc.strerror})") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    base = path.parent
    name = path.name

    tables: list[_Table] = []

    def table(key: str) -> _Table:
        t = data.get(key)
        if not isinstance(t, dict):
            raise ConfigError(f"{name}: missing table [{key}]")
        tables.append(_Table(key, t))
        return tables[-1]

    unknown_tables = set(data) - {"station", "sync", "report", "ui"}
    if unknown_tables:
        raise ConfigError(f"{name}: unknown table [{sorted(unknown_tables)[0]}]; the tables are [station], [sync], [report], [ui]")
    st, sy, rp, ui = table("station"), table("sync"), table("report"), table("ui")
    station_id = _get(st, "id", str, f"{name} [station]")
    if not _STATION_ID.match(station_id):
        raise ConfigError(f"{name} [station]: id {station_id!r} must be 1-64 characters a-z, 0-9 and '-'")
    player = _get(st, "player", str, f"{name} [station]")
    try:
        profile(player)
    except ProfileError as exc:
        raise ConfigError(f"{name} [station]: player: {exc}") from exc
    region = _get(st, "region", list, f"{name} [station]")
    mirrors = _get(sy, "mirrors", list, f"{name} [sync]")
    if not mirrors or not all(isinstance(m, str) and m.startswith(("http://", "https://", "file://")) for m in mirrors):
        raise ConfigError(f"{name} [sync]: mirrors must list at least one http://, https:// or file:// URL")
    keys = _get(sy, "trusted_keys", list, f"{name} [sync]")
    if not keys:
        raise ConfigError(f"{name} [sync]: trusted_keys must name at least one minisign public key")
    port = _get(ui, "port", int, f"{name} [ui]")
    if not 0 <= port <= 65535:
        raise ConfigError(f"{name} [ui]: port {port} is not a TCP port")
    language = _get(ui, "language", str, f"{name} [ui]", "zh-CN")
    if language not in ("zh-CN", "en"):
        raise ConfigError(f"{name} [ui]: language {language!r} must be \"zh-CN\" or \"en\"")
    cfg = StationConfig(
        path=path,
        station_id=station_id,
        name=_get(st, "name", str, f"{name} [station]"),
        region=tuple(str(r) for r in region),
        tags=tuple(str(t) for t in _get(st, "tags", list, f"{name} [station]", [])),
        player=player,
        data_dir=(base / _get(st, "data_dir", str, f"{name} [station]")).resolve(),
        mirrors=tuple(m if m.endswith("/") else m + "/" for m in mirrors),
        trusted_keys=tuple(_load_key(str(k), base, f"{name} [sync] trusted_keys") for k in keys),
        sync_interval_s=_get(sy, "interval_s", float, f"{name} [sync]", 300.0),
        sync_timeout_s=_get(sy, "timeout_s", float, f"{name} [sync]", 30.0),
        max_rate_bytes_per_s=_get(sy, "max_rate_bytes_per_s", int, f"{name} [sync]", 0),
        window=_window(_get(sy, "window", str, f"{name} [sync]", ""), f"{name} [sync] window"),
        due_ahead_h=_get(sy, "due_ahead_h", float, f"{name} [sync]", 24.0),
        quota_bytes=int(_get(sy, "quota_mb", float, f"{name} [sync]", 0.0) * 1_000_000),
        reserve_free_bytes=int(_get(sy, "reserve_free_mb", float, f"{name} [sync]", 200.0) * 1_000_000),
        keep_unreferenced_days=_get(sy, "keep_unreferenced_days", float, f"{name} [sync]", 3.0),
        report_url=_get(rp, "url", str, f"{name} [report]"),
        report_token=_get(rp, "token", str, f"{name} [report]"),
        ui_host=_get(ui, "host", str, f"{name} [ui]"),
        ui_port=port,
        admin_pin=str(_get(ui, "admin_pin", str, f"{name} [ui]")),
        language=language,
    )
    for t in tables:
        unknown = sorted(set(t) - t.used)
        if unknown:
            raise ConfigError(f"{name} [{t.name}]: unknown key '{unknown[0]}' (a typo?); "
                              f"the keys are {', '.join(sorted(t.used))} — see README.md")
    if keys_out is not None:
        keys_out.update({t.name: set(t.used) for t in tables})
    return cfg
