"""a project's snapshots may share a version: corrections copy them for the occurred clock

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

A correction (更正) of a livelihood project's fact shows on the occurred clock from when the fact happened: the
snapshots it changes are ended on that clock (``next_occ = occurred_at``) and copied with the corrected values, the
copies seen on the occurred clock only (``next_rec = recorded_at`` and ``next_known = known_at``). A copy keeps its
snapshot's version, so ``ux_project_snapshots`` is no longer unique: it becomes ``ix_project_snapshots`` on the same
columns. No rows change. (Written beside the known clock's 0005 and put after it when the branches were merged.)
"""

from __future__ import annotations

from alembic import op

from projections.migrations.sql import schema

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ux_project_snapshots", table_name="project_snapshots", schema=schema())
    op.create_index("ix_project_snapshots", "project_snapshots", ["project_id", "version"], unique=False, schema=schema())


def downgrade() -> None:
    """Only while no project was corrected (a copy's version repeats its snapshot's)."""
    op.drop_index("ix_project_snapshots", table_name="project_snapshots", schema=schema())
    op.create_index("ux_project_snapshots", "project_snapshots", ["project_id", "version"], unique=True, schema=schema())
