"""Star ratings (issue 13): the daily roll-up gains the figures the plausibility rules and the
rubric read as plain columns (so a rating is SQL aggregates, never JSON), rebuilt for existing
rows from their events by the shared fold; the days the headend heard from each station (by its
own clock); and the tables of ratings: rubric versions, frozen
periods with each station's rating and inputs, inspection scores, and flag overrides.

Revision ID: 0007
Revises: 0006
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from catalogue.clocks import CHINA
from catalogue.figures import Tally

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_NEW_DAY_COLUMNS = (
    "notice_view_total",
    "max_headcount",
    "overlapping_sessions",
    "overlong_plays",
    "identical_events",
    "clients",
)


def upgrade() -> None:
    with op.batch_alter_table("station_days") as batch:
        for name in _NEW_DAY_COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("installed_version", sa.BigInteger))
        batch.add_column(sa.Column("fives_met", sa.Integer))
    _rebuild_days()
    op.create_index("station_days_fives", "station_days", ["fives_met", "day"])
    op.create_table(
        "station_contacts",
        sa.Column("station", sa.Text, primary_key=True),
        sa.Column("day", sa.Text, primary_key=True),
    )
    _contacts_so_far()
    op.create_table(
        "rubrics",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sha256", sa.Text, nullable=False, unique=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    op.create_table(
        "rating_periods",
        sa.Column("period", sa.Text, primary_key=True),
        sa.Column("frozen_at", sa.Text, nullable=False),
        sa.Column("rubric_version", sa.Integer, nullable=False),
        sa.Column("stations", sa.Integer, nullable=False),
    )
    op.create_table(
        "ratings",
        sa.Column("period", sa.Text, primary_key=True),
        sa.Column("station", sa.Text, primary_key=True),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("stars", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "inspections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station", sa.Text, nullable=False),
        sa.Column("item", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("photo", sa.Text, nullable=False, server_default=""),
        sa.Column("inspected_on", sa.Text, nullable=False),
        sa.Column("inspector", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("inspections_station", "inspections", ["station", "item", "inspected_on"])
    op.create_table(
        "flag_overrides",
        sa.Column("station", sa.Text, primary_key=True),
        sa.Column("day", sa.Text, primary_key=True),
        sa.Column("rule", sa.Text, primary_key=True),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
    )


def _contacts_so_far() -> None:
    """The days the headend received events before this migration (from their receipt times)."""
    conn = op.get_bind()
    events = sa.table("report_events", sa.column("station"), sa.column("received_at"))
    contacts = sa.table("station_contacts", sa.column("station"), sa.column("day"))
    seen = set()
    for station, received in conn.execute(sa.select(events.c.station, events.c.received_at).distinct()):
        at = datetime.fromisoformat(received.replace("Z", "+00:00"))
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        seen.add((station, at.astimezone(CHINA).date().isoformat()))
    if seen:
        conn.execute(contacts.insert(), [{"station": s, "day": d} for s, d in sorted(seen)])


def _rebuild_days() -> None:
    """Fold each existing station-day's events again, for the new figures and state."""
    conn = op.get_bind()
    days = sa.table(
        "station_days",
        *(sa.column(n) for n in ("station", "day", "state", "installed_version", "fives_met", *_NEW_DAY_COLUMNS)),
    )
    events = sa.table(
        "report_events",
        *(sa.column(n) for n in ("station", "stream", "seq", "at", "day", "time_uncertain", "data")),
    )
    for station, day in conn.execute(sa.select(days.c.station, days.c.day)).all():
        tally = Tally()
        rows = conn.execute(
            sa.select(events.c.stream, events.c.seq, events.c.at, events.c.time_uncertain, events.c.data)
            .where(events.c.station == station, events.c.day == day)
            .order_by(events.c.at, events.c.seq, events.c.stream)
        ).all()
        for r in rows:
            tally.add(json.loads(r.data), day, [r.at, r.seq, r.stream], bool(r.time_uncertain))
        f = tally.figures()
        conn.execute(
            days.update()
            .where(days.c.station == station, days.c.day == day)
            .values(
                state=json.dumps(tally.state(), ensure_ascii=False, separators=(",", ":")),
                notice_view_total=sum(f.notice_views.values()),
                max_headcount=f.max_headcount,
                overlapping_sessions=f.overlapping_sessions,
                overlong_plays=f.overlong_plays,
                identical_events=f.identical,
                clients=f.clients,
                installed_version=f.installed_version,
                fives_met=sum(f.fives.values()) if f.fives is not None else None,
            )
        )


def downgrade() -> None:
    for table in ("flag_overrides", "inspections", "ratings", "rating_periods", "rubrics", "station_contacts"):
        op.drop_table(table)
    op.drop_index("station_days_fives", "station_days")
    with op.batch_alter_table("station_days") as batch:
        for name in (*_NEW_DAY_COLUMNS, "installed_version", "fives_met"):
            batch.drop_column(name)
