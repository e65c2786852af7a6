"""A county headend for the alert tests, fed through the real collector with injected receive
times (``send``), with ``[alerts]`` settings written into its headend.toml (``set_alerts``), and a
local webhook receiver (``Receiver``) on 127.0.0.1 that can refuse its first posts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web

from headend.service import open_root
from headend.service.reports import accept
from headend.service.stations import add_station
from tests.conftest import init_headend
from tests.report_batches import BOOT, china_iso

COUNTY = "广东省/肇庆市/高要市"
XIANYI = "xiangang-xianyi"  # 蚬岗镇 蚬一村
XIANER = "xiangang-xianer"  # 蚬岗镇 蚬二村
HETAI = "hetai-hetaicun"  # 河台镇 河台村
T0 = datetime.fromisoformat("2026-01-01T00:00:00+00:00")  # the boot's monotonic zero, for ``send``


def county_root(tmp_path: Path, headend_db, **alerts: object) -> Path:
    """A headend with three stations (two in 蚬岗镇, one in 河台镇) and ``[alerts]`` settings."""
    root = init_headend(tmp_path / "headend", headend_db)
    set_alerts(root, **alerts)
    with open_root(root) as h:
        add_station(h, XIANYI, "蚬一村站点", f"{COUNTY}/蚬岗镇/蚬一村", "stb-sd")
        add_station(h, XIANER, "蚬二村站点", f"{COUNTY}/蚬岗镇/蚬二村", "stb-sd")
        add_station(h, HETAI, "河台村站点", f"{COUNTY}/河台镇/河台村", "tv-hd")
    return root


def set_alerts(root: Path, **values: object) -> None:
    """Replace ``[alerts]`` keys in the root's headend.toml (as county IT would edit it)."""
    path = root / "headend.toml"
    text = path.read_text(encoding="utf-8")
    for key, value in values.items():
        toml = json.dumps(value, ensure_ascii=False)
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {toml}", text)
        assert n == 1, key
    path.write_text(text, encoding="utf-8")


def health(at: datetime, **extra: object) -> dict:
    """A health event as a station of today sends it: disk 50 % free, sync fine."""
    return {
        "kind": "health",
        "ts": china_iso(at),
        "interval_s": 900,
        "uptime_s": 7200.0,
        "load1": 0.3,
        "mem_used_mb": 400.0,
        "mem_total_mb": 2000.0,
        "disk_free_mb": 30000.0,
        "disk_total_mb": 60000.0,
        "stored_mb": 1200.0,
        "installed_version": 3,
        "newest_version": 3,
        "sync_state": "ok",
        "sync_error": "",
        "backlog": 0,
        "app_version": "0.12.0",
        "tv_seen": None,
        "offset_s": 0.0,
        **extra,
    }


def fives(at: datetime, failed: tuple[str, ...] = ()) -> dict:
    items = ("place", "equipment", "administrator", "rules", "assessment")
    return {
        "kind": "fives",
        "ts": china_iso(at),
        **{k: {"ok": k not in failed, "note": "王芳" if k == "administrator" else ""} for k in items},
        "checked": china_iso(at),
    }


def wrong_pins(at: datetime, n: int) -> list[dict]:
    return [{"kind": "admin_login", "ts": china_iso(at), "ok": False, "client": "192.168.1.30"}] * n


_seqs: dict[tuple[str, str], int] = {}


def send(root: Path, station: str, events: list[dict], received: datetime, clock_ahead_s: float = 0.0) -> None:
    """One batch through the collector's own service, received at ``received``, from a box whose
    clock is ``clock_ahead_s`` ahead (its events happen just before ``received``)."""
    key = (str(root), station)
    first = _seqs.get(key, 0) + 1
    _seqs[key] = first + len(events) - 1
    mono = (received - T0).total_seconds()
    evs = [{**e, "seq": first + i, "mono": mono - len(events) + i} for i, e in enumerate(events)]
    doc = {
        "v": 1,
        "station": station,
        "stream": "0123456789abcdef",
        "after": first - 1,
        "now": china_iso(received + timedelta(seconds=clock_ahead_s)),
        "boot": BOOT,
        "mono": mono,
        "events": evs,
    }
    with open_root(root) as h:
        accept(h, h.db.station(station), json.loads(json.dumps(doc)), received)


@dataclass
class Receiver:
    """A webhook receiver: every POST's JSON in ``got``; the first ``refuse`` posts get a 500."""

    refuse: int = 0
    got: list[dict] = field(default_factory=list)
    refused: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self.take)
        return app

    async def take(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.refused < self.refuse:
            self.refused += 1
            return web.Response(status=500, text="receiver down for maintenance")
        self.got.append(body)
        return web.json_response({"ok": True})

    def kinds(self) -> list[str]:
        return [m["kind"] for m in self.got]
