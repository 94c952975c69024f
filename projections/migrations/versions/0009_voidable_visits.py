"""station visits follow their corrections and voids, suggestions their voids: versioned visit rows, and the clocks
at which rows stop holding

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

A correction of a visit's people received keeps the row as recorded and adds the corrected one: ``visits`` is keyed
by (visit, version), the version of the event that left the row so (1: as recorded). ``visits``, ``visit_deputies``,
``visit_issues`` and ``suggestion_signers`` get ``voided_rec``, ``voided_occ`` and ``voided_known``: when a row stopped holding (a
correction's or a void's recorded and known times; on the occurred clock the row's own occurred time), and the
deputies on duty at voided visits and the signers of voided suggestions a partial index each. Every row
projected before holds (version 1, no voided clocks): the projector counted those events as problems
(``not_followed``) and left the rows as recorded; a rebuild (``yipanqi projections rebuild``) follows them. SQLite
cannot change a primary key: ``visits`` is copied into a new table (PostgreSQL does the same, for one code path).
The columns are written out here, not read from ``projections.schema``: a migration must not change when the models
do. Downgrading keeps each visit's first row and drops the new columns.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from projections.migrations.sql import qualified, schema

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

VOIDED = ("voided_rec", "voided_occ", "voided_known")
_FACTS = ("node_id", "station_id", "day", "year", "people", "deputies_n", "recorded_at", "occurred_at", "known_at")


def _visits(name: str, *, versioned: bool) -> None:
    op.create_table(
        name,
        sa.Column("visit_id", sa.String(32), primary_key=True),
        *([sa.Column("version", sa.Integer, primary_key=True, autoincrement=False)] if versioned else []),
        sa.Column("node_id", sa.String(32), nullable=False),
        sa.Column("station_id", sa.String(32), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("people", sa.Integer, nullable=False),
        sa.Column("deputies_n", sa.Integer, nullable=False),
        *[sa.Column(c, sa.BigInteger, nullable=False) for c in ("recorded_at", "occurred_at", "known_at")],
        *([sa.Column(c, sa.BigInteger, nullable=True) for c in VOIDED] if versioned else []),
        schema=schema(),
        sqlite_with_rowid=False,
    )


def _replace_visits(*, versioned: bool, select: str) -> None:
    """``visits`` copied into a table of the new shape (``select``: its rows from the old one), which takes its name."""
    _visits("visits_new", versioned=versioned)
    op.execute(f"INSERT INTO {qualified('visits_new')} {select}")
    op.drop_index("ix_visits_station_day", table_name="visits", schema=schema())
    op.drop_table("visits", schema=schema())
    op.rename_table("visits_new", "visits", schema=schema())
    if op.get_context().dialect.name == "postgresql":  # the primary key's index keeps the name it was made with
        op.execute(f"ALTER INDEX {qualified('visits_new_pkey')} RENAME TO visits_pkey")
    op.create_index("ix_visits_station_day", "visits", ["station_id", "day"], schema=schema())


def upgrade() -> None:
    facts = ", ".join(_FACTS)
    columns = f"(visit_id, version, {facts}, {', '.join(VOIDED)})"
    _replace_visits(versioned=True, select=f"{columns} SELECT visit_id, 1, {facts}, NULL, NULL, NULL FROM {qualified('visits')}")
    for table in ("visit_deputies", "visit_issues", "suggestion_signers"):
        for column in VOIDED:
            op.add_column(table, sa.Column(column, sa.BigInteger, nullable=True), schema=schema())
    voided = sa.text("voided_rec IS NOT NULL")
    for table in ("visit_deputies", "suggestion_signers"):
        op.create_index(f"ix_{table}_voided", table, ["year"], schema=schema(), sqlite_where=voided, postgresql_where=voided)


def downgrade() -> None:
    facts = ", ".join(_FACTS)
    first = f"(visit_id, {facts}) SELECT visit_id, {facts} FROM {qualified('visits')} WHERE version = 1"
    _replace_visits(versioned=False, select=first)
    for table in ("visit_deputies", "suggestion_signers"):
        op.drop_index(f"ix_{table}_voided", table_name=table, schema=schema())
    for table in ("visit_deputies", "visit_issues", "suggestion_signers"):
        for column in VOIDED:
            op.drop_column(table, column, schema=schema())
