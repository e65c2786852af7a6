"""Reporting end to end (issue 11): a real headend on 127.0.0.1 (its own app, on the test's
engine), real ``station report --once`` processes, real journal files, links that misbehave
(tests/flaky_proxy.py). Each test compares what the station's journal holds with what the
headend's database holds — every (stream, seq) once, none missing, none twice — and the
headend's daily figures with the journal's."""

from __future__ import annotations

import asyncio
import math
import random
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from playlists.schedule import CHINA
from station.records.journal import Journal
from tests.conftest import ROOT, dead_url
from tests.flaky_proxy import FlakyProxy
from tests.reporting_kit import (
    Clock,
    attendance,
    days,
    held_count,
    held_events,
    held_stream,
    journal_index,
    journal_lines,
    record,
    report_once,
    report_until_done,
    report_url,
    reported,
    running_headend,
    set_report_url,
    station_argv,
    station_folder,
    streams,
    today,
    unsynced_disk,
)

REPORTS = "POST /api/v1/reports"


def posts(proxy: FlakyProxy) -> int:
    return sum(1 for r in proxy.requests if r.startswith(REPORTS))


def totals(ds: dict[str, dict], *names: str) -> dict[str, int | float]:
    return {n: sum(d[n] for d in ds.values()) for n in names}


def same(a: dict, b: dict) -> bool:
    """The same event: the journal line and what the headend holds of it (``boot`` may be left
    out on the wire when it is the batch's)."""
    return {k: v for k, v in a.items() if k != "boot"} == {k: v for k, v in b.items() if k != "boot"}


def assert_holds_exactly(root: Path, data_dir: Path, also: dict | None = None) -> list[tuple[str, int]]:
    """The headend holds the journal's events (and ``also``, key → event), each once under its
    key, as the journal wrote it; returns the keys."""
    want = {**(also or {}), **journal_index(data_dir)}
    held = held_events(root)
    keys = [(e["stream"], e["seq"]) for e in held]
    assert len(keys) == len(set(keys)), "a key is held twice"
    missing, extra = sorted(set(want) - set(keys)), sorted(set(keys) - set(want))
    assert not missing and not extra, f"missing {missing[:5]}… ({len(missing)}), extra {extra[:5]}… ({len(extra)})"
    other = [(e["stream"], e["seq"]) for e in held if not same(e["event"], want[(e["stream"], e["seq"])])]
    assert not other, (
        f"{len(other)} events held under a key are not the journal's event of that key (e.g. {other[0]}: "
        f"held {next(e['event'] for e in held if (e['stream'], e['seq']) == other[0])}, "
        f"journal {want[other[0]]}): the journal's own events were taken for duplicates and lost"
    )
    assert held_count(root) == len(want)
    return sorted(want)


# ---- 1. kill -9 at random moments during uploads ---------------------------------------------


@pytest.mark.slow  # a kill loop
async def test_kill_9_during_uploads_then_one_clean_run_holds_the_journal_exactly(tmp_path, headend_db):
    rng = random.Random(20261202)
    async with running_headend(tmp_path / "headend", headend_db) as h:
        proxy = FlakyProxy(h.url, rate_bytes_per_s=20_000)  # a slow link: an upload takes a while
        async with proxy.running() as via:
            toml = station_folder(tmp_path / "station", h, report_url(via))
            data = toml.parent / "data"
            clock = Clock()
            att = attendance(data, clock)
            kills = mid_upload = runs = 0
            while kills < 22 and runs < 45:
                runs += 1
                with unsynced_disk():
                    record(att, clock, rng.randrange(100, 300), rng, spread_s=5)
                argv, env = station_argv(toml, "report", "--once")
                sent_before = proxy.bytes_to_server
                proc = await asyncio.create_subprocess_exec(
                    *argv, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
                )
                # Kill it at a random moment once its upload has begun (the first bytes reach the link).
                for _ in range(400):
                    if proxy.bytes_to_server > sent_before or proc.returncode is not None:
                        break
                    await asyncio.sleep(0.01)
                await asyncio.sleep(rng.uniform(0, 0.3))
                if proc.returncode is None:
                    proc.kill()
                    kills += 1
                    mid_upload += proxy.bytes_to_server > sent_before
                await proc.wait()
            assert kills >= 20 and mid_upload >= 20, f"{kills} kills in {runs} runs, {mid_upload} during an upload"
            record(att, clock, 50, rng, spread_s=5)
            rc, out, err = await report_once(toml)
            assert rc == 0, out + err
        keys = assert_holds_exactly(h.root, data)
        assert len(keys) == len(journal_lines(data))
        ds = reported(await days(h, today() - timedelta(days=2), today() + timedelta(days=2)))
        lines = journal_lines(data)
        assert totals(ds, "plays", "logbook", "events") == {
            "plays": sum(e["kind"] == "play" for e in lines),
            "logbook": sum(e["kind"] == "logbook" for e in lines),
            "events": len(lines),
        }


