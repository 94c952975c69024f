"""a suggestion's row counts the evaluations the office entered from a signed form (代录)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

``suggestions`` gets ``office_evaluations``: of its evaluations, how many the office entered from the lead deputy's
signed paper form rather than the deputy with their own credential. Rows projected before hold 0, which is exact
unless the log already held office entries when they were projected (a node below upgraded first, its entries read
by the release before as the deputies' own): ``yipanqi projections rebuild`` counts them. The column is written out
here, not read from ``projections.schema``: a migration must not change when the models do.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from projections.migrations.sql import schema

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "suggestions",
        sa.Column("office_evaluations", sa.Integer, nullable=False, server_default="0"),
        schema=schema(),
    )


def downgrade() -> None:
    op.drop_column("suggestions", "office_evaluations", schema=schema())
