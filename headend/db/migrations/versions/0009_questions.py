"""Questions from the villages (issue 14): one row per question a station sent through the
report path, with its status, assignee and answer.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "questions",
        sa.Column("station", sa.Text, primary_key=True),
        sa.Column("number", sa.Text, primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("asker", sa.Text, nullable=False, server_default=""),
        sa.Column("publishable", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("asked_at", sa.Text, nullable=False),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("assignee", sa.Text),
        sa.Column("assigned_at", sa.Text),
        sa.Column("answer", sa.Text, nullable=False, server_default=""),
        sa.Column("answered_by", sa.Text),
        sa.Column("answered_at", sa.Text),
        sa.Column("faq", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("faq_region", sa.Text, nullable=False, server_default="[]"),
        sa.Column("closed_by", sa.Text),
        sa.Column("closed_at", sa.Text),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_index("questions_received", "questions", ["received_at"])
    op.create_index("questions_status", "questions", ["status", "received_at"])


def downgrade() -> None:
    op.drop_table("questions")
