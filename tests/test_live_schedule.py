"""Scheduling live classes (issue 16), on both engines: `headend live add` puts a class in the
signed schedule of its audience only (a playlist live-<id> whose entry names the stream), refuses
what cannot be (a bad id, a class already over, an overlap with another class for the same
stations, an unknown category) changing nothing; `live list` shows it with the encoder's state;
`live cancel` takes it off at the next publish; a replay is carried once it is transcoded for
every player. The loop's hand-over of a recording is checked here without ffmpeg."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from catalogue.course import course_id_for
from headend.config import load_config
from headend.courseware.live import LiveStatus, live_dir
from headend.service import open_root
from headend.service.live import classes, hand_over_recordings, replays_ready
from playlists import Index, Playlist
from playlists.schedule import CHINA
from tests.conftest import run_cli

COUNTY = "广东省/肇庆市/高要市"
# The commands and the signed schedule are the point of most tests here: one engine (the store's
# statements are plain); the recording hand-over, a conditional update, runs on both.
one_engine = pytest.mark.one_engine


def cli(root, *args):
    return run_cli("headend", "live", *args[:1], "--root", str(root), *args[1:])


def china(dt: datetime) -> str:
    return dt.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def published(root) -> dict[str, Playlist]:
    index = Index.from_bytes((root / "repo" / "index.json").read_bytes())
    return {r.name: (r, Playlist.from_bytes((root / "repo" / r.file.path).read_bytes())) for r in index.playlists}


@pytest.fixture
def root(headend_root):
    for sid, region in (("gaoyao-a", f"{COUNTY}/蚬岗镇/蚬一村"), ("duanzhou-b", "广东省/肇庆市/端州区/城东街道")):
        res = run_cli("headend", "station", "add", "--root", str(headend_root), sid, "--region", region)
        assert res.returncode == 0, res.stderr
    return headend_root


@one_engine
def test_a_class_reaches_only_its_audience_schedule_signed_and_can_be_withdrawn(root):
    start = datetime.now(UTC) + timedelta(hours=2)
    res = cli(root, "add", "dangke-1207", "--title", "学习全会精神直播党课", "--start", china(start),
              "--duration-min", "45", "--region", COUNTY)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "headend publish" in res.stdout  # what to do next
    assert run_cli("headend", "publish", "--root", str(root)).returncode == 0
    ref, pl = published(root)["live-dangke-1207"]
    assert [r for r in ref.audience.regions] == [tuple(COUNTY.split("/"))]
    (live,) = pl.schedule.live
    assert (live.id, live.title, live.path) == ("dangke-1207", "学习全会精神直播党课", "live/dangke-1207/master.m3u8")
    assert abs((live.start - start).total_seconds()) < 1 and live.duration_s == 45 * 60 and live.replay is None
    listed = json.loads(cli(root, "list", "--json").stdout)
    assert [(x["id"], x["state"], x["state_words"]) for x in listed] == [("dangke-1207", "scheduled", "未开始")]
    assert cli(root, "cancel", "dangke-1207").returncode == 0
    assert run_cli("headend", "publish", "--root", str(root)).returncode == 0
    assert "live-dangke-1207" not in published(root)
    assert cli(root, "cancel", "dangke-1207").returncode == 1  # once


@one_engine
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("Bad_Id", "--duration-min", "30"), "编号"),
        (("dangke-x", "--duration-min", "0"), "时长"),
        (("dangke-x", "--duration-min", "30", "--category", "nonsense"), "分类"),
        (("dangke-x", "--duration-min", "30", "--station", "no such!"), "station id"),
    ],
)
def test_what_cannot_be_is_refused_and_nothing_is_stored(root, args, words):
    start = china(datetime.now(UTC) + timedelta(hours=3))
    res = cli(root, "add", args[0], "--title", "党课", "--start", start, *args[1:])
    assert res.returncode != 0 and words in res.stderr, res.stderr
    with open_root(root) as h:
        assert h.db.live.all() == []


@one_engine
def test_a_class_already_over_and_an_overlap_for_the_same_stations_are_refused(root):
    past = cli(root, "add", "dangke-old", "--title", "党课", "--start", china(datetime.now(UTC) - timedelta(hours=2)),
               "--duration-min", "30")  # fmt: skip
    assert past.returncode == 1 and "已经过去" in past.stderr
    start = datetime.now(UTC) + timedelta(hours=5)
    assert cli(root, "add", "dangke-a", "--title", "县里党课", "--start", china(start), "--duration-min", "60",
               "--region", COUNTY).returncode == 0  # fmt: skip
    clash = cli(root, "add", "dangke-b", "--title", "镇里党课", "--start", china(start + timedelta(minutes=30)),
                "--duration-min", "60", "--region", f"{COUNTY}/蚬岗镇")  # fmt: skip
    assert clash.returncode == 1 and "重叠" in clash.stderr and "dangke-a" in clash.stderr
    other = cli(root, "add", "dangke-c", "--title", "端州党课", "--start", china(start), "--duration-min", "60",
                "--region", "广东省/肇庆市/端州区")  # fmt: skip
    assert other.returncode == 0, other.stderr  # another county's stations: no clash
    with open_root(root) as h:
        assert sorted(x.id for x in h.db.live.all()) == ["dangke-a", "dangke-c"]


@one_engine
def test_a_playlist_file_may_not_take_a_live_class_name(root):
    (root / "playlists" / "live-x.toml").write_text('title = "假的"\nitems = []\n[[schedule.slots]]\n', "utf-8")
    res = run_cli("headend", "publish", "--root", str(root))
    assert res.returncode == 1 and "live-x.toml" in res.stderr and "reserved" in res.stderr


def test_the_recording_goes_to_the_inbox_as_the_replay_and_is_carried_once_transcoded(root):
    start = datetime.now(UTC) + timedelta(minutes=30)
    assert cli(root, "add", "dangke-rec", "--title", "直播党课", "--start", china(start), "--duration-min", "20",
               "--description", "十二月党课").returncode == 0  # fmt: skip
    folder = live_dir(load_config(root), "dangke-rec")
    folder.mkdir(parents=True)
    (folder / "recording.ts").write_bytes(b"\x47" * 188 * 100)  # what the encoder joined
    status = LiveStatus(id="dangke-rec", source="rtmp://x", state="ended", recording="recording.ts")
    (folder / "status.json").write_bytes(status.to_json())
    after = start + timedelta(minutes=21)
    with open_root(root) as h:
        assert hand_over_recordings(h, start) == []  # not before the class ended
        assert hand_over_recordings(h, after) == ["dangke-rec"]
        assert hand_over_recordings(h, after) == []  # once
        x = h.db.live.get("dangke-rec")
        assert [i.state for i in classes(h, after)] == ["ended"]
        assert replays_ready(h) == []  # not transcoded yet
    sha = x.recording_sha256
    assert x.replay_course == course_id_for(sha)
    inbox = root / "inbox"
    assert (inbox / "live-dangke-rec.ts").read_bytes() == (folder / "recording.ts").read_bytes()
    sidecar = tomllib.loads((inbox / "live-dangke-rec.toml").read_text(encoding="utf-8"))
    assert sidecar == {"title": "直播党课", "category": "party", "description": "十二月党课", "tags": ["直播回看"]}
    assert not [p for p in inbox.iterdir() if p.name.startswith(".")]
