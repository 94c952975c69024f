"""How a suggestion or a livelihood project counts in the views: one set of rules for the projector's summaries (its
current rows) and for the as-of views (its state at a cut), so that both paths count alike."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from domain.contacts import Channel, ContactKind, OrganiserKind
from domain.levels import CongressLevel
from domain.terms import term_of, term_years

#: The mark (``marks``) of a deputy's first contact, station visit or suggestion signed in a year, by each clock: who
#: was active at a cut, without counting every deputy's facts (the duty ranking's inactive deputies come first).
ACTIVE = "active"
VOIDED = "voided"  # a lifecycle aggregate's state once voided (作废): counted in no view
WAITING = ("assigned", "in_handling")  # waiting for a reply: overdue once past the due day
OPEN_FOLLOW_UP = ("follow_up", "rehandling")  # B/C replies under follow-up, dissatisfied ones handled again
GOOD = ("satisfied", "basically_satisfied")

# ------------------------------------------------------------------------------------------------ contacts

#: Organs that contact deputies (the 2023 实施意见: organs' contact activities with deputies).
ORGANS = frozenset(
    {
        OrganiserKind.SC_MEMBER.value,
        OrganiserKind.CHAIR_COUNCIL.value,
        OrganiserKind.SPECIAL_COMMITTEE.value,
        OrganiserKind.SC_OFFICE.value,
        OrganiserKind.TOWNSHIP_PRESIDIUM.value,
        OrganiserKind.STREET_COMMITTEE.value,
    }
)
#: Organisers whose face-to-face contacts count for an SC member (主任会议成员 are SC members too).
SC_MEMBER_ORGANISERS = frozenset({OrganiserKind.SC_MEMBER.value, OrganiserKind.CHAIR_COUNCIL.value})
#: Who organises an SC's or a township presidium's thematic research (not deputy groups, not street committees).
RESEARCH_ORGANISERS = frozenset(
    {
        OrganiserKind.SC_MEMBER.value,
        OrganiserKind.CHAIR_COUNCIL.value,
        OrganiserKind.SPECIAL_COMMITTEE.value,
        OrganiserKind.SC_OFFICE.value,
        OrganiserKind.TOWNSHIP_PRESIDIUM.value,
    }
)
FACE_TO_FACE = frozenset(c.value for c in Channel if c.face_to_face)
ORGAN_TO_DEPUTY = frozenset({ContactKind.ORGAN_MEETING.value, ContactKind.FIELD_RESEARCH.value})
DEPUTY_MARKS = {
    ContactKind.PRACTICAL_DEED.value: "deed",
    ContactKind.GROUP_ACTIVITY.value: "group",
    ContactKind.CONSTITUENT_REPORT.value: "report",
}


def organiser_marks(node: str, kind: str, organiser_kind: str, organiser_id: str, face: bool) -> list[tuple[str, str]]:
    """The marks (and their subjects) a contact at ``node`` gives its organiser: an SC member's face-to-face contact
    (``f2f``, subject "<node>:<member>"), a body's thematic research (``research``, subject the node)."""
    marks = []
    if kind in ORGAN_TO_DEPUTY:
        if organiser_kind in SC_MEMBER_ORGANISERS and face:
            marks.append(("f2f", f"{node}:{organiser_id}"))
        if kind == ContactKind.FIELD_RESEARCH.value and organiser_kind in RESEARCH_ORGANISERS:
            marks.append(("research", node))
    return marks


def deputy_mark(kind: str, organiser_kind: str) -> str | None:
    """The coverage mark a contact of this kind (organised so) gives each deputy at it, if any."""
    mark = DEPUTY_MARKS.get(kind)
    if mark is None and kind in ORGAN_TO_DEPUTY and organiser_kind in ORGANS:
        return "organ"
    return mark


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


def suggestion_cell_sql(sg: Any) -> list[Any]:
    """``suggestion_cell`` in SQL, over a table or subquery with ``SUGGESTION_CELL_COLUMNS``: the same key, element by
    element (flags as 0 or 1), so that the states at a cut are grouped in the database (a province's 100,000 states
    cost ~0.4 s of Python a rule call each). ``tests/unit/test_projections_rules.py`` holds the two to each other."""
    waiting = sg.c.state.in_(WAITING)
    first, due_on = sg.c.first_reply_day, sg.c.due_on
    late = sa.and_(first.is_not(None), due_on.is_not(None), first > due_on)
    follow = sa.or_(sg.c.dissatisfied > 0, sg.c.solved_day.is_not(None), sg.c.state.in_(OPEN_FOLLOW_UP))
    return [
        sg.c.year,
        sg.c.node_id,
        sg.c.state,
        sa.func.coalesce(sg.c.last_category, ""),
        sa.func.coalesce(sg.c.last_evaluation, ""),
        sg.c.congress,
        _flag(sg.c.priority.is_(True)),
        _flag(sg.c.evaluations > 0),
        _flag(sg.c.replies > 0),
        _flag(late),
        _flag(follow),
        sa.case((waiting, sa.func.coalesce(due_on, "")), else_=""),
    ]


def suggestion_unit_sql(sg: Any) -> list[Any]:
    """``suggestion_unit``'s counters in SQL (the key's lead unit and due day are ``sg.c.lead_unit`` and the cell's
    last element; a suggestion without a lead unit has none: ``has_unit``)."""
    return [
        sa.literal(1),
        _flag(sg.c.replies > 0),
        _flag(sg.c.state.in_(WAITING)),
        _flag(sg.c.state.in_(OPEN_FOLLOW_UP)),
        _flag(sg.c.last_evaluation.in_(GOOD)),
        _flag(sg.c.evaluations > 0),
    ]


def has_unit(sg: Any) -> Any:
    return sa.and_(sg.c.lead_unit.is_not(None), sg.c.lead_unit != "")


def _flag(condition: Any) -> Any:
    return sa.case((condition, 1), else_=0)


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


def project_figures_sql(p: Any) -> list[Any]:
    """``project_figures`` in SQL, over a table or subquery with ``PROJECT_COLUMNS``: the same figures (flags as 0 or
    1), to be summed in the database (a province's projects at a cut cost ~0.1 s of Python a rule call each).
    ``tests/unit/test_projections_rules.py`` holds the two to each other."""
    passed = p.c.passed.is_(True)
    started = p.c.started_day.is_not(None)
    return [
        sa.literal(1),
        _flag(p.c.passed.is_not(None)),
        _flag(passed),
        sa.case((passed, sa.case((p.c.budget_yuan > 0, p.c.budget_yuan), else_=p.c.estimate_yuan)), else_=0),
        _flag(started),
        _flag(p.c.progress == 100),
        sa.case((started, p.c.progress), else_=0),
        sa.func.coalesce(p.c.satisfied, 0),
        sa.func.coalesce(p.c.basically_satisfied, 0),
        sa.func.coalesce(p.c.dissatisfied, 0),
        sa.case((passed, p.c.estimate_yuan), else_=0),
    ]


def report_term_start(year: int) -> int:
    """The first year of the county and township term containing ``year`` (deputies report once per term)."""
    return term_years(CongressLevel.COUNTY, term_of(CongressLevel.COUNTY, year))[0]
