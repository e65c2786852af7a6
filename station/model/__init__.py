"""What the station keeps, as frozen dataclasses: the installed set (what the TV lists), how the
last sync pass went, the running pass's progress and each mirror's health; and the attendance
records (study sessions, plays, live classes watched, resume points, the logbook, the five-ones self-check: ``station.model.attendance``, whose stored forms
``station.records.forms`` reads and writes) and the villagers' questions (``station.model.questions``).

Pages, ``station status``, ``/api/status`` and tests get these objects; only the store turns them
into documents and back (``to_dict``/``from_dict`` here give the stored form — the keys the
station has always written — and read documents written by older versions, where a missing key
takes its default). Times are aware datetimes; the stored form is ISO 8601 UTC.
"""

from station.model.attendance import (
    FiveAnswer,
    FivesCheck,
    LiveRecord,
    LogEntry,
    PlayRecord,
    ResumePoint,
    StudySession,
    WatchedCourse,
)
from station.model.installed import InstalledCourse, InstalledPlaylist, InstalledSet
from station.model.questions import Question
from station.model.status import CourseState, DiskUsage, MirrorHealth, Progress, SyncStatus
from station.model.times import moment

__all__ = [
    "CourseState",
    "DiskUsage",
    "FiveAnswer",
    "FivesCheck",
    "InstalledCourse",
    "InstalledPlaylist",
    "InstalledSet",
    "LiveRecord",
    "LogEntry",
    "MirrorHealth",
    "PlayRecord",
    "Progress",
    "Question",
    "ResumePoint",
    "StudySession",
    "SyncStatus",
    "WatchedCourse",
    "moment",
]
