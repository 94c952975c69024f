"""Alembic environment for the read models: the caller passes an open connection (already mapped to the node's
schema on PostgreSQL) in ``config.attributes``; see projections/migrate.py."""

from __future__ import annotations

from alembic import context

from projections.migrate import VERSION_TABLE
from projections.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the projections' migrations run programmatically: projections.migrate.upgrade(connection, schema)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    version_table_schema=config.attributes.get("schema"),
)
with context.begin_transaction():
    context.run_migrations()
