"""The journal's event identity (docs/reporting.md): boot and mono on every line, the stream id
kept across restarts and renewed on a copy, another machine or the headend's word; the reader
from a cursor across segments with gaps; keep_days retention of acknowledged old days."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from playlists.schedule import CHINA
from station.records.journal import Journal, segments
from station.records.reader import JournalReader


def machine(tmp_path: Path, name: str = "box-a") -> Path:
    p = tmp_path / f"machine-id-{name}"
    if not p.exists():
        p.write_text(f"{name:0<32}\n")
    return p


def journal(root: Path, tmp_path: Path, *, box: str = "box-a", clock=None, segment_bytes: int = 4_000_000) -> Journal:
    boot = tmp_path / "boot_id"
    if not boot.exists():
        boot.write_text("6f1e2b4c-1d2e-4f3a-9b8c-0123456789ab\n")
    return Journal(
        root,
        clock=clock or (lambda: 1_764_640_000.0),
        segment_bytes=segment_bytes,
        mono=lambda: 1234.56,
        boot_id=boot,
        machine_id=machine(tmp_path, box),
    )


def lines(root: Path) -> list[dict]:
    return [json.loads(line) for _, _, p in segments(root) for line in p.read_bytes().splitlines() if line.strip()]


def test_every_line_carries_boot_and_mono(tmp_path):
    j = journal(tmp_path / "journal", tmp_path)
    j.append("logbook", text="水泵修好了", author="李")
    (line,) = lines(tmp_path / "journal")
    assert line["boot"] == "6f1e2b4c1d2e4f3a9b8c0123456789ab"
    assert line["mono"] == 1234.6
    assert line["seq"] == 1 and line["text"] == "水泵修好了"


def test_stream_is_created_with_the_journal_and_kept_across_restarts(tmp_path):
    root = tmp_path / "journal"
    j = journal(root, tmp_path)
    first = j.stream_of(1)
    assert first is not None and len(first.id) == 16 and first.start == 1
    j.append("logbook", text="a", author="")
    again = journal(root, tmp_path)
    assert again.stream_of(1) == first
    assert json.loads((root / "stream.json").read_bytes())["streams"][0]["id"] == first.id


def test_copied_data_dir_gets_a_new_stream_from_the_next_seq(tmp_path):
    root = tmp_path / "journal"
    j = journal(root, tmp_path)
    for i in range(3):
        j.append("logbook", text=str(i), author="")
    old = j.stream_of(3)
    copy = tmp_path / "copy" / "journal"
    shutil.copytree(root, copy)  # a new inode for stream.json: a restore or a copy
    moved = journal(copy, tmp_path)
    assert moved.stream_of(3) == old  # old events stay in the old stream (re-sent as duplicates)
    new = moved.stream_of(4)
    assert new is not None and new.id != old.id and new.start == 4
    assert journal(copy, tmp_path).stream_of(4) == new  # and the copy keeps its own from now on


def test_another_machine_id_starts_a_new_stream(tmp_path):
    root = tmp_path / "journal"
    j = journal(root, tmp_path)
    j.append("logbook", text="a", author="")
    other = journal(root, tmp_path, box="box-b")
    assert other.stream_of(2).id != j.stream_of(1).id
    assert other.stream_of(2).start == 2


def test_renew_stream_starts_at_the_next_seq(tmp_path):
    j = journal(tmp_path / "journal", tmp_path)
    for _ in range(5):
        j.append("logbook", text="a", author="")
    before = j.stream_of(5)
    new = j.renew_stream()
    assert new.start == 6 and new.id != before.id
    assert j.stream_of(5) == before and j.stream_end(before) == 5
    assert j.append("logbook", text="b", author="")["seq"] == 6
    assert j.stream_of(6) == new and j.stream_end(new) is None


def test_reader_goes_on_from_the_cursor_across_segments_and_reports_gaps(tmp_path):
    root = tmp_path / "journal"
    j = journal(root, tmp_path, segment_bytes=600)
    for i in range(40):
        j.append("logbook", text=f"entry {i}", author="")
    assert len(segments(root)) > 3
    # A power cut destroyed two lines in the middle: seqs 21 and 22 no longer exist.
    path = next(p for _, _, p in segments(root) if b'"seq":21,' in p.read_bytes())
    kept = [
        ln for ln in path.read_bytes().splitlines(keepends=True) if b'"seq":21,' not in ln and b'"seq":22,' not in ln
    ]
    path.write_bytes(b"".join(kept))
    reader = JournalReader(root)
    first = reader.read(after=5, limit=10)
    assert [e["seq"] for e in first.events] == list(range(6, 16)) and first.more and first.gaps == 0
    second = reader.read(after=15, limit=10)
    assert [e["seq"] for e in second.events] == [16, 17, 18, 19, 20, 23, 24, 25, 26, 27]
    assert second.gaps == 2
    assert [e["seq"] for e in reader.read(after=15, limit=3).events] == [16, 17, 18]  # the same batch, halved
    rest = JournalReader(root).read(after=27, limit=500)  # a fresh reader finds its place from the tails
    assert [e["seq"] for e in rest.events] == list(range(28, 41)) and not rest.more
    assert [e["seq"] for e in reader.read(after=35, limit=500, until=37).events] == [36, 37]


def test_keep_days_deletes_only_acknowledged_old_days(tmp_path):
    root = tmp_path / "journal"
    day = 86400.0
    now = [datetime(2025, 1, 1, 12, tzinfo=CHINA).timestamp()]
    j = journal(root, tmp_path, clock=lambda: now[0])
    for _ in range(3):  # three old days, two events each
        j.append("logbook", text="old", author="")
        j.append("logbook", text="old", author="")
        now[0] += day
    now[0] += 500 * day
    j.append("logbook", text="today", author="")
    j.acknowledge(3)  # the second old day is only half acknowledged
    assert j.retire(400) == 1
    names = [p.name for _, _, p in segments(root)]
    assert names[0] == "2025-01-02.jsonl" and len(names) == 3
    j.acknowledge(7)
    assert j.retire(400) == 2  # the newest segment is never deleted
    assert [e["seq"] for e in lines(root)] == [7]
    assert j.retire(400) == 0
