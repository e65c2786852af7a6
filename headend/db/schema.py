"""The tables as the code uses them today (SQLAlchemy Core). The migrations under
``migrations/versions/`` are the history that builds them; a test checks that a database
migrated to head has exactly this shape."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, Table, Text

metadata = MetaData()


def _text(name: str, **kw) -> Column:
    return Column(name, Text, nullable=False, server_default="", **kw)


courses = Table(
    "courses",
    metadata,
    Column("id", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("category", Text, nullable=False),
    _text("description"),
    Column("duration_s", Float, nullable=False),
    Column("source_sha256", Text, nullable=False, unique=True),
    Column("source_name", Text, nullable=False),
    Column("tags", Text, nullable=False, server_default="[]"),  # JSON list
    _text("series"),
    Column("episode", Integer),
    _text("speaker"),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)

# One row per (source, profile definition): ingesting the same file again finds its renditions;
# changing one profile changes its fingerprint and redoes only that profile.
renditions = Table(
    "renditions",
    metadata,
    Column("source_sha256", Text, primary_key=True),
    Column("profile", Text, primary_key=True),
    Column("fingerprint", Text, primary_key=True),
    Column("path", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("size", BigInteger, nullable=False),  # bytes: a 4-hour HD rendition passes 2 GiB
    Column("mime", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)

stations = Table(
    "stations",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("region", Text, nullable=False),  # JSON list, province … village
    Column("player", Text, nullable=False),
    Column("token_sha256", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)

# Every file a published tree holds, and when a version last referenced it: files referenced
# within the grace period stay in new trees; older ones are collected.
published_files = Table(
    "published_files",
    metadata,
    Column("path", Text, primary_key=True),
    Column("last_referenced_at", Text, nullable=False),
)

publications = Table(
    "publications",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("published_at", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
    Column("index_sha256", Text, nullable=False),
    Column("courses", Integer, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_path", Text, nullable=False),  # the file being ingested (absolute)
    Column("source_name", Text, nullable=False),  # its name as the editor gave it
    Column("source_sha256", Text, nullable=False),
    Column("meta", Text, nullable=False),  # JSON: title, category, series, episode, …
    Column("origin", Text, nullable=False),  # 'cli' or 'watch'
    Column("state", Text, nullable=False),  # queued, running, done, failed
    _text("owner"),  # 'pid:start-time@host/boot-id' of the process running it
    Column("attempts", Integer, nullable=False, server_default="0"),
    _text("stage"),
    Column("percent", Float, nullable=False, server_default="0"),
    Column("eta_s", Float),
    _text("message"),
    _text("log_tail"),
    Column("course_id", Text),
    Column("transcoded", Text, nullable=False, server_default="[]"),  # JSON list of profiles
    Column("created_at", Text, nullable=False),
    Column("started_at", Text),
    Column("finished_at", Text),
    Column("heartbeat_at", Text),  # refreshed by the running process; an old one means it is gone
    sqlite_autoincrement=True,
)
Index("jobs_state", jobs.c.state, jobs.c.id)

# Loudness measured by the first pass, per source and channel layout: a profile change
# re-encodes without measuring again.
loudness = Table(
    "loudness",
    metadata,
    Column("source_sha256", Text, primary_key=True),
    Column("channels", Integer, primary_key=True, autoincrement=False),
    Column("target", Text, primary_key=True),
    Column("measured", Text, nullable=False),  # JSON
)
