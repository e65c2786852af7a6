"""`pip install yuanjiao` gives working `headend` and `station` commands: the sdist and the wheel are
built from this checkout (the wheel from the sdist, so both must be complete), the wheel goes into a
fresh venv, and the commands run from a folder outside the checkout, reading the files they ship
(templates, static files, UI catalogues, migrations, player profiles, the rating rubric) from the
venv, not from here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ROOT, save_admin_password, write_station_toml
from tests.county_kit import Staff, admin_password, cookie_jar
from tests.test_deploy import answer, started
from tests.test_sync_cache import free_port

pytestmark = pytest.mark.slow

PACKAGES = ("headend", "station", "catalogue", "players", "playlists")


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """``python -m build --no-isolation``: no download (setuptools and build come with the test
    extra), on a copy of the sources so the build's egg-info and build/ stay out of the checkout."""
    d = tmp_path_factory.mktemp("build")
    src = d / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PACKAGES:
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("deploy", "docs"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "MANIFEST.in", "Makefile"):
        shutil.copy(ROOT / name, src / name)
    res = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(d / "dist"), str(src)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return d / "dist"


def test_the_wheel_and_the_sdist_carry_every_file_the_programs_read(dist):
    (wheel,) = dist.glob("yuanjiao-*.whl")
    (sdist,) = dist.glob("yuanjiao-*.tar.gz")
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    with tarfile.open(sdist) as tar:
        in_sdist = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    shipped = {
        str(p.relative_to(ROOT))
        for name in PACKAGES
        for p in (ROOT / name).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc" and p.name != "messages.pot"
    }
    assert shipped - in_wheel == set(), "missing from the wheel (pyproject.toml [tool.setuptools.package-data])"
    assert shipped - in_sdist == set(), "missing from the sdist"
    guides = {str(p.relative_to(ROOT)) for d in ("deploy", "docs") for p in (ROOT / d).rglob("*") if p.is_file()}
    assert "deploy/systemd/yuanjiao-kiosk.service" in guides and "docs/deploy.md" in guides
    assert guides - in_sdist == set(), "deploy/ and docs/ missing from the sdist (MANIFEST.in)"
    entry_points = zipfile.ZipFile(wheel).read("yuanjiao-0.1.0.dist-info/entry_points.txt").decode()
    assert "headend = headend.cli:main" in entry_points and "station = station.cli:main" in entry_points


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Path:
    """A fresh venv with only the wheel installed in it (``--no-deps --no-index``: nothing is
    downloaded). Its dependencies are this project's venv's, made visible by a ``.pth`` line naming
    that site-packages: a plain path line adds the folder to sys.path *after* the new venv's own
    site-packages, and the .pth files inside it (this checkout's editable install) are not run,
    so ``import headend`` can only find the copy the wheel installed."""
    d = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(d)], check=True)
    (wheel,) = dist.glob("yuanjiao-*.whl")
    res = subprocess.run(
        [d / "bin" / "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    purelib = subprocess.run(
        [d / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "yuanjiao-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return d


def run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_the_installed_commands_are_the_wheels(venv, tmp_path):
    for program in ("headend", "station"):
        res = run(venv, tmp_path, str(venv / "bin" / program), "--help")
        assert res.returncode == 0 and "usage:" in res.stdout, res.stderr
    res = run(
        venv,
        tmp_path,
        str(venv / "bin" / "python"),
        "-c",
        "import headend, station, catalogue, players, playlists as p; print(headend.__file__, station.__file__, p.__file__)",
    )
    assert res.returncode == 0, res.stderr
    files = [Path(f) for f in res.stdout.split()]
    assert all(f.is_relative_to(venv) for f in files), files  # not /work/main (the checkout)


async def test_headend_and_station_from_the_wheel_serve_their_pages(venv, tmp_path):
    root = tmp_path / "headend"
    headend, station = str(venv / "bin" / "headend"), str(venv / "bin" / "station")
    # init: headend.toml, the rubric (catalogue/ratings.default.toml), every migration, the profiles.
    res = run(venv, tmp_path, headend, "init", "--root", str(root))
    assert res.returncode == 0, res.stderr
    save_admin_password(root, res.stdout)
    assert (root / "ratings.toml").read_text(encoding="utf-8").strip()
    res = run(venv, tmp_path, headend, "publish", "--root", str(root))
    assert res.returncode == 0, res.stderr
    port, ui_port = free_port(), free_port()
    (tmp_path / "box").mkdir()
    toml = write_station_toml(
        tmp_path / "box" / "station.toml", [f"http://127.0.0.1:{port}/repo/"], root / "keys" / "headend.pub"
    )
    toml.write_text(toml.read_text(encoding="utf-8").replace("port = 8080", f"port = {ui_port}"), encoding="utf-8")
    async with (
        aiohttp.ClientSession(cookie_jar=cookie_jar()) as http,
        started([headend, "serve", "--root", str(root), "--port", str(port)], tmp_path) as server,
    ):
        base = f"http://127.0.0.1:{port}"
        assert (await answer(http, f"{base}/api/v1/health", server))["published_version"] == 1
        # The county pages: the templates (parts/ too), after a real login.
        staff = await Staff(http, base).login("admin", admin_password(root))
        assert "远教" in await staff.text("/county")
        res = run(venv, tmp_path, station, "--config", str(toml), "sync", "--once")
        assert res.returncode == 0, res.stdout + res.stderr
        async with started([station, "--config", str(toml), "serve"], tmp_path) as box:
            status = await answer(http, f"http://127.0.0.1:{ui_port}/api/status", box)
            assert status["installed_version"] == 1, status
            # The TV page in Chinese: the zh_CN catalogue is compiled from the shipped .po (a missing
            # one falls back to the English message ids without an error).
            async with http.get(f"http://127.0.0.1:{ui_port}/") as r:
                page = await r.text()
                assert r.status == 200 and 'lang="zh-CN"' in page, page[:500]
            async with http.get(f"http://127.0.0.1:{ui_port}/lang/en?next=/") as r:
                english = await r.text()
            assert "节目单" in page and "节目单" not in english and "Schedule" in english  # the blue key's label
            for name in ("tv.js", "tv.css"):
                async with http.get(f"http://127.0.0.1:{ui_port}/static/{name}") as r:
                    assert r.status == 200 and len(await r.read()) > 1000
