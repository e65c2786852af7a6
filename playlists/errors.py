"""The repository error tree (pure; the station shell turns these into status lines).

::

    RepositoryError (ValueError)
     ├─ SignatureError     not signed by a trusted key, altered, malformed signature
     ├─ FormatError        not valid JSON, or a field missing or wrong
     ├─ RollbackError      version older than one already seen
     ├─ ExpiredError       index past its expiry
     └─ PinMismatch        size or sha256 differs from what the signed index/playlist pins
"""


class RepositoryError(ValueError):
    pass


class SignatureError(RepositoryError):
    pass


class FormatError(RepositoryError):
    pass


class RollbackError(RepositoryError):
    pass


class ExpiredError(RepositoryError):
    pass


class PinMismatch(RepositoryError):
    pass
