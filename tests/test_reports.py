"""The report collector (docs/reporting.md) over real HTTP on loopback, on both engines: who may
send, what a malformed batch gets (a 4xx naming the field, nothing stored), each event counted
once however often it is sent, the box's clock corrected onto the right China day, and the
figures read back through ``/api/v1/stations/{id}/days`` and ``headend report``."""

from __future__ import annotations

import contextlib
import gzip
import json
import random
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from catalogue.clocks import CHINA
from catalogue.figures import figures
from headend.config import load_config
from headend.service import open_root
from headend.service.stations import add_station
from headend.web.app import create_app
from headend.web.keys import HEADEND
from tests.conftest import init_headend, run_cli, serve
from tests.county_kit import cookie_jar, login_admin, login_as
from tests.headend_db import database
from tests.report_batches import BOOT, STREAM, batch, body, china_iso, events, gz

A, B = "gaoyao-xiangang-xianyi", "gaoyao-xiangang-xianer"
JSON = {"Content-Type": "application/json"}
NOW = datetime.now(UTC)


@pytest.fixture
def root(tmp_path, headend_db) -> Path:
    root = init_headend(tmp_path / "headend", headend_db)
    return root


def enrol(root: Path, station: str, **kw) -> str:
    with open_root(root) as h:
        return add_station(h, station, None, "广东省/肇庆市/高要市/蚬岗镇", "stb-sd", **kw)


@contextlib.asynccontextmanager
async def collector(root: Path):
    app = create_app(load_config(root), background_loops=False)
    async with serve(app) as base, aiohttp.ClientSession(cookie_jar=cookie_jar()) as session:
        await login_admin(session, root, base)  # reading figures needs a county account
        yield Client(base, session, app)


class Client:
    def __init__(self, base: str, session: aiohttp.ClientSession, app) -> None:
        self.base, self.session, self.app = base, session, app

    async def post(self, doc_or_bytes, token: str | None, headers: dict | None = None, gzipped: bool = True):
        if isinstance(doc_or_bytes, bytes):
            data = doc_or_bytes
        else:
            data = gz(doc_or_bytes) if gzipped else json.dumps(doc_or_bytes).encode()
        h = dict(JSON)
        if gzipped and not isinstance(doc_or_bytes, bytes):
            h["Content-Encoding"] = "gzip"
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        async with self.session.post(f"{self.base}/api/v1/reports", data=data, headers=h) as r:
            return r.status, await r.json(), r.headers

    async def days(self, station: str, first: str, last: str):
        async with self.session.get(f"{self.base}/api/v1/stations/{station}/days?from={first}&to={last}") as r:
            return r.status, await r.json()


def held_events(root: Path, station: str) -> list[dict]:
    with database(root) as db:
        return db.reports.events(station)


def good(station: str = A, n: int = 5, after: int = 0, first_seq: int | None = None, **kw) -> dict:
    now = kw.pop("now", NOW)
    evs = events(n, now - timedelta(seconds=60 * n + 30), first_seq=first_seq or after + 1, mono0=1000.0)
    return batch(station, evs, after=after, now=now, mono=1000.0 + 60 * n + 30, **kw)


# ---- who may send ------------------------------------------------------------------------------


