"""Languages: Chinese by default, English through the catalogue, every message translated, no UI
text outside gettext (templates, scripts), and the language setting in ``station.toml``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.tv.test_pages import login

ROOT = Path(__file__).resolve().parents[2]


async def test_english_through_the_catalogue(client):
    resp = await client.get("/lang/en?next=/course/c-goose", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/course/c-goose"
    html = await (await client.get("/course/c-goose")).text()
    assert '<html lang="en">' in html and "▶ Play" in html and "Farming techniques" in html and "播放" not in html
    await login(client)
    assert "Sync now" in await (await client.get("/admin")).text()
    resp = await client.get("/lang/zh-CN?next=//evil.example/", allow_redirects=False)
    assert resp.headers["Location"] == "/"


@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "/%5Cevil.example/phish", "/%09/evil.example/", "https://evil.example/", "/%5C%5Cevil"],
)
async def test_the_language_link_never_sends_the_browser_to_another_site(client, target):
    resp = await client.get(f"/lang/en?next={target}", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/"


async def test_the_language_link_keeps_a_page_of_this_station(client):
    resp = await client.get("/lang/en?next=/schedule%3Fday%3D2", allow_redirects=False)
    assert resp.headers["Location"] == "/schedule?day=2"


def _template_text(source: str) -> str:
    source = re.sub(r"<style>.*?</style>", " ", source, flags=re.S)
    source = re.sub(r"\{%\s*block body_(?:attrs|class)\s*%\}.*?\{%\s*endblock\s*%\}", " ", source, flags=re.S)
    source = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", source, flags=re.S)
    source = re.sub(r"<[^>]*>", " ", source)
    return source


def test_templates_hold_no_literal_ui_strings():
    leftovers = {}
    for path in sorted((ROOT / "station" / "templates").glob("*.html")):
        text = _template_text(path.read_text(encoding="utf-8"))
        words = re.findall(r"[A-Za-z]{2,}|[\u3400-\u9fff]", text)
        if words:
            leftovers[path.name] = words[:5]
        attrs = re.findall(r'(?:alt|title|placeholder|aria-label)="([^"{]+)"', path.read_text(encoding="utf-8"))
        if attrs:
            leftovers[path.name + " attributes"] = attrs
    assert not leftovers, f"UI text outside gettext: {leftovers}"


def test_scripts_hold_no_ui_text():
    """What the viewer reads comes from the page (and so from the catalogues), never from tv.js."""
    for js in (ROOT / "station" / "static").glob("*.js"):
        code = re.sub(r"/\*.*?\*/|//[^\n]*", " ", js.read_text(encoding="utf-8"), flags=re.S)
        assert not re.findall(r"[\u3400-\u9fff]", code), js.name


def test_catalogues_translate_every_message(tmp_path):
    from babel.messages.pofile import read_po

    pot = tmp_path / "messages.pot"
    pybabel = ROOT / ".venv" / "bin" / "pybabel"
    subprocess.run(
        [
            str(pybabel) if pybabel.exists() else "pybabel",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "--no-location",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )

    def messages(path: Path) -> dict[str, str]:
        with open(path, "rb") as f:
            return {m.id: m.string for m in read_po(f) if m.id}

    ids = set(messages(pot))
    assert len(ids) > 100
    zh = messages(ROOT / "station/locale/zh_CN/LC_MESSAGES/messages.po")
    en = set(messages(ROOT / "station/locale/en/LC_MESSAGES/messages.po"))
    assert sorted(ids - {k for k, v in zh.items() if v}) == [], (
        "untranslated in zh_CN (run make messages, then translate)"
    )
    assert sorted(ids - en) == [], "missing from en (run make messages)"


@pytest.mark.parametrize("language, ok", [("en", True), ("zh-CN", True), ("fr", False)])
def test_ui_language_in_station_toml(tmp_path, language, ok):
    from playlists.minisign import SecretKey
    from station.config import load_config
    from station.errors import ConfigError
    from tests.conftest import write_station_toml

    key = tmp_path / "headend.pub"
    key.write_text(SecretKey.generate().public_key.to_text(), encoding="utf-8")
    toml = write_station_toml(tmp_path / "station.toml", ["http://127.0.0.1:9/repo/"], key)
    toml.write_text(toml.read_text(encoding="utf-8") + f'language = "{language}"\n', encoding="utf-8")
    if ok:
        assert load_config(toml).language == language
    else:
        with pytest.raises(ConfigError, match=r"\[ui\]: language 'fr' must be"):
            load_config(toml)
