"""The trust rules a station applies to what a mirror hands it. Pure: bytes and state in, a
verified object or a RepositoryError out. The rules are functions here; ``playlists.trusted_set``
holds the state they need between calls (python-tuf's ``trusted_metadata_set`` is the model).

Rules:
* an index or playlist counts only with a valid ``ED`` signature by a trusted key;
* the signed trusted comment names the file and its version, so a signature cannot be moved to
  another file or version;
* the index version never goes backwards, and a version seen before must have the same bytes;
* the index must not be expired, where "now" is never earlier than the newest signed timestamp
  seen (box clocks are unreliable);
* a playlist (and an answers document) must match the size and sha256 the verified index pins,
  and name itself as the index says;
* a new signing key is trusted only through a rotation file (``keys/rotate-<NEWID>.json``) signed
  by a key already trusted; the key it replaces is then retired.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from playlists.answers import Answers
from playlists.canonical import canonical_json
from playlists.errors import ExpiredError, FormatError, PinMismatch, RollbackError, SignatureError
from playlists.minisign import PublicKey, SecretKey, parse_trusted_comment, signer_key_id, verify
from playlists.models import INDEX_NAME, AnswersRef, FileRef, Index, Playlist, PlaylistRef
from playlists.times import parse_moment


def trusted_comment(file_name: str, version: int, timestamp: datetime) -> str:
    return f"timestamp:{int(timestamp.timestamp())}\tfile:{file_name}\tversion:{version}"


def sign_repository_file(key: SecretKey, path: str, data: bytes, version: int, timestamp: datetime) -> bytes:
    """The ``.minisig`` bytes for a repository file at ``path`` (its base name is bound)."""
    return key.sign(data, trusted_comment(posixpath.basename(path), version, timestamp))


@dataclass(frozen=True)
class TrustState:
    """What the station remembers between runs (persisted, fsync'd, by the shell): the highest
    index version verified and its sha256, the newest signed timestamp seen, and the keys rotation
    files added (public keys) and retired (key ids)."""

    highest_version: int = 0
    highest_sha256: str = ""
    newest_timestamp: datetime | None = None
    added_keys: tuple[PublicKey, ...] = ()
    retired_keys: frozenset[str] = frozenset()

    def to_dict(self) -> dict:
        """The JSON-ready form the station's store keeps (the same keys it has always kept)."""
        return {
            "highest_version": self.highest_version,
            "highest_sha256": self.highest_sha256,
            "newest_timestamp": self.newest_timestamp.isoformat() if self.newest_timestamp else None,
            "added_keys": sorted(k.to_base64() for k in self.added_keys),
            "retired_keys": sorted(self.retired_keys),
        }

    @classmethod
    def from_dict(cls, d: dict) -> TrustState:
        """Read what ``to_dict`` wrote, or an older document without the key lists; a damaged
        document is a FormatError naming the field."""
        what = "the station's trust state"
        try:
            version = d.get("highest_version") or 0
            if not isinstance(version, int) or isinstance(version, bool) or version < 0:
                raise ValueError(f"highest_version {version!r} is not a version number")
            sha = d.get("highest_sha256") or ""
            if not isinstance(sha, str):
                raise ValueError("highest_sha256 is not text")
            seen = d.get("newest_timestamp")
            newest = parse_moment(seen, "newest_timestamp", naive=UTC) if seen else None
            added = tuple(PublicKey.from_base64(k) for k in _strings(d.get("added_keys"), "added_keys"))
            retired = frozenset(_strings(d.get("retired_keys"), "retired_keys"))
        except (AttributeError, TypeError, ValueError) as exc:  # SignatureError is a ValueError
            raise FormatError(f"{what}: {exc}") from exc  # the caller says what to do about it
        return cls(version, sha, newest, tuple(sorted(set(added), key=PublicKey.to_base64)), retired)


def _strings(value: object, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} is not a list of strings")
    return value


def clock_floor(state: TrustState, box_now: datetime) -> datetime:
    """The earliest "now" the station believes: its clock, but never before the newest signed
    timestamp it has seen (a box with no battery boots in 1970)."""
    box_now = box_now.astimezone(UTC)
    return max(box_now, state.newest_timestamp) if state.newest_timestamp else box_now


def _check_binding(comment: str, file_name: str, version: int, what: str) -> None:
    fields = parse_trusted_comment(comment)
    if fields.get("file") != file_name or fields.get("version") != str(version):
        raise SignatureError(
            f"{what}: the signature was made for {fields.get('file')!r} version {fields.get('version')!r}, "
            f"not {file_name!r} version {version} (signature moved between files)"
        )


def check_index(data: bytes, signature: bytes, keys: Sequence[PublicKey], state: TrustState, now: datetime) -> Index:
    """Verify index bytes and their signature; return the index or raise RepositoryError."""
    comment = verify(data, signature, keys, INDEX_NAME)
    index = Index.from_bytes(data)
    _check_binding(comment, INDEX_NAME, index.version, INDEX_NAME)
    sha = hashlib.sha256(data).hexdigest()
    if index.version < state.highest_version:
        raise RollbackError(
            f"{INDEX_NAME}: version {index.version} is older than version {state.highest_version} "
            "already installed (a stale mirror or a rollback attack)"
        )
    if index.version == state.highest_version and state.highest_sha256 and sha != state.highest_sha256:
        raise RollbackError(f"{INDEX_NAME}: version {index.version} seen before with different content")
    box_now = now.astimezone(UTC)
    if index.expires <= max(clock_floor(state, box_now), index.timestamp):
        hint = "the mirror serves an old copy, or the headend has not re-signed; ask county staff"
        if box_now > index.expires + timedelta(days=365):
            hint = f"this box's clock says {box_now:%Y-%m-%d}; if that is wrong, set the date and sync again"
        raise ExpiredError(f"{INDEX_NAME}: version {index.version} expired at {index.expires.isoformat()} ({hint})")
    return index


def check_pinned(data: bytes, ref: FileRef) -> None:
    """Raise PinMismatch unless ``data`` has exactly the pinned size and sha256."""
    if len(data) != ref.size:
        raise PinMismatch(f"{ref.path}: {len(data)} bytes, but the signed index says {ref.size}")
    if hashlib.sha256(data).hexdigest() != ref.sha256:
        raise PinMismatch(f"{ref.path}: sha256 differs from the signed index (altered or damaged)")


def check_playlist(
    data: bytes, signature: bytes, ref: PlaylistRef, keys: Sequence[PublicKey], player: str | None = None
) -> Playlist:
    """Verify a playlist against the pin in a verified index and its own signature.

    With ``player`` (a station's profile), its course entries are checked when first used, each
    with only that player's rendition: what the station does not use is never parsed. That
    weakens no rule: the bytes, every entry included, are the ones the signed index pins by
    sha256 and the headend signed, so an entry a mirror altered is refused here with the whole
    file; and an entry for this player that does not parse is a FormatError naming it when the
    station reads it. Without ``player`` every entry is checked now, every rendition."""
    check_pinned(data, ref.file)
    name = posixpath.basename(ref.file.path)
    comment = verify(data, signature, keys, ref.file.path)
    _check_binding(comment, name, ref.version, ref.file.path)
    playlist = Playlist.from_bytes(data, ref.file.path, player=player, lazy=player is not None)
    if playlist.name != ref.name or playlist.version != ref.version:
        raise PinMismatch(
            f"{ref.file.path}: names itself {playlist.name!r} v{playlist.version}, index says {ref.name!r} v{ref.version}"
        )
    return playlist


def check_playlist_held(data: bytes, signature: bytes, ref: PlaylistRef, keys: Sequence[PublicKey]) -> None:
    """The rules of ``check_playlist`` for bytes a station verified and read before, and kept
    with the name, version and sha256 they had (a re-signed index pins them again): size and
    sha256 against ``ref``, the signature by a key trusted now, bound to the name and version.
    Their content is not read again: the same sha256 is the same document, which named itself
    ``ref.name`` and ``ref.version`` when it was read (the caller checks it kept those)."""
    check_pinned(data, ref.file)
    comment = verify(data, signature, keys, ref.file.path)
    _check_binding(comment, posixpath.basename(ref.file.path), ref.version, ref.file.path)


def check_answers(data: bytes, signature: bytes, ref: AnswersRef, keys: Sequence[PublicKey]) -> Answers:
    """Verify an answers document against the pin in a verified index and its own signature."""
    check_pinned(data, ref.file)
    comment = verify(data, signature, keys, ref.file.path)
    _check_binding(comment, posixpath.basename(ref.file.path), ref.version, ref.file.path)
    answers = Answers.from_bytes(data, ref.file.path)
    if answers.name != ref.name or answers.version != ref.version:
        raise PinMismatch(
            f"{ref.file.path}: names itself {answers.name!r} v{answers.version}, index says {ref.name!r} v{ref.version}"
        )
    return answers


ROTATION_TYPE = "yuanjiao-key-rotation"
MAX_ROTATION_BYTES = 4096


def rotation_path(new_key_id_hex: str) -> str:
    return f"keys/rotate-{new_key_id_hex}.json"


def make_rotation(old: SecretKey, new: PublicKey, timestamp: datetime) -> tuple[bytes, bytes]:
    """A rotation file announcing ``new`` and its signature by the current key ``old``."""
    data = canonical_json(
        {
            "type": ROTATION_TYPE,
            "new_key": new.to_base64(),
            "new_key_id": new.id_hex,
            "previous_key_id": old.public_key.id_hex,
            "timestamp": timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    path = rotation_path(new.id_hex)
    return data, sign_repository_file(old, path, data, 1, timestamp)


@dataclass(frozen=True)
class Rotation:
    """A rotation file's announcement: ``new_key`` replaces the key ``previous_key_id``."""

    new_key: PublicKey
    previous_key_id: str

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "rotation file") -> Rotation:
        """Parse a rotation file (no signature check; see ``check_rotation``)."""
        if len(data) > MAX_ROTATION_BYTES:
            raise FormatError(f"{what}: larger than {MAX_ROTATION_BYTES} bytes")
        try:
            d = json.loads(data.decode("utf-8"))
            kind, new_key, previous = d.get("type"), PublicKey.from_base64(d["new_key"]), d["previous_key_id"]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise FormatError(f"{what}: not a valid rotation file ({exc})") from exc
        if kind != ROTATION_TYPE or not isinstance(previous, str):
            raise FormatError(f"{what}: not a {ROTATION_TYPE} file")
        return cls(new_key=new_key, previous_key_id=previous)


def check_rotation(data: bytes, signature: bytes, keys: Sequence[PublicKey], expected_new_id: str) -> Rotation:
    """Verify a rotation file: signed by a trusted key, bound to its name, announcing the key
    we were looking for, and signed by the key it says it replaces."""
    path = rotation_path(expected_new_id)
    if len(data) > MAX_ROTATION_BYTES:
        raise FormatError(f"{path}: larger than {MAX_ROTATION_BYTES} bytes")
    comment = verify(data, signature, keys, path)
    _check_binding(comment, posixpath.basename(path), 1, path)
    rot = Rotation.from_bytes(data, path)
    if rot.new_key.id_hex != expected_new_id:
        raise SignatureError(f"{path}: announces key {rot.new_key.id_hex}, not {expected_new_id}")
    if signer_key_id(signature) != rot.previous_key_id:
        raise SignatureError(f"{path}: says it replaces key {rot.previous_key_id}, which did not sign it")
    return rot
