"""The tables as the code uses them today (SQLAlchemy Core). The migrations under
``migrations/versions/`` are the history that builds them; a test checks that a database
migrated to head has exactly this shape."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, MetaData, Table, Text, false

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
    Column("created_at", Text, nullable=False),  # enrolment: the earliest plausible unmeasured event time
    Column("capacity", Integer),  # seats in the study room (null: not said)
    Column("members", Integer),  # registered party members (null: not said)
    Column("revoked_at", Text),  # its token was revoked (null: it may report)
    Column("token_rotated_at", Text),
    Column("opening_hours", Text),  # "08:00-12:00,14:00-21:00" China time (null: always open)
)
Index("stations_token", stations.c.token_sha256)

# Every file a published tree holds, and when a version last referenced it: files referenced
# within the grace period stay in new trees; older ones are collected.
published_files = Table(
    "published_files",
    metadata,
    Column("path", Text, primary_key=True),
    Column("last_referenced_at", Text, nullable=False),  # 9999-…: referenced by the newest version
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

# Reports (docs/reporting.md): every event once under (station, stream, seq), with its typed key
# columns and the JSON as sent; the corrected time and its China day decide the roll-up row.
report_events = Table(
    "report_events",
    metadata,
    Column("station", Text, primary_key=True),
    Column("stream", Text, primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", Text, nullable=False),
    Column("ts", Text, nullable=False),  # the box's wall clock as sent
    Column("at", Text, nullable=False),  # corrected, ISO 8601 UTC
    Column("day", Text, nullable=False),  # China date of ``at``
    Column("boot", Text, nullable=False),
    Column("time_uncertain", Boolean, nullable=False),
    Column("data", Text, nullable=False),  # the event as sent (JSON)
    Column("received_at", Text, nullable=False),
)
Index("report_events_day", report_events.c.station, report_events.c.day)
Index("report_events_kind", report_events.c.station, report_events.c.kind, report_events.c.day)

# How far the headend holds each stream without a gap (held) and the highest seq stored (seen).
report_streams = Table(
    "report_streams",
    metadata,
    Column("station", Text, primary_key=True),
    Column("stream", Text, primary_key=True),
    Column("held", BigInteger, nullable=False),
    Column("seen", BigInteger, nullable=False),
    Column("updated_at", Text, nullable=False),
    # the highest seq moved to an archive file (``headend db archive``; never above held): every seq
    # up to it is held, its row or not
    Column("archived", BigInteger, nullable=False, server_default="0"),
)

# The newest reading of each boot's clocks: headend time and the box's monotonic clock at receipt.
report_clocks = Table(
    "report_clocks",
    metadata,
    Column("station", Text, primary_key=True),
    Column("boot", Text, primary_key=True),
    Column("received_at", Text, nullable=False),
    Column("mono", Float, nullable=False),
    Column("offset_s", Float, nullable=False),
)

# The daily roll-up per station (China days): the shared fold's state (catalogue.figures.Tally),
# to which the transaction that stores a batch adds the events it newly holds of that day.
station_days = Table(
    "station_days",
    metadata,
    Column("station", Text, primary_key=True),
    Column("day", Text, primary_key=True),
    Column("plays", Integer, nullable=False),
    Column("watched_s", Float, nullable=False),
    Column("completed", Integer, nullable=False),
    Column("individual_plays", Integer, nullable=False),
    Column("sessions", Integer, nullable=False),
    Column("session_person_times", Integer, nullable=False),
    Column("short_sessions", Integer, nullable=False),
    Column("logbook", Integer, nullable=False),
    Column("notice_views", Text, nullable=False),  # JSON: notice id → views
    Column("failed_logins", Integer, nullable=False),
    Column("online_minutes", Float, nullable=False),
    Column("fives", Text),  # JSON: five-ones key → met, the day's last check (null: none that day)
    Column("courses", Integer, nullable=False),  # distinct courses played
    Column("events", Integer, nullable=False),
    Column("time_uncertain", Integer, nullable=False),
    Column(
        "state", Text, nullable=False, server_default=""
    ),  # JSON: the fold's running state (catalogue.figures.Tally)
    Column("updated_at", Text, nullable=False),
    # what ratings read as columns (migration 0007): plausibility evidence and rubric sources
    Column("notice_view_total", Integer, nullable=False, server_default="0"),
    Column("max_headcount", Integer, nullable=False, server_default="0"),
    Column("overlapping_sessions", Integer, nullable=False, server_default="0"),
    Column("overlong_plays", Integer, nullable=False, server_default="0"),
    Column("identical_events", Integer, nullable=False, server_default="0"),
    Column("clients", Integer, nullable=False, server_default="0"),  # TVs with a play counted as study
    Column("installed_version", BigInteger),  # newest installed version a health sample said
    Column("fives_met", Integer),  # items met in the day's last five-ones check (null: no check)
    # live classes watched (migration 0012): ``live`` events and their seconds
    Column("live_plays", Integer, nullable=False, server_default="0"),
    Column("live_watched_s", Float, nullable=False, server_default="0"),
)
Index("station_days_fives", station_days.c.fives_met, station_days.c.day)  # the last complete five-ones check

# Each China day (the headend's clock) the headend received anything from a station: the one
# sign of being online a box cannot write for itself (its heartbeats are journalled offline too).
station_contacts = Table(
    "station_contacts",
    metadata,
    Column("station", Text, primary_key=True),
    Column("day", Text, primary_key=True),
)

# The newest health sample per station (by corrected time), for the dashboard.
station_health = Table(
    "station_health",
    metadata,
    Column("station", Text, primary_key=True),
    Column("stream", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("at", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("received_at", Text, nullable=False),
)

# County staff (issue 12): role viewer / editor / admin, bound to a region prefix (JSON list; []
# sees everything); the password as a KDF hash; must_change after a one-time password.
users = Table(
    "users",
    metadata,
    Column("name", Text, primary_key=True),
    Column("role", Text, nullable=False),
    Column("region", Text, nullable=False, server_default="[]"),
    Column("password_hash", Text, nullable=False),
    Column("must_change", Boolean, nullable=False, server_default=false()),
    Column("created_at", Text, nullable=False),
    Column("password_set_at", Text, nullable=False),
    Column("disabled_at", Text),
    Column("last_login_at", Text),
    Column("reviewer", Boolean, nullable=False, server_default=false()),  # may review notices (issue 14)
)

# Notices under review (issue 14): one row per version of a notice file (the sha256 of its
# bytes) — who drafted it, who reviewed it (审核), who signed it off (签发). Only a file whose
# current bytes have a signed row is published; an edited file is a new, unreviewed version.
notice_reviews = Table(
    "notice_reviews",
    metadata,
    Column("notice_id", Text, primary_key=True),
    Column("sha256", Text, primary_key=True),
    Column("drafted_by", Text, nullable=False, server_default=""),
    Column("drafted_at", Text, nullable=False),
    Column("reviewed_by", Text),
    Column("reviewed_at", Text),
    Column("signed_by", Text),
    Column("signed_at", Text),
)

# Live classes (网络党课, issue 16): scheduled by an editor or `headend live add`, published as a
# signed schedule entry (playlist ``live-<id>``), encoded by `headend serve` at their time, and
# kept afterwards as the course ``replay_course`` (the recording, ingested through the inbox).
live_classes = Table(
    "live_classes",
    metadata,
    Column("id", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("start_at", Text, nullable=False),  # ISO 8601 UTC
    Column("duration_s", Float, nullable=False),
    Column("audience", Text, nullable=False),  # JSON: {"stations": [], "regions": [], "tags": []}
    Column("source", Text, nullable=False, server_default=""),  # what ffmpeg reads; "": [live] input
    Column("created_by", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("cancelled_at", Text),
    Column("recording_sha256", Text),  # the recording handed to the inbox as the replay's source
    Column("replay_course", Text),  # its course id (course_id_for the sha256)
    Column("replay_published_at", Text),  # the publish that first carried the replay
)
Index("live_classes_start", live_classes.c.start_at)

# Every change: who (an account, or "cli:<user>" / "system"), when, from where, what, to what;
# region is the changed thing's region (so an admin bound to a region sees its own part).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("address", Text, nullable=False, server_default=""),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default="{}"),  # JSON
    Column("region", Text, nullable=False, server_default="[]"),  # JSON list
    sqlite_autoincrement=True,
)
Index("audit_log_at", audit_log.c.at)

# Failed logins per key ("user:<name>" or "addr:<ip>") in the current window; a key over its limit
# is locked until locked_until. In the database so every headend process shares it.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", Text, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", Text, nullable=False),
    Column("locked_until", Text),
)

# One row per station problem (kind: silent, sync_failing, disk_low, fives_failed, clock_off,
# pin_failures) from when it opened to when it cleared; acknowledged by an account; notified_at:
# it went out in a digest or webhook (only then is a recovery message sent).
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("station", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("opened_at", Text, nullable=False),
    Column("cleared_at", Text),
    Column("detail", Text, nullable=False, server_default="{}"),  # JSON
    Column("acknowledged_by", Text),
    Column("acknowledged_at", Text),
    Column("notified_at", Text),
    Column("recovery_notified_at", Text),
    sqlite_autoincrement=True,
)
Index("alerts_open", alerts.c.station, alerts.c.kind, alerts.c.cleared_at)
# At most one open alert per (station, kind), whichever headend process checks (migration 0006).
Index(
    "alerts_one_open",
    alerts.c.station,
    alerts.c.kind,
    unique=True,
    sqlite_where=alerts.c.cleared_at.is_(None),
    postgresql_where=alerts.c.cleared_at.is_(None),
)

# Digests and recovery messages waiting for (or done with) the webhook: retried with back-off.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Text, nullable=False),
    Column("kind", Text, nullable=False),  # digest, recovery
    Column("region", Text, nullable=False, server_default="[]"),
    Column("payload", Text, nullable=False),  # JSON as posted
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_at", Text, nullable=False),
    Column("delivered_at", Text),
    Column("last_error", Text, nullable=False, server_default=""),
    sqlite_autoincrement=True,
)

# The daily digest of each active region prefix (JSON list; [] is the whole headend): one row per
# China day and region, claimed by the process that writes it, so it is made (and posted) once.
alert_digests = Table(
    "alert_digests",
    metadata,
    Column("day", Text, primary_key=True),
    Column("region", Text, primary_key=True),
    Column("made_at", Text, nullable=False),
    Column("alerts", Integer, nullable=False),  # open alerts it listed
    Column("file", Text, nullable=False),  # its name in <root>/digests/ (.json, and .txt beside it)
)


# Star ratings (issue 13). Every rubric (ratings.toml) a rating was computed under, by content.
rubrics = Table(
    "rubrics",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("sha256", Text, nullable=False, unique=True),
    Column("text", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)

# A period closed ([ratings] close_days after its end): its ratings are kept as computed then.
rating_periods = Table(
    "rating_periods",
    metadata,
    Column("period", Text, primary_key=True),  # 2026-11, 2026-Q4, 2026-H2, 2026
    Column("frozen_at", Text, nullable=False),
    Column("rubric_version", Integer, nullable=False),
    Column("stations", Integer, nullable=False),
)

ratings = Table(
    "ratings",
    metadata,
    Column("period", Text, primary_key=True),
    Column("station", Text, primary_key=True),
    Column("total", Float, nullable=False),
    Column("stars", Integer, nullable=False),
    Column("status", Text, nullable=False),  # ranked, incomplete (数据不全)
    Column("detail", Text, nullable=False),  # JSON: indicators, flags, the inputs (the snapshot)
)

# What staff saw on a visit (the place, posted rules, equipment): one row per item and visit.
inspections = Table(
    "inspections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("station", Text, nullable=False),
    Column("item", Text, nullable=False),  # an inspection item of the rubric
    Column("score", Float, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("photo", Text, nullable=False, server_default=""),  # file name under <root>/evidence/
    Column("inspected_on", Text, nullable=False),  # China date
    Column("inspector", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    sqlite_autoincrement=True,
)
Index("inspections_station", inspections.c.station, inspections.c.item, inspections.c.inspected_on)

# A plausibility flag an admin judged wrong, with the reason: the flagged figures count again.
# ``day`` is the China day of a day's flag, or the period's name for a flag about a whole period.
flag_overrides = Table(
    "flag_overrides",
    metadata,
    Column("station", Text, primary_key=True),
    Column("day", Text, primary_key=True),
    Column("rule", Text, primary_key=True),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # the flag's evidence as judged: worse figures flag again
)

# Questions from the villages (issue 14): one row per (station, number) — the event that carried
# it may be re-sent, the question is kept once. Times are UTC ISO text like every moment here.
questions = Table(
    "questions",
    metadata,
    Column("station", Text, primary_key=True),
    Column("number", Text, primary_key=True),  # the station's number: 20261207-01
    Column("topic", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("asker", Text, nullable=False, server_default=""),
    Column("publishable", Boolean, nullable=False, server_default=false()),  # the asker allows an FAQ entry
    Column("asked_at", Text, nullable=False),  # the station's time, corrected by the measured offset
    Column("received_at", Text, nullable=False),  # the headend's: the deadline counts from here
    Column("status", Text, nullable=False),  # new, assigned, answered, closed
    Column("assignee", Text),
    Column("assigned_at", Text),
    Column("answer", Text, nullable=False, server_default=""),
    Column("answered_by", Text),
    Column("answered_at", Text),
    Column("faq", Boolean, nullable=False, server_default=false()),  # published to faq_region as FAQ
    Column("faq_region", Text, nullable=False, server_default="[]"),  # JSON list; [] every station
    Column("closed_by", Text),
    Column("closed_at", Text),
    Column("stream", Text, nullable=False),  # the event that carried it
    Column("seq", BigInteger, nullable=False),
)
Index("questions_received", questions.c.received_at)
Index("questions_status", questions.c.status, questions.c.received_at)
