"""`make bench` (live classes, issue 16): the live path from the studio to the village TV, each
figure beside a baseline measured in the same run (machines here are shared and noisy, so only
ratios and targets mean something). Everything on 127.0.0.1; about three minutes on 2 cores.

1. Delay from the source to the TV: a lavfi "studio" (1280×720, 25 fps, a tone) encoded by
   `headend live run` (profile stb-sd, 2 s segments), served by `headend serve`, relayed by a
   `station serve`, played by headless Chromium (its own HLS player) from a plain page on the
   station's origin. Sampled every second for ``DELAY_SAMPLES`` s once playback runs, as
   tests/tv/test_live_journey.py `delay_s` measures it: the relay's live edge (last
   EXT-X-PROGRAM-DATE-TIME + its EXTINF) to now, plus how far the video plays behind its
   seekable end. Target ≤ 3 segment durations + 2 s (8 s). Where it goes: the edge's age in
   the headend's own playlist (the encoder), in the station's (the relay), and the player's lag.
2. Headend CPU per live profile: the ffmpeg child of `headend live run` (psutil user + system,
   all threads) over the first ``CPU_WINDOW_S`` s of a real-time (`-re`) lavfi source, for
   stb-sd, tv-hd and audio each alone in the headend, against a bare ffmpeg of the same source
   with the same encoder settings into the same HLS muxer but none of our filters (no
   fps/scale/pad chain, no loudnorm, no explicit resampler). Both get the picture already at the
   profile's frame size, so the ratio is what our chain adds, not a scaling. stb-sd and audio run
   side by side with their baseline (the same seconds of a noisy machine; together well under
   one core); tv-hd runs alone, then its baseline, so its speed says whether 1080p keeps real
   time here. Speed: media seconds of segments written per wall second, from the segments'
   mtimes (1.00 = real time). Also the age of the live edge each playlist announces (what the
   encoder adds to part 1's delay), ours against the bare one.
3. Station relay per viewer: a `station serve` whose mirror is an nginx holding a "live class"
   that grows by one real stb-sd segment (from part 1) every 2 s; N simulated HLS viewers
   (asyncio, one connection each, a playlist poll every second, each new segment fetched once)
   for ``RELAY_WINDOW_S`` s, N = 1, 10, 50, a fresh relay each time. The relay's CPU (psutil)
   per viewer-minute and its RSS growth per viewer; baseline: another N viewers, in the same
   window, against a second nginx serving the same files directly (ratio relay ÷ nginx CPU).
   The upstream nginx's access log gives the fetches per segment (target 1: single flight).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from headend.courseware.live_recipe import Rendition, plan  # noqa: E402
from players import load_profiles  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.conftest import write_station_toml  # noqa: E402
from tests.test_sync_cache import free_port, nginx_binary  # noqa: E402

BIN = Path(sys.executable).parent
SEGMENT_S = 2
DELAY_TARGET_S = 3 * SEGMENT_S + 2
STUDIO = "testsrc2=size=1280x720:rate=25[out0];sine=frequency=440:sample_rate=48000[out1]"
DELAY_SAMPLES = 20  # one a second
CPU_WINDOW_S = 18.0
RELAY_WINDOW_S = 20.0
VIEWERS = (1, 10, 50)
LIVE_WINDOW = 6  # segments in the upstream's playlist, as the headend's (LIST_SIZE)


# ---- processes --------------------------------------------------------------------------------


class Children:
    """Every process this bench starts, each stopped by its own pid at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs, self.procs = logs, []
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, *args: object) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen([str(a) for a in args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        proc.log_file, proc.log_name = out, name
        self.procs.append(proc)
        return proc

    def log(self, proc: subprocess.Popen) -> str:
        return (self.logs / f"{proc.log_name}.log").read_text(errors="replace")[-3000:]

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, grace_s: float = 20) -> None:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.log_file.close()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            self.stop(proc, grace_s=10)


def wait_port(port: int, proc: subprocess.Popen, children: Children, timeout_s: float = 30) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[:3]} exited ({proc.returncode}):\n{children.log(proc)}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port} after {timeout_s:g} s:\n{children.log(proc)}")


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""


def segments_in(playlist: bytes) -> list[str]:
    return re.findall(r"(?m)^(seg-\d+\.ts)\s*$", playlist.decode("utf-8", "replace"))


