"""The answers documents of a publish (``playlists.answers``): every recent question of the
stations whose id hashes to a shard goes in that shard's document, the answers county staff
published as FAQ in ``faq``. Like playlists, a document whose content did not change keeps its
version (a station fetches nothing new) unless the key changed; a shard with no question is
left out of the index. Blocking (publish runs in a thread)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from headend.config import HeadendConfig
from headend.db import Database
from headend.db.records import Question
from headend.errors import PublishError
from playlists import Answer, Answers, AnswersRef, Audience, FileRef, SecretKey, shard_of, sign_repository_file
from playlists.answers import MAX_ANSWERS_BYTES
from playlists.atomic import atomic_write
from playlists.minisign import signer_key_id
from playlists.models import FAQ_NAME
from playlists.times import parse_time, utc_iso


def entry(q: Question) -> Answer:
    """A question as the repository carries it (never the asker's name)."""
    return Answer(
        station=q.station,
        number=q.number,
        topic=q.topic,
        question=q.text,
        asked=parse_time(q.asked_at, "asked_at"),
        status=q.status,
        answer=q.answer if q.answered_at else "",
        answered=parse_time(q.answered_at, "answered_at") if q.answered_at else None,
        faq=q.faq,
        audience=Audience(regions=(q.faq_region,)) if q.faq and q.faq_region else Audience(),
    )


def documents(cfg: HeadendConfig, db: Database, now: datetime) -> dict[str, tuple[Answer, ...]]:
    """Each answers document's entries by name (version not yet chosen)."""
    qs = cfg.questions
    held = db.questions.in_repository(
        utc_iso(now - timedelta(days=qs.keep_days)), utc_iso(now - timedelta(days=qs.faq_days))
    )
    kept_since = utc_iso(now - timedelta(days=qs.keep_days))
    out: dict[str, list[Answer]] = {}
    for q in held:
        e = entry(q)
        if q.answered_at is None or q.answered_at >= kept_since:
            out.setdefault(shard_of(q.station, qs.shard_digits), []).append(e)
        if q.faq and q.answered_at:
            out.setdefault(FAQ_NAME, []).append(e)
    return {name: tuple(entries) for name, entries in sorted(out.items())}


def _previous(cfg: HeadendConfig, name: str) -> int | None:
    versions = []
    for p in (cfg.published_dir / "answers").glob(f"{name}.*.json"):
        v = p.name.split(".")[1]
        if v.isascii() and v.isdigit():
            versions.append(int(v))
    return max(versions) if versions else None


def write(
    cfg: HeadendConfig, key: SecretKey, version: int, now: datetime, docs: dict[str, tuple[Answer, ...]]
) -> tuple[list[AnswersRef], set[str]]:
    """Write (or keep) each document under ``published/answers/`` with its signature; the index's
    refs and the repository paths they need."""
    refs, paths = [], set()
    for name, entries in docs.items():
        doc = Answers(name, version, entries)
        prev = _previous(cfg, name)
        if prev is not None:
            same = Answers(name, prev, entries)
            path = cfg.published_dir / same.path
            sig = path.with_name(path.name + ".minisig")
            try:
                if path.read_bytes() == same.to_bytes() and signer_key_id(sig.read_bytes()) == key.public_key.id_hex:
                    doc = same
            except OSError:
                pass
        data = doc.to_bytes()
        if len(data) > MAX_ANSWERS_BYTES:
            raise PublishError(
                f"{doc.path} would be {len(data) / 1e6:.1f} MB, over the {MAX_ANSWERS_BYTES >> 20} MiB a station "
                f"accepts ({len(entries)} questions); raise [questions] shard_digits to "
                f"{cfg.questions.shard_digits + 1} (more, smaller files) or lower keep_days / faq_days in headend.toml"
            )
        path = cfg.published_dir / doc.path
        if not path.exists():
            atomic_write(
                path.with_name(path.name + ".minisig"), sign_repository_file(key, doc.path, data, doc.version, now)
            )
            atomic_write(path, data)
        refs.append(
            AnswersRef(
                name, doc.version, FileRef(doc.path, hashlib.sha256(data).hexdigest(), len(data), "application/json")
            )
        )
        paths |= {doc.path, doc.path + ".minisig"}
    return refs, paths
