"""a suggestion's row counts the evaluations the office entered from a signed form (代录), and a summary per node
and year counts them apart from the deputies' own

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

``suggestions`` gets ``office_evaluations``: of its evaluations, how many the office entered from the lead deputy's
signed paper form rather than the deputy with their own credential. Rows projected before hold 0, which is exact
unless the log already held office entries when they were projected (a node below upgraded first, its entries read
by the release before as the deputies' own): ``yipanqi projections rebuild`` counts them. The column is written out
here, not read from ``projections.schema``: a migration must not change when the models do.

``suggestion_entries`` (per year and node: ``evaluations_self``, ``evaluations_office``) is filled from the rows
as they stand: every evaluation of a suggestion that stands counted as the deputy's own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from projections.migrations.sql import qualified, schema

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
    op.create_table(
        "suggestion_entries",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("node_id", sa.String(32), primary_key=True, autoincrement=False),
        sa.Column("evaluations_self", sa.Integer, nullable=False),
        sa.Column("evaluations_office", sa.Integer, nullable=False),
        schema=schema(),
        sqlite_with_rowid=False,
    )
    op.execute(
        f"INSERT INTO {qualified('suggestion_entries')} (year, node_id, evaluations_self, evaluations_office) "
        f"SELECT year, node_id, SUM(evaluations), 0 FROM {qualified('suggestions')} "
        "WHERE evaluations > 0 AND state <> 'voided' GROUP BY year, node_id"
    )


def downgrade() -> None:
    op.drop_table("suggestion_entries", schema=schema())
    op.drop_column("suggestions", "office_evaluations", schema=schema())
