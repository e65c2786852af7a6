"""The station's own files damaged (a failing SD card, a copy cut short, a hand edit): the TV
says so in words with a 503 and the station mends what can be derived at its next sync; the
trust state is never reset behind anyone's back. (The command line: tests/test_damaged_store.py.)"""

from __future__ import annotations

from tests.tv.station import PIN, TvStation


def truncate(path) -> bytes:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return data


async def test_a_damaged_station_json_is_a_503_page_and_the_next_sync_mends_it(page_client, tv: TvStation):
    truncate(tv.cfg.data_dir / "station.json")
    client = await page_client(tv.app())
    resp = await client.get("/")
    assert resp.status == 503
    html = await resp.text()
    assert "站点数据损坏了" in html and "站点会在下次同步时自动修复" in html and "请告诉信息管理员" in html
    assert 'href="/"' in html  # never a dead end
    api = await client.get("/api/status")
    assert api.status == 503
    assert "station.json: damaged" in (await api.json())["error"]
    # The administrator also sees which file and what to do.
    assert (await client.post("/admin/login", data={"pin": PIN}, allow_redirects=False)).status in (303, 503)
    admin = await client.get("/admin")
    assert admin.status == 503
    text = await admin.text()
    assert "station sync --once" in text and "station.json" in text

    asked = len(tv.sim.requests)
    assert tv.sync() == "ok"
    # Rebuilt from the verified media on disk: nothing downloaded again, only the index and playlists.
    assert not [p for p in tv.sim.requests[asked:] if p.startswith("media/")]
    assert (tv.cfg.data_dir / "station.json.damaged").exists()
    home = await client.get("/")
    assert home.status == 200
    assert "雨季养鹅技术" in await home.text()


async def test_a_damaged_trust_state_is_not_reset_and_the_tv_keeps_playing(client, tv: TvStation):
    tv.publish()
    assert tv.sync() == "ok"  # a second version: trust.json.bak holds the state of the first
    first = tv.sim.version - 1
    trust = tv.cfg.data_dir / "trust.json"
    truncate(trust)
    damaged = trust.read_bytes()
    home = await client.get("/")
    assert home.status == 200 and "雨季养鹅技术" in await home.text()  # what is on the box still plays
    assert tv.sync() == "failed"
    assert trust.read_bytes() == damaged  # never silently reset: a rollback would ride on that
    error = tv.store.sync_status().last_error
    assert "trust.json: damaged" in error
    assert f"restore the last good copy (version {first}" in error and "trust.json.bak" in error
    home = await client.get("/")
    assert home.status == 200 and "雨季养鹅技术" in await home.text()
    # Doing what it says mends it.
    trust.write_bytes((tv.cfg.data_dir / "trust.json.bak").read_bytes())
    assert tv.sync() == "ok"
    assert tv.store.trust().highest_version == tv.sim.version
