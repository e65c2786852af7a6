"""`make bench` (TV page) in the system Chromium, on a station holding 5,000 courses in 7
categories (a county's catalogue), with notices, today's programmes and continue-watching points:

1. home page bytes: HTML + CSS + JS the TV downloads for `/` (posters excluded); target ≤ 150 KB.
2. first paint of `/` with the CPU throttled 6× (DevTools `Emulation.setCPUThrottlingRate`),
   median of 5 cold loads, beside a bare one-line HTML page loaded the same way (the baseline:
   what the browser itself costs on this machine).
3. key press → focus moved: 200 arrow presses on the home page, time from the keydown event to
   the focus change (and to the next animation frame), p50/p95, at 1× and 6× CPU; target p95 ≤ 50 ms.
4. the first page of the largest category (its courses a page at a time): bytes, and key → focus
   p95 at 6× CPU.
"""

from __future__ import annotations

import hashlib
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from catalogue import Course  # noqa: E402
from catalogue.categories import CATEGORIES  # noqa: E402
from playlists import Notice, Schedule, media_path  # noqa: E402
from playlists.schedule import CHINA  # noqa: E402
from station.config import StationConfig  # noqa: E402
from station.model import InstalledCourse, InstalledPlaylist, InstalledSet, SyncStatus  # noqa: E402
from station.store import Store  # noqa: E402
from station.web.app import create_app  # noqa: E402
from station.web.keys import ATTENDANCE  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, LiveServer  # noqa: E402
from tests.conftest import make_clip  # noqa: E402