def headend_root(work: Path) -> Path:
    root = work / "headend"
    subprocess.run([BIN / "headend", "init", "--root", root], check=True, capture_output=True)
    set_profiles(root, ["stb-sd"])
    text = (root / "headend.toml").read_text(encoding="utf-8")
    (root / "headend.toml").write_text(re.sub(r"(?m)^intake_workers = \d+", "intake_workers = 0", text), "utf-8")
    return root


def set_profiles(root: Path, names: list[str]) -> None:
    toml = root / "headend.toml"
    text = toml.read_text(encoding="utf-8")
    listed = ", ".join(f'"{n}"' for n in names)
    toml.write_text(re.sub(r"(?m)^profiles = .*$", f"profiles = [{listed}]", text), encoding="utf-8")


def edge_age(playlist: str | bytes) -> float | None:
    """Seconds from the live edge a playlist announces (its last EXT-X-PROGRAM-DATE-TIME plus that
    segment's EXTINF: the wall time the source made the newest frame it lists) to now."""
    text = playlist.decode("utf-8", "replace") if isinstance(playlist, bytes) else playlist
    stamps = re.findall(r"#EXTINF:([\d.]+),\s+#EXT-X-PROGRAM-DATE-TIME:(\S+)", text)
    if not stamps:
        return None
    length, last = stamps[-1]
    edge = datetime.fromisoformat(last.replace("Z", "+00:00")) + timedelta(seconds=float(length))
    return (datetime.now(UTC) - edge).total_seconds()


# ---- 1. delay from the studio to the TV --------------------------------------------------------

# The TV's live page as /watch/<id> renders it, driven by the station's own tv.js (which attaches the
# stream, keeps the TV near the live edge and retries a stall), on the station's origin.
PAGE = (
    '<!DOCTYPE html><html lang="zh-CN"><head><title>live</title></head>'
    '<body data-page="live" data-live="{live_id}" data-src="{src}" data-start="{start_ms}" data-end="{end_ms}"'
    ' data-back="/"><video id="media" class="media" autoplay muted></video>'
    '<div id="live-card" data-before="%s" data-connecting="…" data-stalled="中断" data-ended="结束">'
    '<p id="live-state"></p></div><script src="/static/tv.js"></script></body></html>'
)

# As tests/tv/test_live_journey.py delay_s: how far the video plays behind its seekable end, and
# the relay's playlist fetched from the page at that moment.
DELAY_JS = """async (src) => {
  const v = document.getElementById('media');
  const r = v.seekable.length ? v.seekable : v.buffered;
  const behind = r.length ? r.end(r.length - 1) - v.currentTime : 0;
  const text = await (await fetch(src, {cache: 'no-store'})).text();
  return [behind, text, v.currentTime];
}"""


def delay_sample(page, src: str, headend_url: str) -> tuple[float, float, float, float]:
    """(delay s; the edge's age at the headend, at the station; currentTime). The delay is the
    age of the station's edge plus how far the video plays behind its seekable end."""
    behind, text, current = page.evaluate(DELAY_JS, src)
    at_station = edge_age(text)
    if at_station is None:
        raise SystemExit(f"no EXT-X-PROGRAM-DATE-TIME in the relayed playlist:\n{text}")
    status, body = http_get(headend_url)
    at_headend = edge_age(body) if status == 200 else None
    return at_station + behind, at_headend if at_headend is not None else float("nan"), at_station, current


