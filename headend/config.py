"""The headend's data root and its ``headend.toml``, loaded once into a typed dataclass.

Layout of a data root::

    headend.toml        settings (written by `headend init`, documented in README.md)
    headend.db          SQLite (unless [database] url names PostgreSQL): catalogue, renditions,
                        stations, published versions, the job queue
    keys/headend.key    minisign secret key (mode 0600) — never published
    keys/headend.pub    minisign public key — give it to stations
    media/ab/<sha>.mp4  transcoded renditions and posters, named by sha256 (the blob store)
    playlists/*.toml    playlists as county staff define them (see headend.repository.programming)
    notices/*.toml      notices (活动通知)
    ratings.toml        the star-rating rubric (catalogue.rubric; README "Star ratings")
    evidence/<sha>.jpg  photos staff attached to inspection scores
    published/          every playlist and rotation file ever published, with signatures
    trees/v<N>/         repository version N: hard links, built aside, then switched to
    repo -> trees/v<N>  the published static tree (a symlink switched atomically; serve it)
    work/               temporary transcoding output
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

from catalogue.categories import find_category
from catalogue.course import UnknownCategory
from catalogue.tomlcheck import Document, SettingsError
from headend.errors import ConfigError
from players import Profile, ProfileError, load_profiles

CONFIG_NAME = "headend.toml"
KEY_NAME = "headend"

DEFAULT_CONFIG = """\
# yuanjiao headend settings (documented in README.md)
[publish]
index_expiry_days = 7          # stations refuse an index older than this: re-publish (or --refresh) before
playlist_title = "全部课程"      # title of the playlist that carries every course
all_courses_playlist = true    # publish that playlist (to every station) besides playlists/*.toml
grace_days = 3                 # old playlists and media stay published this long for stations mid-sync

[ingest]
max_duration_s = 14400         # longest courseware accepted (4 h)
profiles = []                  # player profiles to transcode for; empty = every profile in players/
profiles_file = ""             # player profiles file; empty = players/profiles.toml shipped with yuanjiao
concurrent_jobs = 1            # transcoding jobs run at once (1 on a 2-core box)
ladder = "one-process"         # "one-process": one decode feeds every rendition; "per-profile": one ffmpeg each

[watch]
settle_s = 10                  # a file dropped into inbox/ is taken once its size has not changed for this long
default_category = "culture"   # category of a dropped file whose sidecar gives none (editors fix it on /county/courses)

[serve]
host = "127.0.0.1"
port = 8700
intake_workers = 2             # processes that check and store station reports beside the server (0: in it)
trusted_proxies = ["127.0.0.1", "::1"]  # whose X-Forwarded-For names the client (nginx in front); [] believes none

[database]
url = ""                       # empty: SQLite in <root>/headend.db; or "postgresql://user@host:5432/yuanjiao"

[dashboard]
online_minutes = 30            # a station whose last upload is this recent counts as online
idle_minutes = 60              # a staff login ends after this long without a request
session_hours = 12             # … and at the latest this long after it began
cookie_secure = false          # true behind TLS (nginx): the session cookie is sent over HTTPS only

[alerts]
offline_hours = 24             # silent this long (within its opening hours, when set) raises an alert
sync_failing_hours = 24        # sync has not succeeded for this long while the station reports
disk_free_percent = 10         # free disk under this share of the box's disk
clock_offset_minutes = 10      # the box's clock off by more than this
pin_failures = 10              # wrong admin PINs in one China day
check_interval_s = 300         # how often `headend serve` re-checks every station
digest_hour = 8                # China hour at which the daily digest per region is written (and posted)
webhook_url = ""               # POST each digest and recovery message as JSON here (empty: files only)
webhook_timeout_s = 10

[ratings]
close_days = 15                # a period's star ratings stay provisional this long after it ends, then freeze

[questions]
answer_days = 3                # a village's question is due this many days after the headend received it
warn_days = 2                  # the county queue marks a question due soon once it has waited this long
keep_days = 90                 # an answered or closed question stays in the repository (and on /admin) this long
faq_days = 365                 # an answer published as FAQ stays on every targeted TV this long
shard_digits = 1               # stations' questions travel in 16^digits signed files (1: 16, 2: 256)

