"""Jobs get a heartbeat: ``jobs.heartbeat_at``, refreshed by the process running a job, so that
a job left running by a process on another host (which this host cannot check) is queued again
once its heartbeat is old. Running jobs start with their ``started_at``.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("heartbeat_at", sa.Text))
    jobs = sa.table("jobs", sa.column("state"), sa.column("started_at"), sa.column("heartbeat_at"))
    op.execute(jobs.update().where(jobs.c.state == "running").values(heartbeat_at=jobs.c.started_at))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("heartbeat_at")
