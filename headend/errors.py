"""The headend's exception tree. Library errors (``OSError``, ``sqlalchemy.exc.*``, ffmpeg
failures) are converted at the boundary with ``raise ... from``. Every message names the file or
record and says what to do; ``status`` is the HTTP status the web layer answers with.

::

    HeadendError              500
     ├─ ConfigError           500  data root not initialised, headend.toml wrong, key missing/unreadable
     ├─ DatabaseError         503  the database cannot be opened or reached, is busy, or refused a statement
     │   └─ JobNotRecorded         it failed while a job ran or when its outcome was written: queued again later
     ├─ IngestError           400  a courseware file was refused (carries the file name)
     │   ├─ ProbeError             ffprobe found no usable stream / not a media file / too long / no sound
     │   ├─ SidecarError           NAME.toml (or a command-line value) is wrong: unknown key or category, a path…
     │   └─ TranscodeError         ffmpeg failed (carries ffmpeg's last lines)
     ├─ NotFound              404  no such course (or other record)
     ├─ PublishError          500  the repository could not be published
     ├─ ArchiveError          500  an archive of old report events could not be written or read back (nothing deleted)
     ├─ StationRegistryError  400  a station id is invalid or already registered, a bad capacity
 ├─ BadRequest            400  a page's or command's parameter cannot be read (``field`` names it): a period, a rule
 ├─ AccountError          400  a staff account name, role, region or password is not acceptable
 ├─ LoginFailed           401  wrong name or password, or a disabled account (one message for all)
 ├─ AccessDenied          403  the account's role may not do this, a missing CSRF token, a foreign Origin
 ├─ LoginThrottled        429  too many attempts for the account or from the address (``retry_after``)
     ├─ WebhookError          502  [alerts] webhook_url could not be reached or did not answer 2xx (tried again later)
     └─ ReportRefused         400  a report batch was refused (``field`` names the first bad field)
         ├─ Unauthorized      401  no token, an unknown one, a revoked one (``revoked``)
         ├─ Forbidden         403  the token reports for another station
         ├─ TooLarge          413  the body over 512 KB, or over 8 MB decompressed
         ├─ Unsupported       415  not application/json, an encoding other than gzip or identity
         └─ RateLimited       429  too many batches from one station (``retry_after`` seconds)
"""


class HeadendError(Exception):
    status = 500

    def __reduce__(self):
        # Raised in an intake process and re-raised in the server: pickle the message and the
        # attributes (``field``, ``retry_after``, …), not the constructor's arguments.
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[HeadendError], args: tuple, attrs: dict) -> HeadendError:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(attrs)
    return exc


class ConfigError(HeadendError):
    pass


class DatabaseError(HeadendError):
    status = 503


class JobNotRecorded(DatabaseError):
    """The database failed while a job ran or when its outcome was written (after retries); the
    job is still 'running' for this process and must be queued again once the database answers."""

    def __init__(self, message: str, job_id: int) -> None:
        super().__init__(message)
        self.job_id = job_id


class IngestError(HeadendError):
    status = 400


class ProbeError(IngestError):
    pass


class SidecarError(IngestError):
    pass


class TranscodeError(IngestError):
    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class NotFound(HeadendError):
    status = 404


class PublishError(HeadendError):
    pass


class ArchiveError(HeadendError):
    pass


class StationRegistryError(HeadendError):
    status = 400


class BadRequest(HeadendError):
    status = 400

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class AccountError(HeadendError):
    status = 400


class LoginFailed(HeadendError):
    status = 401


class AccessDenied(HeadendError):
    status = 403


class LoginThrottled(HeadendError):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WebhookError(HeadendError):
    status = 502


class ReportRefused(HeadendError):
    status = 400

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class StreamConflict(ReportRefused):
    """A re-sent event differs from the one held under its key: the box's journal was restored or
    copied and went on writing seqs the headend already holds. Nothing of the batch is stored; the
    station starts a new stream at ``seq`` and sends again."""

    status = 409

    def __init__(self, message: str, seq: int) -> None:
        super().__init__(message, "events.seq")
        self.seq = seq


class Unauthorized(ReportRefused):
    status = 401

    def __init__(self, message: str, revoked: bool = False) -> None:
        super().__init__(message)
        self.revoked = revoked


class Forbidden(ReportRefused):
    status = 403


class TooLarge(ReportRefused):
    status = 413


class Unsupported(ReportRefused):
    status = 415


class RateLimited(ReportRefused):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
