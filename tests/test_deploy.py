"""deploy/: the systemd units, the nginx sites and the box's station.toml, as docs/deploy.md installs
them. `systemd-analyze verify` checks every unit offline (systemd is not PID 1 here, so nothing is
started through systemd: the sandboxing is scored by `systemd-analyze security --offline`, not
exercised). Then each unit's command line is run as written, with only its paths swapped for
temporary ones (/opt/yuanjiao/venv/bin → this venv, /var/lib/yuanjiao and /etc/yuanjiao → tmp_path)
and the ports for free ones: the headend answers behind the TLS site in a real nginx, the daily
refresh re-signs the index it serves, a station from deploy/station.toml syncs from it and reports
to it, and the kiosk's Chromium command line (headless) shows that station's TV page."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import pwd
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ROOT, in_ci, run_cli, save_admin_password
from tests.county_kit import Staff, admin_password, cookie_jar
from tests.test_sync_cache import free_port, nginx_binary

DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").iterdir())
INSTALLED_BIN = "/opt/yuanjiao/venv/bin/"  # where docs/deploy.md installs the wheel
VENV_BIN = Path(sys.executable).parent  # where `make setup` installed headend and station
CHROMIUM = "/usr/lib/chromium/chromium"  # the real binary behind Debian's /usr/bin/chromium wrapper
STATION_ID = "gaoyao-xiangang-xianyi"  # as in deploy/station.toml


def tool(name: str) -> str:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    reason = f"{name} is not installed (Debian package {name})"
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


def swap_paths(text: str, tmp: Path) -> str:
    """The unit or file with the installed paths swapped for temporary ones (and nothing else)."""
    return (
        text.replace(INSTALLED_BIN, f"{VENV_BIN}/")
        .replace("/var/lib/yuanjiao", f"{tmp}/var/lib/yuanjiao")
        .replace("/etc/yuanjiao", f"{tmp}/etc/yuanjiao")
    )


def directives(text: str) -> dict[str, list[str]]:
    """``Key`` → its values in a unit file, in order (comments and section headers dropped)."""
    out: dict[str, list[str]] = {}
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if line and line[0] not in "#;[" and "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def command(text: str, key: str = "ExecStart") -> list[str]:
    """A unit's command line as systemd splits it (its ``-``/``@``/``+``/``!`` prefixes dropped)."""
    (value,) = directives(text)[key]
    return shlex.split(value.lstrip("-@:+!"))


def unit(name: str) -> str:
    return (DEPLOY / "systemd" / name).read_text(encoding="utf-8")


# ---- the unit files -------------------------------------------------------------------------------


def test_units_verify_offline(tmp_path):
    analyze = tool("systemd-analyze")
    d = tmp_path / "units"
    d.mkdir()
    stubs = []
    for path in UNITS:
        text = swap_paths(path.read_text(encoding="utf-8"), tmp_path)
        # verify refuses a unit whose program is missing: cage may not be installed where the
        # tests run (it is on a box); an empty stub then stands in for it, and the test says so.
        for program in ("/usr/bin/cage", "/usr/bin/chromium"):
            if program in text and not os.access(program, os.X_OK):
                stub = tmp_path / Path(program).name
                stub.write_text("#!/bin/sh\n")
                stub.chmod(0o755)
                text = text.replace(program, str(stub))
                stubs.append(program)
        (d / path.name).write_text(text, encoding="utf-8")
    res = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(str(p) for p in d.iterdir())], capture_output=True, text=True
    )
    # verify only warns (exit 0) about unknown keys and similar slips: any output at all fails.
    assert res.returncode == 0 and not (res.stdout + res.stderr).strip(), res.stdout + res.stderr
    assert {p.name for p in UNITS} == {
        "yuanjiao-headend.service",
        "yuanjiao-publish-refresh.service",
        "yuanjiao-publish-refresh.timer",
        "yuanjiao-station.service",
        "yuanjiao-kiosk.service",
    }
    if stubs:
        print(f"verified with stubs for {stubs} (not installed here)")


