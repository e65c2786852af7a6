"""A station whose playlists name thousands of courses: what the daemon's sync passes write (a
pass that finds nothing new rewrites neither the installed set nor the repository copy it keeps;
a re-signed index rewrites the installed set once), and what lazy reading of playlist entries
may and may not let through (an altered entry of any player is refused by the pin; an entry this
station's player needs that does not parse is refused with a message naming it)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import aiohttp
import pytest

from playlists import (
    INDEX_NAME,
    FileRef,
    FormatError,
    Index,
    PinMismatch,
    PlaylistRef,
    TrustState,
    canonical_json,
    check_index,
    check_playlist,
    sign_repository_file,
)
from station.sync.runner import sync_pass
from tests.repository_simulator import Station
from tests.scale_repo import ScaleRepo
from tests.static_repo import StaticRepo

COURSES = 600  # enough for the shape (an ``all`` playlist and many small ones), quick to sync


@pytest.fixture
def repo(tmp_path) -> ScaleRepo:
    r = ScaleRepo(tmp_path / "tree", courses=COURSES, playlists=24, per_playlist=25)
    r.publish()
    return r


class Replaced:
    """Every file replaced under ``root`` (atomic writes and moves go through ``os.replace``)."""

    def __init__(self, root: Path, monkeypatch) -> None:
        self.files: list[str] = []
        real = os.replace

        def counting(src, dst, *a, **k):
            if Path(dst).resolve().is_relative_to(root.resolve()):
                self.files.append(Path(dst).resolve().relative_to(root.resolve()).as_posix())
            return real(src, dst, *a, **k)

        monkeypatch.setattr(os, "replace", counting)

    def count(self, name: str) -> int:
        return self.files.count(name)


def station(tmp_path: Path, repo: ScaleRepo, mirror: str) -> Station:
    (tmp_path / "station").mkdir()
    return Station(tmp_path / "station", repo, mirror)


async def run_pass(st: Station) -> str:
    async with aiohttp.ClientSession() as session:
        status = await sync_pass(st.cfg, st.store, session)
    return status.state


async def test_a_pass_that_finds_nothing_new_rewrites_no_installed_set(repo, tmp_path, monkeypatch):
    async with StaticRepo(repo.root).served() as mirror:
        st = station(tmp_path, repo, mirror)
        assert await run_pass(st) == "ok"
        assert len(st.store.courses()) == COURSES
        repo_copy = st.store.repo_dir / repo.refs[0].file.path
        before = repo_copy.stat().st_ino

        writes = Replaced(st.cfg.data_dir, monkeypatch)
        assert await run_pass(st) == "ok"  # the index unchanged
        assert writes.count("station.json") == 0 and not [f for f in writes.files if f.startswith("repo/")]

        repo.resign()  # a new version with a later expiry, the same playlists
        writes.files.clear()
        assert await run_pass(st) == "ok"
    installed = st.store.installed_set()
    assert installed.index_version == repo.version and len(installed.courses) == COURSES
    assert writes.count("station.json") == 1  # the installed set, once
    assert writes.count("repo/index.json") == 1 and repo_copy.stat().st_ino == before  # playlists left as they were
    assert max(writes.count(f) for f in set(writes.files) if "/" not in f and f != "progress.json") == 1
    assert writes.count("sync-status.json") == 1  # how it went; "running" is the fresh progress file


def _signed_index(repo: ScaleRepo, name: str, data: bytes) -> tuple[Index, bytes, bytes, PlaylistRef]:
    """Re-publish playlist ``name`` as ``data`` (signed by the headend's key, pinned by a new index)."""
    old = next(r for r in repo.refs if r.name == name)
    ref = PlaylistRef(name, old.version, FileRef(old.file.path, hashlib.sha256(data).hexdigest(), len(data)))
    (repo.root / ref.file.path).write_bytes(data)
    (repo.root / (ref.file.path + ".minisig")).write_bytes(
        sign_repository_file(repo.key, ref.file.path, data, ref.version, repo_now(repo))
    )
    repo.refs = tuple(ref if r.name == name else r for r in repo.refs)
    repo.resign()
    index_bytes = (repo.root / INDEX_NAME).read_bytes()
    return Index.from_bytes(index_bytes), index_bytes, (repo.root / (INDEX_NAME + ".minisig")).read_bytes(), ref


def repo_now(repo: ScaleRepo):
    return Index.from_bytes((repo.root / INDEX_NAME).read_bytes()).timestamp


def _playlist_doc(repo: ScaleRepo, name: str) -> dict:
    ref = next(r for r in repo.refs if r.name == name)
    return json.loads((repo.root / ref.file.path).read_bytes())


def test_an_altered_entry_of_another_players_rendition_is_refused(repo):
    """Entries this station does not read are still covered: the playlist's bytes are pinned."""
    ref = next(r for r in repo.refs if r.name == "p3")
    data = (repo.root / ref.file.path).read_bytes()
    sig = (repo.root / (ref.file.path + ".minisig")).read_bytes()
    doc = json.loads(data)
    doc["courses"][7]["renditions"]["tv-hd"]["sha256"] = "0" * 64  # another player's file, swapped
    altered = canonical_json(doc)
    key = repo.key.public_key
    index = check_index(
        (repo.root / INDEX_NAME).read_bytes(),
        (repo.root / (INDEX_NAME + ".minisig")).read_bytes(),
        [key],
        TrustState(),
        repo_now(repo),
    )
    ref = next(r for r in index.playlists if r.name == "p3")
    assert check_playlist(data, sig, ref, [key], "stb-sd").name == "p3"
    with pytest.raises(PinMismatch, match="sha256 differs"):
        check_playlist(altered, sig, ref, [key], "stb-sd")


def test_a_malformed_entry_for_this_player_is_refused_naming_it(repo):
    doc = _playlist_doc(repo, "p5")
    doc["courses"][3]["renditions"]["stb-sd"]["path"] = "../../etc/passwd"
    index, index_bytes, index_sig, ref = _signed_index(repo, "p5", canonical_json(doc))
    key = repo.key.public_key
    index = check_index(index_bytes, index_sig, [key], TrustState(), index.timestamp)
    ref = next(r for r in index.playlists if r.name == "p5")
    data = (repo.root / ref.file.path).read_bytes()
    sig = (repo.root / (ref.file.path + ".minisig")).read_bytes()
    playlist = check_playlist(data, sig, ref, [key], "stb-sd")  # signature and pin: fine
    with pytest.raises(
        FormatError, match=r"p5\.1\.json: courses\[3\]\.renditions\.stb-sd: path '\.\./\.\./etc/passwd'"
    ):
        playlist.entries()
    # Without a player (the headend's checks, the tests) every rendition is read at once.
    with pytest.raises(FormatError, match=r"courses\[3\]\.renditions\.stb-sd"):
        check_playlist(data, sig, ref, [key])


async def test_the_station_refuses_a_playlist_with_a_malformed_entry_for_its_player(repo, tmp_path):
    doc = _playlist_doc(repo, "p5")
    doc["courses"][3]["renditions"]["stb-sd"]["sha256"] = "not a hash"
    _signed_index(repo, "p5", canonical_json(doc))
    async with StaticRepo(repo.root).served() as mirror:
        st = station(tmp_path, repo, mirror)
        assert await run_pass(st) == "partial"
    status = st.store.sync_status()
    assert "playlist p5" in status.last_error and "courses[3].renditions.stb-sd: sha256 is not 64" in status.last_error
    assert len(st.store.courses()) == COURSES  # the other playlists list every course


async def test_a_malformed_entry_for_another_player_does_not_stop_this_one(repo, tmp_path):
    """What this station's player never uses is not read: a headend bug in the tv-hd rendition
    of one course (signed and pinned as published) leaves an stb-sd station's courses alone."""
    doc = _playlist_doc(repo, "all")
    doc["courses"][0]["renditions"]["tv-hd"] = {"path": 5}
    _signed_index(repo, "all", canonical_json(doc))
    async with StaticRepo(repo.root).served() as mirror:
        st = station(tmp_path, repo, mirror)
        assert await run_pass(st) == "ok"
    assert len(st.store.courses()) == COURSES
