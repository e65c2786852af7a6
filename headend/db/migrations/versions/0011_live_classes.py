"""Live classes (issue 16): the schedule of classes streamed from the county, and what became of
each (cancelled, the recording handed on, the replay course and when it was first published).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_classes",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("start_at", sa.Text, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("audience", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("cancelled_at", sa.Text),
        sa.Column("recording_sha256", sa.Text),
        sa.Column("replay_course", sa.Text),
        sa.Column("replay_published_at", sa.Text),
    )
    op.create_index("live_classes_start", "live_classes", ["start_at"])


def downgrade() -> None:
    op.drop_index("live_classes_start", "live_classes")
    op.drop_table("live_classes")
