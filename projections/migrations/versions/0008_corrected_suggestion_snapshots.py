"""a suggestion's snapshots may share a version: corrections copy them for the occurred clock

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

Suggestions become correctable (更正: an assignment's lead unit and due date, a reply's category), as livelihood
projects became in 0006: a correction's copies of the snapshots it changes keep their version, so
``ux_suggestion_snapshots`` is no longer unique: it becomes ``ix_suggestion_snapshots`` on the same columns. No rows
change.
"""

from __future__ import annotations

from alembic import op

from projections.migrations.sql import schema

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ux_suggestion_snapshots", table_name="suggestion_snapshots", schema=schema())
    op.create_index(
        "ix_suggestion_snapshots", "suggestion_snapshots", ["suggestion_id", "version"], unique=False, schema=schema()
    )


def downgrade() -> None:
    """Only while no suggestion was corrected (a copy's version repeats its snapshot's)."""
    op.drop_index("ix_suggestion_snapshots", table_name="suggestion_snapshots", schema=schema())
    op.create_index("ux_suggestion_snapshots", "suggestion_snapshots", ["suggestion_id", "version"], unique=True, schema=schema())