[live]
input = "rtmp://127.0.0.1:1935/live/{id}"  # what the encoder listens on for a class's source ({id}: the class); a class may name its own
segment_s = 2                  # HLS segment length, seconds (2, 3 or 4): a TV runs about three segments behind the studio
start_early_s = 60             # headend serve starts listening for the source this long before a class starts
keep_days = 30                 # a class stays in its audience's schedule (with its replay) this long after it ends
"""


@dataclass(frozen=True)
class AlertSettings:
    """``[alerts]``: when a station's state raises an alert, and where digests go."""

    offline_hours: float = 24.0
    sync_failing_hours: float = 24.0
    disk_free_percent: float = 10.0
    clock_offset_minutes: float = 10.0
    pin_failures: int = 10
    check_interval_s: float = 300.0
    digest_hour: int = 8
    webhook_url: str = ""
    webhook_timeout_s: float = 10.0


@dataclass(frozen=True)
class QuestionSettings:
    """``[questions]``: answer deadlines and how answers travel back (README "Questions")."""

    answer_days: float = 3.0
    warn_days: float = 2.0
    keep_days: float = 90.0
    faq_days: float = 365.0
    shard_digits: int = 1


@dataclass(frozen=True)
class LiveSettings:
    """``[live]``: live classes (README "Live classes")."""

    input: str = "rtmp://127.0.0.1:1935/live/{id}"
    segment_s: int = 2
    start_early_s: float = 60.0
    keep_days: float = 30.0


@dataclass(frozen=True)
class HeadendConfig:
    root: Path
    index_expiry_days: float
    playlist_title: str
    all_courses_playlist: bool
    grace_days: float
    max_duration_s: float
    profiles: tuple[str, ...]  # empty: all
    host: str
    port: int
    concurrent_jobs: int = 1
    intake_workers: int = 2  # [serve]
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    profiles_file: Path | None = None  # None: the bundled players/profiles.toml
    ladder: str = "one-process"  # or "per-profile"
    watch_settle_s: float = 10.0
    watch_default_category: str = "culture"
    database_url: str = ""  # [database] url; empty: SQLite in db_path
    online_minutes: float = 30.0  # [dashboard]
    idle_minutes: float = 60.0
    session_hours: float = 12.0
    cookie_secure: bool = False
    alerts: AlertSettings = field(default_factory=lambda: AlertSettings())
    ratings_close_days: int = 15  # [ratings] close_days
    questions: QuestionSettings = field(default_factory=lambda: QuestionSettings())
    live: LiveSettings = field(default_factory=lambda: LiveSettings())

    @property
    def db_path(self) -> Path:
        return self.root / "headend.db"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def secret_key_path(self) -> Path:
        return self.keys_dir / f"{KEY_NAME}.key"

    @property
    def public_key_path(self) -> Path:
        return self.keys_dir / f"{KEY_NAME}.pub"

    @property
    def repo_dir(self) -> Path:
        return self.root / "repo"

    @property
    def trees_dir(self) -> Path:
        return self.root / "trees"

    @property
    def published_dir(self) -> Path:
        return self.root / "published"

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    @property
    def inbox_dir(self) -> Path:
        return self.root / "inbox"

    @property
    def session_key_path(self) -> Path:
        return self.keys_dir / "session.key"  # encrypts the staff login cookies (mode 0600)

    @property
    def digests_dir(self) -> Path:
        return self.root / "digests"  # the daily alert digest per region, as files

    @property
    def evidence_dir(self) -> Path:
        return self.root / "evidence"  # inspection photos, named by sha256


def database_url(url: str, sqlite_path: Path) -> sa.URL:
    """The URL to open: ``[database] url``, or the SQLite file when it is empty. ConfigError for
    anything that is not a SQLite or PostgreSQL URL."""
    if not url:
        return sa.URL.create("sqlite", database=str(sqlite_path))
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError) as e:  # ValueError: a port that is not a number
        raise ConfigError(
            "[database] url is not a database URL; write postgresql://user@host:port/dbname "
            "(or leave it empty for SQLite in the data root)"
        ) from e
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite") and parsed.database not in (None, "", ":memory:"):
        return parsed.set(drivername="sqlite")
    raise ConfigError(
        f"[database] url {parsed.render_as_string(hide_password=True)}: only postgresql://user@host:port/dbname or "
        "sqlite:////path/to/file.db are supported (leave it empty for <root>/headend.db)"
    )