def bench_delay(work: Path, root: Path, children: Children) -> Path:
    """Part 1; returns the folder of stb-sd segments it made (part 3 serves them again)."""
    from playwright.sync_api import sync_playwright

    live_id = "bench-delay"
    hport, sport = free_port(), free_port()
    headend = children.start("headend-serve", BIN / "headend", "serve", "--root", root,
                             "--host", "127.0.0.1", "--port", hport)  # fmt: skip
    wait_port(hport, headend, children)
    t0 = time.monotonic()
    encoder = children.start("live-delay", BIN / "headend", "live", "run", "--root", root, live_id,
                             "--input", f"lavfi:{STUDIO}", "--duration-min", "2")  # fmt: skip
    d = work / "station-delay"
    d.mkdir()
    toml = write_station_toml(d / "station.toml", [f"http://127.0.0.1:{hport}/repo/"], root / "keys" / "headend.pub")
    station = children.start("station-delay", sys.executable, "-m", "station.cli", "--config", toml,
                             "serve", "--host", "127.0.0.1", "--port", sport)  # fmt: skip
    wait_port(sport, station, children)
    base = f"http://127.0.0.1:{sport}"
    src = f"/live/{live_id}/stb-sd/index.m3u8"
    while True:  # a class under way: three segments in the relayed playlist
        status, body = http_get(base + src)
        if status == 200 and len(segments_in(body)) >= 3:
            break
        if encoder.poll() is not None or time.monotonic() - t0 > 60:
            raise SystemExit(f"no live playlist at the station after 60 s:\n{children.log(encoder)}")
        time.sleep(0.25)
    print(f"1. delay from the studio to the TV (stb-sd, {SEGMENT_S} s segments; playlist with 3 segments "
          f"at the station {time.monotonic() - t0:.1f} s after `headend live run`)")  # fmt: skip
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            now_ms = int(time.time() * 1000)
            html = PAGE.format(live_id=live_id, src=src, start_ms=now_ms - 10_000, end_ms=now_ms + 600_000)
            page.route(base + "/bench.html", lambda r: r.fulfill(body=html, content_type="text/html"))
            t = time.monotonic()
            page.goto(base + "/bench.html")
            page.wait_for_function("document.getElementById('media').currentTime > 0.2", timeout=30000)
            print(f"  first picture {time.monotonic() - t:.1f} s after the page opened")
            samples = []
            start = time.monotonic()
            for i in range(DELAY_SAMPLES):
                samples.append(delay_sample(page, src, f"http://127.0.0.1:{hport}{src}"))
                time.sleep(max(0.0, start + i + 1 - time.monotonic()))
            played = samples[-1][3] - samples[0][3]
            stalled = page.evaluate("document.getElementById('media').readyState") < 3
        finally:
            browser.close()
    delays = [s[0] for s in samples]
    med, worst = statistics.median(delays), max(delays)
    at_headend, at_station = statistics.median(s[1] for s in samples), statistics.median(s[2] for s in samples)
    print(
        f"  delay over {len(delays)} samples, one a second: median {med:.1f} s, max {worst:.1f} s, min {min(delays):.1f} s"
    )
    print(
        f"  where it goes (medians): the live edge is {at_headend:.1f} s old in the headend's playlist (encoder, "
        f"{SEGMENT_S} s segments), {at_station:.1f} s at the station (relay +{at_station - at_headend:.1f} s); "
        f"the player plays {med - at_station:.1f} s behind its seekable end"
    )
    print(
        f"  target ≤ 3 × {SEGMENT_S} s + 2 s = {DELAY_TARGET_S} s: max {worst:.1f} s "
        f"{'ok' if worst <= DELAY_TARGET_S else 'OVER'}   (median {'ok' if med <= DELAY_TARGET_S else 'OVER'})"
    )
    print(
        f"  video time played in the {DELAY_SAMPLES - 1} s sampled: {played:.1f} s"
        f"{'  (stalled at the end)' if stalled else ''}"
    )
    children.stop(station)
    children.stop(encoder, signal.SIGINT)  # ends the class cleanly: last segment, #EXT-X-ENDLIST
    children.stop(headend)
    return root / "live" / live_id / "stb-sd"


# ---- 2. headend CPU per live profile -----------------------------------------------------------


def source_for(r: Rendition) -> str:
    tone = "sine=frequency=440:sample_rate=48000"
    return f"testsrc2=size={r.width}x{r.height}:rate={r.fps}[out0];{tone}[out1]" if r.has_video else tone


def bare_args(r: Rendition, out: Path) -> list[str]:
    """The baseline: the same source, encoder settings and HLS muxer as live_args, no filters."""
    a = r.profile.audio
    args = ["ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", source_for(r)]
    if r.has_video:
        v, gop = r.profile.video, r.fps * SEGMENT_S
        args += [
            "-c:v", v.codec, "-profile:v", v.h264_profile, "-level:v", v.h264_level, "-pix_fmt", "yuv420p",
            "-preset", "veryfast", "-tune", "zerolatency", "-crf", str(v.crf),
            "-maxrate", f"{v.max_bitrate_kbps}k", "-bufsize", f"{v.max_bitrate_kbps}k",
            "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
            "-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_S})",
        ]  # fmt: skip
    args += [
        "-c:a", a.codec, "-b:a", f"{a.bitrate_kbps}k", "-ac", str(a.channels), "-ar", str(a.sample_rate_hz),
        "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_list_size", str(LIVE_WINDOW), "-hls_segment_type", "mpegts",
        "-hls_flags", "independent_segments+temp_file+omit_endlist+program_date_time",
        "-hls_segment_filename", str(out / "seg-%05d.ts"), str(out / "index.m3u8"),
    ]  # fmt: skip
    return args


