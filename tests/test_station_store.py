"""The station's records as objects: a store written by the previous version (the dict literal
below is what it wrote, copied from a real sync) loads into the model and is written back in the
same form; the installed set is a snapshot in memory, swapped by install and re-read only when
another process replaced the file."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime

import pytest

from catalogue import Course
from playlists import Notice, TrustState
from playlists.schedule import CHINA
from station.errors import StoreError
from station.model import InstalledSet, Progress, SyncStatus
from station.store import Store

GOOSE = "media/84/842e40314ba32bd2a7b7d4c42a3b61462da911ed7e63d75ed110661fcbd7c4fe.mp4"
FIRE = "media/5b/5b3b7c4c9b7f6ed0075eba8cd82eb1942e52fbf294f8661603cf391dbc0b6b26.mp4"
POSTER = "media/d3/d3b8454e66bc7e11c721c4ee134199010a46b7be6e34d1d0707857171268a412.jpg"
MIRROR = "http://127.0.0.1:39961/repo/"

# station.json as the station before the model wrote it (one sync of two courses, a schedule, a notice).
WRITTEN_BEFORE = {
    "state": {
        "1": {
            "complete": True,
            "courses": [
                {
                    "category": "agriculture",
                    "description": "",
                    "duration_s": 60,
                    "episode": None,
                    "id": "c-6c38c1e74b1d",
                    "kind": "video",
                    "media": GOOSE,
                    "mime": "video/mp4",
                    "playlists": ["all"],
                    "poster": None,
                    "series": "",
                    "source_sha256": "6c38c1e74b1d115b357b2a050dbc3ecf9d4cd7b972a1d9826f5ff8ac24365c57",
                    "speaker": "",
                    "tags": [],
                    "title": "雨季养鹅 第1集",
                },
                {
                    "category": "safety",
                    "description": "防火知识",
                    "duration_s": 125.5,
                    "episode": 2,
                    "id": "c-d0e375a3e7a1",
                    "kind": "video",
                    "media": FIRE,
                    "mime": "video/mp4",
                    "playlists": ["all"],
                    "poster": POSTER,
                    "series": "安全课",
                    "source_sha256": "d0e375a3e7a1ba89f6f4eb59289cec3877237a24deb20d79f5016b1714e4b5e4",
                    "speaker": "王老师",
                    "tags": ["winter"],
                    "title": "冬季防火",
                },
            ],
            "expires": "2026-12-08T21:57:16Z",
            "index_sha256": "44c6e4ae778d326d6cbaa8ae4dc292091802a9273ad71d3f30a9455e2613a297",
            "index_version": 1,
            "installed_at": "2026-12-01T21:57:16Z",
            "notices": [
                {
                    "audience": {"regions": [], "stations": [], "tags": []},
                    "body": "周三晚七点半",
                    "id": "winter-meeting",
                    "title": "冬训动员会",
                    "valid_from": "2026-11-20T01:00:00Z",
                    "valid_until": "2026-12-20T01:00:00Z",
                }
            ],
            "playlists": [
                {
                    "name": "all",
                    "priority": 0,
                    "schedule": {
                        "slots": [{"course": "c-6c38c1e74b1d", "start": "2026-11-23T19:30:00+08:00"}],
                        "weekly": [{"course": "c-d0e375a3e7a1", "days": [1, 3], "time": "19:30"}],
                    },
                    "title": "全部课程",
                    "valid_from": None,
                    "valid_until": None,
                    "version": 1,
                }
            ],
        },
        "2": {
            "bytes_downloaded": 980,
            "courses": {
                "c-6c38c1e74b1d": {"state": "have", "title": "雨季养鹅 第1集"},
                "c-d0e375a3e7a1": {"state": "failed", "title": "冬季防火", "reason": "HTTP 404"},
            },
            "courses_installed": 2,
            "courses_total": 2,
            "failures": [],
            "files_downloaded": 3,
            "index_version": 1,
            "last_attempt": "2026-12-01T21:57:16Z",
            "last_error": None,
            "last_success": "2026-12-01T21:57:16Z",
            "mirror": MIRROR,
            "next_window": None,
            "space_needed_bytes": 0,
            "state": "ok",
        },
        "3": {
            "highest_sha256": "44c6e4ae778d326d6cbaa8ae4dc292091802a9273ad71d3f30a9455e2613a297",
            "highest_version": 1,
            "newest_timestamp": "2026-12-01T21:57:16+00:00",
        },
        "4": {MIRROR: {"last_success": "2026-12-01T21:57:16Z", "validators": {"etag": None, "last_modified": None}}},
    }
}


def old_store(tmp_path) -> Store:
    data = tmp_path / "station"
    data.mkdir()
    (data / "station.json").write_text(json.dumps(WRITTEN_BEFORE, ensure_ascii=False), encoding="utf-8")
    for path in (GOOSE, FIRE, POSTER):
        (data / path).parent.mkdir(parents=True, exist_ok=True)
        (data / path).write_bytes(b"verified")
    return Store(data)


def test_a_store_written_before_the_model_loads_as_objects(tmp_path):
    store = old_store(tmp_path)
    installed = store.installed_set()
    assert isinstance(installed, InstalledSet) and installed.index_version == 1 and installed.complete
    assert installed.expires == datetime(2026, 12, 8, 21, 57, 16, tzinfo=UTC)
    goose, fire = installed.courses
    assert isinstance(fire.course, Course)
    assert (fire.series, fire.episode, fire.speaker, fire.course.tags, fire.duration_s) == (
        "安全课",
        2,
        "王老师",
        ("winter",),
        125.5,
    )
    assert fire.poster == POSTER and fire.media == FIRE and fire.playlists == ("all",) and not fire.update_pending
    assert installed.course("c-6c38c1e74b1d") is goose and goose.title == "雨季养鹅 第1集"
    (notice,) = installed.notices
    assert isinstance(notice, Notice) and notice.valid_until == datetime(2026, 12, 20, 1, tzinfo=UTC)
    assert installed.notices_in_force(datetime(2026, 12, 1, tzinfo=CHINA)) == [notice]
    assert installed.notices_in_force(datetime(2026, 12, 21, tzinfo=CHINA)) == []
    (playlist,) = installed.playlists
    monday = datetime(2026, 11, 23, tzinfo=CHINA)
    starts = [(o.start.hour, o.course) for o in playlist.schedule.occurrences(monday, monday.replace(hour=23))]
    assert starts == [(19, "c-6c38c1e74b1d"), (19, "c-d0e375a3e7a1")]

    status = store.sync_status()
    assert isinstance(status, SyncStatus) and status.state == "ok" and status.mirror == MIRROR
    assert status.last_success == datetime(2026, 12, 1, 21, 57, 16, tzinfo=UTC)
    assert [(c.id, c.state, c.reason) for c in status.courses] == [
        ("c-6c38c1e74b1d", "have", ""),
        ("c-d0e375a3e7a1", "failed", "HTTP 404"),
    ]
    assert store.mirrors()[MIRROR].last_success == status.last_success
    trust = store.trust()
    assert isinstance(trust, TrustState) and trust.highest_version == 1 and trust.highest_sha256.startswith("44c6e4ae")
    assert trust.newest_timestamp == datetime(2026, 12, 1, 21, 57, 16, tzinfo=UTC) and not trust.added_keys


def test_what_it_wrote_is_written_back_the_same(tmp_path):
    store = old_store(tmp_path)
    store.install(store.installed_set())
    on_disk = json.loads((store.data_dir / "station.json").read_text(encoding="utf-8"))
    assert on_disk["state"]["1"] == WRITTEN_BEFORE["state"]["1"]
    # The sync status moves to its own file the first time it is written; the old copy goes.
    store.record_sync(store.sync_status())
    on_disk = json.loads((store.data_dir / "station.json").read_text(encoding="utf-8"))
    assert "2" not in on_disk["state"] and on_disk["state"]["3"] == WRITTEN_BEFORE["state"]["3"]
    saved = json.loads((store.data_dir / "sync-status.json").read_text(encoding="utf-8"))
    assert {k: saved[k] for k in WRITTEN_BEFORE["state"]["2"]} == WRITTEN_BEFORE["state"]["2"]
    assert Store(store.data_dir).sync_status() == store.sync_status()


def test_older_status_spellings_and_a_running_pass(tmp_path):
    # Records written by hand (and by older code) carry the running pass's bytes at the top level.
    status = SyncStatus.from_dict({"state": "running", "bytes_done": 50, "bytes_total": 200})
    assert status.progress == Progress(bytes_done=50, bytes_total=200) and status.fraction() == (50, 200, True)
    store = Store(tmp_path / "station")
    store.record_sync(status.started())
    store.record_progress(Progress(bytes_done=10, bytes_total=40, current="新课"))
    assert store.sync_status().progress.current == "新课"
    assert Store(store.data_dir).sync_status().progress.bytes_done == 10  # station status, another process


def test_the_installed_set_is_a_snapshot_swapped_by_install(tmp_path):
    store = old_store(tmp_path)
    first = store.installed_set()
    assert store.installed_set() is first  # no read, no parse: the same object
    store.record_sync(SyncStatus(state="ok"))  # other documents change; the snapshot stays
    store.record_trust(dataclasses.replace(store.trust(), highest_version=2))
    assert store.installed_set() is first
    fewer = dataclasses.replace(first, courses=first.courses[:1])
    store.install(fewer)
    assert store.installed_set() is fewer
    # Another process (station import while serve runs) replaces station.json: seen at the next look.
    other = Store(store.data_dir)
    other.install(first)
    assert store.installed_set() == first and store.installed_set() is not first
    assert len(store.courses()) == 2


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("highest_version", "seven", r"highest_version 'seven' is not a version number"),
        ("newest_timestamp", "yesterday", r"newest_timestamp: 'yesterday' is not an ISO 8601 time"),
        ("newest_timestamp", "9999-12-31T23:59:59-05:00", r"newest_timestamp: 9999-12-31T23:59:59-05:00 is outside"),
        ("newest_timestamp", 1764626236, r"newest_timestamp: 1764626236 is not an ISO 8601 time"),
    ],
)
def test_a_damaged_trust_document_says_what_to_do(tmp_path, key, value, message):
    doc = json.loads(json.dumps(WRITTEN_BEFORE))
    doc["state"]["3"][key] = value
    store = old_store(tmp_path)
    (store.data_dir / "station.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(StoreError) as info:
        store.trust()
    text = str(info.value)
    assert re.search(r"station\.json: damaged \(the station's trust state: " + message, text), text
    assert "does not rebuild by itself" in text and text.endswith("sync again to start over from those keys")
    # The same in trust.json, where the trust state lives now: never read as a fresh start.
    (store.data_dir / "trust.json").write_text(json.dumps(doc["state"]["3"]), encoding="utf-8")
    with pytest.raises(StoreError) as info:
        store.trust()
    text = str(info.value)
    assert re.search(r"trust\.json: damaged \(the station's trust state: " + message, text), text
    assert "does not rebuild it by itself" in text and text.endswith("sync again to start over from those keys")


def test_a_damaged_time_in_the_sync_status_reads_as_absent(tmp_path, caplog):
    store = Store(tmp_path / "station")
    store.status_path.write_text(
        json.dumps({"state": "ok", "last_success": "not a time", "last_attempt": "2026-12-01T21:57:16Z"}), "utf-8"
    )
    status = store.sync_status()
    assert status.state == "ok" and status.last_success is None
    assert status.last_attempt == datetime(2026, 12, 1, 21, 57, 16, tzinfo=UTC)
    assert "'not a time' is not an ISO 8601 time" in caplog.text


def test_a_store_written_before_the_trust_document_falls_back_to_the_installed_set(tmp_path):
    doc = json.loads(json.dumps(WRITTEN_BEFORE))
    del doc["state"]["3"]
    store = old_store(tmp_path)
    (store.data_dir / "station.json").write_text(json.dumps(doc), encoding="utf-8")
    assert store.trust() == TrustState(1, WRITTEN_BEFORE["state"]["1"]["index_sha256"])


def test_the_trust_state_moves_from_station_json_to_its_own_file(tmp_path):
    """Kept apart so that a damaged station.json can be rebuilt without forgetting the trust state."""
    store = old_store(tmp_path)
    state = store.trust()
    assert state.highest_version == 1
    on_disk = json.loads((store.data_dir / "station.json").read_text(encoding="utf-8"))
    assert "3" not in on_disk["state"] and "1" in on_disk["state"]
    assert TrustState.from_dict(json.loads((store.data_dir / "trust.json").read_text(encoding="utf-8"))) == state
    store.record_trust(dataclasses.replace(state, highest_version=2))
    assert Store(store.data_dir).trust().highest_version == 2
    backup = json.loads((store.data_dir / "trust.json.bak").read_text(encoding="utf-8"))
    assert backup["highest_version"] == 1  # the last good copy, one write behind


def test_a_running_pass_shows_to_another_process_without_rewriting_the_status(tmp_path):
    """`station status` (another Store on the same folder) sees a pass running from its fresh
    progress file; the status file, large on a big station, is written only when the pass ends."""
    daemon, status_cmd = Store(tmp_path), Store(tmp_path)
    daemon.record_sync(SyncStatus(state="ok", courses_installed=3, courses_total=3))
    assert status_cmd.sync_status().state == "ok"
    before = (tmp_path / "sync-status.json").read_bytes()
    daemon.mark_running(daemon.sync_status().started())
    assert (tmp_path / "sync-status.json").read_bytes() == before
    assert daemon.sync_status().running
    seen = Store(tmp_path).sync_status()
    assert seen.running and seen.courses_installed == 3  # the last pass's figures stay meanwhile
    daemon.record_progress(Progress(bytes_done=5, bytes_total=10))
    assert Store(tmp_path).sync_status().progress.bytes_done == 5
    daemon.record_sync(SyncStatus(state="failed", last_error="all mirrors down"))
    after = Store(tmp_path).sync_status()
    assert (after.state, after.last_error) == ("failed", "all mirrors down")
