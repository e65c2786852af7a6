"""The trusted set on bytes alone (no HTTP): one test per rule.

The same rules are replayed over loopback against a real station in ``test_trust_attacks.py``;
the parsers behind them are fuzzed in ``test_trust_fuzz.py``."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from playlists import (
    ExpiredError,
    FileRef,
    Index,
    PinMismatch,
    Playlist,
    PlaylistRef,
    RollbackError,
    SecretKey,
    SignatureError,
    TrustedSet,
    TrustState,
    make_rotation,
    sign_repository_file,
)
from playlists.errors import FormatError
from playlists.trust import Rotation, rotation_path
from playlists.trusted_set import MAX_ROTATION_CHAIN

SHA = "a" * 64
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
KEY = SecretKey.generate()


def signed_index(
    version: int,
    expires_in: timedelta = timedelta(days=7),
    ts: datetime = NOW,
    playlists=(),
    key: SecretKey = KEY,
    notices=(),
) -> tuple[bytes, bytes]:
    idx = Index(
        version=version, timestamp=ts, expires=ts + expires_in, playlists=tuple(playlists), notices=tuple(notices)
    )
    data = idx.to_bytes()
    return data, sign_repository_file(key, "index.json", data, version, ts)


def signed_playlist(version: int = 3, name: str = "all", courses=()) -> tuple[bytes, bytes, PlaylistRef]:
    pl = Playlist(name=name, version=version, title="全部课程", courses=tuple(courses))
    data = pl.to_bytes()
    ref = PlaylistRef(name=name, version=version, file=FileRef(pl.path, hashlib.sha256(data).hexdigest(), len(data)))
    return data, sign_repository_file(KEY, pl.path, data, version, NOW), ref


def trusted(state: TrustState | None = None, *keys: SecretKey) -> TrustedSet:
    return TrustedSet([k.public_key for k in (keys or (KEY,))], state)


def rotation(old: SecretKey, new: SecretKey) -> tuple[bytes, bytes, str]:
    data, sig = make_rotation(old, new.public_key, NOW)
    return data, sig, new.public_key.id_hex


def follow(ts: TrustedSet, index_sig: bytes, files: dict[str, tuple[bytes, bytes]]) -> list[str]:
    """Walk a rotation chain as the sync engine does; return the key ids fetched, in order."""
    asked = []
    wanted = ts.needs_rotation(index_sig)
    while wanted:
        asked.append(wanted)
        data, sig = files[wanted]
        ts.update_rotation(data, sig, wanted)
        wanted = ts.awaiting
    return asked


# ---- the index ---------------------------------------------------------------------------------


def test_valid_index_is_accepted_and_remembered():
    data, sig = signed_index(3)
    ts = trusted()
    assert ts.update_index(data, sig, NOW).version == 3
    assert ts.state == TrustState(3, hashlib.sha256(data).hexdigest(), NOW)
    assert ts.index.version == 3


def test_rejects_rollback():
    data, sig = signed_index(2)
    ts = trusted(TrustState(highest_version=5))
    with pytest.raises(RollbackError, match="older than version 5"):
        ts.update_index(data, sig, NOW)
    assert ts.state == TrustState(highest_version=5) and ts.index is None


def test_rejects_same_version_other_bytes():
    data, sig = signed_index(4)
    ts = trusted()
    ts.update_index(data, sig, NOW)
    other, other_sig = signed_index(4, expires_in=timedelta(days=8))
    with pytest.raises(RollbackError, match="version 4 seen before with different content"):
        ts.update_index(other, other_sig, NOW)
    assert ts.state.highest_sha256 == hashlib.sha256(data).hexdigest()


def test_same_version_same_bytes_is_accepted_again():
    # What a 304 answer gives back: the copy verified before.
    data, sig = signed_index(4)
    ts = trusted()
    state = (ts.update_index(data, sig, NOW), ts.state)[1]
    assert ts.update_index(data, sig, NOW + timedelta(hours=1)).version == 4 and ts.state == state


def test_rejects_expired_index():
    data, sig = signed_index(3, expires_in=timedelta(days=1))
    ts = trusted()
    with pytest.raises(ExpiredError, match="expired at"):
        ts.update_index(data, sig, NOW + timedelta(days=2))
    assert ts.state == TrustState()


def test_clock_far_behind_still_sees_expiry():
    # The box thinks it is 1970; it has seen a signed timestamp two days after this index expired.
    data, sig = signed_index(3, expires_in=timedelta(days=1))
    ts = trusted(TrustState(highest_version=1, newest_timestamp=NOW + timedelta(days=2)))
    with pytest.raises(ExpiredError):
        ts.update_index(data, sig, EPOCH)


def test_index_timestamp_is_a_clock_floor():
    """A box with no battery boots in 1970: a fresh index still counts (its own signed timestamp
    is the floor), and the floor then stays there."""
    data, sig = signed_index(1, ts=NOW)
    ts = trusted()
    assert ts.update_index(data, sig, EPOCH).version == 1
    assert ts.clock_floor(EPOCH) == NOW
    assert ts.clock_floor(NOW + timedelta(days=1)) == NOW + timedelta(days=1)


def test_clock_floor_never_goes_back():
    ts = trusted()
    ts.update_index(*signed_index(1, ts=NOW + timedelta(days=1)), NOW)
    # A newer version signed when the headend's clock said an earlier time.
    ts.update_index(*signed_index(2, ts=NOW), NOW)
    assert ts.state.highest_version == 2
    assert ts.state.newest_timestamp == NOW + timedelta(days=1) == ts.clock_floor(EPOCH)


def test_clock_far_ahead_says_to_set_the_date():
    data, sig = signed_index(1)
    with pytest.raises(ExpiredError, match="this box's clock says 2040"):
        trusted().update_index(data, sig, datetime(2040, 1, 1, tzinfo=UTC))


def test_rejects_signature_moved_to_another_file():
    data, _ = signed_index(3)
    moved = sign_repository_file(KEY, "playlists/all.3.json", data, 3, NOW)
    with pytest.raises(SignatureError, match="moved between files"):
        trusted().update_index(data, moved, NOW)


def test_rejects_signature_for_another_version():
    data, _ = signed_index(3)
    with pytest.raises(SignatureError, match="moved between files"):
        trusted().update_index(data, sign_repository_file(KEY, "index.json", data, 5, NOW), NOW)


def test_rejects_altered_index():
    data, sig = signed_index(3)
    with pytest.raises(SignatureError, match="altered or damaged"):
        trusted().update_index(data.replace(b'"version":3', b'"version":9'), sig, NOW)


def test_rejects_non_json_index_even_if_signed():
    html = b"<html>captive portal</html>"
    with pytest.raises(FormatError):
        trusted().update_index(html, sign_repository_file(KEY, "index.json", html, 1, NOW), NOW)


def test_rejects_unknown_key():
    stranger = SecretKey.generate()
    data, sig = signed_index(1, key=stranger)
    ts = trusted()
    assert ts.needs_rotation(sig) == stranger.public_key.id_hex
    with pytest.raises(SignatureError, match="not a trusted key"):
        ts.update_index(data, sig, NOW)


def test_trusted_signer_needs_no_rotation():
    _, sig = signed_index(1)
    assert trusted().needs_rotation(sig) is None
    assert trusted().needs_rotation(b"not a signature") is None  # verifying then says why


# ---- playlists ---------------------------------------------------------------------------------


def accepted(ref: PlaylistRef) -> TrustedSet:
    ts = trusted()
    ts.update_index(*signed_index(3, playlists=[ref]), NOW)
    return ts


def test_playlist_must_match_its_pin():
    data, sig, ref = signed_playlist()
    ts = accepted(ref)
    assert ts.update_playlist(data, sig, ref).name == "all"
    bad = data.replace(b"\xe5\x85\xa8", b"\xe5\x85\xa9")  # one character of the title changed
    with pytest.raises(PinMismatch, match="sha256 differs"):
        ts.update_playlist(bad, sig, ref)
    with pytest.raises(PinMismatch, match="bytes, but the signed index says"):
        ts.update_playlist(data + b" ", sig, ref)


def test_playlist_must_name_itself_as_the_index_says():
    data, sig, ref = signed_playlist(name="all")
    liar = PlaylistRef(name="other", version=3, file=ref.file)
    with pytest.raises(PinMismatch, match="names itself 'all' v3, index says 'other'"):
        accepted(liar).update_playlist(data, sig, liar)


def test_playlist_needs_the_accepted_index():
    data, sig, ref = signed_playlist()
    with pytest.raises(RuntimeError, match="accept the index"):
        trusted().update_playlist(data, sig, ref)
    _, _, other = signed_playlist(name="other")
    with pytest.raises(RuntimeError, match="accept the index"):
        accepted(other).update_playlist(data, sig, ref)


# ---- key rotation ------------------------------------------------------------------------------


def test_rotation_chain_followed():
    """The headend rotated twice, A → B → C; the index is signed by C. The chain is fetched
    newest first and verified oldest first."""
    a, b, c = KEY, SecretKey.generate(), SecretKey.generate()
    files = {k.public_key.id_hex: rotation(old, k)[:2] for old, k in ((a, b), (b, c))}
    data, sig = signed_index(2, key=c)
    ts = trusted()
    assert follow(ts, sig, files) == [c.public_key.id_hex, b.public_key.id_hex]
    assert ts.trusted_keys == (c.public_key,)
    assert ts.state.retired_keys == {a.public_key.id_hex, b.public_key.id_hex}
    assert set(ts.state.added_keys) == {b.public_key, c.public_key}
    assert ts.update_index(data, sig, NOW).version == 2


def test_rotation_chain_of_the_longest_length_accepted():
    keys = [KEY, *(SecretKey.generate() for _ in range(MAX_ROTATION_CHAIN))]
    files = {new.public_key.id_hex: rotation(old, new)[:2] for old, new in pairwise(keys)}
    _, sig = signed_index(2, key=keys[-1])
    ts = trusted()
    assert len(follow(ts, sig, files)) == MAX_ROTATION_CHAIN
    assert ts.trusted_keys == (keys[-1].public_key,)


def test_rotation_chain_too_long():
    keys = [KEY, *(SecretKey.generate() for _ in range(MAX_ROTATION_CHAIN + 1))]
    files = {new.public_key.id_hex: rotation(old, new)[:2] for old, new in pairwise(keys)}
    _, sig = signed_index(2, key=keys[-1])
    ts = trusted()
    with pytest.raises(SignatureError, match=f"within {MAX_ROTATION_CHAIN} steps"):
        follow(ts, sig, files)
    assert ts.state == TrustState() and ts.awaiting is None


def test_rotation_cycle_ends():
    """Two untrusted keys announcing each other: the walk stops at the chain bound."""
    b, c = SecretKey.generate(), SecretKey.generate()
    files = {c.public_key.id_hex: rotation(b, c)[:2], b.public_key.id_hex: rotation(c, b)[:2]}
    with pytest.raises(SignatureError, match="steps"):
        follow(trusted(), signed_index(1, key=c)[1], files)


def test_retired_key_refused():
    a, b = KEY, SecretKey.generate()
    ts = trusted()
    data, sig, new_id = rotation(a, b)
    applied = ts.update_rotation(data, sig, new_id)
    assert applied == (Rotation(b.public_key, a.public_key.id_hex),)
    # The configured key A is retired: an index it signs is refused, even by a station
    # whose station.toml still lists it.
    old, old_sig = signed_index(5, key=a)
    assert ts.needs_rotation(old_sig) == a.public_key.id_hex
    with pytest.raises(SignatureError, match="not a trusted key"):
        ts.update_index(old, old_sig, NOW)
    restarted = TrustedSet([a.public_key], TrustState.from_dict(ts.state.to_dict()))
    with pytest.raises(SignatureError, match="not a trusted key"):
        restarted.update_index(old, old_sig, NOW)


def test_rejects_rotation_signed_by_an_untrusted_key():
    attacker = SecretKey.generate()
    data, sig, new_id = rotation(attacker, attacker)  # "announced" under the attacker's own key
    ts = trusted()
    assert ts.needs_rotation(signed_index(1, key=attacker)[1]) == new_id
    with pytest.raises(SignatureError):
        follow(ts, signed_index(1, key=attacker)[1], {new_id: (data, sig)})
    assert ts.trusted_keys == (KEY.public_key,) and ts.state == TrustState()


def test_rejects_edited_rotation():
    attacker, real_new = SecretKey.generate(), SecretKey.generate()
    data, sig, _ = rotation(KEY, real_new)
    forged = data.replace(real_new.public_key.to_base64().encode(), attacker.public_key.to_base64().encode())
    ts = trusted()
    with pytest.raises(SignatureError, match="altered or damaged"):
        ts.update_rotation(forged, sig, attacker.public_key.id_hex)
    assert ts.state.retired_keys == frozenset()


def test_rejects_rotation_for_another_key():
    b, c = SecretKey.generate(), SecretKey.generate()
    data, sig, _ = rotation(KEY, b)
    # The genuine file for B, asked for as C's rotation: its signature is bound to B's file name.
    with pytest.raises(SignatureError, match="moved between files"):
        trusted().update_rotation(data, sig, c.public_key.id_hex)


def test_rejects_rotation_replacing_a_key_that_did_not_sign_it():
    b, other = SecretKey.generate(), SecretKey.generate()
    from playlists.canonical import canonical_json

    path = rotation_path(b.public_key.id_hex)
    data = canonical_json(
        {
            "type": "yuanjiao-key-rotation",
            "new_key": b.public_key.to_base64(),
            "new_key_id": b.public_key.id_hex,
            "previous_key_id": other.public_key.id_hex,
            "timestamp": "2026-11-22T08:00:00Z",
        }
    )
    sig = sign_repository_file(KEY, path, data, 1, NOW)
    with pytest.raises(SignatureError, match="which did not sign it"):
        trusted(None, KEY, other).update_rotation(data, sig, b.public_key.id_hex)


def test_a_bad_link_keeps_the_links_verified_before_it():
    a, b, c, attacker = KEY, SecretKey.generate(), SecretKey.generate(), SecretKey.generate()
    good = rotation(a, b)[:2]
    data, sig = make_rotation(b, c.public_key, NOW)
    forged = data.replace(c.public_key.to_base64().encode(), attacker.public_key.to_base64().encode())
    ts = trusted()
    with pytest.raises(SignatureError, match="altered or damaged"):
        follow(
            ts, signed_index(1, key=attacker)[1], {attacker.public_key.id_hex: (forged, sig), b.public_key.id_hex: good}
        )
    assert ts.trusted_keys == (b.public_key,)


def test_rotation_chain_restarts_for_another_key():
    """A chain left half-walked (its next file could not be fetched) does not count toward the
    next one: only the link the chain waits for continues it."""
    b, c, d = SecretKey.generate(), SecretKey.generate(), SecretKey.generate()
    ts = trusted()
    data, sig, c_id = rotation(b, c)
    assert ts.update_rotation(data, sig, c_id) == () and ts.awaiting == b.public_key.id_hex
    # the next mirror's index is signed by D, whose rotation is signed by the trusted key
    data, sig, d_id = rotation(KEY, d)
    assert ts.update_rotation(data, sig, d_id) == (Rotation(d.public_key, KEY.public_key.id_hex),)
    assert ts.awaiting is None and ts.trusted_keys == (d.public_key,)


# ---- the persisted state -----------------------------------------------------------------------


def test_state_round_trips_through_its_dict():
    b = SecretKey.generate()
    state = TrustState(7, SHA, NOW, (b.public_key,), frozenset({KEY.public_key.id_hex}))
    doc = state.to_dict()
    assert json.loads(json.dumps(doc)) == doc
    assert TrustState.from_dict(doc) == state
    assert doc == {
        "highest_version": 7,
        "highest_sha256": SHA,
        "newest_timestamp": NOW.isoformat(),
        "added_keys": [b.public_key.to_base64()],
        "retired_keys": [KEY.public_key.id_hex],
    }


@pytest.mark.parametrize(
    "doc,state",
    [
        ({}, TrustState()),
        # what station/store.py trust() falls back to for a store without a trust document
        ({"highest_version": 0, "highest_sha256": "", "newest_timestamp": None}, TrustState()),
        (
            {"highest_version": 3, "highest_sha256": SHA, "newest_timestamp": "2026-11-22T08:00:00+00:00"},
            TrustState(3, SHA, NOW),
        ),
        ({"highest_version": 3, "newest_timestamp": "2026-11-22T08:00:00"}, TrustState(3, "", NOW)),  # naive: UTC
        (
            {"highest_version": 1, "added_keys": [], "retired_keys": ["0123456789ABCDEF"]},
            TrustState(1, retired_keys=frozenset({"0123456789ABCDEF"})),
        ),
    ],
)
def test_state_reads_what_the_station_stored_before(doc, state):
    assert TrustState.from_dict(doc) == state


@pytest.mark.parametrize(
    "doc,words",
    [
        ({"highest_version": "3"}, "highest_version"),
        ({"newest_timestamp": "yesterday"}, "newest_timestamp: 'yesterday' is not an ISO 8601 time"),
        ({"added_keys": ["not a key"]}, "base64"),
        ({"retired_keys": "ABC"}, "retired_keys"),
    ],
)
def test_damaged_state_is_a_format_error_naming_the_field(doc, words):
    """(What to do about it is the station's to say: tests/test_damaged_store.py.)"""
    with pytest.raises(FormatError, match=f"^the station's trust state: .*{words}"):
        TrustState.from_dict(doc)
