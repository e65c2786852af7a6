"""A live class at the headend (issue 16 part 2), as a county would notice it: a live source becomes
HLS for every player profile in use (here stb-sd and audio), loudness-normalised, served to the
stations and their county caches under /live/<ID>/; a source that drops mid-class is waited for
and picked up again in the same playlists; a source that never works ends the class with a
message naming it; a recording of the whole class is left for ingest. Real ffmpeg on lavfi test
sources, a real data root, the real app."""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from yarl import URL

from headend.config import load_config
from headend.courseware.live import LiveStatus, read_status, run_live
from headend.errors import BadRequest
from headend.web.app import create_app
from tests.conftest import make_clip, run_cli
from tests.media_probe import content_box, integrated_lufs, new_root, probe

pytestmark = pytest.mark.one_engine  # only the serving test opens a database, and is not about it

SOURCE = "testsrc2=size=320x240:rate=25[out0];sine=frequency=440,volume=-20dB[out1]"  # 4:3, far below -23 LUFS
PROFILES = ("stb-sd", "audio")


def extinf(playlist: Path) -> list[float]:
    return [float(x) for x in re.findall(r"(?m)^#EXTINF:([\d.]+),", playlist.read_text(encoding="utf-8"))]


def listed_in(text: str) -> list[str]:
    return re.findall(r"(?m)^(seg-\d+\.ts)$", text)


def listed(playlist: Path) -> list[str]:
    return listed_in(playlist.read_text(encoding="utf-8"))


def duration_s(path: Path) -> float:
    return float(probe(path)["format"]["duration"])


