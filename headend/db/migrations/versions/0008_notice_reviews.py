"""Notices with review (issue 14): accounts gain the reviewer right (审核), and each version of
a notice file (the sha256 of its bytes) records who drafted, reviewed and signed it off. Notices
written before this revision have no rows: they are drafts until reviewed and signed.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("reviewer", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "notice_reviews",
        sa.Column("notice_id", sa.Text, primary_key=True),
        sa.Column("sha256", sa.Text, primary_key=True),
        sa.Column("drafted_by", sa.Text, nullable=False, server_default=""),
        sa.Column("drafted_at", sa.Text, nullable=False),
        sa.Column("reviewed_by", sa.Text),
        sa.Column("reviewed_at", sa.Text),
        sa.Column("signed_by", sa.Text),
        sa.Column("signed_at", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("notice_reviews")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("reviewer")
