"""marks of each deputy's first activity in a year (contact, station visit or suggestion signed), by each clock

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

No table changes: ``marks`` gets rows of a new mark, ``active``, which the duty ranking as of a cut reads to know who
was inactive then without counting every deputy's facts. The backfill derives them from the facts already projected,
as the projector does from here on (written out here, not imported: a migration must not change when the projector
does): per year and deputy, the earliest recorded and the earliest occurred time of their contacts, station visits
and suggestions signed, and the node of the earliest recorded one (the least node id if several share that time;
the views do not read it). Downgrading removes them.
"""

from __future__ import annotations

from alembic import op

from projections.migrations.sql import qualified

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MARK = "active"
FACTS = ("contact_deputies", "visit_deputies", "suggestion_signers")


def upgrade() -> None:
    facts = " UNION ALL ".join(f"SELECT year, deputy_id, node_id, recorded_at, occurred_at FROM {qualified(t)}" for t in FACTS)
    first = f"SELECT year, deputy_id, MIN(recorded_at) AS first_rec, MIN(occurred_at) AS first_occ FROM ({facts}) a"
    op.execute(
        f"INSERT INTO {qualified('marks')} (mark, year, subject_id, node_id, first_rec, first_occ) "
        f"SELECT '{MARK}', g.year, g.deputy_id, MIN(f.node_id), g.first_rec, g.first_occ "
        f"FROM ({first} GROUP BY year, deputy_id) g JOIN ({facts}) f "
        "ON f.year = g.year AND f.deputy_id = g.deputy_id AND f.recorded_at = g.first_rec "
        "GROUP BY g.year, g.deputy_id, g.first_rec, g.first_occ"
    )


def downgrade() -> None:
    op.execute(f"DELETE FROM {qualified('marks')} WHERE mark = '{MARK}'")
