"""Canonical JSON bytes: the exact bytes that are signed, hashed and served."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no insignificant white space, UTF-8 (Chinese stays readable), one final newline.

    The same object always gives the same bytes, so a signature over these bytes can be checked by
    anyone who re-serialises the parsed object, and a hash pins the file exactly.
    """
    return canonical_text(obj).encode("utf-8") + b"\n"


def canonical_text(obj: Any) -> str:
    """``canonical_json`` as text, without the final newline (a part of a larger document)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
