"""What the revisions share: the schema a node's tables live in, and table names qualified with it."""

from __future__ import annotations

from alembic import op


def schema() -> str | None:
    """PostgreSQL keeps a node's tables in its own schema; the connection's ``schema_translate_map`` does not reach
    ALTER statements or hand-written SQL, so they name it (None on SQLite)."""
    return op.get_context().version_table_schema


def qualified(name: str) -> str:
    """``name`` in the node's schema, for hand-written SQL."""
    current = schema()
    return f'"{current}".{name}' if current else name
