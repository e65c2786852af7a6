"""``local.json``: attendance's small documents (resume points, the session in progress, the
five-ones self-check), and what happens when the file is damaged.

No sync rebuilds this file, so a damaged one (a failing SD card, a copy cut short) is set aside as
``local.json.damaged`` with a warning, and a fresh one is started from what the journal holds: the
study session still in progress (the last ``session_start`` with no ``session_end``) and the last
five-ones answers. Resume points live only here and are lost: lessons start from the beginning.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from station.errors import DamagedFileError, StoreError
from station.records.forms import session_from_dict, session_to_dict
from station.records.journal import Journal
from station.store.jsonfile import Documents

log = logging.getLogger(__name__)

RESUME, SESSION, FIVES = 1, 2, 3
_EVENT_KEYS = ("seq", "ts", "kind", "boot", "mono")  # what the journal adds to a document it records


class LocalDocs:
    def __init__(self, path: Path, journal: Journal) -> None:
        self.path = Path(path)
        self.journal = journal
        self._lock = threading.RLock()
        self._docs = Documents(self.path, "docs")

    def get(self, doc_id: int) -> dict:
        try:
            return self._docs.get(doc_id)
        except DamagedFileError as exc:
            self._recover(exc)
            return self._docs.get(doc_id)

    def put(self, doc_id: int, doc: dict) -> None:
        try:
            self._docs.put(doc_id, doc)
        except DamagedFileError as exc:
            self._recover(exc)
            self._docs.put(doc_id, doc)

    def _recover(self, exc: DamagedFileError) -> None:
        with self._lock:
            try:
                self._docs.get(SESSION)
                return  # another thread recovered it meanwhile
            except DamagedFileError:
                pass
            aside = self.path.with_name(self.path.name + ".damaged")
            try:
                os.replace(self.path, aside)
            except OSError as err:
                raise StoreError(f"{self.path}: damaged and cannot be set aside ({err.strerror})") from err
            log.warning(
                "%s is damaged (%s): moved to %s and started again from the journal "
                "(the study session in progress and the five-ones are kept; resume points are lost)",
                self.path,
                exc.why,
                aside.name,
            )
            self._docs = Documents(self.path, "docs")
            open_session = self._open_session()
            if open_session:
                self._docs.put(SESSION, {"current": open_session})
            fives = self.journal.recent("fives", limit=1, max_days=3660)
            if fives:
                self._docs.put(FIVES, _document(fives[0]))

    def _open_session(self) -> dict | None:
        """The session the journal says is still in progress: its last start has no end."""
        starts = self.journal.recent("session_start", limit=1, max_days=366)
        if not starts:
            return None
        sid = starts[0].get("id")
        if any(e.get("id") == sid for e in self.journal.recent("session_end", limit=20, max_days=366)):
            return None
        return session_to_dict(session_from_dict(starts[0]))


def _document(event: dict) -> dict:
    return {k: v for k, v in event.items() if k not in _EVENT_KEYS}
