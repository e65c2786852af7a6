"""`headend publish` from a user's side: atomic versions, playlists and notices from TOML files
reaching exactly the stations they target, refusals that name the file and change nothing,
--refresh, collection after the grace period, and key rotation end to end."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from headend.config import load_config as headend_config
from headend.web.app import create_app as headend_app
from playlists import Index, Playlist
from station.config import load_config as station_config
from station.store import Store
from tests.conftest import run_cli, run_cli_async, serve, write_station_toml
from tests.county_kit import login_admin
from tests.headend_db import course_ids, renditions_by_title
from tests.notice_kit import sign_off

pytestmark = pytest.mark.one_engine  # not about the database: one engine (tests/conftest.py)


def index_of(root: Path) -> Index:
    return Index.from_bytes((root / "repo" / "index.json").read_bytes())


def publish(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_cli("headend", "publish", "--root", str(root), *extra)


def tree_is_consistent(tree: Path, pub: Path) -> None:
    """Everything a tree's index pins is in that same tree, and it verifies with minisign."""
    assert subprocess.run(["minisign", "-V", "-q", "-p", str(pub), "-m", str(tree / "index.json")]).returncode == 0
    for ref in Index.from_bytes((tree / "index.json").read_bytes()).playlists:
        pl = Playlist.from_bytes((tree / ref.file.path).read_bytes())
        for entry in pl.courses:
            for f in [*entry.renditions.values(), *([entry.poster] if entry.poster else [])]:
                assert (tree / f.path).stat().st_size == f.size


def test_each_version_is_a_whole_tree_switched_at_once(headend_root):
    pub = headend_root / "keys" / "headend.pub"
    assert os.readlink(headend_root / "repo") == "trees/v1"
    ids = course_ids(headend_root)
    (headend_root / "playlists" / "geese.toml").write_text(
        f'title = "养鹅专题"\nitems = ["{ids["雨季养鹅技术"]}"]\n', encoding="utf-8"
    )
    assert publish(headend_root).returncode == 0
    assert os.readlink(headend_root / "repo") == "trees/v2"
    for v in (1, 2):  # the previous tree stays for requests in flight; both are whole
        tree_is_consistent(headend_root / "trees" / f"v{v}", pub)
    assert publish(headend_root).returncode == 0
    assert sorted(p.name for p in (headend_root / "trees").iterdir()) == ["v2", "v3"]


def test_unchanged_playlist_keeps_its_version(headend_root):
    assert publish(headend_root).returncode == 0
    idx = index_of(headend_root)
    assert idx.version == 2 and [r.file.path for r in idx.playlists] == ["playlists/all.1.json"]


def test_refresh_resigns_only_the_index(headend_root):
    before = index_of(headend_root)
    res = publish(headend_root, "--refresh")
    assert res.returncode == 0, res.stderr
    after = index_of(headend_root)
    assert after.version == before.version + 1 and after.expires >= before.expires
    assert after.playlists == before.playlists


def test_unknown_course_is_refused_naming_file_and_item(headend_root):
    (headend_root / "playlists" / "bad.toml").write_text(
        'title = "坏的"\nitems = ["c-000000000000"]\n', encoding="utf-8"
    )
    res = publish(headend_root)
    assert res.returncode == 1
    assert "playlists/bad.toml" in res.stderr and "c-000000000000" in res.stderr
    assert os.readlink(headend_root / "repo") == "trees/v1"


def test_a_course_whose_media_file_was_lost_is_not_published(headend_root):
    """A rendition deleted from the blob store (a disk fault, a careless clean-up) is not pinned
    by any playlist: a playlist naming its course is refused, naming both, and nothing changes."""
    ids = course_ids(headend_root)
    lost = [p for (title, _), p in renditions_by_title(headend_root).items() if title == "雨季养鹅技术"]
    assert lost
    for p in lost:
        p.unlink()
    (headend_root / "playlists" / "geese.toml").write_text(
        f'title = "养鹅专题"\nitems = ["{ids["雨季养鹅技术"]}"]\n', encoding="utf-8"
    )
    res = publish(headend_root)
    assert res.returncode == 1
    assert "geese.toml" in res.stderr and ids["雨季养鹅技术"] in res.stderr and "no rendition" in res.stderr
    assert os.readlink(headend_root / "repo") == "trees/v1"