def load_config(root: str | Path, keys_out: dict[str, set[str]] | None = None) -> HeadendConfig:
    """Read ``<root>/headend.toml`` strictly (``catalogue.tomlcheck``): unknown tables and keys,
    wrong types and numbers out of range are refused with one line naming the file, the line and
    the key; so are a ``[watch] default_category`` that is no category, ``[ingest] profiles`` the
    profiles file does not define, and a ``[database] url`` of the wrong shape. ``keys_out``
    receives every table and key the loader knows (for the docs test)."""
    root = Path(root).resolve()
    path = root / CONFIG_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{root}: not a headend data root (no {CONFIG_NAME}); run `headend init --root {root}` first"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}); check its owner and mode") from exc
    try:
        doc = Document.parse(raw, str(path))
        pub, ing, wat, srv, dbs, dsh, alr, rat, qst, liv = (
            doc.table(t)
            for t in (
                "publish",
                "ingest",
                "watch",
                "serve",
                "database",
                "dashboard",
                "alerts",
                "ratings",
                "questions",
                "live",
            )
        )
        profiles_file = ing.str("profiles_file", "")
        cfg = HeadendConfig(
            root=root,
            index_expiry_days=pub.float("index_expiry_days", 7.0, min=0.01, max=3650, unit="days"),
            playlist_title=pub.str("playlist_title", "全部课程", max_len=200),
            all_courses_playlist=pub.bool("all_courses_playlist", True),
            grace_days=pub.float("grace_days", 3.0, min=0, max=3650, unit="days"),
            max_duration_s=ing.float("max_duration_s", 14400.0, min=1, max=7 * 86400, unit="seconds"),
            profiles=ing.str_list("profiles", [], max_items=50, max_len=64),
            host=srv.str("host", "127.0.0.1", max_len=255),
            port=srv.int("port", 8700, min=0, max=65535),
            intake_workers=srv.int("intake_workers", 2, min=0, max=64),
            trusted_proxies=srv.str_list("trusted_proxies", ["127.0.0.1", "::1"], max_items=100, max_len=64),
            concurrent_jobs=ing.int("concurrent_jobs", 1, min=1, max=16),
            profiles_file=(root / profiles_file) if profiles_file else None,
            ladder=ing.str("ladder", "one-process", choices=("one-process", "per-profile")),
            watch_settle_s=wat.float("settle_s", 10.0, min=0, max=3600, unit="seconds"),
            watch_default_category=wat.str("default_category", "culture", max_len=64),
            database_url=dbs.str("url", "", max_len=2000),
            online_minutes=dsh.float("online_minutes", 30.0, min=1, max=7 * 1440, unit="minutes"),
            idle_minutes=dsh.float("idle_minutes", 60.0, min=1, max=7 * 1440, unit="minutes"),
            session_hours=dsh.float("session_hours", 12.0, min=0.1, max=30 * 24, unit="hours"),
            cookie_secure=dsh.bool("cookie_secure", False),
            alerts=AlertSettings(
                offline_hours=alr.float("offline_hours", 24.0, min=0.1, max=90 * 24, unit="hours"),
                sync_failing_hours=alr.float("sync_failing_hours", 24.0, min=0.1, max=90 * 24, unit="hours"),
                disk_free_percent=alr.float("disk_free_percent", 10.0, min=0, max=100, unit="percent"),
                clock_offset_minutes=alr.float("clock_offset_minutes", 10.0, min=0.1, max=525600, unit="minutes"),
                pin_failures=alr.int("pin_failures", 10, min=1, max=100_000),
                check_interval_s=alr.float("check_interval_s", 300.0, min=1, max=86400, unit="seconds"),
                digest_hour=alr.int("digest_hour", 8, min=0, max=23),
                webhook_url=alr.str("webhook_url", "", max_len=2000),
                webhook_timeout_s=alr.float("webhook_timeout_s", 10.0, min=0.1, max=300, unit="seconds"),
            ),
            ratings_close_days=rat.int("close_days", 15, min=0, max=366, unit="days"),
            questions=QuestionSettings(
                answer_days=qst.float("answer_days", 3.0, min=0.0001, max=366, unit="days"),
                warn_days=qst.float("warn_days", 2.0, min=0, max=366, unit="days"),
                keep_days=qst.float("keep_days", 90.0, min=1, max=3660, unit="days"),
                faq_days=qst.float("faq_days", 365.0, min=1, max=3660, unit="days"),
                shard_digits=qst.int("shard_digits", 1, min=1, max=3),
            ),
            live=LiveSettings(
                input=liv.str("input", "rtmp://127.0.0.1:1935/live/{id}", max_len=2000),
                segment_s=liv.int("segment_s", 2, min=2, max=4, unit="seconds"),
                start_early_s=liv.float("start_early_s", 60.0, min=0, max=3600, unit="seconds"),
                keep_days=liv.float("keep_days", 30.0, min=0, max=3660, unit="days"),
            ),
        )
        doc.finish()
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None
    _check_values(doc, cfg)
    if keys_out is not None:
        keys_out.update(doc.known())
    return cfg