@pytest.mark.parametrize(
    "name", ["yuanjiao-headend.service", "yuanjiao-publish-refresh.service", "yuanjiao-station.service"]
)
def test_server_units_follow_debian_conventions_and_are_sandboxed(name, tmp_path):
    d = directives(unit(name))
    assert d["User"] == ["yuanjiao"] and d["StateDirectory"] == ["yuanjiao"]
    assert d["ConfigurationDirectory"] == ["yuanjiao"] and d["ReadWritePaths"] == ["/var/lib/yuanjiao"]
    assert d["ProtectSystem"] == ["strict"] and d["NoNewPrivileges"] == ["yes"] and d["PrivateTmp"] == ["yes"]
    assert "StandardOutput" not in d or d["StandardOutput"] == ["journal"]  # journald, the default
    assert command(unit(name))[0].startswith(INSTALLED_BIN)
    if name != "yuanjiao-publish-refresh.service":
        assert d["Restart"] == ["on-failure"]
    # systemd's own score of the sandbox (offline: the unit file alone): "OK" or better.
    swapped = tmp_path / name
    swapped.write_text(swap_paths(unit(name), tmp_path), encoding="utf-8")
    res = subprocess.run(
        [tool("systemd-analyze"), "security", "--offline=yes", "--no-pager", str(swapped)],
        capture_output=True,
        text=True,
    )
    exposure = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", res.stdout)[1])
    assert exposure < 4.0, res.stdout


