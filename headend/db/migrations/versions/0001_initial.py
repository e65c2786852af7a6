"""The first schema: courses, renditions, stations, published_files, publications, jobs, loudness.

Frozen here as the code had it when migrations began (later revisions change it; never edit this
one). ``adopt`` brings a database made before migrations (``CREATE TABLE IF NOT EXISTS`` plus an
ad-hoc ALTER, no ``alembic_version`` table) to this shape: missing tables are created, missing
columns added; ``headend.db.migrate`` then stamps it with this revision.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _text(name: str, **kw) -> sa.Column:
    return sa.Column(name, sa.Text, nullable=False, server_default="", **kw)


def tables(meta: sa.MetaData) -> list[sa.Table]:
    out = [
        sa.Table(
            "courses",
            meta,
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("category", sa.Text, nullable=False),
            _text("description"),
            sa.Column("duration_s", sa.Float, nullable=False),
            sa.Column("source_sha256", sa.Text, nullable=False, unique=True),
            sa.Column("source_name", sa.Text, nullable=False),
            sa.Column("tags", sa.Text, nullable=False, server_default="[]"),
            _text("series"),
            sa.Column("episode", sa.Integer),
            _text("speaker"),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("updated_at", sa.Text, nullable=False),
        ),
        sa.Table(
            "renditions",
            meta,
            sa.Column("source_sha256", sa.Text, primary_key=True),
            sa.Column("profile", sa.Text, primary_key=True),
            sa.Column("fingerprint", sa.Text, primary_key=True),
            sa.Column("path", sa.Text, nullable=False),
            sa.Column("sha256", sa.Text, nullable=False),
            sa.Column("size", sa.BigInteger, nullable=False),
            sa.Column("mime", sa.Text, nullable=False),
            sa.Column("created_at", sa.Text, nullable=False),
        ),
        sa.Table(
            "stations",
            meta,
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("region", sa.Text, nullable=False),
            sa.Column("player", sa.Text, nullable=False),
            sa.Column("token_sha256", sa.Text, nullable=False),
            sa.Column("created_at", sa.Text, nullable=False),
        ),
        sa.Table(
            "published_files",
            meta,
            sa.Column("path", sa.Text, primary_key=True),
            sa.Column("last_referenced_at", sa.Text, nullable=False),
        ),
        sa.Table(
            "publications",
            meta,
            sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("published_at", sa.Text, nullable=False),
            sa.Column("expires_at", sa.Text, nullable=False),
            sa.Column("index_sha256", sa.Text, nullable=False),
            sa.Column("courses", sa.Integer, nullable=False),
        ),
        sa.Table(
            "jobs",
            meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("source_path", sa.Text, nullable=False),
            sa.Column("source_name", sa.Text, nullable=False),
            sa.Column("source_sha256", sa.Text, nullable=False),
            sa.Column("meta", sa.Text, nullable=False),
            sa.Column("origin", sa.Text, nullable=False),
            sa.Column("state", sa.Text, nullable=False),
            _text("owner"),
            sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
            _text("stage"),
            sa.Column("percent", sa.Float, nullable=False, server_default="0"),
            sa.Column("eta_s", sa.Float),
            _text("message"),
            _text("log_tail"),
            sa.Column("course_id", sa.Text),
            sa.Column("transcoded", sa.Text, nullable=False, server_default="[]"),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("started_at", sa.Text),
            sa.Column("finished_at", sa.Text),
            sqlite_autoincrement=True,
        ),
        sa.Table(
            "loudness",
            meta,
            sa.Column("source_sha256", sa.Text, primary_key=True),
            sa.Column("channels", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("target", sa.Text, primary_key=True),
            sa.Column("measured", sa.Text, nullable=False),
        ),
    ]
    sa.Index("jobs_state", out[5].c.state, out[5].c.id)
    return out


def upgrade() -> None:
    meta = sa.MetaData()
    tables(meta)
    meta.create_all(op.get_bind())


def downgrade() -> None:
    meta = sa.MetaData()
    tables(meta)
    meta.drop_all(op.get_bind())


def adopt(connection: sa.Connection) -> list[str]:
    """Bring a database made before migrations to this revision's shape; what was changed."""
    meta = sa.MetaData()
    wanted = tables(meta)
    inspector = sa.inspect(connection)
    have = set(inspector.get_table_names())
    ops = Operations(MigrationContext.configure(connection))
    changed = []
    for table in wanted:
        if table.name not in have:
            table.create(connection)
            changed.append(f"created table {table.name}")
            continue
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in columns:
                ops.add_column(table.name, column._copy())
                changed.append(f"added column {table.name}.{column.name}")
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                index.create(connection)
                changed.append(f"created index {index.name}")
    return changed
