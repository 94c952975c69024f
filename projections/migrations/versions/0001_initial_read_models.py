"""initial read models

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aggregate_clock",
        sa.Column("aggregate_id", sa.String(length=32), nullable=False),
        sa.Column("occurred_max", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id"),
    )
    op.create_table(
        "contact_deputies",
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("deputy_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_contact_deputies_year", "contact_deputies", ["year", "deputy_id"], unique=False)
    op.create_table(
        "contacts",
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("face_to_face", sa.Boolean(), nullable=False),
        sa.Column("organiser_kind", sa.String(length=20), nullable=False),
        sa.Column("organiser", sa.String(length=100), nullable=False),
        sa.Column("organiser_id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("public_count", sa.Integer(), nullable=False),
        sa.Column("deputies_n", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ux_contacts", "contacts", ["contact_id"], unique=True)
    op.create_table(
        "deputies",
        sa.Column("deputy_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("home_node_id", sa.String(length=32), nullable=False),
        sa.Column("area_node_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("gender", sa.String(length=2), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=False),
        sa.Column("grassroots", sa.Boolean(), nullable=False),
        sa.Column("leading_cadre", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("deputy_id"),
    )
    op.create_index("ix_deputies_area", "deputies", ["area_node_id"], unique=False)
    op.create_index("ix_deputies_person", "deputies", ["person_id"], unique=False)
    op.create_table(
        "deputy_flags",
        sa.Column("deputy_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("grassroots", sa.Boolean(), nullable=False),
        sa.Column("leading_cadre", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_deputy_flags_deputy", "deputy_flags", ["deputy_id", "version"], unique=False)
    op.create_table(
        "mandates",
        sa.Column("deputy_id", sa.String(length=32), nullable=False),
        sa.Column("congress", sa.String(length=12), nullable=False),
        sa.Column("term", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("elected_by", sa.String(length=200), nullable=False),
        sa.Column("via", sa.String(length=12), nullable=False),
        sa.Column("granted_rec", sa.BigInteger(), nullable=True),
        sa.Column("granted_occ", sa.BigInteger(), nullable=True),
        sa.Column("reviewed_rec", sa.BigInteger(), nullable=True),
        sa.Column("reviewed_occ", sa.BigInteger(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("terminated_rec", sa.BigInteger(), nullable=True),
        sa.Column("terminated_occ", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("deputy_id", "congress", "term"),
    )
    op.create_table(
        "marks",
        sa.Column("mark", sa.String(length=10), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.String(length=100), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("first_rec", sa.BigInteger(), nullable=False),
        sa.Column("first_occ", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("mark", "year", "subject_id"),
    )
    op.create_table(
        "nodes",
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("has_congress", sa.Boolean(), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("province_id", sa.String(length=32), nullable=True),
        sa.Column("province_code", sa.String(length=12), nullable=True),
        sa.Column("province_name", sa.String(length=100), nullable=True),
        sa.Column("prefecture_id", sa.String(length=32), nullable=True),
        sa.Column("prefecture_code", sa.String(length=12), nullable=True),
        sa.Column("prefecture_name", sa.String(length=100), nullable=True),
        sa.Column("county_id", sa.String(length=32), nullable=True),
        sa.Column("county_code", sa.String(length=12), nullable=True),
        sa.Column("county_name", sa.String(length=100), nullable=True),
        sa.Column("township_id", sa.String(length=32), nullable=True),
        sa.Column("township_code", sa.String(length=12), nullable=True),
        sa.Column("township_name", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("node_id"),
    )
    op.create_index("ix_nodes_code", "nodes", ["code"], unique=False)
    op.create_table(
        "opinion_steps",
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=10), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("handling", sa.String(length=12), nullable=False),
        sa.Column("unit", sa.String(length=100), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ux_opinion_steps", "opinion_steps", ["contact_id", "number", "step"], unique=True)
    op.create_table(
        "opinions",
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("deputy_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_opinions_day", "opinions", ["year", "day"], unique=False)
    op.create_index("ix_opinions_year", "opinions", ["year", "deputy_id"], unique=False)
    op.create_index("ux_opinions", "opinions", ["contact_id", "number"], unique=True)
    op.create_table(
        "project_snapshots",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("estimate_yuan", sa.BigInteger(), nullable=False),
        sa.Column("deliberated_day", sa.String(length=10), nullable=True),
        sa.Column("session", sa.String(length=50), nullable=False),
        sa.Column("yes", sa.Integer(), nullable=True),
        sa.Column("no", sa.Integer(), nullable=True),
        sa.Column("abstain", sa.Integer(), nullable=True),
        sa.Column("present", sa.Integer(), nullable=True),
        sa.Column("total_deputies", sa.Integer(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("voted_day", sa.String(length=10), nullable=True),
        sa.Column("budget_yuan", sa.BigInteger(), nullable=False),
        sa.Column("lead_unit", sa.String(length=100), nullable=False),
        sa.Column("started_day", sa.String(length=10), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("spent_yuan", sa.BigInteger(), nullable=False),
        sa.Column("progress_day", sa.String(length=10), nullable=True),
        sa.Column("supervisions", sa.Integer(), nullable=False),
        sa.Column("satisfied", sa.Integer(), nullable=True),
        sa.Column("basically_satisfied", sa.Integer(), nullable=True),
        sa.Column("dissatisfied", sa.Integer(), nullable=True),
        sa.Column("evaluated_day", sa.String(length=10), nullable=True),
        sa.Column("closed_day", sa.String(length=10), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=24), nullable=False),
    )
    op.create_table(
        "projection_meta",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "projection_skips",
        sa.Column("topic", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("topic", "reason"),
    )
    op.create_table(
        "projection_state",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("unknown", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "projects",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("proposed_by", sa.String(length=12), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("created_rec", sa.BigInteger(), nullable=True),
        sa.Column("created_occ", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("estimate_yuan", sa.BigInteger(), nullable=False),
        sa.Column("deliberated_day", sa.String(length=10), nullable=True),
        sa.Column("session", sa.String(length=50), nullable=False),
        sa.Column("yes", sa.Integer(), nullable=True),
        sa.Column("no", sa.Integer(), nullable=True),
        sa.Column("abstain", sa.Integer(), nullable=True),
        sa.Column("present", sa.Integer(), nullable=True),
        sa.Column("total_deputies", sa.Integer(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("voted_day", sa.String(length=10), nullable=True),
        sa.Column("budget_yuan", sa.BigInteger(), nullable=False),
        sa.Column("lead_unit", sa.String(length=100), nullable=False),
        sa.Column("started_day", sa.String(length=10), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("spent_yuan", sa.BigInteger(), nullable=False),
        sa.Column("progress_day", sa.String(length=10), nullable=True),
        sa.Column("supervisions", sa.Integer(), nullable=False),
        sa.Column("satisfied", sa.Integer(), nullable=True),
        sa.Column("basically_satisfied", sa.Integer(), nullable=True),
        sa.Column("dissatisfied", sa.Integer(), nullable=True),
        sa.Column("evaluated_day", sa.String(length=10), nullable=True),
        sa.Column("closed_day", sa.String(length=10), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id"),
    )
    op.create_index("ix_projects_year", "projects", ["year"], unique=False)
    op.create_table(
        "sc_members",
        sa.Column("sc_id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("post", sa.String(length=10), nullable=False),
        sa.Column("appointed_rec", sa.BigInteger(), nullable=True),
        sa.Column("appointed_occ", sa.BigInteger(), nullable=True),
        sa.Column("left_rec", sa.BigInteger(), nullable=True),
        sa.Column("left_occ", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("sc_id", "member_id", "version"),
    )
    op.create_table(
        "standing_committees",
        sa.Column("sc_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("term", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sc_id"),
    )
    op.create_table(
        "station_enrolments",
        sa.Column("station_id", sa.String(length=32), nullable=False),
        sa.Column("deputy_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("deputy_name", sa.String(length=50), nullable=False),
        sa.Column("congress", sa.String(length=12), nullable=False),
        sa.Column("since_rec", sa.BigInteger(), nullable=True),
        sa.Column("since_occ", sa.BigInteger(), nullable=True),
        sa.Column("until_rec", sa.BigInteger(), nullable=True),
        sa.Column("until_occ", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("station_id", "deputy_id", "version"),
    )
    op.create_index("ix_enrolments_deputy", "station_enrolments", ["deputy_id"], unique=False)
    op.create_table(
        "stations",
        sa.Column("station_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.Column("successor_id", sa.String(length=32), nullable=True),
        sa.Column("merged_rec", sa.BigInteger(), nullable=True),
        sa.Column("merged_occ", sa.BigInteger(), nullable=True),
        sa.Column("closed_rec", sa.BigInteger(), nullable=True),
        sa.Column("closed_occ", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("station_id"),
    )
    op.create_table(
        "suggestion_signers",
        sa.Column("suggestion_id", sa.String(length=32), nullable=False),
        sa.Column("deputy_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=4), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_signers_year", "suggestion_signers", ["year", "deputy_id"], unique=False)
    op.create_table(
        "suggestion_snapshots",
        sa.Column("suggestion_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("lead_unit", sa.String(length=100), nullable=False),
        sa.Column("co_units", sa.String(length=400), nullable=False),
        sa.Column("due_on", sa.String(length=10), nullable=True),
        sa.Column("assigned_day", sa.String(length=10), nullable=True),
        sa.Column("handling_day", sa.String(length=10), nullable=True),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("first_reply_day", sa.String(length=10), nullable=True),
        sa.Column("last_reply_day", sa.String(length=10), nullable=True),
        sa.Column("last_category", sa.String(length=1), nullable=True),
        sa.Column("evaluations", sa.Integer(), nullable=False),
        sa.Column("last_evaluation", sa.String(length=20), nullable=True),
        sa.Column("dissatisfied", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Boolean(), nullable=False),
        sa.Column("leader", sa.String(length=50), nullable=False),
        sa.Column("supervisions", sa.Integer(), nullable=False),
        sa.Column("solved_day", sa.String(length=10), nullable=True),
        sa.Column("closed_day", sa.String(length=10), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
    )
    op.create_table(
        "suggestions",
        sa.Column("suggestion_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("congress", sa.String(length=12), nullable=False),
        sa.Column("term", sa.Integer(), nullable=False),
        sa.Column("session", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("lead_deputy_id", sa.String(length=32), nullable=False),
        sa.Column("co_n", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("created_rec", sa.BigInteger(), nullable=True),
        sa.Column("created_occ", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("lead_unit", sa.String(length=100), nullable=False),
        sa.Column("co_units", sa.String(length=400), nullable=False),
        sa.Column("due_on", sa.String(length=10), nullable=True),
        sa.Column("assigned_day", sa.String(length=10), nullable=True),
        sa.Column("handling_day", sa.String(length=10), nullable=True),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("first_reply_day", sa.String(length=10), nullable=True),
        sa.Column("last_reply_day", sa.String(length=10), nullable=True),
        sa.Column("last_category", sa.String(length=1), nullable=True),
        sa.Column("evaluations", sa.Integer(), nullable=False),
        sa.Column("last_evaluation", sa.String(length=20), nullable=True),
        sa.Column("dissatisfied", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Boolean(), nullable=False),
        sa.Column("leader", sa.String(length=50), nullable=False),
        sa.Column("supervisions", sa.Integer(), nullable=False),
        sa.Column("solved_day", sa.String(length=10), nullable=True),
        sa.Column("closed_day", sa.String(length=10), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("suggestion_id"),
    )
    op.create_index("ix_suggestions_year", "suggestions", ["year"], unique=False)
    op.create_table(
        "visit_deputies",
        sa.Column("visit_id", sa.String(length=32), nullable=False),
        sa.Column("deputy_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("station_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_visit_deputies_year", "visit_deputies", ["year", "deputy_id"], unique=False)
    op.create_table(
        "visit_issue_outcomes",
        sa.Column("visit_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("station_id", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("to_unit", sa.String(length=100), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ux_visit_issue_outcomes", "visit_issue_outcomes", ["visit_id", "number"], unique=True)
    op.create_table(
        "visit_issues",
        sa.Column("visit_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("station_id", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ux_visit_issues", "visit_issues", ["visit_id", "number"], unique=True)
    op.create_table(
        "visits",
        sa.Column("visit_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("station_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("deputies_n", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ux_visits", "visits", ["visit_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_visits", table_name="visits")
    op.drop_table("visits")
    op.drop_index("ux_visit_issues", table_name="visit_issues")
    op.drop_table("visit_issues")
    op.drop_index("ux_visit_issue_outcomes", table_name="visit_issue_outcomes")
    op.drop_table("visit_issue_outcomes")
    op.drop_index("ix_visit_deputies_year", table_name="visit_deputies")
    op.drop_table("visit_deputies")
    op.drop_index("ix_suggestions_year", table_name="suggestions")
    op.drop_table("suggestions")
    op.drop_table("suggestion_snapshots")
    op.drop_index("ix_signers_year", table_name="suggestion_signers")
    op.drop_table("suggestion_signers")
    op.drop_table("stations")
    op.drop_index("ix_enrolments_deputy", table_name="station_enrolments")
    op.drop_table("station_enrolments")
    op.drop_table("standing_committees")
    op.drop_table("sc_members")
    op.drop_index("ix_projects_year", table_name="projects")
    op.drop_table("projects")
    op.drop_table("projection_state")
    op.drop_table("projection_skips")
    op.drop_table("projection_meta")
    op.drop_table("project_snapshots")
    op.drop_index("ux_opinions", table_name="opinions")
    op.drop_index("ix_opinions_year", table_name="opinions")
    op.drop_index("ix_opinions_day", table_name="opinions")
    op.drop_table("opinions")
    op.drop_index("ux_opinion_steps", table_name="opinion_steps")
    op.drop_table("opinion_steps")
    op.drop_index("ix_nodes_code", table_name="nodes")
    op.drop_table("nodes")
    op.drop_table("marks")
    op.drop_table("mandates")
    op.drop_index("ix_deputy_flags_deputy", table_name="deputy_flags")
    op.drop_table("deputy_flags")
    op.drop_index("ix_deputies_person", table_name="deputies")
    op.drop_index("ix_deputies_area", table_name="deputies")
    op.drop_table("deputies")
    op.drop_index("ux_contacts", table_name="contacts")
    op.drop_table("contacts")
    op.drop_index("ix_contact_deputies_year", table_name="contact_deputies")
    op.drop_table("contact_deputies")
    op.drop_table("aggregate_clock")
