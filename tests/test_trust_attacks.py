"""The station against a hostile or broken mirror, one test per attack (python-tuf style).
A real station (Syncer, Fetcher, Store in a tmp dir) syncs from an in-memory repository served
over loopback; after every refusal the TV's list is what it was before."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from playlists import INDEX_NAME, Audience, Index, SecretKey, make_rotation, rotation_path
from station.errors import SyncError
from tests.repository_simulator import RepositorySimulator, Station

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def sim() -> RepositorySimulator:
    s = RepositorySimulator()
    s.add_course("雨季养鹅技术", b"goose video " * 1000)
    s.add_course("冬季防火安全常识", b"fire video " * 1000)
    return s


async def test_valid_repository_installs(sim, tmp_path):
    sim.publish()
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        report = await st.sync()
    assert report.complete and st.titles() == {"雨季养鹅技术", "冬季防火安全常识"}


async def test_rejects_rollback(sim, tmp_path):
    sim.publish()
    v1 = sim.snapshot()
    sim.add_course("党员冬训", b"party " * 500)
    sim.publish()
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        await st.sync()
        assert st.version() == 2
        sim.files = v1  # a stale mirror, or an attacker replaying version 1
        with pytest.raises(SyncError, match="version 1 is older than version 2"):
            await st.sync()
    assert st.version() == 2 and "党员冬训" in st.titles()


async def test_rejects_expired_index(sim, tmp_path):
    """Freeze attack: a mirror keeps serving an index past its expiry."""
    sim.publish(timestamp=NOW - timedelta(days=10), expires_in=timedelta(days=7))
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        with pytest.raises(SyncError, match="expired"):
            await st.sync()
    assert st.titles() == set()


async def test_rejects_mixed_versions(sim, tmp_path):
    """Mix-and-match: the new index with the old version's playlist bytes."""
    sim.publish()
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        await st.sync()
        old_playlist = sim.files["playlists/all.1.json"]
        sim.add_course("党员冬训", b"party " * 500)
        sim.publish()
        sim.files["playlists/all.2.json"] = old_playlist
        report = await st.sync()
    assert not report.complete
    assert any("sha256 differs" in f or "bytes, but the signed index says" in f for f in report.failures)
    assert "党员冬训" not in st.titles()


async def test_rejects_bad_signature(sim, tmp_path):
    sim.publish()
    sim.files[INDEX_NAME] = sim.files[INDEX_NAME].replace("全部课程".encode(), "全部课件".encode())
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        with pytest.raises(SyncError, match="altered or damaged"):
            await st.sync()
    assert st.titles() == set() and st.store.trust().highest_version == 0


async def test_rejects_unknown_key(sim, tmp_path):
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        sim.publish(key=SecretKey.generate())
        with pytest.raises(SyncError, match="not a trusted key"):
            await st.sync()
    assert st.titles() == set()


async def test_rejects_media_hash_mismatch(sim, tmp_path):
    sim.publish()
    goose = sim.courses[0].renditions["stb-sd"]
    sim.files[goose.path] = b"X" * goose.size  # same size, other bytes
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        report = await st.sync()
    assert st.titles() == {"冬季防火安全常识"}
    assert any("sha256 differs" in f for f in report.failures)
    assert not st.store.blob_path(goose.path).exists()
    assert not st.store.partial_path(goose).exists()


async def test_caps_endless_index(sim, tmp_path):
    sim.publish()
    sim.endless.add(INDEX_NAME)
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        with pytest.raises(SyncError, match="limit"):
            await st.sync()


async def test_caps_oversized_download(sim, tmp_path):
    sim.publish()
    goose = sim.courses[0].renditions["stb-sd"]
    sim.endless.add(goose.path)
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        report = await st.sync()
    assert any("longer than" in f for f in report.failures)
    assert st.titles() == {"冬季防火安全常识"}
    partial = st.store.partial_path(goose)
    assert not partial.exists() or partial.stat().st_size <= goose.size


async def test_rejects_swapped_signature(sim, tmp_path):
    """A valid signature from another file (the playlist's) placed beside the index."""
    sim.publish()
    sim.files[INDEX_NAME + ".minisig"] = sim.files["playlists/all.1.json.minisig"]
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        with pytest.raises(SyncError):
            await st.sync()
    assert st.titles() == set()


async def test_rejects_signature_replayed_for_another_version(sim, tmp_path):
    """Index bytes re-signed for version 1 but claiming version 5 in the signed comment."""
    index = sim.publish()
    data = sim.files[INDEX_NAME]
    from playlists import sign_repository_file

    sim.files[INDEX_NAME + ".minisig"] = sign_repository_file(sim.key, INDEX_NAME, data, 5, index.timestamp)
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        with pytest.raises(SyncError, match="signature moved between files"):
            await st.sync()


async def test_rotation_valid_chain_accepted(sim, tmp_path):
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        sim.publish()
        await st.sync()
        # The headend rotates twice: A → B → C, each announced under the key before it.
        a, b, c = sim.key, SecretKey.generate(), SecretKey.generate()
        for old, new in ((a, b), (b, c)):
            data, sig = make_rotation(old, new.public_key, NOW)
            sim.files[rotation_path(new.public_key.id_hex)] = data
            sim.files[rotation_path(new.public_key.id_hex) + ".minisig"] = sig
        sim.add_course("党员冬训", b"party " * 500)
        sim.publish(key=c)
        report = await st.sync()
        assert report.complete and "党员冬训" in st.titles()
        assert st.store.trust().retired_keys == {a.public_key.id_hex, b.public_key.id_hex}
        # The retired key A can no longer sign an index this station accepts.
        sim.publish(key=a)
        with pytest.raises(SyncError, match="not a trusted key"):
            await st.sync()


