"""``headend db archive --before YYYY-MM`` (docs/scaling.md), on both engines: whole months of raw
report events leave the database for gzip files that hold exactly them; the daily figures do not
move; a station re-sending archived events (a restored journal, or someone hoping to count them
twice) gets them counted as duplicates; the recent months are refused; a full disk deletes nothing."""

from __future__ import annotations

import contextlib
import gzip
import json
import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest

from catalogue.events import parse_batch
from headend.errors import ArchiveError, ConfigError
from headend.service import open_root
from headend.service.archive import archive_events
from headend.service.stations import add_station
from tests.conftest import in_ci, init_headend, run_cli
from tests.report_batches import batch, events

A = "gaoyao-xiangang-xianyi"
ENROLLED = datetime(2026, 7, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
MONTHS = [(2026, 8), (2026, 9), (2026, 10), (2026, 11)]
PER_MONTH = 30


def month_batch(k: int, year: int, month: int, *, first: int = 0, last: int = PER_MONTH) -> tuple[dict, datetime]:
    """The k-th month's events (a new boot each month), sent on the 15th."""
    received = datetime(year, month, 15, 10, 0, tzinfo=UTC)
    boot = f"{k + 1:02d}" * 16
    evs = events(PER_MONTH, received - timedelta(hours=3), first_seq=k * PER_MONTH + 1, boot=boot, seed=k)
    mono = 100.0 + PER_MONTH * 60 + 5
    return batch(A, evs[first:last], after=k * PER_MONTH + first, now=received, mono=mono, boot=boot), received


@pytest.fixture
def headend(tmp_path, headend_db):
    root = init_headend(tmp_path / "headend", headend_db)
    with open_root(root) as h:
        add_station(h, A, None, "广东省/肇庆市/高要市/蚬岗镇", "stb-sd")
        for k, (year, month) in enumerate(MONTHS):
            doc, received = month_batch(k, year, month)
            assert h.db.reports.store(parse_batch(doc), received, ENROLLED).accepted == PER_MONTH
        yield h


def figures(h) -> list:
    return h.db.reports.days([A], date(2026, 7, 1), date(2026, 12, 31))


def test_months_before_the_cutoff_go_to_files_that_hold_exactly_them(headend):
    held = headend.db.reports.events(A)
    assert len(held) == 4 * PER_MONTH
    before = figures(headend)
    done = archive_events(headend, "2026-10", now=NOW)
    assert [(a.month, a.events) for a in done] == [("2026-08", PER_MONTH), ("2026-09", PER_MONTH)]
    for a in done:
        assert a.path.name == f"report_events-{a.month}.1.jsonl.gz"
        with gzip.open(a.path, "rt", encoding="utf-8") as fh:
            lines = [json.loads(line) for line in fh]
        wanted = [e for e in held if e["day"].startswith(a.month)]
        assert [(r["stream"], r["seq"], r["day"], r["at"]) for r in lines] == [
            (e["stream"], e["seq"], e["day"], e["at"]) for e in wanted
        ]
        assert [r["data"] for r in lines] == [e["event"] for e in wanted]  # the events as sent
    kept = headend.db.reports.events(A)
    assert {e["day"][:7] for e in kept} == {"2026-10", "2026-11"} and len(kept) == 2 * PER_MONTH
    assert figures(headend) == before  # the dashboard's and ratings' figures do not move
    assert archive_events(headend, "2026-10", now=NOW) == []  # nothing left to archive


def test_archived_events_sent_again_are_duplicates_not_counted_twice(headend):
    archive_events(headend, "2026-10", now=NOW)
    before = figures(headend)
    for k, (year, month) in enumerate(MONTHS[:2]):  # a restored journal sends August and September again
        doc, _ = month_batch(k, year, month)
        stored = headend.db.reports.store(parse_batch(doc), NOW, ENROLLED)
        assert (stored.accepted, stored.duplicates) == (0, PER_MONTH)
    assert figures(headend) == before
    assert headend.db.reports.event_count(A) == 2 * PER_MONTH
    # The stream goes on: new events are taken as ever.
    doc, _ = month_batch(4, 2026, 12)
    assert headend.db.reports.store(parse_batch(doc), NOW, ENROLLED).accepted == PER_MONTH


def test_only_events_held_without_a_gap_are_archived(headend):
    # The stream's next events, of August, arrive after a gap (seq 131–140 never came): not held yet.
    received = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    late = events(20, datetime(2026, 8, 20, 10, 0, tzinfo=UTC), first_seq=4 * PER_MONTH + 1, boot="ee" * 16)
    doc = batch(A, late[10:], after=4 * PER_MONTH + 10, now=received, mono=9e9, boot="ff" * 16)
    assert headend.db.reports.store(parse_batch(doc), received, ENROLLED).accepted == 10
    done = archive_events(headend, "2026-10", now=NOW)
    assert sum(a.events for a in done) == 2 * PER_MONTH  # the ten after the gap stay
    assert sorted(e["seq"] for e in headend.db.reports.events(A) if e["seq"] > 4 * PER_MONTH) == list(
        range(4 * PER_MONTH + 11, 4 * PER_MONTH + 21)
    )


@pytest.mark.parametrize(
    ("before", "words"),
    [("2026-12", "give 2026-11 or earlier"), ("2027-01", "give 2026-11"), ("2026-13", "YYYY-MM"), ("26-01", "YYYY-MM")],
)
def test_the_recent_months_and_a_malformed_month_are_refused(headend, before, words):
    with pytest.raises(ConfigError, match=words):
        archive_events(headend, before, now=NOW)
    assert headend.db.reports.event_count(A) == 4 * PER_MONTH


@contextlib.contextmanager
def tiny_disk(path):
    """A 32 KB file system at ``path`` (tmpfs; needs root)."""
    path.mkdir(parents=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        reason = f"cannot mount a small tmpfs to fill ({res.stderr.strip()})"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_stops_the_archive_and_deletes_nothing_of_that_month(headend):
    folder = headend.cfg.root / "archive"
    with tiny_disk(folder):
        (folder / "filler").write_bytes(b"\0" * 28 * 1024)  # room for about one month's file
        with pytest.raises(ArchiveError, match=r"cannot write the archive of (2026-0[89]) .*nothing was deleted") as e:
            archive_events(headend, "2026-10", now=NOW)
        failed = e.value.args[0].split("archive of ")[1][:7]
        held = headend.db.reports.events(A)
        assert sum(x["day"].startswith(failed) for x in held) == PER_MONTH  # all of that month kept
        done = sorted(p.name for p in folder.iterdir() if p.name != "filler")
        assert not [n for n in done if n.startswith(".")]  # no half-written file left
        for name in done:  # a month finished before the disk filled: whole, and gone from the table
            with gzip.open(folder / name, "rt", encoding="utf-8") as fh:
                assert sum(1 for _ in fh) == PER_MONTH
            assert not any(x["day"].startswith(name[14:21]) for x in held)
    done_months = {n[14:21] for n in done}
    assert done_months | {failed} <= {"2026-08", "2026-09"} and failed not in done_months


def test_the_command_says_what_it_did(headend):
    root = str(headend.cfg.root)
    dry = run_cli("headend", "db", "archive", "--root", root, "--before", "2026-09", "--dry-run")
    assert dry.returncode == 0 and "2026-08: 30 events would be written" in dry.stdout, dry.stderr
    assert headend.db.reports.event_count(A) == 4 * PER_MONTH
    refused = run_cli("headend", "db", "archive", "--root", root, "--before", "2099-01")
    assert refused.returncode != 0 and "the current and the previous month stay" in refused.stderr
