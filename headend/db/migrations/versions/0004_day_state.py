"""The daily roll-up keeps the shared fold's running state (``station_days.state``, JSON of
``catalogue.figures.Tally``), so a batch adds only the events it newly holds instead of reading
its days back. Rows made by 0003 get their state rebuilt from that station-day's events (their
figures were already computed by the same fold).

Revision ID: 0004
Revises: 0003
"""

import json

import sqlalchemy as sa
from alembic import op

from catalogue.figures import Tally

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("station_days", sa.Column("state", sa.Text, nullable=False, server_default=""))
    conn = op.get_bind()
    days = sa.table("station_days", sa.column("station"), sa.column("day"), sa.column("state"))
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
        state = json.dumps(tally.state(), ensure_ascii=False, separators=(",", ":"))
        conn.execute(days.update().where(days.c.station == station, days.c.day == day).values(state=state))


def downgrade() -> None:
    with op.batch_alter_table("station_days") as batch:
        batch.drop_column("state")
