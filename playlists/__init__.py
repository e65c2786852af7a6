"""The repository format shared by the headend and the station: index and playlist models,
canonical bytes, minisign-compatible signing and verification, the trust rules, and the trusted
set that holds the station's trust state (keys, highest version, clock floor) between files.

Pure: no network, no event loop, no disk. Errors: see ``playlists.errors``.
"""

from playlists.answers import Answer, Answers, answers_path, shard_of
from playlists.audience import Audience, Notice, StationIdentity
from playlists.canonical import canonical_json
from playlists.errors import (
    ExpiredError,
    FormatError,
    PinMismatch,
    RepositoryError,
    RollbackError,
    SignatureError,
)
from playlists.minisign import PublicKey, SecretKey, verify
from playlists.models import (
    INDEX_NAME,
    AnswersRef,
    CourseEntry,
    FileRef,
    Index,
    Playlist,
    PlaylistRef,
    is_repository_path,
    media_path,
    playlist_path,
)
from playlists.schedule import Live, Schedule, live_path
from playlists.trust import (
    Rotation,
    TrustState,
    check_answers,
    check_index,
    check_pinned,
    check_playlist,
    check_rotation,
    make_rotation,
    rotation_path,
    sign_repository_file,
)
from playlists.trusted_set import TrustedSet

__all__ = [
    "INDEX_NAME",
    "Answer",
    "Answers",
    "AnswersRef",
    "Audience",
    "CourseEntry",
    "ExpiredError",
    "FileRef",
    "FormatError",
    "Index",
    "Live",
    "Notice",
    "PinMismatch",
    "Playlist",
    "PlaylistRef",
    "PublicKey",
    "RepositoryError",
    "RollbackError",
    "Rotation",
    "Schedule",
    "SecretKey",
    "SignatureError",
    "StationIdentity",
    "TrustState",
    "TrustedSet",
    "answers_path",
    "canonical_json",
    "check_answers",
    "check_index",
    "check_pinned",
    "check_playlist",
    "check_rotation",
    "is_repository_path",
    "live_path",
    "make_rotation",
    "media_path",
    "playlist_path",
    "rotation_path",
    "shard_of",
    "sign_repository_file",
    "verify",
]
