"""minisign-compatible signatures: our files verify with the real `minisign` tool, and files signed
by `minisign -S` verify with ours; any change to a signed file is refused by both."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from playlists import PublicKey, SecretKey, SignatureError, verify
from playlists.minisign import parse_trusted_comment

DATA = '{"title":"雨季养鹅技术"}\n'.encode()


def minisign(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["minisign", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)


@pytest.fixture
def key() -> SecretKey:
    return SecretKey.generate()


def test_round_trip_returns_trusted_comment(key):
    sig = key.sign(DATA, "timestamp:1\tfile:x.json\tversion:4")
    comment = verify(DATA, sig, [key.public_key])
    assert parse_trusted_comment(comment) == {"timestamp": "1", "file": "x.json", "version": "4"}


def test_one_byte_change_is_refused(key):
    sig = key.sign(DATA, "file:x.json")
    with pytest.raises(SignatureError, match="does not match the content"):
        verify(DATA[:-2] + b"X\n", sig, [key.public_key])


def test_altered_trusted_comment_is_refused(key):
    sig = key.sign(DATA, "file:x.json\tversion:4").replace(b"version:4", b"version:9")
    with pytest.raises(SignatureError, match="trusted comment was altered"):
        verify(DATA, sig, [key.public_key])


def test_unknown_key_is_refused(key):
    other = SecretKey.generate()
    with pytest.raises(SignatureError, match="not a trusted key"):
        verify(DATA, other.sign(DATA, "x"), [key.public_key])


def test_key_files_round_trip(key):
    assert PublicKey.from_text(key.public_key.to_text()) == key.public_key
    assert SecretKey.from_text(key.to_text()) == key


def test_minisign_tool_accepts_our_signature(tmp_path: Path, key):
    (tmp_path / "index.json").write_bytes(DATA)
    (tmp_path / "index.json.minisig").write_bytes(key.sign(DATA, "timestamp:1\tfile:index.json\tversion:1"))
    (tmp_path / "k.pub").write_text(key.public_key.to_text())
    res = minisign("-V", "-p", str(tmp_path / "k.pub"), "-m", str(tmp_path / "index.json"))
    assert res.returncode == 0, res.stderr
    assert "file:index.json" in res.stdout
    # and refuses it after a one-byte change
    (tmp_path / "index.json").write_bytes(DATA.replace(b"\xe9", b"\xea", 1))
    assert minisign("-V", "-p", str(tmp_path / "k.pub"), "-m", str(tmp_path / "index.json")).returncode != 0


def test_we_accept_a_minisign_tool_signature(tmp_path: Path):
    pub, sec = tmp_path / "m.pub", tmp_path / "m.key"
    assert minisign("-G", "-W", "-p", str(pub), "-s", str(sec)).returncode == 0
    f = tmp_path / "playlist.json"
    f.write_bytes(DATA)
    res = minisign("-S", "-s", str(sec), "-m", str(f), "-t", "file:playlist.json\tversion:2")
    assert res.returncode == 0, res.stderr
    trusted = PublicKey.from_text(pub.read_text())
    comment = verify(DATA, (tmp_path / "playlist.json.minisig").read_bytes(), [trusted])
    assert parse_trusted_comment(comment)["version"] == "2"
    # The minisign tool's unencrypted secret key also loads as a headend signing key.
    assert SecretKey.from_text(sec.read_text()).public_key == trusted


def test_minisign_tool_signs_with_our_secret_key(tmp_path: Path, key):
    (tmp_path / "k.key").write_text(key.to_text())
    f = tmp_path / "f.bin"
    f.write_bytes(DATA)
    assert minisign("-S", "-s", str(tmp_path / "k.key"), "-m", str(f)).returncode == 0
    verify(DATA, (tmp_path / "f.bin.minisig").read_bytes(), [key.public_key])