@pytest.mark.slow  # a kill loop
async def test_kill_9_of_station_serve_while_its_upload_loop_runs(tmp_path, headend_db):
    """The daemon's own upload loop, killed as it uploads (a power cut), again and again."""
    rng = random.Random(9)
    async with running_headend(tmp_path / "headend", headend_db) as h:
        proxy = FlakyProxy(h.url, rate_bytes_per_s=20_000)
        async with proxy.running() as via:
            port = int(dead_url("").rsplit(":", 1)[1].strip("/"))
            toml = station_folder(tmp_path / "station", h, report_url(via), ui_port=port)
            data = toml.parent / "data"
            clock = Clock()
            kills = 0
            for _ in range(8):
                with unsynced_disk():  # a fresh Attendance: the daemon wrote lines of its own
                    record(attendance(data, clock), clock, rng.randrange(200, 600), rng, spread_s=5)
                argv, env = station_argv(toml, "serve")
                sent_before = proxy.bytes_to_server
                proc = await asyncio.create_subprocess_exec(
                    *argv, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
                )
                for _ in range(3000):
                    if proxy.bytes_to_server > sent_before or proc.returncode is not None:
                        break
                    await asyncio.sleep(0.01)
                assert proc.returncode is None, "station serve stopped by itself"
                assert proxy.bytes_to_server > sent_before, "station serve never uploaded its backlog"
                await asyncio.sleep(rng.uniform(0, 0.4))
                proc.kill()
                kills += 1
                await proc.wait()
            rc, out, err = await report_once(toml)
            assert rc == 0, out + err
        assert kills == 8
        assert_holds_exactly(h.root, data)


# ---- 2. the lost acknowledgement -------------------------------------------------------------


async def test_lost_ack_the_retry_stores_nothing_twice_and_leaves_the_roll_up(tmp_path, headend_db):
    rng = random.Random(2)
    async with running_headend(tmp_path / "headend", headend_db) as h:
        proxy = FlakyProxy(h.url, drop_responses=1)  # the first answer never reaches the station
        async with proxy.running() as via:
            toml = station_folder(tmp_path / "station", h, report_url(via))
            data = toml.parent / "data"
            clock = Clock()
            record(attendance(data, clock), clock, 300, rng, spread_s=2)  # one batch
            rc, out, err = await report_once(toml)
            assert proxy.dropped == 1 and posts(proxy) >= 1
            window = (today() - timedelta(days=1), today() + timedelta(days=1))
            if rc != 0:  # the station gave up on this run: the headend committed all the same
                assert held_count(h.root) == len(journal_lines(data))
                before = await days(h, *window)
                await report_until_done(toml)
            else:  # it retried within the run
                before = None
            assert posts(proxy) >= 2, proxy.requests  # the batch went again
            print(f"\n[wire] lost ack: the first run exited {rc}; {posts(proxy)} POSTs reached the headend")
            assert_holds_exactly(h.root, data)
            after = await days(h, *window)
            if before is not None:
                assert after == before  # the re-sent batch changed no figure
            lines = journal_lines(data)
            assert totals(reported(after), "plays", "events") == {
                "plays": sum(e["kind"] == "play" for e in lines),
                "events": len(lines),
            }
            # and a run with nothing new sends nothing the headend counts again
            rc, out, err = await report_once(toml)
            assert rc == 0, out + err
            assert await days(h, *window) == after


