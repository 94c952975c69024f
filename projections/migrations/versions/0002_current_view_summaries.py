"""current-view summaries: serving flags, opinion years on steps, per-deputy and per-person yearly counters, open
opinions, and indexes the current views count from

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

The backfill derives every new column and table from the facts already projected, with the semantics the projector
has at this revision (written out here, not imported: a migration must not change when the projector does).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from projections.migrations.sql import qualified, schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COUNTERS = ["contacts", "visits", "suggestions", "opinions", "deeds", "group_activities", "organ_contacts", "reports"]
ORGANS = "'sc_member', 'chair_council', 'special_committee', 'sc_office', 'township_presidium', 'street_committee'"
#: Indexes the current views count from (without reading the rows).
INDEXES = [
    ("opinions", "ix_opinions_node", ["year", "node_id"]),
    ("deputies", "ix_deputies_node", ["node_id"]),
    ("visits", "ix_visits_year", ["year", "station_id", "people", "deputies_n"]),
    ("visits", "ix_visits_station_day", ["station_id", "day"]),
    ("visit_deputies", "ix_visit_deputies_station", ["year", "station_id", "deputy_id"]),
    ("visit_issues", "ix_visit_issues_year", ["year", "station_id"]),
]
IN_FORCE = "m.deputy_id = deputies.deputy_id AND m.passed = TRUE AND m.reviewed_rec IS NOT NULL AND m.terminated_rec IS NULL"


def _counters_table(name: str, key: sa.Column) -> None:
    op.create_table(
        name,
        key,
        sa.Column("year", sa.Integer(), nullable=False),
        *[sa.Column(c, sa.Integer(), nullable=False) for c in COUNTERS],
        sa.PrimaryKeyConstraint(key.name, "year"),
        schema=schema(),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    for column in ("serving", "serving_provincial", "serving_local"):
        op.add_column("deputies", sa.Column(column, sa.Boolean(), nullable=False, server_default=sa.false()), schema=schema())
    op.add_column("opinion_steps", sa.Column("year", sa.Integer(), nullable=False, server_default=sa.text("0")), schema=schema())
    op.create_index("ix_opinion_steps_year", "opinion_steps", ["year", "step", "node_id"], unique=False, schema=schema())
    _counters_table("deputy_years", sa.Column("deputy_id", sa.String(length=32), nullable=False))
    _counters_table("person_years", sa.Column("person_id", sa.String(length=64), nullable=False))
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False, schema=schema())
    op.create_table(
        "open_opinions",
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", "number"),
        schema=schema(),
    )
    op.create_index(
        "ix_open_opinions_year", "open_opinions", ["year", "day", "contact_id", "number"], unique=False, schema=schema()
    )
    _backfill()


def _backfill() -> None:
    mandates = qualified("mandates")
    op.execute(
        f"UPDATE {qualified('deputies')} SET serving = EXISTS (SELECT 1 FROM {mandates} m WHERE {IN_FORCE}), "
        f"serving_provincial = EXISTS (SELECT 1 FROM {mandates} m WHERE {IN_FORCE} AND m.congress = 'provincial'), "
        f"serving_local = EXISTS (SELECT 1 FROM {mandates} m WHERE {IN_FORCE} AND m.congress IN ('county', 'township'))"
    )
    op.execute(
        f"UPDATE {qualified('opinion_steps')} SET year = coalesce((SELECT o.year FROM {qualified('opinions')} o "
        "WHERE o.contact_id = opinion_steps.contact_id AND o.number = opinion_steps.number), 0)"
    )
    zeros = ", ".join(["0"] * 4)
    kinds = ("practical_deed", "group_activity", "constituent_report")
    deed, group, report = (f"WHEN c.kind = '{k}' THEN 1 ELSE 0 END" for k in kinds)
    organ = f"WHEN c.kind IN ('organ_meeting', 'field_research') AND c.organiser_kind IN ({ORGANS}) THEN 1 ELSE 0 END"
    rows = (
        f"SELECT cd.deputy_id, cd.year, 1 AS a, 0 AS b, 0 AS c, 0 AS d, CASE {deed} AS e, CASE {group} AS f, "
        f"CASE {organ} AS g, CASE {report} AS h FROM {qualified('contact_deputies')} cd "
        f"JOIN {qualified('contacts')} c ON c.contact_id = cd.contact_id "
        f"UNION ALL SELECT deputy_id, year, 0, 1, 0, 0, {zeros} FROM {qualified('visit_deputies')} "
        f"UNION ALL SELECT deputy_id, year, 0, 0, 1, 0, {zeros} FROM {qualified('suggestion_signers')} "
        f"UNION ALL SELECT deputy_id, year, 0, 0, 0, 1, {zeros} FROM {qualified('opinions')} WHERE deputy_id IS NOT NULL"
    )
    sums = ", ".join(f"sum({c})" for c in "abcdefgh")
    columns = ", ".join(COUNTERS)
    op.execute(
        f"INSERT INTO {qualified('deputy_years')} (deputy_id, year, {columns}) "
        f"SELECT deputy_id, year, {sums} FROM ({rows}) x GROUP BY deputy_id, year"
    )
    op.execute(
        f"INSERT INTO {qualified('open_opinions')} (contact_id, number, node_id, day, year) "
        f"SELECT o.contact_id, o.number, o.node_id, o.day, o.year FROM {qualified('opinions')} o WHERE NOT EXISTS "
        f"(SELECT 1 FROM {qualified('opinion_steps')} s WHERE s.contact_id = o.contact_id AND s.number = o.number "
        "AND s.step = 'fed_back')"
    )
    totals = ", ".join(f"sum(y.{c})" for c in COUNTERS)
    op.execute(
        f"INSERT INTO {qualified('person_years')} (person_id, year, {columns}) SELECT d.person_id, y.year, {totals} "
        f"FROM {qualified('deputy_years')} y JOIN {qualified('deputies')} d ON d.deputy_id = y.deputy_id "
        "GROUP BY d.person_id, y.year"
    )


def downgrade() -> None:
    op.drop_index("ix_open_opinions_year", table_name="open_opinions", schema=schema())
    op.drop_table("open_opinions", schema=schema())
    for table, name, _ in INDEXES:
        op.drop_index(name, table_name=table, schema=schema())
    op.drop_table("person_years", schema=schema())
    op.drop_table("deputy_years", schema=schema())
    op.drop_index("ix_opinion_steps_year", table_name="opinion_steps", schema=schema())
    with op.batch_alter_table("opinion_steps", schema=schema()) as batch:
        batch.drop_column("year")
    with op.batch_alter_table("deputies", schema=schema()) as batch:
        for column in ("serving", "serving_provincial", "serving_local"):
            batch.drop_column(column)