def selected_profiles(
    cfg: HeadendConfig,
    file_where: str = f"{CONFIG_NAME} [ingest] profiles_file",
    names_where: str = f"{CONFIG_NAME} [ingest] profiles",
) -> list[Profile]:
    """The player profiles to transcode for: ``[ingest] profiles`` from ``profiles_file`` (the
    bundled ones when it is empty), every one when ``profiles`` is empty. ConfigError says which
    setting is wrong."""
    try:
        text = None if cfg.profiles_file is None else cfg.profiles_file.read_text(encoding="utf-8")
        known = load_profiles(text)
    except OSError as exc:
        raise ConfigError(
            f"{file_where}: cannot read the player profiles {cfg.profiles_file} ({exc.strerror}); fix the path"
        ) from None
    except (ValueError, ProfileError) as exc:
        raise ConfigError(f"{file_where}: {cfg.profiles_file}: {exc}") from None
    missing = [p for p in cfg.profiles if p not in known]
    if missing:
        raise ConfigError(f"{names_where}: unknown player profiles {missing}; known: {sorted(known)}")
    return [known[p] for p in cfg.profiles] if cfg.profiles else list(known.values())


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``["127.0.0.1", "10.0.0.0/8"]`` as networks; ValueError naming the first that is not one."""
    out = []
    for v in values:
        try:
            out.append(ipaddress.ip_network(v.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f'{v!r} is not an IP address or network (write e.g. "127.0.0.1" or "10.0.0.0/8")'
            ) from None
    return tuple(out)


def _check_values(doc: Document, cfg: HeadendConfig) -> None:
    """The settings whose meaning lies elsewhere (categories, the profiles file, the database):
    checked now, so a bad one does not fail every file dropped into the inbox later."""
    if find_category(cfg.watch_default_category) is None:
        raise ConfigError(
            f"{doc.where('watch', 'default_category')}: {UnknownCategory.describe(cfg.watch_default_category)}"
        )
    if cfg.profiles_file is not None or cfg.profiles:
        selected_profiles(
            cfg,
            doc.where("ingest", "profiles_file" if cfg.profiles_file is not None else "profiles"),
            doc.where("ingest", "profiles"),
        )
    try:
        database_url(cfg.database_url, cfg.db_path)
    except ConfigError as exc:
        raise ConfigError(f"{doc.where('database', 'url')} {str(exc).removeprefix('[database] url ')}") from None
    try:
        networks(cfg.trusted_proxies)
    except ValueError as exc:
        raise ConfigError(f"{doc.where('serve', 'trusted_proxies')}: {exc}") from None
    url = urlsplit(cfg.alerts.webhook_url)
    if cfg.alerts.webhook_url and (url.scheme not in ("http", "https") or not url.hostname):
        raise ConfigError(
            f"{doc.where('alerts', 'webhook_url')}: not an http:// or https:// URL; write the receiver's address "
            'like "https://example.org/hook", or "" for digests as files only'
        )