def files_outside(root: Path, keep: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_relative_to(keep):
            st = path.stat()
            out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A data root (SQLite: the encoder never opens the database) making stb-sd and audio only."""
    return new_root(tmp_path_factory.mktemp("live"), profiles=list(PROFILES))


@pytest.fixture(scope="module")
def broadcast(root):
    """`headend live run` of a test pattern with a quiet tone, for 9 seconds."""
    res = run_cli(
        "headend", "live", "run", "--root", str(root), "dangke-1201", "--input", f"lavfi:{SOURCE}",
        "--duration-min", "0.15",
    )  # fmt: skip
    return res, root / "live" / "dangke-1201"


@pytest.fixture(scope="module")
def dropped(root, tmp_path_factory):
    """A 4-second file as the source of a 10-second class: it runs out twice (the studio's OBS
    dropped) and is read again; every state the encoder went through and every segment seen."""
    clip = make_clip(tmp_path_factory.mktemp("src") / "演播室.mp4", seconds=4)
    folder = root / "live" / "dangke-drop"
    states: list[str] = []
    seen: dict[str, tuple[int, int]] = {}

    def watch(s: LiveStatus) -> None:
        if not states or states[-1] != s.state:
            states.append(s.state)
        for seg in (folder / "stb-sd").glob("seg-*.ts"):
            st = seg.stat()
            seen.setdefault(seg.name, (st.st_ino, st.st_mtime_ns))

    until = datetime.now(UTC) + timedelta(seconds=10)
    final = asyncio.run(
        run_live(load_config(root), "dangke-drop", str(clip), until, on_status=watch, retry_delay_s=0.3)
    )
    return final, states, seen, folder


def test_the_master_playlist_names_the_video_variant_and_the_audio_one(broadcast):
    res, folder = broadcast
    assert res.returncode == 0, res.stderr
    assert str(folder) in res.stdout and "/live/dangke-1201/master.m3u8" in res.stdout
    assert "ended" in res.stdout
    master = (folder / "master.m3u8").read_text(encoding="utf-8")
    variants = re.findall(r"#EXT-X-STREAM-INF:(.*)\n(.*)\n", master)
    assert [uri for _, uri in variants] == ["stb-sd/index.m3u8", "audio/index.m3u8"]
    video, audio = (dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', attrs)) for attrs, _ in variants)
    assert video["RESOLUTION"] == "720x404" and int(video["BANDWIDTH"]) >= 1_500_000
    assert "RESOLUTION" not in audio and int(audio["BANDWIDTH"]) < 100_000


def test_each_variant_is_live_hls_of_the_segment_length_and_ends(broadcast):
    _, folder = broadcast
    for name in PROFILES:
        playlist = folder / name / "index.m3u8"
        text = playlist.read_text(encoding="utf-8")
        lengths = extinf(playlist)
        assert len(lengths) >= 3, text
        assert all(abs(x - 2) < 0.1 for x in lengths[:-1]), lengths  # the last one may be cut short
        assert text.rstrip().endswith("#EXT-X-ENDLIST")
        assert listed(playlist) == [f"seg-{n:05d}.ts" for n in range(1, len(lengths) + 1)]
        assert not list((folder / name).glob("*.tmp"))


def test_the_video_is_h264_for_the_set_top_box_and_the_audio_has_no_picture(broadcast):
    _, folder = broadcast
    video = probe(folder / "stb-sd" / "seg-00002.ts")["streams"]
    v = next(s for s in video if s["codec_type"] == "video")
    assert v["codec_name"] == "h264" and v["width"] <= 720 and v["height"] <= 576
    assert {s["codec_type"] for s in video} == {"video", "audio"}
    assert content_box(folder / "stb-sd" / "seg-00002.ts") == (538, 404)  # 4:3 in a 16:9 frame: bars, no stretch
    audio = probe(folder / "audio" / "seg-00002.ts")["streams"]
    assert [(s["codec_type"], s["codec_name"], s["channels"]) for s in audio] == [("audio", "aac", 1)]


def test_the_audio_rendition_is_normalised_to_minus_23_lufs(broadcast, tmp_path):
    _, folder = broadcast
    joined = tmp_path / "audio.ts"
    joined.write_bytes(b"".join((folder / "audio" / n).read_bytes() for n in listed(folder / "audio" / "index.m3u8")))
    source = tmp_path / "source.wav"
    ff_args = ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440,volume=-20dB"]
    assert run_ok([*ff_args, "-t", "8", "-ac", "1", str(source)])
    assert integrated_lufs(source) < -35  # the studio was far too quiet
    assert abs(integrated_lufs(joined) - -23) <= 2


def run_ok(args: list[str]) -> bool:
    return subprocess.run(args, capture_output=True).returncode == 0


def test_the_recording_holds_the_whole_class(broadcast):
    _, folder = broadcast
    status = LiveStatus.from_json((folder / "status.json").read_bytes())
    assert status.state == "ended" and status.recording == "recording.ts" and status.segments["stb-sd"] >= 3
    broadcast_s = sum(extinf(folder / "stb-sd" / "index.m3u8"))
    assert broadcast_s >= 6
    assert abs(duration_s(folder / "recording.ts") - broadcast_s) <= 2


def test_a_source_that_drops_is_waited_for_and_resumed_in_the_same_playlists(dropped):
    final, states, seen, folder = dropped
    assert final.state == "ended" and final.restarts >= 1, final
    assert states[:3] == ["starting", "running", "waiting"] and "running" in states[3:] and states[-1] == "ended"
    for name in PROFILES:
        playlist = folder / name / "index.m3u8"
        text = playlist.read_text(encoding="utf-8")
        assert "#EXT-X-DISCONTINUITY\n" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
        names = listed(playlist)  # the live window: the last segments
        on_disk = sorted(p.name for p in (folder / name).glob("seg-*.ts"))
        assert on_disk == [f"seg-{n:05d}.ts" for n in range(1, len(on_disk) + 1)]  # numbering went on
        assert names == on_disk[-len(names) :]
        assert 0 < len(listed_in(text.split("#EXT-X-DISCONTINUITY")[-1])) < len(names)
    for name, (ino, mtime) in seen.items():  # no segment was ever written twice
        st = (folder / "stb-sd" / name).stat()
        assert (st.st_ino, st.st_mtime_ns) == (ino, mtime), name
    broadcast_s = sum(extinf(folder / "stb-sd" / "index.m3u8"))
    assert broadcast_s >= 6 and abs(duration_s(folder / "recording.ts") - broadcast_s) <= 2


def test_a_corrupt_source_fails_naming_the_file_and_writes_nowhere_else(root, tmp_path):
    junk = tmp_path / "坏文件.mp4"
    junk.write_bytes(random.Random(16).randbytes(200_000))
    folder = root / "live" / "dangke-bad"
    before = files_outside(root, folder)
    res = run_cli(
        "headend", "live", "run", "--root", str(root), "dangke-bad", "--input", str(junk), "--duration-min", "1"
    )
    assert res.returncode == 1
    assert str(junk) in res.stderr and "Invalid data found when processing input" in res.stderr, res.stderr
    status = read_status(load_config(root), "dangke-bad")
    assert status.state == "failed" and str(junk) in status.last_error and status.ended_at
    assert files_outside(root, folder) == before


async def test_a_bad_id_is_refused_before_anything_is_written(root):
    cfg = load_config(root)
    before = files_outside(root, root / "live" / "nothing-here")
    soon = datetime.now(UTC) + timedelta(seconds=30)
    for bad in ("../evil", "Dangke", "", "a/b", "dangke\n", "x" * 65):
        with pytest.raises(BadRequest, match="is not an id"):
            await run_live(cfg, bad, f"lavfi:{SOURCE}", soon)
    assert files_outside(root, root / "live" / "nothing-here") == before
    assert not (root / "evil").exists()


async def test_the_stations_and_caches_fetch_it_without_a_login(broadcast, tmp_path, headend_db, aiohttp_client):
    _, folder = broadcast
    served = new_root(tmp_path, headend_db, profiles=list(PROFILES))  # `headend serve` opens the database
    shutil.copytree(folder, served / "live" / folder.name)
    client = await aiohttp_client(create_app(load_config(served), background_loops=False))
    base = "/live/dangke-1201/"
    for rel in ("master.m3u8", "stb-sd/index.m3u8", "audio/index.m3u8"):
        async with client.get(base + rel) as r:
            assert r.status == 200 and await r.read() == (folder / rel).read_bytes()
            assert r.headers["Cache-Control"] == "public, max-age=1"
            assert r.content_type == "application/vnd.apple.mpegurl" and "Set-Cookie" not in r.headers
            etag = r.headers["ETag"]
        async with client.get(base + rel, headers={"If-None-Match": etag}) as r:
            assert r.status == 304
    for rel in ("stb-sd/seg-00001.ts", "audio/seg-00002.ts"):
        async with client.get(base + rel) as r:
            assert r.status == 200 and await r.read() == (folder / rel).read_bytes()
            assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert r.content_type == "video/mp2t" and "Set-Cookie" not in r.headers
    refused = (
        "status.json",
        "recording.ts",
        ".encoder.lock",
        "stb-sd/seg-1.ts",
        "stb-sd/seg-99999.ts",
        "stb-sd/index.m3u8.tmp",
        "%2e%2e/%2e%2e/headend.toml",
        "stb-sd/%2e%2e/status.json",
        "..%2f..%2fheadend.toml",
    )
    for rel in refused:
        async with client.get(URL(base + rel, encoded=True)) as r:
            assert r.status == 404, rel
    for path in ("/live/../headend.toml", "/live/%2e%2e/headend.toml/x", "/live/Dangke-1201/master.m3u8"):
        async with client.get(URL(path, encoded=True)) as r:
            assert r.status == 404, path


async def test_the_studio_publishes_over_rtmp_and_a_cancelled_encoder_kills_its_ffmpeg(root):
    """OBS at the studio publishes to the address the headend listens on; the class is running;
    when the headend stops the task, its ffmpeg goes with it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"rtmp://127.0.0.1:{s.getsockname()[1]}/live/dangke"
    running = asyncio.Event()
    task = asyncio.create_task(
        run_live(
            load_config(root),
            "dangke-rtmp",
            url,
            datetime.now(UTC) + timedelta(minutes=5),
            on_status=lambda st: running.set() if st.state == "running" else None,
        )
    )
    await asyncio.sleep(1)  # ffmpeg is listening
    encoders = [p for p in psutil.Process().children(recursive=True) if "dangke-rtmp" in " ".join(p.cmdline())]
    assert len(encoders) == 1
    obs = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", SOURCE,
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-f", "flv", url,
    )  # fmt: skip
    try:
        await asyncio.wait_for(running.wait(), 20)
    finally:
        obs.kill()
        await obs.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not encoders[0].is_running()
    status = read_status(load_config(root), "dangke-rtmp")
    assert status.state == "failed" and "interrupted" in status.last_error and status.segments["stb-sd"] >= 1
