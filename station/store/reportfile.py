"""``<data_dir>/report.json``: how reporting to the headend stands (``UploadState``), replaced
atomically after every upload attempt. A missing or damaged file reads as "never" (logged)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from playlists.atomic import atomic_write
from station.errors import StoreError
from station.model.reporting import UploadState

log = logging.getLogger(__name__)

FILE_NAME = "report.json"


def read_upload_state(data_dir: Path) -> UploadState:
    path = Path(data_dir) / FILE_NAME
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return UploadState()
    except (OSError, ValueError) as exc:
        log.warning("%s unreadable (%s): reporting shows as never tried until the next upload", path, exc)
        return UploadState()
    return UploadState.from_dict(data) if isinstance(data, dict) else UploadState()


def write_upload_state(data_dir: Path, state: UploadState) -> None:
    path = Path(data_dir) / FILE_NAME
    try:
        atomic_write(path, json.dumps(state.to_dict(), ensure_ascii=False).encode("utf-8"))
    except OSError as exc:
        raise StoreError(f"{path}: cannot save the upload state ({exc.strerror})") from exc
