"""Reading the journal forward from a cursor, for the uploader, without re-reading it per batch.

The reader remembers where each event it handed out ends (segment and byte offset), so the next
batch — or the same one again after a halving or a partial acknowledgement — starts there: a
200 MB journal is read once from the cursor to the end, not once per batch. Without a remembered
position it finds the first segment whose last seq is past the cursor (reading only segment tails)
and reads that one from its start.

Segments are read in name order (day, then index), which is seq order for every journal this
program writes (a clock set back writes on in the newest segment). Only whole lines are read: a
line still being written by another process is left for the next batch; a line that does not
parse (a power cut) is skipped. ``gaps`` counts the seqs between the cursor and the last event
that no line holds, so a batch's ``after`` is honest: those seqs do not exist in the journal.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from station.records.journal import _is_seq, _tail_seq, segments

log = logging.getLogger(__name__)

MAX_LINE = 1_000_000  # no event is this long; a longer "line" is damage, skipped


@dataclass(frozen=True)
class Slice:
    events: tuple[dict, ...]
    gaps: int  # seqs in (after, last event] that no line holds
    more: bool  # events past the last one exist (past ``until`` or ``limit``)


class JournalReader:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._ends: dict[int, tuple[Path, int]] = {}  # seq → (segment, offset just past its line)

    def read(self, after: int, limit: int, until: int | None = None) -> Slice:
        """Up to ``limit`` events with ``after`` < seq ≤ ``until`` (None: no bound), in seq order."""
        segs = [p for _, _, p in segments(self.root)]
        start = self._ends.get(after)
        if start is not None and start[0] not in segs:
            start = None
        if start is None:
            start = self._locate(segs, after)
        if start is None:
            return Slice((), 0, False)
        path, offset = start
        events: list[dict] = []
        ends: dict[int, tuple[Path, int]] = {after: start}  # so the same batch can be read again
        prev, gaps, more = after, 0, False
        index = segs.index(path)
        while index < len(segs) and not more:
            path = segs[index]
            try:
                f = open(path, "rb")  # noqa: SIM115 - read line by line below
            except OSError as exc:
                log.warning("journal %s unreadable: %s", path, exc)
                index, offset = index + 1, 0
                continue
            with f:
                f.seek(offset)
                while True:
                    line = f.readline(MAX_LINE)
                    if not line.endswith(b"\n"):
                        break  # the end, or a line still being written
                    try:
                        event = json.loads(line)
                        seq = event.get("seq") if isinstance(event, dict) else None
                    except (ValueError, UnicodeDecodeError):
                        seq = None
                    if not _is_seq(seq) or seq <= prev:
                        offset += len(line)
                        continue  # torn, foreign, or not after the cursor
                    if (until is not None and seq > until) or len(events) >= limit:
                        more = True
                        break
                    offset += len(line)
                    gaps += seq - prev - 1
                    prev = seq
                    events.append(event)
                    ends[seq] = (path, offset)
            index, offset = index + 1, 0
        self._ends = ends
        return Slice(tuple(events), gaps, more)

    def _locate(self, segs: list[Path], after: int) -> tuple[Path, int] | None:
        for path in segs:
            if _tail_seq(path) > after:
                return path, 0
        return None