async def test_a_valid_batch_is_held_and_answered_with_the_headends_time(root):
    token = enrol(root, A)
    async with collector(root) as c:
        status, answer, _ = await c.post(good(n=5), token)
    assert status == 200, answer
    assert answer["ok"] and answer["held"] == 5 and answer["seen"] == 5 and answer["accepted"] == 5
    assert answer["duplicates"] == 0 and answer["stream"] == STREAM
    assert abs(datetime.fromisoformat(answer["now"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert [e["seq"] for e in held_events(root, A)] == [1, 2, 3, 4, 5]


async def test_a_token_reports_for_its_own_station_only(root):
    token_a = enrol(root, A)
    enrol(root, B)
    async with collector(root) as c:
        status, answer, _ = await c.post(good(station=B), token_a)
    assert status == 403 and not answer["ok"] and A in answer["error"]
    assert held_events(root, A) == [] and held_events(root, B) == []


async def test_no_token_an_unknown_one_a_rotated_one_and_a_revoked_one_are_401(root):
    token = enrol(root, A)
    async with collector(root) as c:
        for t in (None, "not-a-token"):
            status, answer, _ = await c.post(good(), t)
            assert status == 401 and answer["revoked"] is False and "new token" in answer["error"], answer
        assert run_cli("headend", "station", "revoke", "--root", str(root), A).returncode == 0
        status, answer, _ = await c.post(good(), token)
        assert status == 401 and answer["revoked"] is True and "ask the county" in answer["error"]
        res = run_cli("headend", "station", "token", "--rotate", "--root", str(root), A)
        assert res.returncode == 0, res.stderr
        new = res.stdout.strip().splitlines()[-1]
        status, answer, _ = await c.post(good(), token)
        assert status == 401 and answer["revoked"] is False
        status, answer, _ = await c.post(good(), new)
        assert status == 200 and answer["held"] == 5
    assert len(held_events(root, A)) == 5


# ---- malformed batches -------------------------------------------------------------------------


def _set(doc: dict, path: str, value) -> dict:
    doc = json.loads(json.dumps(doc))
    target, keys = doc, path.replace("]", "").replace("[", ".").split(".")
    for k in keys[:-1]:
        target = target[int(k)] if isinstance(target, list) else target[k]
    last = keys[-1]
    if value is KeyError:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return doc


def plays(first_seq: int, n: int = 3) -> list[dict]:
    rnd = random.Random(first_seq)
    at = NOW - timedelta(minutes=30)
    return [
        {"seq": first_seq + i, "ts": china_iso(at), "kind": "play", "mono": 1000.0 + i, **body("play", at, rnd)}
        for i in range(n)
    ]


BAD = [
    ("events[1].watched_s", "ten"),
    ("events[1].watched_s", -1),
    ("events[1].watched_s", 1e12),
    ("events[1].watched_s", 10**400),  # an int too big for a float
    ("events[1].completed", 1),
    ("events[1].duration_s", True),
    ("events[2].course", KeyError),
    ("events[0].kind", "teleport"),
    ("events[0].colour", "red"),
    ("events[1].ts", "2026-12-02 09:00"),
    ("events[1].ts", "1969-12-31T23:00:00+08:00"),
    ("events[1].ts", "2100-01-01T00:00:00+08:00"),
    ("events[1].title", "长" * 201),
    ("events[2].seq", 7),
    ("after", -5),
    ("stream", "NOT-HEX"),
    ("v", 2),
    ("station", None),
    ("events", "none"),
]


@pytest.mark.parametrize("path,value", BAD, ids=[f"{p}={str(v)[:12]}" for p, v in BAD])
async def test_a_malformed_batch_is_a_400_naming_the_field_and_nothing_is_stored(root, path, value):
    token = enrol(root, A)
    async with collector(root) as c:
        status, answer, _ = await c.post(batch(A, plays(1), after=0, now=NOW, mono=5000.0), token)
        assert status == 200, answer
        doc = batch(A, plays(4), after=3, now=NOW, mono=5000.0)
        status, answer, _ = await c.post(doc, token)
        assert status == 200, answer  # a good batch of plays …
        doc = batch(A, plays(7), after=6, now=NOW, mono=5000.0)
        status, answer, _ = await c.post(_set(doc, path, value), token)
    assert status == 400 and not answer["ok"], answer  # … and this one change makes it bad
    assert answer["field"] == path, answer
    assert sorted(e["seq"] for e in held_events(root, A)) == [1, 2, 3, 4, 5, 6]


async def test_bodies_that_are_not_a_batch_are_refused_and_nothing_is_stored(root):
    token = enrol(root, A)
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb_bytes = bomb.compress(b"[" + b" " * (200 * 1024 * 1024)) + bomb.flush()  # 200 MB of spaces
    assert len(bomb_bytes) < 512 * 1024
    async with collector(root) as c:
        cases = [
            (b"\xff\xfe{not utf-8}", {}, 400),
            (b"{not json", {}, 400),
            (b'{"v": NaN}', {}, 400),
            (b"[" * 100_000, {}, 400),
            (b"x" * (10 * 1024 * 1024), {}, 413),
            (bomb_bytes, {"Content-Encoding": "gzip"}, 413),
            (gzip.compress(b"{}")[:-6], {"Content-Encoding": "gzip"}, 400),
            (gzip.compress(b"{}") + b"junk", {"Content-Encoding": "gzip"}, 400),
            (
                gzip.compress(json.dumps(good()).encode()),
                {"Content-Encoding": "gzip", "Content-Type": "text/json"},
                415,
            ),
            (json.dumps(good()).encode(), {"Content-Encoding": "br"}, 415),
            (json.dumps(good()).encode(), {"Content-Type": "text/plain"}, 415),
        ]
        for body, headers, want in cases:
            status, answer, _ = await c.post(body, token, headers, gzipped=False)
            assert status == want and answer["ok"] is False and answer["error"], (body[:20], answer)
        doc = good(n=3)
        doc["events"] = doc["events"] * 200  # 600 events
        status, answer, _ = await c.post(doc, token)
        assert status == 400 and answer["field"] == "events"
    assert held_events(root, A) == []


async def test_a_lone_surrogate_in_a_string_is_a_400_not_a_500(root):
    """JSON may escape half a UTF-16 pair (\\ud800), which is no text the database can hold."""
    token = enrol(root, A)
    doc = good(n=1)
    e = doc["events"][0]
    doc["events"][0] = {k: e[k] for k in ("seq", "ts", "mono")} | {"kind": "logbook", "text": "\ud800", "author": "王"}
    async with collector(root) as c:
        status, answer, _ = await c.post(json.dumps(doc).encode(), token, gzipped=False)
        assert status == 400 and "surrogate" in answer["error"], answer
        assert held_events(root, A) == []
        doc["events"][0]["text"] = "\U0001f600"  # a whole pair is fine
        status, answer, _ = await c.post(json.dumps(doc).encode(), token, gzipped=False)
        assert status == 200, answer
    assert len(held_events(root, A)) == 1


async def test_a_station_sending_too_often_is_told_when_to_come_back(root):
    token = enrol(root, A)
    async with collector(root) as c:
        statuses = []
        for _ in range(70):
            status, answer, headers = await c.post(batch(A, [], after=0, now=NOW, mono=5.0), token)
            statuses.append(status)
            if status == 429:
                break
    assert statuses[:60] == [200] * 60 and statuses[-1] == 429
    assert int(headers["Retry-After"]) >= 1 and "wait" in answer["error"]


async def test_the_database_gone_is_a_503_with_retry_after(root, headend_db):
    from tests.test_headend_db import _break_database

    token = enrol(root, A)
    async with collector(root) as c:
        _break_database(root, headend_db, c.app[HEADEND].db)
        status, answer, headers = await c.post(good(), token)
    assert status == 503 and not answer["ok"] and int(headers["Retry-After"]) > 0


# ---- each event once ---------------------------------------------------------------------------


async def test_a_resent_seq_with_another_event_is_a_409_and_nothing_of_the_batch_is_stored(root):
    """A journal restored from a backup writes new events under seqs the headend already holds:
    taken for duplicates they would be lost. The headend compares a re-sent event with the one it
    holds (the boot the station left out filled in) and answers 409 with the first that differs."""
    token = enrol(root, A)
    evs = events(10, NOW - timedelta(hours=1), mono0=100.0, boot=BOOT)
    mono = 100.0 + 10 * 60 + 5
    async with collector(root) as c:
        status, first, _ = await c.post(batch(A, evs[:6], after=0, now=NOW, mono=mono), token)
        assert status == 200 and first["held"] == 6
        without_boot = [{k: v for k, v in e.items() if k != "boot"} for e in evs[:6]]
        status, same, _ = await c.post(batch(A, without_boot, after=0, now=NOW, mono=mono), token)
        assert status == 200 and same["duplicates"] == 6  # the same events, boot left out: duplicates
        other = events(6, NOW - timedelta(minutes=10), first_seq=4, mono0=900.0, seed=9, boot=BOOT)
        status, answer, _ = await c.post(batch(A, evs[:3] + other, after=0, now=NOW, mono=mono + 700), token)
    assert status == 409 and answer["conflict"] == 4 and answer["field"] == "events.seq", answer
    assert "new stream at seq 4" in answer["error"]
    held = sorted((e["seq"], e["event"]["mono"]) for e in held_events(root, A))
    assert held == [(e["seq"], e["mono"]) for e in evs[:6]]  # the first six, as they were; nothing added


async def test_the_same_batch_twice_overlapping_batches_and_a_gap(root):
    token = enrol(root, A)
    evs = events(20, NOW - timedelta(hours=1), mono0=100.0)
    mono = 100.0 + 20 * 60 + 5

    def part(lo: int, hi: int, after: int) -> dict:
        return batch(A, evs[lo:hi], after=after, now=NOW, mono=mono)

    async with collector(root) as c:
        _, first, _ = await c.post(part(0, 10, 0), token)
        _, again, _ = await c.post(part(0, 10, 0), token)
        assert (first["accepted"], first["duplicates"], first["held"]) == (10, 0, 10)
        assert (again["accepted"], again["duplicates"], again["held"]) == (0, 10, 10)
        _, overlap, _ = await c.post(part(5, 12, 5), token)
        assert (overlap["accepted"], overlap["duplicates"], overlap["held"]) == (2, 5, 12)
        _, beyond, _ = await c.post(part(15, 20, 15), token)  # 13–15 never sent: a gap
        assert beyond["held"] == 12 and beyond["seen"] == 20 and beyond["accepted"] == 5
        _, filled, _ = await c.post(part(12, 20, 12), token)  # re-sent from held + 1
        assert filled["held"] == 20 and filled["accepted"] == 3 and filled["duplicates"] == 5
        status, days = await c.days(
            A, (NOW - timedelta(days=1)).date().isoformat(), (NOW + timedelta(days=1)).date().isoformat()
        )
    assert status == 200
    assert sorted(e["seq"] for e in held_events(root, A)) == list(range(1, 21))
    reported = [d for d in days["days"] if d["reported"]]
    assert sum(d["events"] for d in reported) == 20
    by_day: dict[str, list[dict]] = {}  # each event on the China day the headend placed it (its
    for e in held_events(root, A):  # corrected time: near midnight, not always the day of its ts)
        by_day.setdefault(e["day"], []).append(e["event"])
    assert sorted(e["seq"] for es in by_day.values() for e in es) == [e["seq"] for e in evs]
    for d in reported:  # (a viewer is one per client, course and that same placed day)
        f = figures(by_day[d["day"]], day=lambda e, placed=d["day"]: placed)
        assert (d["plays"], d["individual_plays"], d["sessions"], d["logbook"]) == (
            f.plays,
            f.individual_plays,
            f.sessions,
            f.logbook,
        )


# ---- clocks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("box_now", ["2000-01-04T08:00:00+08:00", "+3y"])  # 2000: booted on 2000-01-01
async def test_a_wrong_box_clock_lands_the_current_boots_events_on_the_right_china_day(root, box_now):
    token = enrol(root, A)
    real = datetime.now(UTC)
    box = datetime.fromisoformat(box_now) if box_now != "+3y" else real + timedelta(days=3 * 365)
    # three events 2, 26 and 50 hours ago on this boot (the box has been up 3 days)
    ago = [50, 26, 2]
    evs = []
    for i, h in enumerate(ago):
        e = events(1, box - timedelta(hours=h), first_seq=i + 1, seed=i)[0]
        e["mono"] = 3 * 86400.0 - h * 3600
        evs.append(e)
    async with collector(root) as c:
        status, answer, _ = await c.post(batch(A, evs, after=0, now=box, mono=3 * 86400.0), token)
    assert status == 200 and answer["time_uncertain"] == 0
    assert abs(answer["offset_s"] - (real - box).total_seconds()) < 60
    held = held_events(root, A)
    for h, e in zip(ago, held, strict=True):
        want = (real - timedelta(hours=h)).astimezone(CHINA)
        got = datetime.fromisoformat(e["at"].replace("Z", "+00:00"))
        assert abs(got - want) < timedelta(minutes=1) and e["day"] == want.date().isoformat()
        assert not e["time_uncertain"]


async def test_an_earlier_boot_is_corrected_when_measured_and_uncertain_but_counted_when_not(root):
    token = enrol(root, A)
    real = datetime.now(UTC)
    box = datetime.fromisoformat("2000-01-05T08:00:00+08:00")  # a box without a clock
    old, measured_boot, now_boot = "0a" * 16, "0b" * 16, "0c" * 16
    async with collector(root) as c:
        # an upload during measured_boot, 10 h ago by the headend's clock (simulated by the box saying so)
        first = events(2, box, first_seq=1, boot=measured_boot, mono0=500.0)
        status, ans, _ = await c.post(
            batch(A, first, after=0, now=box + timedelta(seconds=600), mono=1100.0, boot=measured_boot), token
        )
        assert status == 200
        # now on a new boot: events of an old unmeasured boot, of measured_boot (after its upload), and of now
        unmeasured = events(2, box - timedelta(days=3), first_seq=3, boot=old, mono0=50.0, seed=3)
        later = events(1, box, first_seq=5, boot=measured_boot, mono0=1050.0, seed=4)  # 50 s before that upload
        current = events(1, box, first_seq=6, mono0=10.0, seed=5)
        status, ans, _ = await c.post(
            batch(A, unmeasured + later + current, after=2, now=box, mono=20.0, boot=now_boot), token
        )
        for e in current:
            e["boot"] = now_boot
    assert status == 200 and ans["accepted"] == 4 and ans["time_uncertain"] == 2
    held = {e["seq"]: e for e in held_events(root, A)}
    assert held[3]["time_uncertain"] and held[4]["time_uncertain"]  # 2000: before enrolment
    assert not held[5]["time_uncertain"]
    at5 = datetime.fromisoformat(held[5]["at"].replace("Z", "+00:00"))
    at1 = datetime.fromisoformat(held[1]["at"].replace("Z", "+00:00"))
    assert abs((at5 - at1).total_seconds() - 550) < 2  # mono 1050 vs 500 on the one measured boot
    assert abs(at5 - real) < timedelta(minutes=2)
    async with collector(root) as c:
        today = datetime.now(CHINA).date()
        _, days = await c.days(A, (today - timedelta(days=1)).isoformat(), today.isoformat())
    total = sum(d.get("events", 0) for d in days["days"])
    uncertain = sum(d.get("time_uncertain", 0) for d in days["days"])
    assert total == 6 and uncertain == 2  # counted in the totals, on a plausible day


# ---- reading the figures -----------------------------------------------------------------------


async def test_days_give_every_day_in_range_and_the_cli_agrees(root):
    token = enrol(root, A, capacity=40, members=12)
    enrol(root, B)
    async with collector(root) as c:
        status, _, _ = await c.post(good(n=30), token)
        assert status == 200
        today = datetime.now(CHINA).date()
        first, last = (today - timedelta(days=4)).isoformat(), (today + timedelta(days=1)).isoformat()
        status, doc = await c.days(A, first, last)
        assert status == 200 and len(doc["days"]) == 6 and doc["now"]
        assert [d["reported"] for d in doc["days"]].count(False) >= 4
        assert (await c.days(A, last, first))[0] == 400
        assert (await c.days(A, "2026-01-01", "2027-12-31"))[0] == 400
        assert (await c.days(A, "2026-13-01", "2026-12-31"))[1]["field"] == "from"
        assert (await c.days("nope", first, last))[0] == 404
    res = run_cli("headend", "report", "--root", str(root), "--station", A, "--from", first, "--to", last, "--json")
    assert res.returncode == 0, res.stderr
    cli_days = json.loads(res.stdout)["stations"][0]["days"]
    assert cli_days == doc["days"]
    res = run_cli(
        "headend", "report", "--root", str(root), "--region", "广东省/肇庆市", "--from", first, "--to", last, "--csv"
    )
    raw = res.stdout.encode("utf-8") if isinstance(res.stdout, str) else res.stdout
    assert raw.startswith("\ufeff".encode()) and "集中学习人次" in raw.decode("utf-8-sig")
    assert sum(line.startswith(B) for line in raw.decode("utf-8-sig").splitlines()) == 6 and "未上报" in raw.decode(
        "utf-8-sig"
    )
    res = run_cli("headend", "report", "--root", str(root), "--from", last, "--to", first)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    res = run_cli("headend", "report", "--root", str(root), "--from", "yesterday")
    assert res.returncode == 2 and "YYYY-MM-DD" in res.stderr
    res = run_cli("headend", "station", "list", "--root", str(root))
    assert res.returncode == 0 and A in res.stdout and B in res.stdout


async def test_figures_need_a_login_and_stay_within_the_accounts_region(root):
    """The figures used to be readable by anyone on loopback (and anyone behind a proxy that adds no
    forwarding header); now they need a county account, and one bound to another township gets the
    404 a station that does not exist gets."""
    enrol(root, A)
    async with collector(root) as c:
        url = f"{c.base}/api/v1/stations/{A}/days"
        async with aiohttp.ClientSession() as anonymous, anonymous.get(url) as r:
            assert r.status == 401 and "log in" in (await r.json())["error"]
        async with c.session.get(url) as r:
            assert r.status == 200 and (await r.json())["days"][0]["reported"] is False
        async with aiohttp.ClientSession(cookie_jar=cookie_jar()) as other:
            await login_as(other, root, "hetai", "viewer", "广东省/肇庆市/高要市/河台镇", c.base)
            async with other.get(url) as r:
                foreign = (r.status, (await r.json())["error"].replace(A, "ID"))
            async with other.get(f"{c.base}/api/v1/stations/nope/days") as r:
                missing = (r.status, (await r.json())["error"].replace("nope", "ID"))
            assert foreign == missing and foreign[0] == 404


def test_station_add_and_edit_check_capacity_and_members(root):
    res = run_cli("headend", "station", "add", "--root", str(root), A, "--capacity", "0")
    assert res.returncode == 1 and "--capacity" in res.stderr
    res = run_cli("headend", "station", "add", "--root", str(root), A, "--capacity", "40", "--members", "9")
    assert res.returncode == 0, res.stderr
    res = run_cli("headend", "station", "edit", "--root", str(root), A, "--members", "11", "--name", "蚬一村")
    assert res.returncode == 0 and "members 11" in res.stdout and "capacity 40" in res.stdout
    res = run_cli("headend", "station", "edit", "--root", str(root), "nope", "--members", "1")
    assert res.returncode == 1 and "no station nope" in res.stderr
    with database(root) as db:
        s = db.station(A)
    assert (s.capacity, s.members, s.name) == (40, 11, "蚬一村")


async def test_a_big_batch_that_compresses_well_is_taken_whole(root):
    """500 events with long texts: several MB inflated from well under 512 KB of gzip."""
    token = enrol(root, A)
    evs = events(500, NOW - timedelta(hours=10), mono0=10.0)
    for e in evs:
        if e["kind"] == "logbook":
            e["text"] = "学" * 2000
    doc = batch(A, evs, after=0, now=NOW, mono=10.0 + 500 * 60 + 5)
    assert len(gz(doc)) < 512 * 1024
    async with collector(root) as c:
        status, answer, _ = await c.post(doc, token)
    assert status == 200 and answer["accepted"] == 500 and answer["held"] == 500


async def test_the_newest_health_sample_is_kept_whatever_order_they_arrive_in(root):
    token = enrol(root, A)
    evs = [e for e in events(60, NOW - timedelta(hours=2), mono0=10.0, seed=7) if e["kind"] == "health"]
    assert len(evs) >= 3
    for i, e in enumerate(evs):
        e["seq"], e["backlog"] = i + 1, i  # backlog tells the samples apart
    mono = 10.0 + 60 * 60 + 5
    async with collector(root) as c:
        status, _, _ = await c.post(batch(A, evs, after=0, now=NOW, mono=mono), token)
        assert status == 200
        status, _, _ = await c.post(batch(A, evs[:1], after=0, now=NOW, mono=mono), token)  # an old one again
        assert status == 200
    with database(root) as db:
        newest = db.reports.health(A)
    assert newest["backlog"] == len(evs) - 1 and newest["kind"] == "health"


async def test_a_new_stream_starts_where_its_first_batch_says_and_keeps_apart_from_the_old(root):
    """A journal restored from a backup goes on at seq 6 under a new stream: its events are new
    events, not duplicates of the old stream's 6–10, and its held starts at its first ``after``."""
    token = enrol(root, A)
    old = events(10, NOW - timedelta(hours=3), mono0=10.0, seed=1)
    new = events(5, NOW - timedelta(hours=1), first_seq=6, mono0=7000.0, seed=2)
    mono = 7000.0 + 5 * 60 + 5
    async with collector(root) as c:
        _, a, _ = await c.post(batch(A, old, after=0, now=NOW, mono=mono), token)
        _, b, _ = await c.post(batch(A, new, after=5, now=NOW, mono=mono, stream="fedcba9876543210"), token)
    assert (a["held"], a["seen"]) == (10, 10)
    assert (b["held"], b["seen"], b["accepted"], b["duplicates"]) == (10, 10, 5, 0)
    held = held_events(root, A)
    assert len(held) == 15 and {e["stream"] for e in held} == {STREAM, "fedcba9876543210"}


# ---- live classes watched (issue 16) -------------------------------------------------------------


def lives(first_seq: int, n: int = 3) -> list[dict]:
    """``n`` live classes watched, each ending a minute after the last, with plays between."""
    rnd = random.Random(first_seq)
    out = []
    for i in range(n):
        at = NOW - timedelta(minutes=30 - i)
        kind = "live" if i % 2 == 0 else "play"
        out.append(
            {"seq": first_seq + i, "ts": china_iso(at), "kind": kind, "mono": 1000.0 + 60 * i, **body(kind, at, rnd)}
        )
    return out


async def test_live_classes_watched_are_held_and_counted_per_day_as_the_fold_counts_them(root):
    token = enrol(root, A)
    evs = lives(1, 7)
    evs[0].update(watched_s=1800.0, start=china_iso(NOW - timedelta(minutes=61)), session="a1b2c3d4e5f6")
    async with collector(root) as c:
        status, answer, _ = await c.post(batch(A, evs, after=0, now=NOW, mono=5000.0), token)
        assert status == 200 and answer["accepted"] == 7, answer
        today = datetime.now(CHINA).date()
        status, doc = await c.days(A, (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat())
    assert status == 200
    by_day: dict[str, list[dict]] = {}
    for e in held_events(root, A):
        by_day.setdefault(e["day"], []).append(e["event"])
    reported = [d for d in doc["days"] if d["reported"]]
    assert sorted(d["day"] for d in reported) == sorted(by_day)
    for d in reported:
        f = figures(by_day[d["day"]], day=lambda e, placed=d["day"]: placed)
        assert (d["live_plays"], d["live_watched_s"], d["plays"]) == (f.live_plays, f.live_watched_s, f.plays)
    assert sum(d["live_plays"] for d in reported) == 4 and sum(d["plays"] for d in reported) == 3
    assert sum(d["live_watched_s"] for d in reported) == sum(e["watched_s"] for e in evs if e["kind"] == "live")


BAD_LIVE = [
    ("events[2].watched_s", 7200.0),  # two hours watched of a class joined half an hour before it ended
    ("events[2].watched_s", -1),
    ("events[2].watched_s", True),
    ("events[2].live", "Dang Ke"),
    ("events[2].live", KeyError),
    ("events[2].title", "长" * 201),
    ("events[2].start", "2026-12-02 09:00"),
    ("events[2].end", "2026-12-02T09:00:00"),
    ("events[2].session", "a session"),
    ("events[2].session", KeyError),
    ("events[2].client", "1" * 65),
    ("events[2].position_s", 1.0),  # a play's field is no field of a live class
]


@pytest.mark.parametrize("path,value", BAD_LIVE, ids=[f"{p}={str(v)[:12]}" for p, v in BAD_LIVE])
async def test_a_malformed_live_event_is_a_400_naming_the_field_and_nothing_is_stored(root, path, value):
    token = enrol(root, A)
    evs = lives(1, 3)
    assert evs[2]["kind"] == "live"
    evs[2].update(watched_s=1800.0, start=china_iso(NOW - timedelta(minutes=58)))
    async with collector(root) as c:
        status, answer, _ = await c.post(_set(batch(A, evs, after=0, now=NOW, mono=5000.0), path, value), token)
        assert status == 400 and not answer["ok"], answer
        assert answer["field"] == path, answer
        assert held_events(root, A) == []
        status, answer, _ = await c.post(batch(A, evs, after=0, now=NOW, mono=5000.0), token)  # as it was: good
    assert status == 200 and answer["accepted"] == 3, answer