def speed(folder: Path) -> float:
    """Media seconds written per wall second between the first and the last whole segment."""
    times = sorted(p.stat().st_mtime for p in folder.glob("seg-*.ts"))
    if len(times) < 3:
        return float("nan")
    return (len(times) - 1) * SEGMENT_S / (times[-1] - times[0])


class Encoder:
    """One ffmpeg watched for its first CPU_WINDOW_S s: CPU (user + system, every thread), speed,
    and the age of the live edge its playlist announces, sampled as it goes."""

    def __init__(self, ps: psutil.Process, folder: Path, parent: psutil.Process | None = None) -> None:
        self.ps, self.folder, self.parent = ps, folder, parent
        self.born = ps.create_time()
        self.parent_cpu0 = sum(parent.cpu_times()[:2]) if parent else 0.0
        self.cpu = self.wall = self.speed = self.wrapper_cpu = None
        self.ages: list[float] = []

    def poll(self, now: float) -> None:
        if self.cpu is not None:
            return
        if now - self.born >= CPU_WINDOW_S:
            self.cpu, self.wall = sum(self.ps.cpu_times()[:2]), now - self.born
            self.speed = speed(self.folder)  # before the stop's last, short segment
            self.wrapper_cpu = sum(self.parent.cpu_times()[:2]) - self.parent_cpu0 if self.parent else 0.0
            return
        try:
            age = edge_age((self.folder / "index.m3u8").read_bytes())
        except OSError:
            age = None
        if age is not None:
            self.ages.append(age)

    @property
    def per_min(self) -> float:
        return self.cpu / self.wall * 60

    @property
    def age(self) -> float:
        return statistics.median(self.ages) if self.ages else float("nan")


def watch(encoders: list[Encoder]) -> None:
    while any(e.cpu is None for e in encoders):
        now = time.time()
        for e in encoders:
            e.poll(now)
        time.sleep(0.1)


def ffmpeg_child(parent: subprocess.Popen, children: Children, timeout_s: float = 15) -> psutil.Process:
    end = time.monotonic() + timeout_s
    ps = psutil.Process(parent.pid)
    while time.monotonic() < end:
        found = [c for c in ps.children(recursive=True) if c.name() == "ffmpeg"]
        if found:
            return found[0]
        if parent.poll() is not None:
            break
        time.sleep(0.02)
    raise SystemExit(f"`headend live run` started no ffmpeg:\n{children.log(parent)}")