COURSES = 5000
PER_CATEGORY = -(-COURSES // len(CATEGORIES))
PRESSES = 200
LOADS = 5

LATENCY_JS = """
window.__lat = []; window.__frame = []; var __t0 = 0;
window.addEventListener('keydown', function (e) { __t0 = e.timeStamp; }, true);
document.addEventListener('focusin', function () {
  if (!__t0) { return; }
  var t0 = __t0; __t0 = 0;
  window.__lat.push(performance.now() - t0);
  requestAnimationFrame(function () { window.__frame.push(performance.now() - t0); });
}, true);
"""


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def put(store: Store, src: Path, ext: str) -> str:
    rel = media_path(hashlib.sha256(src.read_bytes()).hexdigest(), ext)
    dest = store.blob_path(rel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return rel


def build_station(work: Path) -> tuple[StationConfig, Store]:
    make_clip(work / "clip.mp4", 3, audio="sine")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360", "-frames:v", "1", str(work / "poster.jpg"))
    store = Store(work / "station")
    clip, poster = put(store, work / "clip.mp4", "mp4"), put(store, work / "poster.jpg", "jpg")
    courses = []
    for n, cat in enumerate(CATEGORIES):
        for i in range(1, min(PER_CATEGORY, COURSES - n * PER_CATEGORY) + 1):
            cid = f"c-{cat.id}-{i}"
            course = Course(
                id=cid,
                title=f"{cat.label}课程第{i}讲：农村实用技术与政策解读",
                category=cat.id,
                duration_s=1800.0,
                source_sha256=hashlib.sha256(cid.encode()).hexdigest(),
                description="讲解要点。" * 20,
            )
            courses.append(
                InstalledCourse(course, "video", "video/mp4", media=clip, poster=poster, playlists=("main",))
            )
    now = datetime.now(CHINA)
    schedule = Schedule.from_dict(
        {"slots": [{"course": courses[i].id, "start": (now + timedelta(hours=2 + i)).isoformat()} for i in range(3)]}
    )
    store.install(
        InstalledSet(
            index_version=1,
            courses=tuple(courses),
            playlists=(InstalledPlaylist("main", 1, "全部课程", schedule=schedule),),
            notices=tuple(
                Notice(id=f"n{i}", title=f"通知{i}：本周六上午九点在村委会开展集中学习", body="请准时参加。")
                for i in range(3)
            ),
        )
    )
    store.record_sync(SyncStatus(state="ok", last_success=now))
    config = StationConfig(
        path=work / "station.toml",
        station_id="bench",
        name="基准测试村远教站点",
        region=("广东省",),
        player="tv-hd",
        data_dir=work / "station",
        mirrors=("http://127.0.0.1:9/repo/",),
        trusted_keys=(),
        sync_interval_s=300.0,
        sync_timeout_s=30.0,
        report_url="http://127.0.0.1:9/api/v1/",
        report_token="",
        ui_host="127.0.0.1",
        ui_port=0,
        admin_pin="271828",
        language="zh-CN",
    )
    return config, store


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def home_bytes(browser, base: str, path: str = "/") -> tuple[int, int, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    sizes: dict[str, int] = {}

    def on_response(resp):
        try:
            sizes[resp.url] = len(resp.body())
        except Exception:
            pass

    page.on("response", on_response)
    page.goto(base + path, wait_until="load")
    page.wait_for_timeout(300)
    page.close()
    posters = {u: n for u, n in sizes.items() if "/media/" in u}
    rest = {u: n for u, n in sizes.items() if u not in posters}
    return sum(rest.values()), sum(posters.values()), sorted(u.replace(base, "") for u in rest)


def first_paint(browser, url: str, rate: float) -> float:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
    page.goto(url, wait_until="load")
    page.wait_for_function("performance.getEntriesByType('paint').length > 0", timeout=30000)
    paints = page.evaluate("Object.fromEntries(performance.getEntriesByType('paint').map(p => [p.name, p.startTime]))")
    context.close()
    return paints.get("first-paint") or paints.get("first-contentful-paint")


def key_latency(browser, base: str, rate: float, path: str = "/") -> tuple[list[float], list[float]]:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.add_init_script(LATENCY_JS)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
    page.goto(base + path, wait_until="load")
    pattern = [
        "ArrowRight",
        "ArrowRight",
        "ArrowRight",
        "ArrowDown",
        "ArrowLeft",
        "ArrowLeft",
        "ArrowLeft",
        "ArrowDown",
        "ArrowUp",
        "ArrowUp",
    ]
    for i in range(PRESSES):
        page.keyboard.press(pattern[i % len(pattern)])
    page.wait_for_timeout(300)
    lat, frame = page.evaluate("[window.__lat, window.__frame]")
    context.close()
    return lat, frame


def main() -> int:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-tv-") as tmp:
        work = Path(tmp)
        config, store = build_station(work)
        app = create_app(config, store)
        att = app[ATTENDANCE]
        for i in range(4):
            att.save_resume(f"c-health-{i + 1}", 600.0, 1800.0)
        (work / "blank.html").write_text("<!DOCTYPE html><title>x</title><p>基准</p>", encoding="utf-8")
        server = LiveServer(app)
        blank = work / "blank.html"
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                total, posters, urls = home_bytes(browser, server.base)
                print(f"TV home page on a station with {len(store.courses())} courses")
                print(
                    f"  bytes (HTML+CSS+JS, posters excluded): {total / 1024:6.1f} KB   target ≤ 150 KB   "
                    f"{'ok' if total <= 150 * 1024 else 'OVER'}   ({', '.join(urls)}; posters {posters / 1024:.0f} KB)"
                )
                ours = [first_paint(browser, server.base + "/", 6) for _ in range(LOADS)]
                base = [first_paint(browser, blank.as_uri(), 6) for _ in range(LOADS)]
                print(
                    f"  first paint at 6x CPU throttle (median of {LOADS}): {statistics.median(ours):6.0f} ms   "
                    f"bare page {statistics.median(base):5.0f} ms   ratio {statistics.median(ours) / statistics.median(base):.2f}"
                )
                for rate in (1, 6):
                    lat, frame = key_latency(browser, server.base, rate)
                    p95 = pct(lat, 0.95)
                    print(
                        f"  key press → focus moved at {rate}x CPU ({len(lat)} presses): p50 {pct(lat, 0.5):5.1f} ms  "
                        f"p95 {p95:5.1f} ms  target p95 ≤ 50 ms  {'ok' if p95 <= 50 else 'OVER'};  "
                        f"→ next frame p95 {pct(frame, 0.95):5.1f} ms"
                    )
                cat = max(CATEGORIES, key=lambda c: sum(1 for x in store.courses() if x.category == c.id)).id
                total, _, _ = home_bytes(browser, server.base, f"/category/{cat}")
                lat, _ = key_latency(browser, server.base, 6, f"/category/{cat}")
                print(
                    f"  category page /category/{cat} ({sum(1 for x in store.courses() if x.category == cat)} courses), "
                    f"first page: {total / 1024:6.1f} KB; key press → focus moved at 6x CPU p95 {pct(lat, 0.95):5.1f} ms"
                )
                browser.close()
        finally:
            server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
