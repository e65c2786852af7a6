"""What the command line shows while a job runs: a progress bar with the ETA."""

from __future__ import annotations

import sys
import time

from catalogue.display import clock


def eta_text(eta: float | None) -> str:
    """``ETA 00:42`` or ``ETA 1:02:03``; ``ETA …`` while it is too early to tell."""
    return "ETA …" if eta is None else f"ETA {clock(eta + 0.5)}"


class ProgressBar:
    """``[██████····] 60%  ETA 0:42  transcode`` on a terminal (redrawn in place); elsewhere one
    line per quarter, so logs stay short."""

    WIDTH = 30

    def __init__(self, label: str, stream=None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_draw = 0.0
        self.last_quarter = -1

    def __call__(self, stage: str, percent: float, eta: float | None) -> None:
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw < 0.2 and percent < 100:
                return
            self.last_draw = now
            filled = int(self.WIDTH * percent / 100)
            bar = "█" * filled + "·" * (self.WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {percent:5.1f}%  {eta_text(eta)}  {stage:<10}")
            self.stream.flush()
        else:
            quarter = int(percent // 25)
            if quarter > self.last_quarter:
                self.last_quarter = quarter
                print(f"{self.label}: {percent:.0f}% {eta_text(eta)} ({stage})", file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty and self.last_draw:
            self.stream.write("\n")
            self.stream.flush()
