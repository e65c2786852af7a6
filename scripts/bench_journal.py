"""`make bench` (journal flood): how many bytes per hour one client on the LAN can add to the
attendance journal through the play API, with no rate limit in front (the records layer alone),
against the baseline of what one real TV writes per hour of playing.

1. baseline: a real TV playing 10-minute lessons back to back for an hour (simulated clock);
2. now: the best an attacker can do under ``station.records.rules`` — plays as short as still make
   a record, claiming the most — for an hour and for a day of simulated clock (the rules, not the
   machine's speed, bound it);
3. before: the same start/end pairs as the old code recorded them (every pair a line, whatever the
   clock), as fast as this machine fsyncs them for a few seconds, extrapolated to an hour.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playlists.schedule import CHINA  # noqa: E402
from station.errors import LimitError  # noqa: E402
from station.records.attendance import Attendance  # noqa: E402
from station.records.journal import Journal  # noqa: E402

HOUR = 3600.0


class Clock:
    def __init__(self, hour: int = 9) -> None:
        self.t = datetime(2026, 11, 20, hour, 0, tzinfo=CHINA).timestamp()

    def __call__(self) -> float:
        return self.t


def journal_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "journal").glob("*.jsonl"))


def real_tv(root: Path) -> int:
    clock = Clock()
    att = Attendance(root, clock)
    end = clock.t + HOUR
    while clock.t < end:
        pid = att.start_play("c-goose", "雨季养鹅技术", 600.0, client="192.168.1.20")
        for _ in range(20):  # a heartbeat every 30 s
            clock.t += 30
            att.progress(pid, 30.0 * (_ + 1), 30.0 * (_ + 1))
        att.end_play(pid, 600.0, 600.0, ended=True)
    return journal_bytes(root)


def attacker_now(root: Path, hours: float = 1.0) -> int:
    clock = Clock(hour=0 if hours > 1 else 9)  # a day's run stays within one China day
    att = Attendance(root, clock)
    end = clock.t + hours * HOUR
    while clock.t < end:
        try:
            pid = att.start_play("c-goose", "雨季养鹅技术", 600.0, client="192.168.1.66")
        except LimitError:  # the client's plays of the day are used up: nothing more until tomorrow
            clock.t += 60
            continue
        clock.t += 0.1  # the shortest play that still makes a line
        att.end_play(pid, 99_999.0, 99_999.0, ended=True)
    return journal_bytes(root)


def attacker_before(root: Path, seconds: float = 3.0) -> float:
    """Bytes per hour the old code took: one fsync'd play line per start/end pair, unbounded."""
    j = Journal(root / "journal")
    line = {
        "course": "c-goose",
        "title": "雨季养鹅技术",
        "start": "2026-11-20T09:00:00+08:00",
        "end": "2026-11-20T09:00:00+08:00",
        "watched_s": 2.0,
        "position_s": 99999.0,
        "duration_s": 600.0,
        "completed": False,
        "reached_end": True,
        "session": None,
        "channel": False,
    }
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        j.append("play", **line)
    return journal_bytes(root) / (time.perf_counter() - t0) * HOUR


def main() -> None:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b, tempfile.TemporaryDirectory() as c:
        base = real_tv(Path(a))
        now = attacker_now(Path(b))
        before = attacker_before(Path(c))
    with tempfile.TemporaryDirectory() as d:
        day = attacker_now(Path(d), hours=23.0)
    print(f"real TV, one hour of 10-minute lessons: {base:,} bytes/hour (baseline)")
    print(f"one attacking client now (rules, no rate limit): {now:,} bytes/hour = {now / base:,.0f} × baseline")
    print(
        f"one attacking client before (every start/end a line, fsync-bound here): {before:,.0f} bytes/hour "
        f"= {before / base:,.0f} × baseline; now ÷ before = 1/{before / now:,.0f}"
    )
    print(
        f"one attacking client over a China day now: {day:,} bytes = {day / (base * 23):,.1f} × a real TV playing "
        f"23 hours of that day (the default budget of 200 MB lasts {200e6 / day:,.0f} such days)"
    )


if __name__ == "__main__":
    main()