# ---- 3. a month offline ----------------------------------------------------------------------


@pytest.mark.slow  # 10,000 events
async def test_thirty_days_offline_ten_thousand_events_arrive_once_in_few_requests(tmp_path, headend_db, capsys):
    rng = random.Random(30)
    async with running_headend(tmp_path / "headend", headend_db) as h:
        toml = station_folder(tmp_path / "station", h, report_url(dead_url("")))
        data = toml.parent / "data"
        clock = Clock(datetime.now(CHINA).timestamp() - 30 * 86400)
        att = attendance(data, clock)
        with unsynced_disk():
            n = record(att, clock, 10_000, rng, spread_s=240, plays=0.2)
        rc, out, err = await report_once(toml)  # the link is down
        assert rc != 0, out + err
        assert held_count(h.root) == 0
        proxy = FlakyProxy(h.url)
        async with proxy.running() as via:
            set_report_url(toml, report_url(via))
            rc, out, err = await report_once(toml)
            assert rc == 0, out + err
        keys = assert_holds_exactly(h.root, data)
        assert len(keys) == n
        requests = posts(proxy)
        wire = proxy.bytes_to_server + proxy.bytes_to_client
        with capsys.disabled():
            print(
                f"\n[wire] 30 days offline, {n} events: {requests} requests, {proxy.bytes_to_server} B up, "
                f"{proxy.bytes_to_client} B down, {wire / n:.1f} B/event ({headend_db})"
            )
        assert requests <= math.ceil(n / 500) + 3, proxy.requests


# ---- 4. wrong clocks -------------------------------------------------------------------------

OTHER_BOOT = "0123456789abcdef0123456789abcdef"


def box_times() -> list[tuple[str, datetime]]:
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3 * 365)
    return [
        ("2000-01-01", datetime(2000, 1, 1, 0, 30, tzinfo=UTC)),
        ("+3 years", later),
        ("1970-01-01", datetime(1970, 1, 1, 0, 30, tzinfo=UTC)),  # no RTC: the kernel starts at the epoch
    ]


@pytest.mark.parametrize("label", ["2000-01-01", "+3 years", "1970-01-01"])
async def test_wrong_box_clock_lands_on_the_right_china_dates(tmp_path, headend_db, label):
    box = dict(box_times())[label]
    async with running_headend(tmp_path / "headend", headend_db) as h:
        toml = station_folder(tmp_path / "station", h)
        data = toml.parent / "data"
        # An earlier boot of the box, never measured: five logbook lines on its own clock.
        boot_file = tmp_path / "old_boot_id"
        boot_file.write_text("01234567-89ab-cdef-0123-456789abcdef\n")
        old = Clock(box.timestamp() - 3600)
        mono = Clock(10.0)
        journal = Journal(data / "journal", old, mono=mono, boot_id=boot_file)
        for i in range(5):
            old.advance(60)
            mono.advance(60)
            journal.append("logbook", text=f"上次开机的记录 {i}", author="李明")
        del journal
        # This boot: the box's clock is wrong by years, its monotonic clock is the machine's.
        clock = Clock(box.timestamp())
        n = record(attendance(data, clock), clock, 40, random.Random(4), spread_s=0.5)
        rc, out, err = await report_once(toml, box_time=box.strftime("%Y-%m-%d %H:%M:%S"))
        assert rc == 0, out + err
        assert_holds_exactly(h.root, data)
        held = held_events(h.root)
        now_day = today()
        this_boot = [e for e in held if e["event"].get("boot", "") != OTHER_BOOT]
        earlier = [e for e in held if e["event"].get("boot") == OTHER_BOOT]
        assert len(this_boot) == n and len(earlier) == 5
        # (the batch carries this boot's id; events of this boot may omit it on the wire)
        assert {e["day"] for e in this_boot} <= {now_day.isoformat(), (now_day - timedelta(days=1)).isoformat()}
        assert not any(e["time_uncertain"] for e in this_boot)
        assert all(e["time_uncertain"] for e in earlier)
        ds = reported(await days(h, date(2000, 1, 1), date(2000, 1, 2)))
        assert not ds, "nothing belongs on the box's wrong dates"
        ds = reported(await days(h, now_day - timedelta(days=399), now_day))
        assert totals(ds, "events", "time_uncertain", "logbook")["events"] == n + 5
        assert totals(ds, "time_uncertain")["time_uncertain"] == 5
        assert totals(ds, "logbook")["logbook"] == 5 + sum(e["kind"] == "logbook" for e in journal_lines(data)[5:])


