"""Alerts (issue 12): at most one open alert per station and kind (a partial unique index, so two
headend processes checking at once cannot open it twice), and the daily digests made, one row per
China day and region prefix (so a digest is written and posted once however often it is tried).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    open_only = sa.text("cleared_at IS NULL")
    op.create_index(
        "alerts_one_open",
        "alerts",
        ["station", "kind"],
        unique=True,
        sqlite_where=open_only,
        postgresql_where=open_only,
    )
    op.create_table(
        "alert_digests",
        sa.Column("day", sa.Text, primary_key=True),
        sa.Column("region", sa.Text, primary_key=True),
        sa.Column("made_at", sa.Text, nullable=False),
        sa.Column("alerts", sa.Integer, nullable=False),
        sa.Column("file", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_digests")
    op.drop_index("alerts_one_open", "alerts")