def test_malformed_toml_names_file_and_line(headend_root):
    (headend_root / "playlists" / "typo.toml").write_text(
        'title = "冬训"\nitems = [c-1]\npriority = 1\n', encoding="utf-8"
    )
    res = publish(headend_root)
    assert res.returncode == 1 and "typo.toml" in res.stderr and "line 2" in res.stderr


def test_audience_that_matches_no_station_warns(headend_root):
    assert (
        run_cli(
            "headend", "station", "add", "--root", str(headend_root), "xianyi", "--region", "广东省/肇庆市/高要市"
        ).returncode
        == 0
    )
    ids = course_ids(headend_root)
    res = run_cli(
        "headend",
        "playlist",
        "add",
        "--root",
        str(headend_root),
        "shaoguan",
        "--title",
        "韶关专题",
        "--course",
        ids["雨季养鹅技术"],
        "--region",
        "广东省/韶关市",
    )
    assert res.returncode == 0, res.stderr
    res = publish(headend_root)
    assert res.returncode == 0 and "matches no registered station" in res.stderr and "shaoguan.toml" in res.stderr


def test_overlapping_schedules_are_refused_naming_both(headend_root):
    assert (
        run_cli(
            "headend", "station", "add", "--root", str(headend_root), "xianyi", "--region", "广东省/肇庆市"
        ).returncode
        == 0
    )
    ids = course_ids(headend_root)
    for name, course in (("morning", ids["雨季养鹅技术"]), ("policy", ids["农村医保政策解读"])):
        (headend_root / "playlists" / f"{name}.toml").write_text(
            f'title = "{name}"\nitems = []\n[[schedule.weekly]]\ncourse = "{course}"\ndays = [1]\ntime = "08:00"\n',
            encoding="utf-8",
        )
    res = publish(headend_root)
    assert res.returncode == 1
    assert "overlap on station xianyi" in res.stderr and "morning.toml" in res.stderr and "policy.toml" in res.stderr
    assert os.readlink(headend_root / "repo") == "trees/v1"


def test_collects_old_playlists_after_the_grace_period(headend_root, clips):
    cfg = headend_root / "headend.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("grace_days = 3", "grace_days = 0"), encoding="utf-8")
    assert (
        run_cli(
            "headend",
            "ingest",
            "--root",
            str(headend_root),
            str(clips["video"]),
            "--title",
            "雨季养鹅技术（新版）",
            "--category",
            "agriculture",
        ).returncode
        == 0
    )
    res = publish(headend_root)
    assert res.returncode == 0 and "old files collected" in res.stdout
    assert not (headend_root / "repo" / "playlists" / "all.1.json").exists()
    assert not (headend_root / "published" / "playlists" / "all.1.json").exists()
    assert (headend_root / "repo" / "playlists" / "all.2.json").exists()


async def test_playlists_and_notices_reach_exactly_their_stations(headend_root, tmp_path):
    ids = course_ids(headend_root)
    (headend_root / "playlists" / "winter.toml").write_text(
        f'title = "高要冬训"\nitems = ["{ids["雨季养鹅技术"]}"]\npriority = 5\n'
        '[audience]\nregions = ["广东省/肇庆市/高要市"]\n'
        f'[[schedule.weekly]]\ncourse = "{ids["雨季养鹅技术"]}"\ndays = [1, 3]\ntime = "19:30"\n',
        encoding="utf-8",
    )
    assert (
        run_cli(
            "headend",
            "notice",
            "add",
            "--root",
            str(headend_root),
            "meeting",
            "--title",
            "冬训动员会",
            "--body",
            "周三晚七点半在村委会集中学习。",
            "--region",
            "广东省/肇庆市/高要市",
        ).returncode
        == 0
    )
    sign_off(headend_root, "meeting")  # a notice goes out only reviewed and signed off (issue 14)
    res = publish(headend_root)
    assert res.returncode == 0, res.stderr
    pub = headend_root / "keys" / "headend.pub"
    async with serve(headend_app(headend_config(headend_root))) as base:
        stores = {}
        for name, region in (("gaoyao", "高要市"), ("shaoguan", None)):
            d = tmp_path / name
            d.mkdir()
            toml = write_station_toml(d / "station.toml", [f"{base}/repo/"], pub)
            if region is None:
                toml.write_text(toml.read_text(encoding="utf-8").replace("肇庆市", "韶关市"), encoding="utf-8")
            code, _, err = await run_cli_async("station", "--config", str(toml), "sync", "--once")
            assert code == 0, err
            stores[name] = Store(station_config(toml).data_dir).installed_set()
    gaoyao, shaoguan = stores["gaoyao"], stores["shaoguan"]
    assert [p.name for p in gaoyao.playlists] == ["winter", "all"]  # priority first
    assert gaoyao.playlists[0].schedule.weekly[0].at.strftime("%H:%M") == "19:30"
    assert [n.title for n in gaoyao.notices] == ["冬训动员会"]
    assert [p.name for p in shaoguan.playlists] == ["all"] and shaoguan.notices == ()


