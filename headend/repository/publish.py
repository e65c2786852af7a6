"""Publish: catalogue + playlist/notice definitions → the next signed repository version. Only
notices whose current file was reviewed and signed off go out (``headend.repository.review``);
the villages' questions and the county's answers go out as answers documents
(``headend.repository.answers``).

A version is built aside in ``trees/.build-<N>/`` from hard links (media from the blob store,
playlists and rotation files from ``published/``), signed, fsync'd, renamed to ``trees/v<N>``,
and then ``repo`` — a symlink — is switched to it in one rename. A reader sees version N-1 or
version N, never a mix. Playlists and media are immutable (named by version / sha256); files
referenced by any version of the last ``grace_days`` stay in every new tree so a station mid-sync
finds them; older ones are collected.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from catalogue import Course
from headend.config import HeadendConfig
from headend.courseware.profiles import POSTER_FINGERPRINT, POSTER_PROFILE, profiles_for
from headend.db import Database
from headend.errors import PublishError
from headend.repository import answers as answer_docs
from headend.repository import live as live_playlists
from headend.repository.keys import load_secret_key
from headend.repository.programming import PlaylistDef, load_notice_files, load_playlists
from headend.repository.review import SIGNED, notice_states
from headend.repository.tree import Progress, build_tree, collect_trees, switch_repo
from playlists import (
    INDEX_NAME,
    AnswersRef,
    CourseEntry,
    FileRef,
    Index,
    Notice,
    Playlist,
    PlaylistRef,
    RepositoryError,
    SecretKey,
    StationIdentity,
    sign_repository_file,
)
from playlists.atomic import atomic_write
from playlists.minisign import signer_key_id
from playlists.schedule import Occurrence, overlaps
from playlists.times import utc_iso

log = logging.getLogger(__name__)

ALL_PLAYLIST = "all"
SCHEDULE_CHECK_DAYS = 62


@dataclass
class PublishResult:
    version: int
    courses: int
    playlists: int
    expires: datetime
    index_path: Path
    skipped: list[str] = field(default_factory=list)  # courses left out of 'all', with why
    warnings: list[str] = field(default_factory=list)
    collected: int = 0  # files no longer published


# ---- building the content ---------------------------------------------------------------------


class _Catalogue:
    """The catalogue with each course's files, read once per publish."""

    def __init__(self, cfg: HeadendConfig, db: Database) -> None:
        self.courses = db.courses()
        self.by_id = {c.id: c for c in self.courses}
        self.fingerprints = {p.name: p.fingerprint for p in profiles_for(cfg)}
        self.files: dict[str, dict[str, FileRef]] = {}
        self._entries: dict[str, CourseEntry] = {}
        self.on_disk = _media_on_disk(cfg.root)
        wanted = {**self.fingerprints, POSTER_PROFILE: POSTER_FINGERPRINT}
        for source, profile, fingerprint, path, sha256, size, mime in db.rendition_files(wanted):
            if wanted[profile] == fingerprint and _on_disk(cfg.root, path, self.on_disk):
                self.files.setdefault(source, {})[profile] = FileRef(path=path, sha256=sha256, size=size, mime=mime)

    def entry(self, course: Course) -> CourseEntry:
        """The course's entry, one object however many playlists list it (encoded once)."""
        found = self._entries.get(course.id)
        if found is None or found.course is not course:
            files = dict(self.files.get(course.source_sha256, {}))
            poster = files.pop(POSTER_PROFILE, None)
            found = self._entries[course.id] = CourseEntry(course=course, poster=poster, renditions=files)
        return found

    def missing_profiles(self, course: Course, profiles: set[str]) -> list[str]:
        have = self.files.get(course.source_sha256, {})
        return sorted(p for p in profiles if p not in have)