def bench_cpu(work: Path, root: Path, children: Children) -> None:
    print(
        f"2. headend CPU per live profile, each alone in the headend, the first {CPU_WINDOW_S:g} s of a real-time lavfi "
        "source (psutil user+system of ffmpeg; the baseline: a bare ffmpeg, same source, encoder and HLS muxer, "
        "no filters). stb-sd and audio run beside their baseline (the same seconds of this noisy machine); "
        "tv-hd runs alone, then its baseline, so that its speed says whether 1080p keeps real time here"
    )
    renditions = {r.name: r for r in plan(list(load_profiles(None).values()))}
    for name, side_by_side in (("stb-sd", True), ("tv-hd", False), ("audio", True)):
        r = renditions[name]
        set_profiles(root, [name])
        live_id, out = f"bench-cpu-{name}", work / f"bare-{name}"
        out.mkdir()

        def start_bare() -> tuple[subprocess.Popen, Encoder]:
            bare = children.start(f"bare-{name}", *bare_args(r, out))  # noqa: B023 (called in this pass)
            return bare, Encoder(psutil.Process(bare.pid), out)  # noqa: B023

        run = children.start(f"live-{name}", BIN / "headend", "live", "run", "--root", root, live_id,
                             "--input", f"lavfi:{source_for(r)}", "--duration-min", "2")  # fmt: skip
        ours = Encoder(ffmpeg_child(run, children), root / "live" / live_id / name, psutil.Process(run.pid))
        if side_by_side:
            bare, base = start_bare()
            watch([ours, base])
            children.stop(run, signal.SIGINT)
        else:
            watch([ours])
            children.stop(run, signal.SIGINT)
            bare, base = start_bare()
            watch([base])
        children.stop(bare, signal.SIGINT)

        what = f"{r.width}x{r.height} {r.fps} fps, " if r.has_video else ""
        what += f"AAC {r.profile.audio.bitrate_kbps} kbit/s {r.profile.audio.channels} ch"
        print(f"  {name} ({what}):")
        print(
            f"    headend live run's ffmpeg: {ours.cpu:6.2f} CPU s in {ours.wall:4.1f} s = {ours.per_min:5.1f} CPU s per "
            f"minute of class ({ours.per_min / 60:.2f} cores), speed {ours.speed:.2f}, live edge {ours.age:.1f} s old; "
            f"the Python around it {ours.wrapper_cpu:.2f} CPU s"
        )
        print(
            f"    bare ffmpeg:               {base.cpu:6.2f} CPU s in {base.wall:4.1f} s = {base.per_min:5.1f} CPU s per "
            f"minute          ({base.per_min / 60:.2f} cores), speed {base.speed:.2f}, live edge {base.age:.1f} s old"
        )
        keeps = "keeps real time" if ours.speed >= 0.97 else "does NOT keep real time on this machine"
        print(
            f"    ratio ours ÷ bare: CPU {ours.per_min / base.per_min:.2f}; live edge +{ours.age - base.age:.1f} s; "
            f"ours {keeps} (speed ≥ 0.97)"
        )
    set_profiles(root, ["stb-sd"])


# ---- 3. the station's relay per viewer ---------------------------------------------------------

NGINX = """\
{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
    log_format bench '$request_uri $status $body_bytes_sent';
    access_log {d}/access.log bench;
    sendfile on;
    keepalive_requests 100000;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {tree};
        location /live/ {{ add_header Cache-Control "public, max-age=1"; }}
    }}
}}
"""


def start_nginx(d: Path, tree: Path, children: Children) -> tuple[int, subprocess.Popen]:
    (d / "tmp").mkdir(parents=True)
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    (d / "nginx.conf").write_text(NGINX.format(user=user, d=d, port=port, tree=tree), encoding="utf-8")
    proc = children.start(d.name, nginx_binary(), "-p", d, "-c", d / "nginx.conf", "-e", d / "error.log",
                          "-g", "daemon off;")  # fmt: skip
    wait_port(port, proc, children)
    return port, proc


class Upstream:
    """A live class on disk that grows by one segment every SEGMENT_S s of wall clock (the
    segments from part 1, over and over under new numbers); the playlist a window of LIVE_WINDOW."""

    def __init__(self, folder: Path, sources: list[Path]) -> None:
        self.folder, self.sources, self.n = folder, sources, 0
        folder.mkdir(parents=True)

    def release(self) -> None:
        self.n += 1
        seg = self.folder / f"seg-{self.n:05d}.ts"
        os.link(self.sources[(self.n - 1) % len(self.sources)], seg)
        first = max(1, self.n - LIVE_WINDOW + 1)
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{SEGMENT_S}", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        for k in range(first, self.n + 1):
            lines += [f"#EXTINF:{SEGMENT_S}.000000,", f"seg-{k:05d}.ts"]
        tmp = self.folder / "index.m3u8.tmp"
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, self.folder / "index.m3u8")

    async def run(self) -> None:
        next_at = time.monotonic()
        while True:
            next_at += SEGMENT_S
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            self.release()


class Viewers:
    """What N HLS players ask for: the variant playlist every second, each new segment once
    (starting three from the live edge), each player on its own connection."""

    def __init__(self) -> None:
        self.requests = self.segments = self.bytes = self.errors = 0

    async def one(self, url: str, end: float) -> None:
        await asyncio.sleep(random.random())  # TVs are not switched on in step
        base = url.rsplit("/", 1)[0] + "/"
        seen: set[str] = set()
        first = True
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
            while time.monotonic() < end:
                tick = time.monotonic()
                try:
                    async with session.get(url) as resp:
                        text = await resp.read()
                        self.requests += 1
                        self.errors += resp.status != 200
                    names = segments_in(text) if resp.status == 200 else []
                    new = names[-3:] if first else [n for n in names if n not in seen]
                    seen.update(names)
                    first = False
                    for name in new:
                        async with session.get(base + name) as resp:
                            body = await resp.read()
                            self.requests += 1
                            self.segments += 1
                            self.bytes += len(body)
                            if resp.status != 200:
                                self.errors += 1
                except aiohttp.ClientError:
                    self.errors += 1
                await asyncio.sleep(max(0.0, tick + 1 - time.monotonic()))


