"""The headend's exception tree. Library errors (``OSError``, ``sqlite3.Error``, ffmpeg failures)
are converted at the boundary with ``raise ... from``. Every message names the file or record and
says what to do.

::

    HeadendError
     ├─ ConfigError        data root not initialised, headend.toml wrong, key missing/unreadable
     ├─ IngestError        a courseware file was refused (carries the file name)
     │   ├─ ProbeError       ffprobe found no usable stream / not a media file / too long / no sound
     │   ├─ SidecarError     NAME.toml (or a command-line value) is wrong: unknown key or category, a path…
     │   └─ TranscodeError   ffmpeg failed (carries ffmpeg's last lines)
     ├─ PublishError       the repository could not be published
     └─ StationRegistryError  a station id is invalid or already registered
"""


class HeadendError(Exception):
    pass


class ConfigError(HeadendError):
    pass


class IngestError(HeadendError):
    pass


class ProbeError(IngestError):
    pass


class SidecarError(IngestError):
    pass


class TranscodeError(IngestError):
    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class PublishError(HeadendError):
    pass


class StationRegistryError(HeadendError):
    pass
