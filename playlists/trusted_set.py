"""The station's trusted set: one object that holds what the station trusts, takes repository
bytes, applies the rules of ``playlists.trust`` and updates itself (python-tuf's
``TrustedMetadataSet`` is the model). It fetches nothing and writes nothing: the sync engine fetches
the files it asks for and persists ``state`` (a frozen ``TrustState``) whenever it changes.

One pass, as the sync engine drives it::

    trusted = TrustedSet(config_keys, TrustState.from_dict(stored))
    wanted = trusted.needs_rotation(index_sig)      # the index is signed by a key not yet trusted
    while wanted:
        data, sig = fetch(rotation_path(wanted))
        trusted.update_rotation(data, sig, wanted)  # a link signed by an untrusted key waits
        wanted = trusted.awaiting                   # for the link before it
    index = trusted.update_index(index_data, index_sig, box_now)
    playlist = trusted.update_playlist(data, sig, index.playlists[0])
    answers = trusted.update_answers(data, sig, index.answers_for(station_id)[0])

Rules kept here (the per-file rules are in ``playlists.trust``):
* the trusted keys are the configured ones plus those rotation added, minus those it retired;
* a rotation chain leads from a trusted key to the wanted one in at most ``MAX_ROTATION_CHAIN``
  files; each link is verified, oldest first, once the key that signed it is trusted;
* an accepted index raises the remembered version, pins its sha256 and moves the clock floor
  (the newest signed timestamp seen) forward, never back;
* a playlist or answers document is accepted only against the index this set accepted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from playlists.answers import Answers
from playlists.errors import SignatureError
from playlists.minisign import PublicKey, signer_key_id
from playlists.models import AnswersRef, Index, Playlist, PlaylistRef
from playlists.trust import (
    Rotation,
    TrustState,
    check_answers,
    check_index,
    check_playlist,
    check_playlist_held,
    check_rotation,
    clock_floor,
)

MAX_ROTATION_CHAIN = 8  # rotation files between a trusted key and the one that signed the index


@dataclass(frozen=True)
class _Link:
    """A fetched rotation file waiting for the key that signed it to become trusted."""

    data: bytes
    signature: bytes
    wanted_id: str
    signer: str


class TrustedSet:
    def __init__(self, config_keys: Sequence[PublicKey], state: TrustState | None = None) -> None:
        self._config_keys = tuple(config_keys)
        self._state = state or TrustState()
        self._index: Index | None = None
        self._playlist_refs: dict[str, PlaylistRef] = {}
        self._chain: list[_Link] = []  # newest link first: the one announcing the wanted key

    @property
    def state(self) -> TrustState:
        """What to persist: versions, sha256, newest timestamp, keys added and retired."""
        return self._state

    @property
    def index(self) -> Index | None:
        """The index accepted by ``update_index`` (None before)."""
        return self._index

    @property
    def trusted_keys(self) -> tuple[PublicKey, ...]:
        """Keys from the configuration plus keys added by rotation, minus keys rotation retired."""
        seen: set[str] = set()
        out = []
        for k in (*self._config_keys, *self._state.added_keys):
            if k.id_hex not in self._state.retired_keys and k.id_hex not in seen:
                seen.add(k.id_hex)
                out.append(k)
        return tuple(out)

    def _trusts(self, key_id: str) -> bool:
        return any(k.id_hex == key_id for k in self.trusted_keys)

    def clock_floor(self, box_now: datetime) -> datetime:
        """The box's clock, never earlier than the newest signed timestamp accepted."""
        return clock_floor(self._state, box_now)

    # ---- rotation -------------------------------------------------------------------------

    @property
    def awaiting(self) -> str | None:
        """The key id whose rotation file the chain being followed needs next (the key that
        signed its oldest link, not trusted yet); None when no chain waits."""
        return self._chain[-1].signer if self._chain else None

    def needs_rotation(self, signature: bytes) -> str | None:
        """The key id whose rotation file to fetch: the key ``signature`` claims, when it is not
        trusted. None when it is trusted, or when the signature names no key (verifying it then
        fails with the reason)."""
        signer = signer_key_id(signature)
        return signer if signer and not self._trusts(signer) else None

    def update_rotation(self, data: bytes, signature: bytes, wanted_id: str) -> tuple[Rotation, ...]:
        """Take the rotation file announcing key ``wanted_id``.

        Signed by a trusted key, it is verified and applied (its key trusted, the key it replaces
        retired), and so is every waiting link of the chain that this makes verifiable. Signed by
        a key not yet trusted, it waits as the next link; the caller fetches the rotation for
        ``awaiting``. Returns the rotations applied, oldest first (none while the
        chain grows). Raises SignatureError for a chain longer than ``MAX_ROTATION_CHAIN`` files
        or a link that does not verify; links applied before a failure stay applied.
        """
        if self._chain and self._chain[-1].signer != wanted_id:
            self._chain = []  # not the link the chain waits for: a new chain starts
        signer = signer_key_id(signature)
        if signer and not self._trusts(signer):
            if len(self._chain) + 1 >= MAX_ROTATION_CHAIN:
                self._chain = []
                raise SignatureError(
                    f"key {signer}: no rotation chain to a trusted key within {MAX_ROTATION_CHAIN} steps"
                )
            self._chain.append(_Link(data, signature, wanted_id, signer))
            return ()
        chain, self._chain = self._chain, []
        applied = [self._apply(data, signature, wanted_id)]
        while chain and self._trusts(chain[-1].signer):
            link = chain.pop()
            applied.append(self._apply(link.data, link.signature, link.wanted_id))
        return tuple(applied)

    def _apply(self, data: bytes, signature: bytes, wanted_id: str) -> Rotation:
        rot = check_rotation(data, signature, self.trusted_keys, wanted_id)
        s = self._state
        added = sorted({*s.added_keys, rot.new_key}, key=PublicKey.to_base64)
        self._state = replace(s, added_keys=tuple(added), retired_keys=s.retired_keys | {rot.previous_key_id})
        return rot

    # ---- index and playlists --------------------------------------------------------------

    def update_index(self, data: bytes, signature: bytes, now: datetime) -> Index:
        """Verify index bytes (signature by a trusted key, bound to ``index.json`` and its
        version; version never back; the same version only with the same bytes; not expired at
        max(box clock ``now``, newest signed timestamp seen, the index's own timestamp)) and
        remember it. Raises RepositoryError and leaves the state as it was."""
        index = check_index(data, signature, self.trusted_keys, self._state, now)
        seen = self._state.newest_timestamp
        self._state = replace(
            self._state,
            highest_version=index.version,
            highest_sha256=hashlib.sha256(data).hexdigest(),
            newest_timestamp=max(seen, index.timestamp) if seen else index.timestamp,
        )
        self._index = index
        self._playlist_refs = {r.name: r for r in index.playlists}  # names are unique in an index
        return index

    def update_playlist(self, data: bytes, signature: bytes, ref: PlaylistRef, player: str | None = None) -> Playlist:
        """Verify a playlist against its entry ``ref`` in the accepted index (size, sha256, its
        own signature bound to its name and version); with ``player``, its entries are read when
        first used, with that player's rendition only (``playlists.trust.check_playlist``)."""
        if self._index is None or self._playlist_refs.get(ref.name) != ref:
            raise RuntimeError(f"{ref.file.path}: accept the index that names it first")
        return check_playlist(data, signature, ref, self.trusted_keys, player)

    def confirm_playlist(self, data: bytes, signature: bytes, ref: PlaylistRef) -> None:
        """Verify a playlist this station read before (the same name, version and sha256 as
        ``ref``) without reading it again (``playlists.trust.check_playlist_held``)."""
        if self._index is None or self._playlist_refs.get(ref.name) != ref:
            raise RuntimeError(f"{ref.file.path}: accept the index that names it first")
        check_playlist_held(data, signature, ref, self.trusted_keys)

    def update_answers(self, data: bytes, signature: bytes, ref: AnswersRef) -> Answers:
        """Verify an answers document against its entry ``ref`` in the accepted index."""
        if self._index is None or ref not in self._index.answers:
            raise RuntimeError(f"{ref.file.path}: accept the index that names it first")
        return check_answers(data, signature, ref, self.trusted_keys)
