"""Alembic's environment for the headend: always run on the connection ``headend.db.migrate``
hands over (``config.attributes["connection"]``), inside the transaction it holds."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