def cpu_s(procs: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in procs)


def nginx_procs(proc: subprocess.Popen) -> list[psutil.Process]:
    master = psutil.Process(proc.pid)
    return [master, *master.children()]


def upstream_fetches(log: Path, since: int, live_path: str) -> tuple[Counter[str], int, list[str]]:
    lines = log.read_text().splitlines() if log.exists() else []
    segs: Counter[str] = Counter()
    playlists = 0
    for line in lines[since:]:
        uri = line.split()[0]
        if uri.startswith(live_path) and uri.endswith(".ts"):
            segs[uri] += 1
        elif uri.startswith(live_path) and uri.endswith(".m3u8"):
            playlists += 1
    return segs, playlists, lines


async def one_relay_run(n: int, ctx: dict, children: Children) -> dict:
    work, up_port, direct_port = ctx["work"], ctx["up_port"], ctx["direct_port"]
    d = work / f"station-relay-{n}"
    d.mkdir()
    toml = write_station_toml(d / "station.toml", [f"http://127.0.0.1:{up_port}/repo/"], ctx["pub"])
    port = free_port()
    station = children.start(f"station-relay-{n}", sys.executable, "-m", "station.cli", "--config", toml,
                             "serve", "--host", "127.0.0.1", "--port", port)  # fmt: skip
    try:
        await asyncio.to_thread(wait_port, port, station, children)
        relay_url = f"http://127.0.0.1:{port}/live/bench-relay/stb-sd/index.m3u8"
        direct_url = f"http://127.0.0.1:{direct_port}/live/bench-relay/stb-sd/index.m3u8"
        status, _ = await asyncio.to_thread(http_get, relay_url)
        assert status == 200, status
        await asyncio.sleep(1.0)  # the daemon's first sync pass (it fails: no repository here) is over
        relay_ps, nginx_ps = psutil.Process(station.pid), nginx_procs(ctx["direct"])
        log_from = len(upstream_fetches(ctx["up_log"], 0, "")[2])
        idle_rss = relay_ps.memory_info().rss
        relay_cpu0, nginx_cpu0 = cpu_s([relay_ps]), cpu_s(nginx_ps)
        t0 = time.monotonic()
        end = t0 + RELAY_WINDOW_S
        via_relay, direct = Viewers(), Viewers()
        tasks = [asyncio.create_task(via_relay.one(relay_url, end)) for _ in range(n)]
        tasks += [asyncio.create_task(direct.one(direct_url, end)) for _ in range(n)]
        peak = idle_rss
        while time.monotonic() < end:
            peak = max(peak, relay_ps.memory_info().rss)
            await asyncio.sleep(0.25)
        await asyncio.gather(*tasks)
        wall = time.monotonic() - t0
        relay_cpu, nginx_cpu = cpu_s([relay_ps]) - relay_cpu0, cpu_s(nginx_ps) - nginx_cpu0
        peak = max(peak, relay_ps.memory_info().rss)
        segs, playlists, _ = upstream_fetches(ctx["up_log"], log_from, "/live/bench-relay/")
    finally:
        children.stop(station)
    return {
        "n": n, "wall": wall, "relay_cpu": relay_cpu, "nginx_cpu": nginx_cpu, "idle_rss": idle_rss, "peak": peak,
        "relay": via_relay, "direct": direct, "segs": segs, "playlists": playlists,
    }  # fmt: skip


