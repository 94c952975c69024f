"""person_marks: each person's first time with each deputy target's mark in a year, by each clock

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

The coverage view as of a cut counted who was covered by joining every deputy's marks to the deputies and grouping
them by person (at a province, 265,000 marks of 139,000 records: half a second of the server's time per view). The
projector now keeps the result per person and year (``projections.schema.person_marks``); this revision creates the
table and fills it from the marks and deputies already projected (what the projector's bulk build writes). The
columns and the statement are written out here, not read from ``projections.schema``: a migration must not change when
the models do. Downgrading drops the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from projections.migrations.sql import qualified, schema

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MARKS = ("organ", "group", "deed", "report")
CLOCKS = {"rec": "recorded_at", "occ": "occurred_at", "known": "known_at"}  # a mark's suffix → a deputy's own clock


def upgrade() -> None:
    names = [f"{mark}_{suffix}" for mark in MARKS for suffix in CLOCKS]
    op.create_table(
        "person_marks",
        sa.Column("person_id", sa.String(64), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        *[sa.Column(name, sa.BigInteger, nullable=True) for name in names],
        schema=schema(),
        sqlite_with_rowid=False,
    )
    firsts = ", ".join(
        f"MIN(CASE WHEN m.mark = '{mark}' THEN CASE WHEN m.first_{suffix} > d.{own} THEN m.first_{suffix} ELSE d.{own} END END)"
        for mark in MARKS
        for suffix, own in CLOCKS.items()
    )
    marks = ", ".join(f"'{mark}'" for mark in MARKS)
    op.execute(
        f"INSERT INTO {qualified('person_marks')} (person_id, year, {', '.join(names)}) "
        f"SELECT d.person_id, m.year, {firsts} FROM {qualified('marks')} m "
        f"JOIN {qualified('deputies')} d ON d.deputy_id = m.subject_id WHERE m.mark IN ({marks}) GROUP BY d.person_id, m.year"
    )


def downgrade() -> None:
    op.drop_table("person_marks", schema=schema())