# ---- 5. a journal restored from a backup -----------------------------------------------------


def restore(backup: Path, data: Path, style: str) -> None:
    """Put the backup back as an administrator would: delete the data folder, then copy the backup
    in (the file system may hand the new files the old files' inode numbers), copy it over the
    data folder (files that exist are rewritten in place, keeping their inodes), or copy it in
    beside and swap it for the data folder (new inode numbers)."""
    if style == "delete then copy":
        shutil.rmtree(data)
        shutil.copytree(backup, data)
    elif style == "copy over":  # `cp -r backup/. data/`: files written in place keep their inodes
        for path in sorted(data.rglob("*"), reverse=True):
            if not (backup / path.relative_to(data)).exists():
                path.rmdir() if path.is_dir() else path.unlink()
        for path in backup.rglob("*"):
            if path.is_file():
                (data / path.relative_to(backup)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, data / path.relative_to(backup))
    else:
        shutil.copytree(backup, data.with_name("restoring"))
        shutil.rmtree(data)
        data.with_name("restoring").rename(data)


@pytest.mark.parametrize("style", ["delete then copy", "copy over", "copy then swap"])
async def test_journal_restored_from_a_backup_starts_a_new_stream_nothing_lost_or_twice(tmp_path, headend_db, style):
    rng = random.Random(5)
    async with running_headend(tmp_path / "headend", headend_db) as h:
        toml = station_folder(tmp_path / "station", h)
        data = toml.parent / "data"
        clock = Clock()
        record(attendance(data, clock), clock, 200, rng, spread_s=2)
        backup = shutil.copytree(data, tmp_path / "backup")  # the administrator's backup
        assert (await report_once(toml))[0] == 0
        record(attendance(data, clock), clock, 150, rng, spread_s=2)
        assert (await report_once(toml))[0] == 0
        before = journal_index(data)  # what the headend holds before the restore
        (first,) = streams(data)
        last = max(seq for _, seq in before)
        assert held_stream(h.root, first["id"]) == (last, last)

        restore(backup, data, style)  # the box's journal goes back 150 events
        record(attendance(data, clock), clock, 100, rng, spread_s=2)
        rc, out, err = await report_once(toml)
        assert rc == 0, out + err
        assert_holds_exactly(h.root, data, also=before)
        ss = streams(data)
        after = journal_index(data)
        assert len(ss) == 2 and ss[0]["id"] == first["id"], ss
        assert [seq for (sid, seq) in after if sid == ss[1]["id"]] == list(range(201, 301)), (
            "the events recorded after the restore are not all on a new stream",
            ss,
        )
        assert held_count(h.root) == len(before) + 100
        # the figures add up both lives of the journal, once each
        window = (today() - timedelta(days=1), today() + timedelta(days=1))
        ds = reported(await days(h, *window))
        assert totals(ds, "events")["events"] == len(before) + 100
        # and a second run changes nothing
        assert (await report_once(toml))[0] == 0
        assert reported(await days(h, *window)) == ds
