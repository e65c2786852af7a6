"""The station's exception tree. Library errors are converted at the boundary (``raise ... from``).

::

    StationError
     ├─ ConfigError        station.toml missing, unreadable, or a key missing/wrong (names file and key)
     ├─ DownloadError      a mirror failed: connection, timeout, HTTP status, size cap (names mirror and file)
     │   └─ SlowRetrievalError  it sent too slowly ([sync] min_rate_bytes_per_s): try another mirror, not it again
     ├─ SyncError          a sync pass could not complete; carries what failed and what to do
     ├─ StoreError         the local store cannot be written (disk full, permissions)
     │   └─ DamagedFileError   one of the station's own files does not read back (names it, says what to do)
     └─ InputError         something a person typed is refused (a gettext msgid and its parameters)
         └─ LimitError     a record a real TV or study room could not produce, or over a limit (409)

Repository rule violations come from ``playlists.errors.RepositoryError`` and are reported as-is.
"""


class StationError(Exception):
    pass


class ConfigError(StationError):
    pass


class DownloadError(StationError):
    pass


class SlowRetrievalError(DownloadError):
    pass


class SyncError(StationError):
    pass


class StoreError(StationError):
    pass


class DamagedFileError(StoreError):
    """A file the station wrote itself no longer reads back (a failing SD card, a hand edit, a
    copy cut short): the message names the file and says what to do about it."""

    def __init__(self, path: object, why: str, hint: str) -> None:
        super().__init__(f"{path}: damaged ({why}); {hint}")
        self.path, self.why, self.hint = path, why, hint


class InputError(StationError):
    """Something a person typed is not acceptable. ``message`` is a gettext msgid, ``params`` fill it."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params

    status = 400


class LimitError(InputError):
    """A record refused because a real station could not have produced it (a ninth screen, a
    headcount above the room's capacity, a full journal): 409, with what the limit is."""

    status = 409