async def bench_relay(work: Path, segments: Path, pub: Path, children: Children) -> None:
    sources = sorted(segments.glob("seg-*.ts"))
    if len(sources) < 3:
        raise SystemExit(f"part 1 left {len(sources)} segments in {segments}; part 3 needs 3 or more")
    tree = work / "upstream-tree"
    upstream = Upstream(tree / "live" / "bench-relay" / "stb-sd", sources)
    for _ in range(3):  # a class under way
        upstream.release()
    up_port, _ = start_nginx(work / "nginx-upstream", tree, children)
    direct_port, direct = start_nginx(work / "nginx-direct", tree, children)
    size = statistics.mean(p.stat().st_size for p in sources)
    print(
        f"3. station relay per viewer: a live class growing one stb-sd segment ({size / 1e3:.0f} kB on average) "
        f"every {SEGMENT_S} s, {RELAY_WINDOW_S:g} s per run, a fresh `station serve` each run; "
        "the baseline's viewers at the same time against nginx serving the same files"
    )
    ctx = {"work": work, "up_port": up_port, "direct_port": direct_port, "direct": direct, "pub": pub,
           "up_log": work / "nginx-upstream" / "access.log"}  # fmt: skip
    grower = asyncio.create_task(upstream.run())
    results = []
    try:
        for n in VIEWERS:
            results.append(await one_relay_run(n, ctx, children))
    finally:
        grower.cancel()
        await asyncio.gather(grower, return_exceptions=True)
    for r in results:
        n, minutes = r["n"], r["wall"] / 60
        relay_ms, nginx_ms = r["relay_cpu"] * 1000 / (n * minutes), r["nginx_cpu"] * 1000 / (n * minutes)
        v, b = r["relay"], r["direct"]
        per_seg = list(r["segs"].values())
        print(f"  N = {n:2d} viewers, {r['wall']:.1f} s:")
        print(
            f"    through the relay: {v.requests} requests, {v.segments} segments, {v.bytes / 1e6:.1f} MB, {v.errors} errors; "
            f"CPU {r['relay_cpu']:.2f} s = {relay_ms:6.1f} ms per viewer-minute"
        )
        print(
            f"    nginx directly:    {b.requests} requests, {b.segments} segments, {b.bytes / 1e6:.1f} MB, {b.errors} errors; "
            f"CPU {r['nginx_cpu']:.2f} s = {nginx_ms:6.1f} ms per viewer-minute   ratio relay ÷ nginx "
            + (f"{r['relay_cpu'] / r['nginx_cpu']:.1f}" if r["nginx_cpu"] else "n/a (nginx under psutil's 10 ms tick)")
        )
        print(
            f"    relay RSS: {r['idle_rss'] / 2**20:.1f} MiB before the viewers, peak {r['peak'] / 2**20:.1f} MiB "
            f"(+{(r['peak'] - r['idle_rss']) / 2**20:.1f} MiB, {(r['peak'] - r['idle_rss']) / n / 2**10:.0f} KiB per viewer; "
            "the segment cache grows with the class, not the viewers)"
        )
        ok = per_seg and max(per_seg) == 1
        print(
            f"    upstream: {len(per_seg)} segments fetched {sum(per_seg)} times "
            f"({max(per_seg, default=0)} at most per segment, target 1 {'ok' if ok else 'OVER'}); "
            f"{r['playlists']} playlist fetches ({r['playlists'] / r['wall']:.2f} a second for {n} viewer(s))"
        )
    lo, hi = results[0], results[-1]
    slope = (hi["peak"] - lo["peak"]) / (hi["n"] - lo["n"])
    cpu_slope = (hi["relay_cpu"] / hi["wall"] - lo["relay_cpu"] / lo["wall"]) * 60 * 1000 / (hi["n"] - lo["n"])
    print(
        f"  marginal cost of a viewer (N = {lo['n']} → {hi['n']}): relay CPU {cpu_slope:.1f} ms per viewer-minute, "
        f"peak RSS {slope / 2**10:.0f} KiB per viewer"
    )


# ---- the whole ---------------------------------------------------------------------------------


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="yuanjiao-bench-live-"))
    children = Children(work / "logs")
    t = time.perf_counter()
    try:
        root = headend_root(work)
        segments = bench_delay(work, root, children)
        t1 = time.perf_counter()
        bench_cpu(work, root, children)
        t2 = time.perf_counter()
        asyncio.run(bench_relay(work, segments, root / "keys" / "headend.pub", children))
        t3 = time.perf_counter()
        print(f"(bench_live: {t3 - t:.0f} s; parts 1, 2, 3: {t1 - t:.0f} s, {t2 - t1:.0f} s, {t3 - t2:.0f} s)")
    finally:
        children.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
