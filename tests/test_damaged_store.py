"""The station's own files damaged, from the command line: ``station status`` and ``station sync
--once`` say which file and what to do (exit 1, never a traceback); sync sets a damaged
station.json aside and rebuilds it from the verified media on disk and the mirrors; the trust
state is never reset by the program, so nobody can roll the station back by damaging it.
(The TV and admin pages: tests/tv/test_damaged_data.py.)"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from station.errors import StoreError
from station.store import Store
from tests.conftest import run_cli_async
from tests.repository_simulator import RepositorySimulator, Station

DAMAGE = {
    "cut-short": lambda data: data[: len(data) // 2],
    "not-utf8": lambda data: data[:20] + b"\xff\xfe" + data[22:],
    "a-list": lambda data: b"[]",
    "wrong-shape": lambda data: b'{"state": {"1": "x"}}',
    "empty": lambda data: b"",
}


@pytest.fixture
def sim() -> RepositorySimulator:
    s = RepositorySimulator()
    for title in ("雨季养鹅技术", "冬季防火安全常识"):
        s.add_course(title, os.urandom(50_000))
    s.publish()
    return s


async def synced(sim: RepositorySimulator, mirror: str, tmp_path) -> Station:
    st = Station(tmp_path, sim, mirror)
    assert (await st.sync()).complete
    return st


async def station(st: Station, *args: str) -> tuple[int, str, str]:
    return await run_cli_async("station", "--config", str(st.cfg.path), *args)


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
async def test_status_says_station_json_is_damaged_and_what_to_do(sim, tmp_path, damage):
    async with sim.served() as mirror:
        st = await synced(sim, mirror, tmp_path)
    db = st.cfg.data_dir / "station.json"
    db.write_bytes(DAMAGE[damage](db.read_bytes()))
    code, out, err = await station(st, "status")
    assert code == 1, (out, err)
    assert "Traceback" not in err
    assert f"{db}: damaged" in err and "run `station sync --once`" in err and "it sets the damaged file aside" in err
    code, _, err = await station(st, "status", "--json")
    assert code == 1 and "Traceback" not in err and "station.json: damaged" in err


async def test_sync_sets_a_damaged_station_json_aside_and_rebuilds_it(sim, tmp_path):
    async with sim.served() as mirror:
        st = await synced(sim, mirror, tmp_path)
        db = st.cfg.data_dir / "station.json"
        before = db.read_bytes()
        db.write_bytes(before[: len(before) // 2])
        asked = len(sim.requests)
        code, out, err = await station(st, "sync", "--once")
        assert code == 0, (out, err)
        assert "Traceback" not in err
        assert "station.json was damaged" in err and "set aside as station.json.damaged" in err
        assert "2/2 courses installed" in out
        # Rebuilt from the verified media on disk: nothing downloaded again.
        assert not [p for p in sim.requests[asked:] if p.startswith("media/")]
        assert (st.cfg.data_dir / "station.json.damaged").read_bytes() == before[: len(before) // 2]
        code, out, err = await station(st, "status")
    assert code == 0, err
    assert "2 courses, complete" in out


async def test_a_damaged_station_json_is_rebuilt_with_the_network_down(sim, tmp_path):
    """No mirror answers: the station's own verified copy (what it serves as /repo/) gives the
    index and playlists, the media are on disk, and the TV lists its courses again."""
    async with sim.served() as mirror:
        st = await synced(sim, mirror, tmp_path)
    db = st.cfg.data_dir / "station.json"
    db.write_bytes(db.read_bytes()[:-10])
    code, out, err = await station(st, "sync", "--once")
    assert code == 0, (out, err)
    assert "set aside as station.json.damaged" in err and "2/2 courses installed" in out
    assert {c.title for c in Store(st.cfg.data_dir).courses()} == {"雨季养鹅技术", "冬季防火安全常识"}


async def test_sync_refuses_a_damaged_trust_state_and_says_how_to_restore_it(sim, tmp_path):
    async with sim.served() as mirror:
        st = await synced(sim, mirror, tmp_path)
        sim.publish()
        assert (await st.sync()).complete  # version 2: trust.json.bak keeps version 1's state
        trust = st.cfg.data_dir / "trust.json"
        trust.write_bytes(b'{"highest_version": 2, "highest_sha')
        code, _, err = await station(st, "sync", "--once")
        assert code == 1 and "Traceback" not in err
        assert f"{trust}: damaged" in err
        assert "restore the last good copy (version 1" in err and f"cp {trust}.bak {trust}" in err
        assert trust.read_bytes() == b'{"highest_version": 2, "highest_sha'  # not reset, not rewritten
        assert st.version() == 2 and len(st.store.courses()) == 2  # and nothing else was touched
        code, _, err = await station(st, "status")
        assert code == 1 and "Traceback" not in err and "trust.json: damaged" in err
        # Doing what it says mends it.
        trust.write_bytes((st.cfg.data_dir / "trust.json.bak").read_bytes())
        code, _, err = await station(st, "sync", "--once")
    assert code == 0, err
    assert st.store.trust().highest_version == 2


async def test_sync_will_not_set_aside_a_station_json_that_holds_the_only_trust_state(sim, tmp_path):
    """A store written before trust.json kept the trust state in station.json: damaged, it is
    not set aside (the station would forget the newest version it accepted)."""
    async with sim.served() as mirror:
        st = await synced(sim, mirror, tmp_path)
        (st.cfg.data_dir / "trust.json").unlink()
        db = st.cfg.data_dir / "station.json"
        db.write_bytes(db.read_bytes()[:30])
        code, _, err = await station(st, "sync", "--once")
    assert code == 1 and "Traceback" not in err
    assert "it also holds the trust state" in err and "restore station.json from a backup" in err
    assert not (st.cfg.data_dir / "station.json.damaged").exists() and len(db.read_bytes()) == 30


# ---- whatever the files hold ------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KEYS = [
    "index_version",
    "courses",
    "playlists",
    "notices",
    "expires",
    "complete",
    "highest_version",
    "highest_sha256",
    "newest_timestamp",
    "added_keys",
    "retired_keys",
    "since",
    "http://m/",
    "state",
]
DOC_IDS = st.sampled_from(["1", "2", "3", "4", "5", "x", "²"])
STATE = st.dictionaries(DOC_IDS, JSON | st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6), max_size=5)
ANY_FILE = (
    st.binary(max_size=200)
    | JSON.map(lambda v: json.dumps(v).encode())
    | STATE.map(lambda s: json.dumps({"state": s}).encode())
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(station_json=ANY_FILE, trust_json=st.none() | ANY_FILE | JSON.map(lambda v: json.dumps(v).encode()))
@example(station_json=b'{"state":{"1":{"playlists":[null]}}}', trust_json=None)  # a playlist that is not a table
def test_every_reader_of_the_stations_files_gives_its_own_error_or_a_value(tmp_path_factory, station_json, trust_json):
    """Whatever station.json and trust.json hold, each read the TV, the admin page, `station
    status` and a sync pass make of them answers or raises StoreError (a clear message), never
    a TypeError or a traceback; and repair either sets a damaged station.json aside or refuses."""
    data = tmp_path_factory.mktemp("fuzz")
    (data / "station.json").write_bytes(station_json)
    if trust_json is not None:
        (data / "trust.json").write_bytes(trust_json)
    store = Store(data)
    for read in (
        store.installed_set,
        store.courses,
        store.mirrors,
        store.trust,
        store.sync_status,
        lambda: store.collect(set(), 86400),
        store.repair,
        store.installed_set,
    ):
        try:
            read()
        except StoreError as exc:
            assert str(exc)
