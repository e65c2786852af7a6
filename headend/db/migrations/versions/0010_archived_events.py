"""Archiving raw report events (``headend db archive``): each stream remembers the highest seq
moved out of ``report_events`` into an archive file, so an event re-sent at or below it is known
held (a duplicate) though its row is gone. Existing streams start at 0: nothing archived.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report_streams") as batch:
        batch.add_column(sa.Column("archived", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("report_streams") as batch:
        batch.drop_column("archived")
