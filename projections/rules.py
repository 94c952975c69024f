"""How a suggestion or a livelihood project counts in the views: one set of rules for the projector's summaries (its
current rows) and for the as-of views (its state at a cut), so that both paths count alike."""

from __future__ import annotations

from typing import Any

from domain.levels import CongressLevel
from domain.terms import term_of, term_years

#: The mark (``marks``) of a deputy's first contact, station visit or suggestion signed in a year, by each clock: who
#: was active at a cut, without counting every deputy's facts (the duty ranking's inactive deputies come first).
ACTIVE = "active"
VOIDED = "voided"  # a lifecycle aggregate's state once voided (作废): counted in no view
WAITING = ("assigned", "in_handling")  # waiting for a reply: overdue once past the due day
OPEN_FOLLOW_UP = ("follow_up", "rehandling")  # B/C replies under follow-up, dissatisfied ones handled again
GOOD = ("satisfied", "basically_satisfied")

#: The columns of a suggestion ``suggestion_cell`` reads.
SUGGESTION_CELL_COLUMNS = (
    "year",
    "node_id",
    "state",
    "last_category",
    "last_evaluation",
    "congress",
    "priority",
    "evaluations",
    "replies",
    "first_reply_day",
    "due_on",
    "dissatisfied",
    "solved_day",
    "lead_unit",
)


def suggestion_cell(x: dict[str, Any]) -> tuple[Any, ...]:
    """A suggestion's ``suggestion_cells`` key: everything the suggestions view and the follow-up target count it by
    (``due_on`` only while it waits for a reply; '' for none)."""
    waiting = x["state"] in WAITING
    first, due_on = x["first_reply_day"], x["due_on"]
    return (
        x["year"],
        x["node_id"],
        x["state"],
        x["last_category"] or "",
        x["last_evaluation"] or "",
        x["congress"],
        bool(x["priority"]),
        x["evaluations"] > 0,
        x["replies"] > 0,
        first is not None and due_on is not None and first > due_on,  # replied late
        x["dissatisfied"] > 0 or x["solved_day"] is not None or x["state"] in OPEN_FOLLOW_UP,  # under follow-up
        (due_on or "") if waiting else "",
    )


def suggestion_unit(x: dict[str, Any], cell: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[int, ...]] | None:
    """Its ``suggestion_units`` key and counters (total, replied, waiting, open follow-up, satisfied, evaluated); None
    before it has a lead unit."""
    if not x["lead_unit"]:
        return None
    counters = (
        1,
        int(x["replies"] > 0),
        int(x["state"] in WAITING),
        int(x["state"] in OPEN_FOLLOW_UP),
        int(x["last_evaluation"] in GOOD),
        int(x["evaluations"] > 0),
    )
    return (x["year"], x["node_id"], x["lead_unit"], cell[-1]), counters


#: The columns of a project ``project_figures`` reads.
PROJECT_COLUMNS = (
    "year",
    "node_id",
    "state",
    "passed",
    "started_day",
    "budget_yuan",
    "estimate_yuan",
    "progress",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
)
PROJECT_FIGURES = (
    "proposed",
    "voted",
    "passed",
    "invested_yuan",
    "implementing",
    "completed",
    "progress_sum",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "estimate_yuan",
)


def project_figures(x: dict[str, Any]) -> tuple[int, ...]:
    """What a project adds to its node, year and state (``PROJECT_FIGURES``)."""
    passed = x["passed"] is True or x["passed"] == 1
    started = x["started_day"] is not None
    # a passed project's investment: its budget once the government starts it, its estimate until then
    invested = (x["budget_yuan"] if x["budget_yuan"] > 0 else x["estimate_yuan"]) if passed else 0
    return (
        1,
        int(x["passed"] is not None),
        int(passed),
        invested,
        int(started),
        int(x["progress"] == 100),
        x["progress"] if started else 0,
        x["satisfied"] or 0,
        x["basically_satisfied"] or 0,
        x["dissatisfied"] or 0,
        x["estimate_yuan"] if passed else 0,
    )


def report_term_start(year: int) -> int:
    """The first year of the county and township term containing ``year`` (deputies report once per term)."""
    return term_years(CongressLevel.COUNTY, term_of(CongressLevel.COUNTY, year))[0]
