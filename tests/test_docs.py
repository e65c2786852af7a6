"""Every setting is documented (datasette's tests/test_docs.py is the model): each station.toml
key the loader knows has a row in README.md and a line in the sample station.toml; each
headend.toml key has a row too; typos in station.toml are refused."""

from __future__ import annotations

import re
import tomllib

import pytest
import tomli_w

from headend.config import DEFAULT_CONFIG
from playlists import SecretKey
from station.config import load_config
from station.errors import ConfigError
from tests.conftest import ROOT, write_station_toml

README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture
def known_keys(tmp_path) -> dict[str, set[str]]:
    sample = tomllib.loads((ROOT / "station.toml").read_text(encoding="utf-8"))
    key = tmp_path / "k.pub"
    key.write_text(SecretKey.generate().public_key.to_text())
    sample["sync"]["trusted_keys"] = [str(key)]
    toml = tmp_path / "station.toml"
    toml.write_text(tomli_w.dumps(sample), encoding="utf-8")
    keys: dict[str, set[str]] = {}
    load_config(toml, keys_out=keys)
    return keys


def test_every_station_key_is_in_the_readme_and_the_sample(known_keys):
    sample = tomllib.loads((ROOT / "station.toml").read_text(encoding="utf-8"))
    missing_doc = [f"[{t}] {k}" for t, ks in known_keys.items() for k in ks if f"`[{t}] {k}`" not in README]
    missing_sample = [f"[{t}] {k}" for t, ks in known_keys.items() for k in ks if k not in sample.get(t, {})]
    assert not missing_doc, f"not documented in README.md: {missing_doc}"
    assert not missing_sample, f"not in the sample station.toml: {missing_sample}"


def test_every_headend_key_is_in_the_readme():
    cfg = tomllib.loads(DEFAULT_CONFIG)
    missing = [f"[{t}] {k}" for t, ks in cfg.items() for k in ks if not re.search(rf"`\[{t}\] {k}`", README)]
    assert not missing, f"headend.toml keys not documented in README.md: {missing}"


def test_a_typo_in_station_toml_is_refused_by_name(tmp_path):
    toml = write_station_toml(tmp_path / "station.toml", ["http://127.0.0.1:9/"], tmp_path / "k.pub")
    (tmp_path / "k.pub").write_text(SecretKey.generate().public_key.to_text())
    toml.write_text(toml.read_text(encoding="utf-8").replace("interval_s", "intervall_s"), encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"station\.toml:\d+: \[sync\] intervall_s: unknown key; did you mean 'interval_s'"
    ):
        load_config(toml)
