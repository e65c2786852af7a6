"""Report batches as a station sends them (docs/reporting.md), for the collector's tests and
``scripts/bench_reports.py``: realistic events of every kind, and batches of them."""

from __future__ import annotations

import gzip
import json
import random
from datetime import datetime, timedelta

from catalogue.clocks import CHINA

BOOT = "b0" * 16
STREAM = "0123456789abcdef"


def china_iso(at: datetime) -> str:
    return at.astimezone(CHINA).isoformat(timespec="seconds")


def body(kind: str, at: datetime, rnd: random.Random) -> dict:
    """The fields of one event of ``kind`` that happened at ``at``."""
    if kind == "play":
        watched = rnd.choice([5.0, 30.0, 75.0, 300.0, 1200.5])
        return {
            "course": rnd.choice(["kc-yangshu-2026", "kc-yibao-2026", "kc-fangzha-2026"]),
            "title": "雨季养鹅技术",
            "start": china_iso(at - timedelta(seconds=watched)),
            "end": china_iso(at),
            "watched_s": watched,
            "position_s": watched,
            "duration_s": 1800.0,
            "completed": watched >= 1200,
            "reached_end": False,
            "channel": False,
            "session": rnd.choice([None, None, "a1b2c3d4e5f6"]),
            "client": rnd.choice(["192.168.1.20", "192.168.1.21"]),
        }
    if kind == "live":  # a live class watched: joined late or on time, left before its end or at it
        watched = rnd.choice([0.0, 45.0, 600.0, 1800.0, 3540.5])
        return {
            "live": rnd.choice(["dangke-1201", "dangke-1215"]),
            "title": "网络党课：学习贯彻党的二十大精神",
            "start": china_iso(at - timedelta(seconds=watched + rnd.choice([0, 30, 300]))),
            "end": china_iso(at),
            "watched_s": watched,
            "session": rnd.choice([None, None, "a1b2c3d4e5f6"]),
            "client": rnd.choice(["192.168.1.20", "192.168.1.21"]),
        }
    if kind in ("session_start", "session_end"):
        sid = f"{rnd.getrandbits(48):012x}"
        d = {
            "id": sid,
            "topic": "党的二十大精神学习",
            "facilitator": "李书记",
            "headcount": rnd.randint(1, 40),
            "names": ["张三", "李四"],
            "started": china_iso(at - timedelta(hours=1)),
            "source": "admin",
        }
        if kind == "session_end":
            d.update(
                ended=china_iso(at),
                duration_s=3600,
                courses=[{"id": "kc-yangshu-2026", "title": "雨季养鹅技术", "watched_s": 1800.0}],
                plays=1,
                counted=rnd.random() < 0.8,
            )
        return d
    if kind == "logbook":
        return {"text": "今天组织村民学习了养殖技术。", "author": "王管理员"}
    if kind == "admin_login":
        return {"ok": rnd.random() < 0.7, "client": "192.168.1.30"}
    if kind == "notice_view":
        return {"notice": rnd.choice(["tongzhi-1", "tongzhi-2"]), "via": "tv"}
    if kind == "fives":
        return {
            **{k: {"ok": rnd.random() < 0.8, "note": ""} for k in ("place", "equipment", "administrator", "rules")},
            "assessment": {"ok": False, "note": "考核办法待制定"},
            "checked": china_iso(at),
        }
    if kind == "health":
        return {
            "interval_s": 900,
            "uptime_s": 86000.0,
            "load1": 0.4,
            "mem_used_mb": 512.0,
            "mem_total_mb": 2048.0,
            "disk_free_mb": 20480.0,
            "disk_total_mb": 65536.0,
            "stored_mb": 4096.0,
            "installed_version": 12,
            "newest_version": 12,
            "sync_state": "idle",
            "sync_error": "",
            "backlog": 10,
            "app_version": "0.11.0",
            "tv_seen": china_iso(at),
            "offset_s": -2.5,
        }
    raise ValueError(kind)


KINDS = ["play"] * 6 + ["health"] * 6 + ["notice_view", "logbook", "admin_login", "session_end", "fives"]
WITH_LIVE = [*KINDS, "live"]  # (KINDS keeps its length: the seeded batches other tests count stay as they were)


def events(
    n: int,
    start: datetime,
    *,
    first_seq: int = 1,
    step_s: float = 60.0,
    mono0: float = 100.0,
    boot: str | None = None,
    seed: int = 0,
    kinds: list[str] = KINDS,
) -> list[dict]:
    """``n`` realistic journal lines from ``start`` (box wall clock), ``step_s`` apart, of ``kinds``."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        at = start + timedelta(seconds=i * step_s)
        kind = rnd.choice(kinds)
        e = {"seq": first_seq + i, "ts": china_iso(at), "kind": kind, "mono": round(mono0 + i * step_s, 1)}
        if boot is not None:
            e["boot"] = boot
        e.update(body(kind, at, rnd))
        out.append(e)
    return out


def batch(
    station: str, evs: list[dict], *, after: int, now: datetime, mono: float, boot: str = BOOT, stream: str = STREAM
) -> dict:
    return {
        "v": 1,
        "station": station,
        "stream": stream,
        "after": after,
        "now": china_iso(now),
        "boot": boot,
        "mono": mono,
        "events": evs,
    }


def gz(doc: dict) -> bytes:
    return gzip.compress(json.dumps(doc, ensure_ascii=False).encode("utf-8"), compresslevel=6)
