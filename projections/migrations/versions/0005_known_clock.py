"""the known clock: when this node came to hold each fact and transition, beside the recorded and occurred clocks

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

Every ``recorded_at`` gets a ``known_at`` and every ``<transition>_rec`` a ``<transition>_known`` (marks: the first by
known time; snapshots: ``next_known``). The projector fills them from the store's known spans from here on. What was
projected before is converted, not rebuilt: its known times are unknown, and they are taken to be the recorded ones,
as the projector does for events stored before their store kept known spans (so a rebuild gives the same rows). A
fact's own clock is NOT NULL: it is added with a default of 0, filled, and the default dropped where the database
can (PostgreSQL; SQLite cannot alter a column, and the projector always names every column it inserts). The columns
are written out here, not read from ``projections.schema``: a migration must not change when the models do.
Downgrading drops them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from projections.migrations.sql import qualified, schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: Per table: the transitions whose clocks get a known one ("" is the row's own: ``recorded_at`` → ``known_at``).
TRANSITIONS = {
    "contact_deputies": [""],
    "contacts": [""],
    "deputies": [""],
    "deputy_flags": [""],
    "mandates": ["granted", "reviewed", "terminated"],
    "marks": ["first"],
    "opinions": ["", "handled", "fed"],
    "project_snapshots": ["created", "", "next"],
    "projects": ["created", ""],
    "sc_members": ["appointed", "left"],
    "standing_committees": [""],
    "station_enrolments": ["since", "until"],
    "stations": ["", "merged", "closed"],
    "suggestion_signers": [""],
    "suggestion_snapshots": ["created", "", "next"],
    "suggestions": ["created", ""],
    "visit_deputies": [""],
    "visit_issues": ["", "outcome"],
    "visits": [""],
}
#: Clocks that every row has (the rest are those of transitions that may not have happened yet).
REQUIRED = {("marks", "first")}


def _columns(transition: str) -> tuple[str, str]:
    """The known clock's column and the recorded one it starts from."""
    return ("known_at", "recorded_at") if not transition else (f"{transition}_known", f"{transition}_rec")


def upgrade() -> None:
    postgres = op.get_context().dialect.name == "postgresql"
    for table, transitions in TRANSITIONS.items():
        required = [not t or (table, t) in REQUIRED for t in transitions]
        pairs = [_columns(t) for t in transitions]
        for (known, _), needed in zip(pairs, required, strict=True):
            column = sa.Column(known, sa.BigInteger, nullable=not needed, server_default="0" if needed else None)
            op.add_column(table, column, schema=schema())
        # one pass over the table for all its clocks (PostgreSQL writes every row again)
        op.execute(f"UPDATE {qualified(table)} SET {', '.join(f'{known} = {rec}' for known, rec in pairs)}")
        if postgres:
            for (known, _), needed in zip(pairs, required, strict=True):
                if needed:
                    op.alter_column(table, known, server_default=None, schema=schema())


def downgrade() -> None:
    for table, transitions in TRANSITIONS.items():
        for transition in transitions:
            op.drop_column(table, _columns(transition)[0], schema=schema())
