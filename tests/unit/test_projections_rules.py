"""The projector's counting rules and their SQL twins (the as-of views group the states at a cut in the database)
give the same key for any suggestion and the same figures for any livelihood project, on SQLite (PostgreSQL:
tests/integration/test_projections_asof.py compares whole views)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.rules import (
    GOOD,
    OPEN_FOLLOW_UP,
    PROJECT_COLUMNS,
    WAITING,
    has_unit,
    project_figures,
    project_figures_sql,
    suggestion_cell,
    suggestion_cell_sql,
    suggestion_unit,
    suggestion_unit_sql,
)

STATES = ("submitted", "assigned", "in_handling", "replied", "evaluated", "closed", *OPEN_FOLLOW_UP)
DAYS = st.none() | st.sampled_from(["2025-01-03", "2025-02-10", "2025-02-11", "2025-06-30"])
SUGGESTION = st.fixed_dictionaries(
    {
        "year": st.sampled_from([2024, 2025]),
        "node_id": st.sampled_from(["a", "b"]),
        "state": st.sampled_from(STATES),
        "last_category": st.none() | st.sampled_from(["A", "B", "C"]),
        "last_evaluation": st.none() | st.sampled_from([*GOOD, "dissatisfied"]),
        "congress": st.sampled_from(["county", "township"]),
        "priority": st.booleans(),
        "evaluations": st.integers(0, 2),
        "replies": st.integers(0, 2),
        "first_reply_day": DAYS,
        "due_on": DAYS,
        "dissatisfied": st.integers(0, 1),
        "solved_day": DAYS,
        "lead_unit": st.none() | st.sampled_from(["", "县交通运输局", "县教育局"]),
    }
)
TABLE = sa.Table(
    "states",
    sa.MetaData(),
    *[
        sa.Column(name, kind)
        for name, kind in {
            "year": sa.Integer,
            "node_id": sa.String,
            "state": sa.String,
            "last_category": sa.String,
            "last_evaluation": sa.String,
            "congress": sa.String,
            "priority": sa.Boolean,
            "evaluations": sa.Integer,
            "replies": sa.Integer,
            "first_reply_day": sa.String,
            "due_on": sa.String,
            "dissatisfied": sa.Integer,
            "solved_day": sa.String,
            "lead_unit": sa.String,
        }.items()
    ],
)
ENGINE = sa.create_engine("sqlite://")
TABLE.create(ENGINE)


def _plain(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(int(k) if isinstance(k, bool) else k for k in key)


@settings(max_examples=300, deadline=None)
@given(x=SUGGESTION)
def test_the_sql_cell_and_unit_are_the_rules(x: dict[str, Any]) -> None:
    assert x["state"] in STATES and set(WAITING) <= set(STATES)
    with ENGINE.begin() as conn:
        conn.execute(TABLE.delete())
        conn.execute(TABLE.insert(), [x])
        cell = conn.execute(sa.select(*suggestion_cell_sql(TABLE))).one()
        unit = conn.execute(sa.select(has_unit(TABLE), *suggestion_unit_sql(TABLE))).one()
    expected = suggestion_cell(x)
    assert _plain(tuple(cell)) == _plain(expected)
    found = suggestion_unit(x, expected)
    assert bool(unit[0]) == (found is not None)
    if found is not None:
        assert tuple(unit[1:]) == found[1]


PROJECT = st.fixed_dictionaries(
    {
        "year": st.sampled_from([2024, 2025]),
        "node_id": st.sampled_from(["a", "b"]),
        "state": st.sampled_from(["proposed", "voting", "passed", "rejected", "implementing", "completed", "evaluated"]),
        "passed": st.none() | st.booleans(),
        "started_day": st.none() | st.sampled_from(["2025-03-01", "2025-07-15"]),
        "budget_yuan": st.sampled_from([0, 1, 1_500_0000]),
        "estimate_yuan": st.sampled_from([0, 7, 3_000_0000]),
        "progress": st.sampled_from([0, 9, 99, 100]),
        "satisfied": st.none() | st.integers(0, 40),
        "basically_satisfied": st.none() | st.integers(0, 40),
        "dissatisfied": st.none() | st.integers(0, 40),
    }
)
PROJECTS = sa.Table(
    "projects",
    sa.MetaData(),
    sa.Column("year", sa.Integer),
    sa.Column("node_id", sa.String),
    sa.Column("state", sa.String),
    sa.Column("passed", sa.Boolean),
    sa.Column("started_day", sa.String),
    *[sa.Column(name, sa.BigInteger) for name in ("budget_yuan", "estimate_yuan")],
    *[sa.Column(name, sa.Integer) for name in ("progress", "satisfied", "basically_satisfied", "dissatisfied")],
)
PROJECTS.create(ENGINE)


@settings(max_examples=300, deadline=None)
@given(x=PROJECT)
def test_the_sql_project_figures_are_the_rules(x: dict[str, Any]) -> None:
    assert set(x) >= set(PROJECT_COLUMNS)
    with ENGINE.begin() as conn:
        conn.execute(PROJECTS.delete())
        conn.execute(PROJECTS.insert(), [x])
        figures = conn.execute(sa.select(*project_figures_sql(PROJECTS))).one()
    assert tuple(figures) == project_figures(x)