def _media_on_disk(root: Path) -> set[str]:
    """Repository paths (``media/ab/<sha256>.<ext>``) of the regular files in the blob store: one
    listing per fan-out folder rather than a ``stat`` per rendition."""
    found: set[str] = set()
    try:
        folders = [e for e in os.scandir(root / "media") if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return found
    for folder in folders:
        with os.scandir(folder.path) as entries:
            found.update(f"media/{folder.name}/{e.name}" for e in entries if e.is_file())
    return found


def _on_disk(root: Path, rel: str, listed: set[str]) -> bool:
    """A media file is in the blob store: listed by ``_media_on_disk``, or (a path of another
    shape) found by a ``stat``."""
    return rel in listed or (rel.count("/") != 2 and (root / rel).is_file())


def _station_identities(db: Database) -> list[tuple[StationIdentity, str]]:
    return [(StationIdentity(s.id, s.region, ()), s.player) for s in db.stations()]


def _check_definitions(
    defs: list[PlaylistDef], cat: _Catalogue, stations, now: datetime
) -> tuple[dict[str, list[str]], list[str]]:
    """Course ids per playlist, and warnings. PublishError for anything that must not go out."""
    ids: dict[str, list[str]] = {}
    warnings = []
    for d in defs:
        ids[d.name] = d.course_ids(cat.courses, cat.by_id)
        targeted = [(s, player) for s, player in stations if d.audience.matches(s)]
        if not targeted and stations:
            warnings.append(f"{d.where}: audience ({d.audience.describe()}) matches no registered station")
        profiles = {player for _, player in targeted} or set(cat.fingerprints)
        for cid in ids[d.name]:
            missing = cat.missing_profiles(cat.by_id[cid], profiles)
            if missing:
                raise PublishError(
                    f"{d.where}: course {cid} 《{cat.by_id[cid].title}》 has no rendition for {', '.join(missing)}, "
                    "which targeted stations play; ingest its file again (or wait for its transcode) and publish"
                )
    # Overlapping programmes on one station: refuse, naming both.
    end = now + timedelta(days=SCHEDULE_CHECK_DAYS)
    durations = {c.id: c.duration_s for c in cat.courses}
    scheduled = [d for d in defs if d.schedule]
    for station, _ in stations:
        occ: list[tuple[Occurrence, PlaylistDef]] = []
        for d in scheduled:
            if d.audience.matches(station):
                lo = max(now, d.valid_from) if d.valid_from else now
                hi = min(end, d.valid_until) if d.valid_until else end
                occ += [(o, d) for o in d.schedule.occurrences(lo, hi)]
        owner = {id(o): d for o, d in occ}
        for a, b in overlaps([o for o, _ in occ], durations):
            da, db_ = owner[id(a)], owner[id(b)]
            raise PublishError(
                f"schedule overlap on station {station.id}: {da.where} plays 《{cat.by_id[a.course].title}》 at "
                f"{a.start:%Y-%m-%d %H:%M}, and {db_.where} plays 《{cat.by_id[b.course].title}》 at "
                f"{b.start:%Y-%m-%d %H:%M} before it ends; move one of them"
            )
    return ids, warnings


# ---- published files ---------------------------------------------------------------------------


def _next_version(cfg: HeadendConfig, db: Database) -> int:
    """Above both the last recorded publication and whatever ``repo`` shows (a publish cut off
    after switching but before recording must not have its version reused: stations would see
    one version number with two contents and refuse it)."""
    last = db.last_publication()
    shown = 0
    try:
        shown = Index.from_bytes((cfg.repo_dir / INDEX_NAME).read_bytes()).version
    except (OSError, RepositoryError):
        pass
    return max(shown, last.version if last else 0) + 1


def _published(cfg: HeadendConfig, rel: str) -> Path:
    return cfg.published_dir / rel


def _write_playlist(cfg: HeadendConfig, key: SecretKey, pl: Playlist, data: bytes, now: datetime) -> PlaylistRef:
    path = _published(cfg, pl.path)
    if not path.exists():
        atomic_write(path.with_name(path.name + ".minisig"), sign_repository_file(key, pl.path, data, pl.version, now))
        atomic_write(path, data)
    return PlaylistRef(
        name=pl.name,
        version=pl.version,
        title=pl.title,
        file=FileRef(pl.path, hashlib.sha256(data).hexdigest(), len(data), "application/json"),
    )


def _signer(sig_path: Path) -> str | None:
    """The key id a published signature file claims; None when it is missing or unreadable."""
    try:
        return signer_key_id(sig_path.read_bytes())
    except OSError:
        return None


def _previous_versions(cfg: HeadendConfig) -> dict[str, int]:
    """Playlist name → the newest version published (one listing of the folder)."""
    out: dict[str, int] = {}
    for p in (cfg.published_dir / "playlists").glob("*.*.json"):
        parts = p.name.split(".")
        if len(parts) == 3 and parts[1].isascii() and parts[1].isdigit():
            out[parts[0]] = max(out.get(parts[0], 0), int(parts[1]))
    return out


def _holds(path: Path, data: bytes) -> bool:
    """``path`` is a file holding exactly ``data`` (a size check first: no read when it differs)."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _files_of(pl: Playlist) -> set[str]:
    out = {pl.path, pl.path + ".minisig"}
    for e in pl.courses:
        out |= {f.path for f in e.renditions.values()}
        if e.poster:
            out.add(e.poster.path)
    return out


def _source(cfg: HeadendConfig, rel: str) -> Path:
    """Where a published file other than media is kept."""
    if rel.startswith("keys/") and rel.endswith(".pub"):
        return cfg.keys_dir / Path(rel).name
    return _published(cfg, rel)


def _finish(
    cfg: HeadendConfig,
    db: Database,
    key: SecretKey,
    version: int,
    now: datetime,
    refs: list[PlaylistRef],
    notices: tuple[Notice, ...],
    referenced: set[str],
    n_courses: int,
    progress: Progress | None = None,
    answers: tuple[AnswersRef, ...] = (),
    media_on_disk: set[str] | None = None,
) -> tuple[Path, int, datetime]:
    """Sign the index, build the tree, switch, record, collect."""
    referenced = set(referenced) | {f"keys/{cfg.public_key_path.name}"}
    referenced |= {f"keys/{p.name}" for p in (cfg.published_dir / "keys").glob("rotate-*.json*")}
    stamp = utc_iso(now)
    since = utc_iso(now - timedelta(days=cfg.grace_days))
    keep, gone = db.reference_files(referenced, stamp, since)
    on_disk = _media_on_disk(cfg.root) if media_on_disk is None else media_on_disk
    root = str(cfg.root)
    files: dict[str, Path | str] = {}
    missing = []
    for rel in keep:
        if rel.startswith("media/"):  # 20,000 of them in a county: a string each, no stat
            if _on_disk(cfg.root, rel, on_disk):
                files[rel] = f"{root}/{rel}"
                continue
        elif (src := _source(cfg, rel)).is_file():
            files[rel] = src
            continue
        if rel in referenced:
            missing.append(rel)
    if missing:
        raise PublishError(f"cannot publish: {min(missing)} is missing from {cfg.root}; ingest the course again")
    expires = now + timedelta(days=cfg.index_expiry_days)
    index = Index(
        version=version, timestamp=now, expires=expires, playlists=tuple(refs), notices=notices, answers=answers
    )
    idx_bytes = index.to_bytes()
    try:
        tree = build_tree(
            cfg, version, files, idx_bytes, sign_repository_file(key, INDEX_NAME, idx_bytes, version, now), progress
        )
        _stage(progress, "switching")
        switch_repo(cfg, tree)
    except OSError as exc:
        raise PublishError(
            f"cannot write repository version {version} under {cfg.trees_dir} ({exc}); "
            "the previous version stays published"
        ) from exc
    db.add_publication(version, stamp, utc_iso(expires), hashlib.sha256(idx_bytes).hexdigest(), n_courses)
    db.forget_files(since)
    for rel in gone:
        if rel.startswith(("playlists/", "answers/")):
            _published(cfg, rel).unlink(missing_ok=True)
    collect_trees(cfg, tree)
    _stage(progress, "done")
    return tree, len(gone), expires


def _stage(progress: Progress | None, stage: str, done: int = 0, total: int = 0) -> None:
    if progress is not None:
        progress(stage, done, total)


@contextmanager
def _publish_lock(cfg: HeadendConfig) -> Iterator[None]:
    """One publish at a time per root (a cron --refresh and a manual publish may meet)."""
    path = cfg.root / ".publish.lock"
    try:
        fh = open(path, "w")  # noqa: SIM115 - held open as the lock
    except OSError as exc:
        raise PublishError(
            f"{path}: cannot open the publish lock ({exc.strerror}); check the data root is yours and writable"
        ) from exc
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another publish is running on %s; waiting for it", cfg.root)
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def publish(
    cfg: HeadendConfig, db: Database, now: datetime | None = None, progress: Progress | None = None
) -> PublishResult:
    """Write the next signed repository version. Blocking (run it in a thread from async code).
    Nothing changes on any refusal. ``progress`` hears each stage: waiting (for another publish),
    checking, playlists (done of total), linking (files done of total), switching, done."""
    _stage(progress, "waiting")
    with _publish_lock(cfg):
        return _publish(cfg, db, now, progress)


def refresh(
    cfg: HeadendConfig, db: Database, now: datetime | None = None, progress: Progress | None = None
) -> PublishResult:
    """Re-sign the current index as a new version with a new expiry; playlists stay as they are
    (for a cron job that keeps stations from seeing an expired index)."""
    _stage(progress, "waiting")
    with _publish_lock(cfg):
        return _refresh(cfg, db, now, progress)


def _publish(cfg: HeadendConfig, db: Database, now: datetime | None, progress: Progress | None) -> PublishResult:
    _stage(progress, "checking")
    key = load_secret_key(cfg)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    defs = load_playlists(cfg.root)
    states = notice_states(load_notice_files(cfg.root), db.notice_reviews.all())
    notices = [st.notice for st in states if st.state == SIGNED]  # drafts and reviewed notices stay at home
    cat = _Catalogue(cfg, db)
    every_player = set(cat.fingerprints)
    live_defs, live_notes = live_playlists.definitions(
        db,
        now,
        cfg.live.keep_days,
        lambda cid: cid in cat.by_id and not cat.missing_profiles(cat.by_id[cid], every_player),
    )
    defs += live_defs
    stations = _station_identities(db)
    ids, warnings = _check_definitions(defs, cat, stations, now)
    warnings += live_notes
    warnings += [
        f"notices/{st.file.source.name}: {st.words} ({st.state}), not sent until reviewed and signed off"
        for st in states
        if st.state != SIGNED
    ]

    version = _next_version(cfg, db)
    skipped = []
    playlists: list[tuple[Playlist, PlaylistDef | None]] = []
    if cfg.all_courses_playlist:
        complete = []
        for c in cat.courses:
            missing = cat.missing_profiles(c, set(cat.fingerprints))
            if missing:
                skipped.append(f"{c.id} 《{c.title}》: no rendition for {', '.join(missing)} yet")
            else:
                complete.append(cat.entry(c))
        playlists.append((Playlist(ALL_PLAYLIST, version, cfg.playlist_title, tuple(complete)), None))
    for d in defs:
        entries = tuple(cat.entry(cat.by_id[cid]) for cid in ids[d.name])
        playlists.append((Playlist(d.name, version, d.title, entries, d.schedule), d))

    refs, referenced = [], set()
    previous = _previous_versions(cfg)
    encoded: dict[int, str] = {}  # each course entry encoded once (the entries live in `playlists`)
    for i, (pl, d) in enumerate(playlists):
        _stage(progress, "playlists", i, len(playlists))
        data = None
        prev = previous.get(pl.name)
        if prev is not None:  # unchanged content keeps its old version: stations fetch nothing new
            same = Playlist(pl.name, prev, pl.title, pl.courses, pl.schedule)
            same_data = same.to_bytes(encoded)  # usually the bytes to publish: serialised once
            prev_path = _published(cfg, same.path)
            sig_path = prev_path.with_name(prev_path.name + ".minisig")
            if (
                _holds(prev_path, same_data) and _signer(sig_path) == key.public_key.id_hex
            ):  # not after a key rotation (nor with its signature lost: it is signed again as a new version)
                pl, data = same, same_data
        if data is None:
            data = pl.to_bytes(encoded)
        ref = _write_playlist(cfg, key, pl, data, now)
        if d is not None:
            ref = PlaylistRef(
                ref.name, ref.version, ref.file, ref.title, d.audience, d.priority, d.valid_from, d.valid_until
            )
        refs.append(ref)
        referenced |= _files_of(pl)

    _stage(progress, "answers")
    answer_refs, answer_paths = answer_docs.write(cfg, key, version, now, answer_docs.documents(cfg, db, now))
    referenced |= answer_paths
    n_courses = len({e.course.id for pl, _ in playlists for e in pl.courses})
    _, collected, expires = _finish(
        cfg,
        db,
        key,
        version,
        now,
        refs,
        tuple(notices),
        referenced,
        n_courses,
        progress,
        tuple(answer_refs),
        cat.on_disk,
    )
    log.info("published version %d: %d playlists, %d courses", version, len(refs), n_courses)
    return PublishResult(
        version=version,
        courses=n_courses,
        playlists=len(refs),
        expires=expires,
        index_path=cfg.repo_dir / INDEX_NAME,
        skipped=skipped,
        warnings=warnings,
        collected=collected,
    )


def _refresh(cfg: HeadendConfig, db: Database, now: datetime | None, progress: Progress | None) -> PublishResult:
    _stage(progress, "checking")
    key = load_secret_key(cfg)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    try:
        current = Index.from_bytes((cfg.repo_dir / INDEX_NAME).read_bytes())
    except FileNotFoundError:
        raise PublishError("nothing published yet; run `headend publish` first") from None
    referenced: set[str] = set()
    for ref in current.playlists:
        sig = _published(cfg, ref.file.path + ".minisig")
        signer = _signer(sig)
        if signer is None:
            raise PublishError(f"{sig} is missing or unreadable; run `headend publish` (not --refresh) once")
        if signer != key.public_key.id_hex:
            raise PublishError(
                f"{ref.file.path} is signed by an earlier key; after `headend key rotate`, "
                "run `headend publish` (not --refresh) once"
            )
        referenced |= _files_of(Playlist.from_bytes(_published(cfg, ref.file.path).read_bytes(), ref.file.path))
    for ref in current.answers:
        if _signer(_published(cfg, ref.file.path + ".minisig")) != key.public_key.id_hex:
            raise PublishError(
                f"{ref.file.path} is missing or signed by an earlier key; run `headend publish` (not --refresh) once"
            )
        referenced |= {ref.file.path, ref.file.path + ".minisig"}
    last = db.last_publication()
    version = _next_version(cfg, db)
    n_courses = last.courses if last else 0
    _, collected, expires = _finish(
        cfg,
        db,
        key,
        version,
        now,
        list(current.playlists),
        current.notices,
        referenced,
        n_courses,
        progress,
        current.answers,
    )
    return PublishResult(
        version=version,
        courses=n_courses,
        playlists=len(current.playlists),
        expires=expires,
        index_path=cfg.repo_dir / INDEX_NAME,
        collected=collected,
    )
