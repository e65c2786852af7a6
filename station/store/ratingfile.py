"""``<data_dir>/rating.json``: the newest star rating the county sent back (``HeldRating``),
replaced atomically when a new one arrives, so it survives restarts and power cuts. A missing
file reads as "none yet"; a damaged one too (logged), until the next upload brings one."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from playlists.atomic import atomic_write
from station.errors import StoreError
from station.model.rating import HeldRating, RatingShapeError, checked_rating

log = logging.getLogger(__name__)

FILE_NAME = "rating.json"
MAX_BYTES = 1_000_000


def read_rating(data_dir: Path) -> HeldRating | None:
    path = Path(data_dir) / FILE_NAME
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise ValueError(f"over {MAX_BYTES} bytes")
        return checked_rating(json.loads(raw))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # RatingShapeError and JSON errors are ValueErrors
        kind = "not the rating's shape" if isinstance(exc, RatingShapeError) else "unreadable"
        log.warning("%s %s (%s): no rating shown until the next upload brings one", path, kind, exc)
        return None


def write_rating(data_dir: Path, rating: HeldRating) -> None:
    path = Path(data_dir) / FILE_NAME
    try:
        atomic_write(path, json.dumps(rating.to_dict(), ensure_ascii=False).encode("utf-8"))
    except OSError as exc:
        raise StoreError(f"{path}: cannot save the star rating ({exc.strerror})") from exc
