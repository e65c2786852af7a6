"""EBU R128 loudness normalisation in two passes, as pure functions.

Pass 1 runs ``loudnorm`` with ``print_format=json`` on the audio as each rendition will carry it
(stereo or mono: downmixing changes loudness) and reads what it measured. Pass 2 applies those
measured values with ``linear=true``: one fixed gain, so the course sounds as it was recorded,
only louder or quieter. (loudnorm falls back to its dynamic mode by itself when a fixed gain would
push the true peak over the limit; that still lands on the target.)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from headend.errors import TranscodeError

TARGET_LRA = 20.0  # generous: linear mode needs the source's range to fit under it
SILENCE_LUFS = -70.0  # loudnorm reports -inf (or -70) for digital silence


@dataclass(frozen=True)
class Target:
    integrated_lufs: float = -23.0  # EBU R128
    true_peak_dbtp: float = -1.5

    def key(self) -> str:
        return f"I{self.integrated_lufs:g}-TP{self.true_peak_dbtp:g}-LRA{TARGET_LRA:g}"


@dataclass(frozen=True)
class Measured:
    input_i: float
    input_tp: float
    input_lra: float
    input_thresh: float
    target_offset: float

    @property
    def silent(self) -> bool:
        return not math.isfinite(self.input_i) or self.input_i <= SILENCE_LUFS + 0.5

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> Measured:
        return cls(**json.loads(text))


def _num(value: object) -> float:
    try:
        return float(value)  # "-inf" parses; "nan" too
    except (TypeError, ValueError):
        return float("-inf")


def measure_filter(target: Target) -> str:
    return f"loudnorm=I={target.integrated_lufs}:TP={target.true_peak_dbtp}:LRA={TARGET_LRA}:print_format=json"


def apply_filter_args(target: Target, m: Measured) -> dict:
    """Keyword arguments for ffmpeg-python's ``.filter("loudnorm", **args)`` in pass 2."""
    return {
        "I": target.integrated_lufs,
        "TP": target.true_peak_dbtp,
        "LRA": TARGET_LRA,
        "measured_I": f"{m.input_i:.2f}",
        "measured_TP": f"{m.input_tp:.2f}",
        "measured_LRA": f"{m.input_lra:.2f}",
        "measured_thresh": f"{m.input_thresh:.2f}",
        "offset": f"{m.target_offset:.2f}",
        "linear": "true",
    }


def parse_measurements(stderr_lines: list[str], expected: int, what: str) -> list[Measured]:
    """The JSON blocks loudnorm printed, in output order."""
    blocks, current = [], None
    for line in stderr_lines:
        s = line.strip()
        if s == "{":
            current = [s]
        elif current is not None:
            current.append(s)
            if s == "}":
                blocks.append("\n".join(current))
                current = None
    found = []
    for block in blocks:
        try:
            d = json.loads(block)
        except ValueError:
            continue
        if "input_i" in d:
            found.append(
                Measured(
                    input_i=_num(d["input_i"]),
                    input_tp=_num(d["input_tp"]),
                    input_lra=_num(d["input_lra"]),
                    input_thresh=_num(d["input_thresh"]),
                    target_offset=_num(d.get("target_offset", 0)),
                )
            )
    if len(found) != expected:
        raise TranscodeError(
            f"{what}: the loudness measurement printed {len(found)} results, expected {expected}",
            log_tail="\n".join(stderr_lines[-15:]),
        )
    return found