async def test_key_rotation_reaches_a_station_that_knows_only_the_old_key(headend_root, tmp_path):
    old_pub = tmp_path / "old.pub"
    old_pub.write_bytes((headend_root / "keys" / "headend.pub").read_bytes())
    async with serve(headend_app(headend_config(headend_root))) as base:
        toml = write_station_toml(tmp_path / "station.toml", [f"{base}/repo/"], old_pub)
        assert (await run_cli_async("station", "--config", str(toml), "sync", "--once"))[0] == 0
        res = run_cli("headend", "key", "rotate", "--root", str(headend_root))
        assert res.returncode == 0, res.stderr
        assert publish(headend_root).returncode == 0
        new_pub = headend_root / "keys" / "headend.pub"
        assert new_pub.read_bytes() != old_pub.read_bytes()
        assert (
            subprocess.run(
                ["minisign", "-V", "-q", "-p", str(new_pub), "-m", str(headend_root / "repo" / "index.json")]
            ).returncode
            == 0
        )
        code, _, err = await run_cli_async("station", "--config", str(toml), "sync", "--once")
        assert code == 0, err
    st = json.loads((await run_cli_async("station", "--config", str(toml), "status", "--json"))[1])
    assert st["installed_version"] == 2


def test_playlist_without_a_rendition_for_a_targeted_player_is_refused(headend_root, tmp_path):
    from tests.conftest import make_clip

    cfg = headend_root / "headend.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("profiles = []", 'profiles = ["stb-sd"]'), encoding="utf-8")
    clip = make_clip(tmp_path / "新课.mp4", seconds=1)
    assert (
        run_cli(
            "headend", "ingest", "--root", str(headend_root), str(clip), "--title", "新课", "--category", "health"
        ).returncode
        == 0
    )
    assert (
        run_cli("headend", "station", "add", "--root", str(headend_root), "hd-box", "--player", "tv-hd").returncode == 0
    )
    new = course_ids(headend_root)["新课"]
    (headend_root / "playlists" / "hd.toml").write_text(f'title = "高清"\nitems = ["{new}"]\n', encoding="utf-8")
    res = publish(headend_root)
    assert res.returncode == 1
    assert "hd.toml" in res.stderr and new in res.stderr and "no rendition for tv-hd" in res.stderr


async def test_county_page_lists_playlists_and_notices(headend_root, aiohttp_client):
    ids = course_ids(headend_root)
    (headend_root / "playlists" / "winter.toml").write_text(
        f'title = "高要冬训"\nitems = ["{ids["雨季养鹅技术"]}"]\n[audience]\nregions = ["广东省/肇庆市/高要市"]\n',
        encoding="utf-8",
    )
    (headend_root / "notices" / "meeting.toml").write_text(
        'title = "冬训动员会"\nbody = "周三晚七点半。"\n', encoding="utf-8"
    )
    client = await login_admin(await aiohttp_client(headend_app(headend_config(headend_root))), headend_root)
    html = await (await client.get("/county/publishing")).text()
    assert "高要冬训" in html and "广东省/肇庆市/高要市" in html and "冬训动员会" in html
    (headend_root / "notices" / "broken.toml").write_text('title = "坏"\nbody = \n', encoding="utf-8")
    resp = await client.get("/county/publishing")
    assert resp.status == 200 and "broken.toml" in await resp.text()


def test_a_damaged_signing_key_is_refused_and_nothing_changes(headend_root):
    (headend_root / "keys" / "headend.key").write_text("untrusted comment: x\nbm90IGEga2V5\n")
    res = publish(headend_root)
    assert res.returncode == 1 and "headend.key" in res.stderr and "not a minisign Ed25519 secret key" in res.stderr
    assert os.readlink(headend_root / "repo") == "trees/v1"


