"""a mandate's row names its grant's version: what a correction of the mandate names

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

``mandates`` gets ``version``, the version of the event that granted the mandate (a correction names the fact it
corrects by that version). Rows projected before have none: a correction of one of those mandates is counted as a
problem (``orphan``) until the projection is rebuilt (``yipanqi projections rebuild``), which fills them all. The column
is written out here, not read from ``projections.schema``: a migration must not change when the models do.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from projections.migrations.sql import schema

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("mandates", sa.Column("version", sa.Integer, nullable=True), schema=schema())


def downgrade() -> None:
    op.drop_column("mandates", "version", schema=schema())
