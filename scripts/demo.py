"""`make run`: demo courseware → headend → station, both running until Ctrl-C.

Generates four demo courses from ffmpeg's lavfi sources (one audio-only), initialises a headend
under var/headend, ingests and publishes them, registers the demo station (its reporting token
into var/station/report.token), starts `headend serve`
on 127.0.0.1:8700 and `station serve` with the repository's station.toml on :8080, waits for the
first sync, and prints the URLs. Safe to run again: nothing is transcoded twice.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
SRC = VAR / "demo-src"
HEADEND_ROOT = VAR / "headend"
STATION_TOML = ROOT / "station.toml"
DEMO_PIN = "271828"  # set with `station pin set` before serving; printed with the addresses
DEMO_REVIEWER = "shen-he"  # the demo's account with the right to review notices (审核)
BIN = Path(sys.executable).parent

# (file, title, category, description, seconds, video source or None for audio-only, audio source)
COURSES = [
    (
        "rainy-season-geese.mp4",
        "雨季养鹅技术",
        "agriculture",
        "雨季鹅舍防潮、饲料保存与常见病预防。",
        45,
        "testsrc2=size=960x540:rate=25",
        "sine=frequency=330:beep_factor=2",
    ),
    (
        "party-winter-training.mp4",
        "基层党员冬训第一讲",
        "party",
        "冬训动员与学习安排。",
        40,
        "smptehdbars=size=1280x720:rate=25",
        "sine=frequency=220",
    ),
    (
        "winter-fire-safety.mp4",
        "冬季防火安全常识",
        "safety",
        "取暖用电用火安全，发现火情怎么办。",
        35,
        "mandelbrot=size=640x480:rate=25",
        "sine=frequency=440:beep_factor=4",
    ),
    (
        "rural-medical-insurance.m4a",
        "农村医保政策解读（广播）",
        "policy",
        "新农合缴费、报销比例与异地就医备案。",
        50,
        None,
        "sine=frequency=262:beep_factor=3",
    ),
]


def step(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([str(a) for a in args], cwd=ROOT, capture_output=True, text=True)
    if check and res.returncode != 0:
        sys.exit(f"demo: {' '.join(map(str, args[:3]))} failed:\n{res.stdout}{res.stderr}")
    return res


def make_sources() -> list[Path]:
    SRC.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, _, _, _, seconds, video, audio in COURSES:
        dest = SRC / name
        paths.append(dest)
        if dest.exists():
            continue
        args = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
        if video:
            args += ["-f", "lavfi", "-i", video]
        args += ["-f", "lavfi", "-i", audio, "-t", str(seconds)]
        if video:
            args += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
        args += ["-c:a", "aac", str(dest.with_suffix(".tmp" + dest.suffix))]
        run(*args)
        dest.with_suffix(".tmp" + dest.suffix).rename(dest)
    return paths


def write_programming() -> None:
    """A demo playlist with a programme starting in three minutes (the TV's channel mode counts
    down to it), and a notice for every station."""
    from datetime import datetime, timedelta

    from catalogue.display import CHINA

    start = (datetime.now(CHINA) + timedelta(minutes=3)).replace(second=0, microsecond=0)
    listing = run(BIN / "headend", "course", "list", "--root", HEADEND_ROOT).stdout
    course = next(line.split()[0] for line in listing.splitlines() if "[party " in line)
    (HEADEND_ROOT / "playlists").mkdir(exist_ok=True)
    (HEADEND_ROOT / "playlists" / "tonight.toml").write_text(
        f'title = "今日节目"\nitems = ["{course}"]\npriority = 10\n'
        f'[[schedule.slots]]\ncourse = "{course}"\nstart = {start.isoformat()}\n',
        encoding="utf-8",
    )
    step(f"programme: 《基层党员冬训第一讲》 at {start:%H:%M} China time (playlists/tonight.toml)")
    (HEADEND_ROOT / "notices").mkdir(exist_ok=True)
    (HEADEND_ROOT / "notices" / "winter-meeting.toml").write_text(
        'title = "冬训动员会"\nbody = "本周三晚七点半在村委会会议室集中学习，请党员准时参加。"\n', encoding="utf-8"
    )
    sign_off_notice("winter-meeting")


def sign_off_notice(notice_id: str) -> None:
    """A notice is published only once reviewed (审核, by an account with the reviewer right) and
    signed off (签发, by an admin): the demo's reviewer account and the first admin do both."""
    listing = run(BIN / "headend", "notice", "list", "--root", HEADEND_ROOT).stdout
    line = next((x for x in listing.splitlines() if x.startswith(f"{notice_id}\t")), "")
    if "\t已签发 signed\t" in line:
        return  # signed by an earlier run (the same file, the same bytes)
    run(
        BIN / "headend",
        "user",
        "add",
        "--root",
        HEADEND_ROOT,
        DEMO_REVIEWER,
        "--role",
        "editor",
        "--reviewer",
        check=False,
    )
    if "\t草稿 draft\t" in line:
        step(f"headend notice review {notice_id} --as {DEMO_REVIEWER} (审核)")
        run(BIN / "headend", "notice", "review", "--root", HEADEND_ROOT, notice_id, "--as", DEMO_REVIEWER)
    step(f"headend notice sign {notice_id} --as admin (签发: the next publish sends it)")
    run(BIN / "headend", "notice", "sign", "--root", HEADEND_ROOT, notice_id, "--as", "admin")


