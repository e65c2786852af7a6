"""Reports (issue 11): stations gain capacity, members, revoked_at and token_rotated_at (and an
index on their token's hash); new tables for the raw report events, each stream's held/seen, each
boot's clock reading, the daily roll-up per station and the newest health sample per station.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name in ("capacity", "members"):
        op.add_column("stations", sa.Column(name, sa.Integer))
    for name in ("revoked_at", "token_rotated_at"):
        op.add_column("stations", sa.Column(name, sa.Text))
    op.create_index("stations_token", "stations", ["token_sha256"])
    op.create_table(
        "report_events",
        sa.Column("station", sa.Text, primary_key=True),
        sa.Column("stream", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("ts", sa.Text, nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("day", sa.Text, nullable=False),
        sa.Column("boot", sa.Text, nullable=False),
        sa.Column("time_uncertain", sa.Boolean, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("received_at", sa.Text, nullable=False),
    )
    op.create_index("report_events_day", "report_events", ["station", "day"])
    op.create_table(
        "report_streams",
        sa.Column("station", sa.Text, primary_key=True),
        sa.Column("stream", sa.Text, primary_key=True),
        sa.Column("held", sa.BigInteger, nullable=False),
        sa.Column("seen", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_table(
        "report_clocks",
        sa.Column("station", sa.Text, primary_key=True),
        sa.Column("boot", sa.Text, primary_key=True),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.Column("mono", sa.Float, nullable=False),
        sa.Column("offset_s", sa.Float, nullable=False),
    )
    ints = (
        "plays",
        "completed",
        "individual_plays",
        "sessions",
        "session_person_times",
        "short_sessions",
        "logbook",
    )
    op.create_table(
        "station_days",
        sa.Column("station", sa.Text, primary_key=True),
        sa.Column("day", sa.Text, primary_key=True),
        *(sa.Column(n, sa.Integer, nullable=False) for n in ints[:1]),
        sa.Column("watched_s", sa.Float, nullable=False),
        *(sa.Column(n, sa.Integer, nullable=False) for n in ints[1:]),
        sa.Column("notice_views", sa.Text, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("online_minutes", sa.Float, nullable=False),
        sa.Column("fives", sa.Text),
        sa.Column("courses", sa.Integer, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("time_uncertain", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_table(
        "station_health",
        sa.Column("station", sa.Text, primary_key=True),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("received_at", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("station_health", "station_days", "report_clocks", "report_streams", "report_events"):
        op.drop_table(table)
    op.drop_index("stations_token", "stations")
    with op.batch_alter_table("stations") as batch:
        for name in ("token_rotated_at", "revoked_at", "members", "capacity"):
            batch.drop_column(name)
