"""The station's small JSON documents on disk.

``AtomicJSONStorage`` is TinyDB's storage, replacing its file atomically and durably on every
write. ``Documents`` is one TinyDB table of numbered documents with a read cache: while the file
is the one this process last read or wrote (same inode, size and mtime: one ``stat``, no read),
reads come from memory, so a TV page render reads no file; a file another process replaced
(``station import`` while ``serve`` runs) is read again. ``overwrite_in_place`` is the last resort
for a record that must get out on a full disk (see ``station.store.documents``).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import orjson
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

from playlists.atomic import atomic_write
from station.errors import DamagedFileError, StoreError

log = logging.getLogger(__name__)
Signature = tuple[int, int, int] | None


def signature(path: Path) -> Signature:
    """What changes whenever a file is replaced or written: inode, size, mtime."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


# What to do about a damaged file whose content the next sync derives again.
REBUILT_BY_SYNC = (
    "run `station sync --once` (or let `station serve` sync): it sets the damaged file aside and "
    "rebuilds it from the verified files on disk and the mirrors"
)


def read_json(path: Path, hint: str = REBUILT_BY_SYNC) -> Any:
    """A JSON file's content, None when absent or empty; DamagedFileError (with ``hint``, what
    to do) when it does not parse, StoreError when it cannot be read at all."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read station data ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise DamagedFileError(path, f"not UTF-8 text at byte {exc.start}", hint) from exc
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise DamagedFileError(path, f"not JSON: {exc}", hint) from exc
    except RecursionError as exc:  # not a ValueError: what json.loads raises for deep nesting
        raise DamagedFileError(path, "not JSON: nested too deep", hint) from exc


def dump_json(doc: Any) -> bytes:
    """UTF-8 JSON with sorted keys, what ``read_json`` reads back. orjson makes the bytes at
    once (json.dumps makes a str of the 5,000-course installed set first, then its bytes: twice
    the memory, on a box that counts it); what orjson refuses (a whole number past 64 bits)
    goes through json.dumps."""
    try:
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _is_documents(data: Any) -> bool:
    """TinyDB's layout: tables of numbered documents, each an object."""
    return isinstance(data, dict) and all(
        isinstance(table, dict)
        and all(isinstance(k, str) and k.isascii() and k.isdigit() and isinstance(v, dict) for k, v in table.items())
        for table in data.values()
    )


class AtomicJSONStorage(Storage):
    """TinyDB storage that replaces its file atomically and durably on every write, and refuses
    (``DamagedFileError``) a file that is not TinyDB's layout rather than let TinyDB trip on it."""

    def __init__(self, path: str | os.PathLike, hint: str = REBUILT_BY_SYNC) -> None:
        self.path, self.hint = Path(path), hint

    def read(self) -> dict[str, Any] | None:
        data = read_json(self.path, self.hint)
        if data is None:
            if self.path.exists():  # this storage never writes an empty file: something cut it short
                raise DamagedFileError(self.path, "empty", self.hint)
            return None
        if not _is_documents(data):
            raise DamagedFileError(self.path, "not the station's documents", self.hint)
        return data

    def write(self, data: dict[str, Any]) -> None:
        try:
            atomic_write(self.path, dump_json(data))
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot save station data ({exc.strerror})") from exc

    def close(self) -> None:
        pass


class Documents:
    """Numbered documents in one TinyDB file. ``get`` returns a copy the caller may change;
    ``peek`` the cached document itself (read-only, cheap: what snapshots are keyed on)."""

    def __init__(self, path: Path, table: str) -> None:
        self.path = Path(path)
        self._name = table
        self._db = TinyDB(self.path, storage=AtomicJSONStorage)
        self._table = self._db.table(table)
        # TinyDB rewrites the whole file on each write: serialise writers (the loop and threads).
        self._lock = threading.RLock()
        self._cache: tuple[Signature, dict[int, dict]] | None = None
        self._others: dict[str, Any] = {}  # the file's other tables, written back as they were

    def _all(self) -> dict[int, dict]:
        sig = signature(self.path)
        cache = self._cache
        if cache is not None and cache[0] == sig:
            return cache[1]
        with self._lock:
            # A change between the stat and the read leaves newer content under an older
            # signature, which only means one more read next time.
            data = self._db.storage.read() or {}
            docs = {int(k): dict(v) for k, v in data.get(self._name, {}).items()}
            self._others = {k: v for k, v in data.items() if k != self._name}  # other tables, as read
            self._cache = (sig, docs)
        return docs

    def peek(self, doc_id: int) -> dict | None:
        return self._all().get(doc_id)

    def get(self, doc_id: int) -> dict:
        return copy.deepcopy(self._all().get(doc_id) or {})

    def put(self, doc_id: int, doc: dict, *, handed_over: bool = False) -> dict:
        """Write one document (the whole file is replaced atomically); returns the cached copy:
        ``doc`` itself when ``handed_over`` (the caller made it for this and never changes it),
        else a copy."""
        doc = doc if handed_over else copy.deepcopy(doc)
        with self._lock:
            before = signature(self.path)
            cache = self._cache
            if cache is not None and cache[0] == before:
                # What the file holds is in memory: write the table from it, in one write (TinyDB's
                # upsert reads the whole file back first, and writes twice for a new document).
                docs = {**cache[1], doc_id: doc}
                self._db.storage.write({**self._others, self._name: {str(k): v for k, v in sorted(docs.items())}})
                self._cache = (signature(self.path), docs)
            else:
                self._table.upsert(Document(doc, doc_id=doc_id))
                self._cache = None
        return doc

    def remove(self, doc_id: int) -> None:
        with self._lock:
            before = signature(self.path)
            if self._table.contains(doc_id=doc_id):
                self._table.remove(doc_ids=[doc_id])
            cache = self._cache
            if cache is not None and cache[0] == before:
                self._cache = (signature(self.path), {k: v for k, v in cache[1].items() if k != doc_id})
            else:
                self._cache = None


class SmallDocument:
    """One small derived document in a file of its own (mirror health, unneeded files): read
    through a stat-checked cache, written atomically, and only when it changed — so that what a
    pass records about mirrors does not rewrite the installed set beside it. A file that does not
    read back is as good as absent (everything in it is derived again)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cache: tuple[Signature, Any] | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> Any:
        sig = signature(self.path)
        cache = self._cache
        if cache is not None and cache[0] == sig:
            return cache[1]
        try:
            doc = read_json(self.path) if sig is not None else None
        except StoreError as exc:
            log.warning("%s", exc)
            doc = None
        self._cache = (sig, doc)
        return doc

    def write(self, doc: Any) -> None:
        """Replace the file with ``doc`` (nothing written when it holds it already)."""
        if self.exists() and self.read() == doc:
            return
        data = json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")
        try:
            atomic_write(self.path, data)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot save station data ({exc.strerror})") from exc
        self._cache = (signature(self.path), json.loads(data))


def overwrite_in_place(path: Path, data: bytes) -> None:
    """Write ``data`` over an existing file's first bytes and cut it there. Needs no new disk
    block for a file that already has one (a full disk cannot refuse it), but is not atomic:
    only for a record whose loss is acceptable and which readers check (JSON that parses)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