def test_refresh_timer_runs_daily_and_catches_up_after_a_power_cut():
    d = directives(unit("yuanjiao-publish-refresh.timer"))
    assert d["Persistent"] == ["true"]  # a box switched off at 03:00 refreshes when it is back
    res = subprocess.run(
        [tool("systemd-analyze"), "calendar", "--iterations=2", d["OnCalendar"][0]], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    nexts = re.findall(r"(?:Next elapse|Iter. #2): \w+ (\S+ \S+)", res.stdout)
    first, second = (datetime.datetime.fromisoformat(t) for t in nexts)
    assert second - first == datetime.timedelta(days=1), res.stdout
    # The index expires after [publish] index_expiry_days (7): a day leaves six to notice a failure.


def test_kiosk_unit_keeps_the_tv_on_the_station_page():
    d = directives(unit("yuanjiao-kiosk.service"))
    assert d["Restart"] == ["always"] and d["StartLimitIntervalSec"] == ["0"]  # restarts after a crash, forever
    assert d["User"] == ["yuanjiao-tv"] and d["PAMName"] == ["yuanjiao-kiosk"]
    assert (DEPLOY / "pam" / "yuanjiao-kiosk").exists()  # the PAMName= file docs/deploy.md installs
    cage, chromium = command(unit("yuanjiao-kiosk.service"))[:1], command(unit("yuanjiao-kiosk.service"))
    assert cage == ["/usr/bin/cage"] and chromium[chromium.index("--") + 1] == "/usr/bin/chromium"
    flags = chromium[chromium.index("--") + 2 :]
    assert flags[-1] == "http://127.0.0.1:8080/"  # [ui] port of deploy/station.toml
    assert {"--kiosk", "--autoplay-policy=no-user-gesture-required"} <= set(flags)
    assert "HardwareMediaKeyHandling" in next(f for f in flags if f.startswith("--disable-features="))


def test_kiosk_flags_are_switches_this_chromium_knows():
    """Chromium ignores a switch it does not know, silently: so look each one up among the switch
    and feature names compiled into the binary (``--disable-translate``, which this README once
    used, is not one any more; ``--disable-session-crashed-bubble`` neither)."""
    if not os.access(CHROMIUM, os.R_OK):
        tool("chromium")
        pytest.skip(f"{CHROMIUM} not found (another packaging of Chromium)")
    binary = Path(CHROMIUM).read_bytes()
    args = command(unit("yuanjiao-kiosk.service"))
    flags = [a for a in args[args.index("--") + 2 :] if a.startswith("--")]
    unknown = []
    for flag in flags:
        name, _, value = flag[2:].partition("=")
        if b"\0" + name.encode() + b"\0" not in binary:
            unknown.append(flag)
        if name in ("disable-features", "enable-features"):
            # BASE_FEATURE(kName) keeps "kName": the feature's name is that string less its "k".
            unknown += [f"{name}={f}" for f in value.split(",") if f.encode() + b"\0" not in binary]
    assert not unknown, f"not switches of {CHROMIUM}: {unknown}"
    assert b"\0disable-translate\0" not in binary  # the check can fail
    cage = "/usr/bin/cage"
    if os.access(cage, os.X_OK):
        usage = subprocess.run([cage, "-h"], capture_output=True, text=True)
        assert re.search(r"^ -d\s", usage.stdout + usage.stderr, re.M), usage


# ---- the commands, run as the units run them --------------------------------------------------------


@asynccontextmanager
async def started(args: list[str], cwd: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """A unit's command as a process (its output to a file, as journald would keep it); stopped
    with SIGTERM at the end, as systemd stops it."""
    log = (cwd / f"{Path(args[0]).name}.log").open("wb")
    proc = await asyncio.create_subprocess_exec(*args, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


async def answer(http: aiohttp.ClientSession, url: str, proc, wanted=lambda body: True, seconds: float = 60):
    """GET ``url`` until it answers 200 with JSON ``wanted`` accepts; that JSON."""
    body: object = None
    for _ in range(int(seconds * 5)):
        assert proc.returncode is None, f"{url}: the process exited with {proc.returncode}"
        try:
            async with http.get(url) as r:
                if r.status == 200:
                    body = await r.json()
                    if wanted(body):
                        return body
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} did not answer as wanted in {seconds} s; last: {body}")


def self_signed(d: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (what a county gets from its CA)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    crt, pem_key = d / "headend.pem", d / "headend.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem_key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return crt, pem_key


NGINX_MAIN = """\
{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    include {site};
}}
"""


def nginx_site(site: str, d: Path, ports: dict[str, str], paths: dict[str, str]) -> list[str]:
    """An nginx command line (``-t`` to test) running ``deploy/nginx/<site>`` under a main config
    like Debian's, with everything it writes inside ``d``: each ``listen`` swapped for 127.0.0.1 and
    a port from ``ports``, and ``paths`` swapped."""
    text = (DEPLOY / "nginx" / site).read_text(encoding="utf-8")
    text = re.sub(r"(?m)^\s*listen \[::\]:.*\n", "", text)
    for port, new in ports.items():
        text = re.sub(rf"(?m)^(\s*)listen {port}\b", rf"\1listen {new}", text)
    for old, new in paths.items():
        assert old in text, f"{site} no longer names {old}"
        text = text.replace(old, new)
    (d / "tmp").mkdir(parents=True, exist_ok=True)
    (d / site).write_text(text, encoding="utf-8")
    user = "user root;\n" if os.geteuid() == 0 else ""  # as root, a `nobody` worker could not enter tmp_path
    (d / "nginx.conf").write_text(NGINX_MAIN.format(user=user, d=d, site=d / site), encoding="utf-8")
    return [nginx_binary(), "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "error.log"), "-g", "daemon off;"]


def test_county_cache_site_passes_nginx_t(tmp_path):
    args = nginx_site(
        "yuanjiao-county-cache.conf",
        tmp_path,
        {"80": f"127.0.0.1:{free_port()}"},
        {
            "/var/cache/nginx/yuanjiao": str(tmp_path / "cache"),
            # nginx looks the headend's name up when it starts: the placeholder has no address.
            "http://headend.example.gov.cn/repo/": "http://127.0.0.1:9/repo/",
        },
    )
    res = subprocess.run([*args, "-t"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr  # tests/test_sync_cache.py runs it as the county cache


def headend_like_the_docs(tmp: Path, port: int) -> Path:
    """docs/deploy.md's headend steps: init the root in /var/lib/yuanjiao/headend, move headend.toml
    to /etc/yuanjiao and link it back; behind TLS, cookie_secure = true; publish once."""
    etc, root = tmp / "etc" / "yuanjiao", tmp / "var" / "lib" / "yuanjiao" / "headend"
    etc.mkdir(parents=True)
    res = run_cli("headend", "init", "--root", str(root), cwd=tmp)
    assert res.returncode == 0, res.stderr
    save_admin_password(root, res.stdout)
    (root / "headend.toml").rename(etc / "headend.toml")
    (root / "headend.toml").symlink_to(etc / "headend.toml")
    text = (etc / "headend.toml").read_text(encoding="utf-8")
    text = text.replace("port = 8700", f"port = {port}").replace("cookie_secure = false", "cookie_secure = true")
    (etc / "headend.toml").write_text(text, encoding="utf-8")
    res = run_cli("headend", "publish", "--root", str(root), cwd=tmp)
    assert res.returncode == 0, res.stderr
    return root


def station_like_the_docs(tmp: Path, root: Path, mirror: str, report_url: str, ui_port: int) -> Path:
    """docs/deploy.md's box steps: deploy/station.toml in /etc/yuanjiao with the headend's key and
    the enrolment token (mode 600) beside it; only the county's addresses and the port changed."""
    etc = tmp / "etc" / "yuanjiao"
    shutil.copy(root / "keys" / "headend.pub", etc / "headend.pub")
    res = run_cli(
        "headend", "station", "add", "--root", str(root), STATION_ID,
        "--name", "蚬岗镇蚬一村远教站点", "--region", "广东省/肇庆市/高要市/蚬岗镇/蚬一村", "--player", "tv-hd",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    token = res.stdout.split()[-1]  # "… enrolment token (…):\n<token>"
    (etc / "report.token").write_text(token + "\n")
    (etc / "report.token").chmod(0o600)
    text = swap_paths((DEPLOY / "station.toml").read_text(encoding="utf-8"), tmp)
    for old, new in (
        ('"http://headend.example.gov.cn/repo/"', f'"{mirror}"'),
        ('"https://headend.example.gov.cn/api/v1/"', f'"{report_url}"'),
        ("port = 8080", f"port = {ui_port}"),
        ('host = "0.0.0.0"', 'host = "127.0.0.1"'),  # not on this machine's LAN
    ):
        assert old in text, old
        text = text.replace(old, new)
    (etc / "station.toml").write_text(text, encoding="utf-8")
    return etc / "station.toml"


@pytest.mark.slow
async def test_a_county_server_and_a_village_box_run_from_the_units(tmp_path):
    headend_port, http_port, https_port, ui_port = (free_port() for _ in range(4))
    root = headend_like_the_docs(tmp_path, headend_port)
    crt, key = self_signed(tmp_path)
    nginx = nginx_site(
        "yuanjiao-headend-tls.conf",
        tmp_path / "nginx",
        {"80": f"127.0.0.1:{http_port}", "443": f"127.0.0.1:{https_port}"},
        {
            "127.0.0.1:8700": f"127.0.0.1:{headend_port}",
            "/etc/ssl/certs/yuanjiao-headend.pem": str(crt),
            "/etc/ssl/private/yuanjiao-headend.key": str(key),
        },
    )
    test = subprocess.run([*nginx, "-t"], capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    tls = ssl.create_default_context(cafile=str(crt))
    https = f"https://127.0.0.1:{https_port}"
    headend_cmd = command(swap_paths(unit("yuanjiao-headend.service"), tmp_path))
    refresh_cmd = command(swap_paths(unit("yuanjiao-publish-refresh.service"), tmp_path))
    station_cmd = command(swap_paths(unit("yuanjiao-station.service"), tmp_path))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls), cookie_jar=cookie_jar()) as http,
        started(headend_cmd, tmp_path) as headend,
        started(nginx, tmp_path) as proxy,
    ):
        health = await answer(http, f"{https}/api/v1/health", headend)  # through nginx, over TLS
        assert health["ok"] and health["published_version"] == 1, health
        assert proxy.returncode is None
        async with http.get(f"{https}/api/v1/health") as r:
            assert r.headers["Strict-Transport-Security"].startswith("max-age=")
        # The signed tree also on plain http (old boxes), with the headend's caching headers.
        async with http.get(f"http://127.0.0.1:{http_port}/repo/index.json") as r:
            assert r.status == 200 and "max-age=60" in r.headers["Cache-Control"], r.headers
            assert json.loads(await r.read())["version"] == 1
        async with http.get(f"http://127.0.0.1:{http_port}/county", allow_redirects=False) as r:
            assert r.status == 301 and r.headers["Location"] == "https://127.0.0.1/county"
        # A report batch near the 512 KB cap reaches the headend (which refuses the bad token),
        # not an nginx 413 page.
        body = b"\x1f\x8b" + os.urandom(500 * 1024)
        async with http.post(
            f"{https}/api/v1/reports",
            data=body,
            headers={"Authorization": "Bearer nope", "Content-Type": "application/json", "Content-Encoding": "gzip"},
        ) as r:
            assert r.status == 401 and r.content_type == "application/json", (r.status, await r.text())
        # A county login through the proxy: Host and Origin agree, the Secure cookie comes back.
        staff = await Staff(http, https).login("admin", admin_password(root))
        assert "蚬" not in await staff.text("/county")  # the overview answers (no station reports yet)

        # The daily refresh, as the timer starts it, re-signs what the running headend serves.
        res = await asyncio.to_thread(subprocess.run, refresh_cmd, capture_output=True, text=True, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        async with http.get(f"http://127.0.0.1:{http_port}/repo/index.json") as r:
            assert json.loads(await r.read())["version"] == 2

        # The box: deploy/station.toml, syncing through the plain-http /repo/ and reporting to
        # the headend (the tests' certificate is not one the station trusts, so not over TLS).
        station_like_the_docs(
            tmp_path, root, f"http://127.0.0.1:{http_port}/repo/", f"http://127.0.0.1:{headend_port}/api/v1/", ui_port
        )
        async with started(station_cmd, tmp_path) as station:
            status = await answer(
                http,
                f"http://127.0.0.1:{ui_port}/api/status",
                station,
                lambda s: s["installed_version"] == 2 and s["reporting"]["last_success"],
            )
            assert status["station"] == STATION_ID and not status["sync"]["last_error"], status
            await kiosk_shows_the_tv_page(tmp_path, ui_port)


async def kiosk_shows_the_tv_page(tmp: Path, ui_port: int) -> None:
    """yuanjiao-kiosk.service as it runs on a box: its ExecStartPre (wait for the station), then
    its ExecStart — the real cage starting the real Chromium full screen — under a user that is
    not root (cage refuses root, as the unit's User= avoids). There is no screen here: wlroots'
    headless backend stands in for the TV (the environment logind and the GPU give on a box). One
    switch is added to look inside: Chromium's DevTools port, which names the page it shows."""
    cage = tool("cage")
    tool("Xwayland")  # cage starts it for X11 programs (Debian package xwayland)
    state = Path(tempfile.mkdtemp(prefix="yuanjiao-kiosk-"))  # (the tests' tmp is not the TV user's)
    try:
        text = unit("yuanjiao-kiosk.service").replace("/var/lib/yuanjiao-kiosk", str(state / "home"))
        text = text.replace("127.0.0.1:8080", f"127.0.0.1:{ui_port}").replace(
            "/127.0.0.1/8080", f"/127.0.0.1/{ui_port}"
        )
        wait = await asyncio.to_thread(
            subprocess.run, command(text, "ExecStartPre"), capture_output=True, text=True, timeout=30
        )
        assert wait.returncode == 0 and not wait.stdout, wait  # the station answered: no message
        args = command(text)
        assert args[0] == "/usr/bin/cage"
        devtools = free_port()
        args = [cage, *args[1:-1], f"--remote-debugging-port={devtools}", args[-1]]
        (state / "home").mkdir(mode=0o700)  # StateDirectory=
        (state / "run").mkdir(mode=0o700)  # what logind makes for the session (PAMName=)
        as_user: list[str] = []
        if os.geteuid() == 0:  # User=yuanjiao-tv: here, nobody
            for d in (state / "home", state / "run"):
                os.chown(d, pwd.getpwnam("nobody").pw_uid, -1)
            state.chmod(0o755)
            as_user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(state / "home"),  # Environment=
            "XDG_RUNTIME_DIR": str(state / "run"),
            "WLR_BACKENDS": "headless",
            "WLR_RENDERER": "pixman",
            "WLR_LIBINPUT_NO_DEVICES": "1",
        }
        log = (tmp / "kiosk.log").open("wb")
        proc = await asyncio.create_subprocess_exec(*as_user, *args, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            shown = None
            async with aiohttp.ClientSession() as http:
                for _ in range(300):
                    assert proc.returncode is None, (tmp / "kiosk.log").read_text(errors="replace")[-3000:]
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(f"http://127.0.0.1:{devtools}/json/list") as r:
                            pages = [p for p in await r.json() if p.get("type") == "page"]
                            if pages and pages[0]["url"] == f"http://127.0.0.1:{ui_port}/" and pages[0]["title"]:
                                shown = pages[0]
                                break
                    await asyncio.sleep(0.2)
                async with http.get(f"http://127.0.0.1:{devtools}/json/version") as r:
                    agent = (await r.json())["User-Agent"]
            assert shown is not None, (tmp / "kiosk.log").read_text(errors="replace")[-3000:]
            assert "蚬岗镇蚬一村远教站点" in shown["title"], shown  # the station's TV home page
            assert "HeadlessChrome" not in agent  # a real window in cage, not headless Chromium
            assert (state / "home" / "chromium" / "Default").is_dir()  # --user-data-dir
        finally:
            if proc.returncode is None:
                proc.terminate()  # as systemd stops it
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            log.close()
    finally:
        shutil.rmtree(state, ignore_errors=True)