async def test_rotation_files_join_the_stations_verified_copy(sim, tmp_path):
    """A neighbour station that syncs from this one (its /repo/) can follow the same chain."""
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        a, b, c = sim.key, SecretKey.generate(), SecretKey.generate()
        for old, new in ((a, b), (b, c)):
            data, sig = make_rotation(old, new.public_key, NOW)
            sim.files[rotation_path(new.public_key.id_hex)] = data
            sim.files[rotation_path(new.public_key.id_hex) + ".minisig"] = sig
        sim.publish(key=c)
        assert (await st.sync()).complete
    for k in (b, c):
        path = rotation_path(k.public_key.id_hex)
        for rel in (path, path + ".minisig"):
            assert st.store.repo_file(rel).read_bytes() == sim.files[rel]


async def test_rejects_rotation_chain_too_long(sim, tmp_path):
    """Nine rotations between the trusted key and the signer: the station stops after eight
    rotation files and changes nothing."""
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        sim.publish()
        await st.sync()
        keys = [sim.key, *(SecretKey.generate() for _ in range(9))]
        for old, new in pairwise(keys):
            data, sig = make_rotation(old, new.public_key, NOW)
            sim.files[rotation_path(new.public_key.id_hex)] = data
            sim.files[rotation_path(new.public_key.id_hex) + ".minisig"] = sig
        sim.add_course("党员冬训", b"party " * 500)
        sim.publish(key=keys[-1])
        sim.requests.clear()
        with pytest.raises(SyncError, match="no rotation chain to a trusted key within 8 steps"):
            await st.sync()
    assert len([p for p in sim.requests if p.startswith("keys/") and p.endswith(".json")]) == 8
    assert st.version() == 1 and "党员冬训" not in st.titles()
    assert not st.store.trust().retired_keys


async def test_rejects_forged_rotation(sim, tmp_path):
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        sim.publish()
        await st.sync()
        attacker, victim = SecretKey.generate(), sim.key
        # 1. a rotation "announced" under the attacker's own key
        data, sig = make_rotation(attacker, attacker.public_key, NOW)
        sim.files[rotation_path(attacker.public_key.id_hex)] = data
        sim.files[rotation_path(attacker.public_key.id_hex) + ".minisig"] = sig
        sim.publish(key=attacker)
        with pytest.raises(SyncError):
            await st.sync()
        # 2. a genuine rotation file edited to announce the attacker's key
        real_new = SecretKey.generate()
        data, sig = make_rotation(victim, real_new.public_key, NOW)
        forged = data.replace(real_new.public_key.to_base64().encode(), attacker.public_key.to_base64().encode())
        sim.files[rotation_path(attacker.public_key.id_hex)] = forged
        sim.files[rotation_path(attacker.public_key.id_hex) + ".minisig"] = sig
        with pytest.raises(SyncError):
            await st.sync()
    assert st.version() == 1
    assert victim.public_key.id_hex not in st.store.trust().retired_keys


async def test_clock_far_behind(sim, tmp_path):
    """A box with no RTC boots in 1970: a fresh index is still accepted (its signed timestamp
    is the floor), and an index that expired before a timestamp already seen is still refused."""
    sim.publish(timestamp=NOW)
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        epoch = lambda: datetime(1970, 1, 1, tzinfo=UTC)  # noqa: E731
        assert (await st.sync(clock=epoch)).complete
        # a replayed older-but-"higher" index whose expiry is before the newest timestamp seen
        stale = Index(
            version=9,
            timestamp=NOW - timedelta(days=30),
            expires=NOW - timedelta(days=23),
            playlists=Index.from_bytes(sim.files[INDEX_NAME]).playlists,
        )
        sim.sign_index(stale)
        with pytest.raises(SyncError, match="expired"):
            await st.sync(clock=epoch)
    assert st.version() == 1


async def test_clock_far_ahead(sim, tmp_path):
    sim.publish()
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        with pytest.raises(SyncError, match="this box's clock says 2040"):
            await st.sync(clock=lambda: datetime(2040, 1, 1, tzinfo=UTC))


async def test_station_fetches_only_playlists_that_target_it(sim, tmp_path):
    sim.publish(audience=Audience(regions=(("广东省", "韶关市"),)))
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)  # in 肇庆市
        report = await st.sync()
    assert report.complete and st.titles() == set()
    assert "playlists/all.1.json" not in sim.requests
    assert not any(p.startswith("media/") for p in sim.requests)


async def test_sha_of_installed_store_matches(sim, tmp_path):
    sim.publish()
    async with sim.served() as mirror:
        st = Station(tmp_path, sim, mirror)
        await st.sync()
    for c in st.store.courses():
        assert hashlib.sha256(st.store.blob_path(c.media).read_bytes()).hexdigest() in c.media


async def test_accepts_an_index_signed_by_hand_with_minisign(sim, tmp_path):
    """Interop: county staff can sign with the standard tool and the station accepts it."""
    import subprocess

    index = sim.publish()
    key_file = tmp_path / "headend.key"
    key_file.write_text(sim.key.to_text())
    idx = tmp_path / "index.json"
    idx.write_bytes(sim.files[INDEX_NAME])
    res = subprocess.run(
        [
            "minisign",
            "-S",
            "-s",
            str(key_file),
            "-m",
            str(idx),
            "-t",
            f"timestamp:{int(index.timestamp.timestamp())}\tfile:index.json\tversion:{index.version}",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 0, res.stderr
    sim.files[INDEX_NAME + ".minisig"] = (tmp_path / "index.json.minisig").read_bytes()
    async with sim.served() as mirror:
        (tmp_path / "st").mkdir()
        st = Station(tmp_path / "st", sim, mirror)
        assert (await st.sync()).complete
    assert st.titles() == {"雨季养鹅技术", "冬季防火安全常识"}