def write_token(token: str) -> None:
    """The station's reporting token into the file station.toml's [report] token_file names (0600)."""
    cfg = tomllib.loads(STATION_TOML.read_text(encoding="utf-8"))
    path = (STATION_TOML.parent / cfg["report"]["token_file"]).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    print(f"    reporting token written to {path.relative_to(ROOT)} (mode 0600)")


def wait_http(url: str, seconds: float, proc: subprocess.Popen, ok=lambda body: True) -> bytes:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"demo: {proc.args[1]} stopped (exit {proc.returncode}); see its output above")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                body = resp.read()
                if ok(body):
                    return body
        except OSError:
            pass
        time.sleep(0.3)
    sys.exit(f"demo: {url} did not answer within {seconds:.0f} s")


def one_time_password(stdout: str) -> str | None:
    """The one-time password ``headend init`` or ``headend user passwd`` printed (None if none)."""
    m = re.search(r"one-time password[^:]*: (\S+)", stdout)
    return m.group(1) if m else None


def main() -> int:
    cfg = tomllib.loads(STATION_TOML.read_text(encoding="utf-8"))
    ui_port = cfg["ui"]["port"]
    headend_port = 8700

    step("making demo courseware with ffmpeg (lavfi test sources)")
    sources = make_sources()
    step(f"headend init --root {HEADEND_ROOT.relative_to(ROOT)}")
    res = run(BIN / "headend", "init", "--root", HEADEND_ROOT)
    admin_password = one_time_password(res.stdout)
    if admin_password is None:  # made by an earlier run: the admin's password is only stored hashed
        step("headend user passwd admin (the data root was made by an earlier run)")
        admin_password = one_time_password(
            run(BIN / "headend", "user", "passwd", "--root", HEADEND_ROOT, "admin").stdout
        )
    for path, (_, title, category, description, *_rest) in zip(sources, COURSES, strict=True):
        step(f"headend ingest {path.name} 《{title}》")
        res = run(
            BIN / "headend",
            "ingest",
            "--root",
            HEADEND_ROOT,
            path,
            "--title",
            title,
            "--category",
            category,
            "--description",
            description,
        )
        print("    " + res.stdout.strip())
    write_programming()
    step("headend publish")
    print("    " + run(BIN / "headend", "publish", "--root", HEADEND_ROOT).stdout.strip().replace("\n", "\n    "))
    st = cfg["station"]
    res = run(
        BIN / "headend",
        "station",
        "add",
        "--root",
        HEADEND_ROOT,
        st["id"],
        "--name",
        st["name"],
        "--region",
        "/".join(st["region"]),
        "--player",
        st["player"],
        "--capacity",
        str(st.get("capacity") or 40),
        "--members",  # the registered party members the star rating compares person-times with
        "30",
        check=False,
    )
    if res.returncode != 0:  # registered by an earlier run, whose token is only stored hashed: a new one
        step(f"headend station token --rotate {st['id']} (registered by an earlier run)")
        res = run(BIN / "headend", "station", "token", "--root", HEADEND_ROOT, "--rotate", st["id"])
    write_token(res.stdout.strip().splitlines()[-1])

    step(f"station pin set (the demo's admin PIN is {DEMO_PIN}; a real station chooses its own)")
    subprocess.run(
        [str(BIN / "station"), "--config", str(STATION_TOML), "pin", "set"],
        input=f"{DEMO_PIN}\n{DEMO_PIN}\n",
        text=True,
        cwd=ROOT,
        check=True,
    )

    procs: list[subprocess.Popen] = []

    def stop(*_):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    try:
        step(f"starting headend serve on 127.0.0.1:{headend_port}")
        procs.append(
            subprocess.Popen(
                [
                    str(BIN / "headend"),
                    "serve",
                    "--root",
                    str(HEADEND_ROOT),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(headend_port),
                ],
                cwd=ROOT,
            )
        )
        wait_http(f"http://127.0.0.1:{headend_port}/api/v1/health", 20, procs[0])
        step(f"starting station serve ({STATION_TOML.name}) on 127.0.0.1:{ui_port}; first sync")
        procs.append(subprocess.Popen([str(BIN / "station"), "--config", str(STATION_TOML), "serve"], cwd=ROOT))
        wait_http(
            f"http://127.0.0.1:{ui_port}/api/status",
            120,
            procs[1],
            ok=lambda body: json.loads(body).get("sync", {}).get("state") in ("ok", "partial", "failed"),
        )
        status = json.loads(wait_http(f"http://127.0.0.1:{ui_port}/api/status", 5, procs[1]))
        print(f"    sync: {status.get('sync', {}).get('state')}, {status.get('courses')} courses on the station")
        for _ in range(50):  # the first upload follows the sync (the headend starts its intake processes)
            if (status.get("reporting") or {}).get("state") != "never":
                break
            time.sleep(0.3)
            status = json.loads(wait_http(f"http://127.0.0.1:{ui_port}/api/status", 5, procs[1]))
        print(f"    reporting to the headend: {(status.get('reporting') or {}).get('state')}")
        this_month = datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m")  # China time
        print(
            "\n"
            f"  TV page (remote: arrows, Enter, Backspace):  http://127.0.0.1:{ui_port}/\n"
            f"  {'station admin (PIN ' + DEMO_PIN + '):':<45}http://127.0.0.1:{ui_port}/admin\n"
            f"  county dashboard:                            http://127.0.0.1:{headend_port}/county\n"
            f"    log in as admin, one-time password {admin_password} (then choose your own)\n"
            f"  signed repository:                           http://127.0.0.1:{headend_port}/repo/index.json\n"
            f"  county figures:                              .venv/bin/headend report --root var/headend\n"
            f"  star ratings:                                http://127.0.0.1:{headend_port}/county/ratings?period={this_month}\n"
            f"                                               .venv/bin/headend ratings --root var/headend --period {this_month}\n"
            f"  villagers' questions: ask on the admin page (问答), then\n"
            f"                                               http://127.0.0.1:{headend_port}/county/questions\n"
            "\n  Ctrl-C stops both.",
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        print("demo: a server stopped unexpectedly; stopping the other", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
