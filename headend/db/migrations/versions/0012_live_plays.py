"""Live classes watched (issue 16): the daily roll-up counts the ``live`` events a station reports
(``live_plays``) and their seconds watched (``live_watched_s``). No station could report one before
this revision (the collector refused the kind), so existing rows get 0 and their fold states,
which lack both, read as 0 too.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("station_days") as batch:
        batch.add_column(sa.Column("live_plays", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("live_watched_s", sa.Float, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("station_days") as batch:
        batch.drop_column("live_watched_s")
        batch.drop_column("live_plays")