# Runs `headend publish` with one step made to stop (marker written, then asleep) so the test's
# kill -9 lands exactly there: while the new tree is half linked, after it is built but before
# `repo` switches, and after the switch but before the version is recorded in the database.
_PAUSED_PUBLISH = """
import sys, time, pathlib
marker, phase, root = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
import headend.repository.tree as tree, headend.repository.publish as publish
from headend.db import Database
def pause(*_):
    marker.write_text(phase)
    time.sleep(600)
if phase == "building":
    real_link, linked = tree._link, []
    def link(src, dest):
        real_link(src, dest)
        linked.append(dest)
        if len(linked) == 2:
            pause()
    tree._link = link
elif phase == "switching":
    publish.switch_repo = pause
elif phase == "recording":
    Database.add_publication = pause
from headend.cli import main
sys.exit(main(["publish", "--root", root]))
"""


def _publish_killed_at(root: Path, phase: str, tmp: Path) -> None:
    import signal
    import sys
    import time

    from tests.conftest import ROOT

    marker = tmp / f"paused-{phase}"
    proc = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_PUBLISH, str(marker), phase, str(root)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, f"publish ended before reaching {phase}: {proc.stderr.read()}"
        assert time.monotonic() < deadline, f"publish never reached {phase}"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_power_cut_mid_publish_leaves_a_whole_published_version(headend_root, tmp_path):
    """kill -9 at each step of a publish: `repo` always names a whole, verifiable tree, the next
    publish completes, and a version stations may have seen is never reused."""
    from tests.headend_db import database

    pub = headend_root / "keys" / "headend.pub"
    trees = headend_root / "trees"
    ids = course_ids(headend_root)

    def change_playlist(n: int) -> None:
        (headend_root / "playlists" / "p.toml").write_text(
            f'title = "专题 {n}"\nitems = ["{ids["雨季养鹅技术"]}"]\n', encoding="utf-8"
        )

    change_playlist(1)
    _publish_killed_at(headend_root, "building", tmp_path)
    assert list(trees.glob(".build-2")), "the kill did not land while the tree was being built"
    assert os.readlink(headend_root / "repo") == "trees/v1"
    tree_is_consistent(headend_root / "repo", pub)

    change_playlist(2)
    _publish_killed_at(headend_root, "switching", tmp_path)
    assert (trees / "v2").is_dir() and os.readlink(headend_root / "repo") == "trees/v1"
    tree_is_consistent(headend_root / "repo", pub)

    change_playlist(3)
    _publish_killed_at(headend_root, "recording", tmp_path)
    assert os.readlink(headend_root / "repo") == "trees/v2"  # switched: stations may already have v2
    with database(headend_root) as db:
        assert db.last_publication().version == 1  # … but the database never heard of it
    tree_is_consistent(headend_root / "repo", pub)

    change_playlist(4)
    res = publish(headend_root)
    assert res.returncode == 0, res.stderr
    assert index_of(headend_root).version == 3 and os.readlink(headend_root / "repo") == "trees/v3"
    tree_is_consistent(headend_root / "repo", pub)
    assert not list(trees.glob(".build-*"))


def test_valid_until_a_day_means_through_the_end_of_that_day_in_china(headend_root):
    from datetime import UTC, datetime

    course = course_ids(headend_root)["雨季养鹅技术"]
    res = run_cli(
        "headend", "playlist", "add", "--root", str(headend_root), "winter", "--title", "冬训",
        "--course", course, "--valid-from", "2026-12-01", "--valid-until", "2027-01-01",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert publish(headend_root).returncode == 0
    ref = next(p for p in index_of(headend_root).playlists if p.name == "winter")
    assert ref.valid_from == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 00:00 on 1 December, China time
    assert ref.valid_until == datetime(2027, 1, 1, 15, 59, 59, tzinfo=UTC)  # 23:59:59 on 1 January, China time


async def test_repo_answers_404_not_500_for_what_is_not_a_repository_file(headend_root, aiohttp_client):
    client = await aiohttp_client(headend_app(headend_config(headend_root)))
    assert (await client.get("/repo/index.json")).status == 200
    assert (await client.get("/repo/index.json.minisig")).status == 200
    for path in ("index.json%00", "media/a%00", "..%2Fheadend.toml", "media/%2E%2E/%2E%2E/headend.toml", ".hidden"):
        resp = await client.get(f"/repo/{path}")
        assert resp.status == 404, (path, resp.status)
