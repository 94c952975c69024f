"""contacts follow their voids: the clocks at which a contact's rows stop holding

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

``contacts``, ``contact_deputies`` and ``opinions`` get ``voided_rec``, ``voided_occ`` and ``voided_known``, as a
visit's rows did in 0009: when a row stopped holding (the void's recorded and known times; on the occurred clock the
row's own occurred time). Voided contacts and the deputies at them get a partial index each. Every row projected
before holds: a contact's void was counted as a problem (``not_followed``) and left the rows as recorded; a rebuild
(``yipanqi projections rebuild``) follows it. The columns are written out here, not read from
``projections.schema``: a migration must not change when the models do.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from projections.migrations.sql import schema

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

VOIDED = ("voided_rec", "voided_occ", "voided_known")
TABLES = ("contacts", "contact_deputies", "opinions")
INDEXED = ("contacts", "contact_deputies")


def upgrade() -> None:
    for table in TABLES:
        for column in VOIDED:
            op.add_column(table, sa.Column(column, sa.BigInteger, nullable=True), schema=schema())
    voided = sa.text("voided_rec IS NOT NULL")
    for table in INDEXED:
        op.create_index(f"ix_{table}_voided", table, ["year"], schema=schema(), sqlite_where=voided, postgresql_where=voided)


def downgrade() -> None:
    for table in INDEXED:
        op.drop_index(f"ix_{table}_voided", table_name=table, schema=schema())
    for table in TABLES:
        for column in VOIDED:
            op.drop_column(table, column, schema=schema())
