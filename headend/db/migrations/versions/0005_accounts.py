"""County staff accounts (issue 12): users (role, region prefix, password hash), the audit log of
every change, the login throttle (failures per account and per address, shared by every headend
process), alerts (one row per station problem from when it opened to when it cleared, with who
acknowledged it and whether it was told), each station's opening hours (for the silence alert),
and an index that finds a station's events of one kind (its sessions, logbook, health history).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stations", sa.Column("opening_hours", sa.Text))
    op.create_index("report_events_kind", "report_events", ["station", "kind", "day"])
    op.create_table(
        "users",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False, server_default="[]"),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("must_change", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("password_set_at", sa.Text, nullable=False),
        sa.Column("disabled_at", sa.Text),
        sa.Column("last_login_at", sa.Text),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False, server_default=""),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
        sa.Column("region", sa.Text, nullable=False, server_default="[]"),
        sqlite_autoincrement=True,
    )
    op.create_index("audit_log_at", "audit_log", ["at"])
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_start", sa.Text, nullable=False),
        sa.Column("locked_until", sa.Text),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("opened_at", sa.Text, nullable=False),
        sa.Column("cleared_at", sa.Text),
        sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
        sa.Column("acknowledged_by", sa.Text),
        sa.Column("acknowledged_at", sa.Text),
        sa.Column("notified_at", sa.Text),
        sa.Column("recovery_notified_at", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("alerts_open", "alerts", ["station", "kind", "cleared_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False, server_default="[]"),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", sa.Text, nullable=False),
        sa.Column("delivered_at", sa.Text),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    for table in ("alert_deliveries", "alerts", "login_throttle", "audit_log", "users"):
        op.drop_table(table)
    op.drop_index("report_events_kind", "report_events")
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("opening_hours")
