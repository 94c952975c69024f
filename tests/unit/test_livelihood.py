"""Livelihood projects voted by deputies: where they exist, the vote rule, monotone progress, money guards."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from domain.base import Attribution, NodeRef
from domain.livelihood import MAX_WAN, LivelihoodProject, ProjectState, ProposedBy, passes

P = ProjectState


def propose(owner: NodeRef, by: Attribution, title: str = "江口镇集镇污水管网改造", **kw: Any) -> LivelihoodProject:
    args: dict[str, Any] = {"year": 2025, "category": "生态环境"}
    args.update(kw)
    return LivelihoodProject.propose(owner, by, title=title, **args)  # type: ignore[arg-type]


def _list(p: LivelihoodProject, by: Attribution) -> None:
    p.list_as_candidate(by, estimate_wan=Decimal("350"))


def _deliberate(p: LivelihoodProject, by: Attribution) -> None:
    p.deliberate(by, deputies_present=45, opinions=6)


def _vote(yes: int) -> Callable[[LivelihoodProject, Attribution], None]:
    def step(p: LivelihoodProject, by: Attribution) -> None:
        p.vote(by, session="江口镇第十八届人大第五次会议", yes=yes, no=40 - yes, abstain=0, present=40, total_deputies=50)

    return step


def _implement(p: LivelihoodProject, by: Attribution) -> None:
    p.start_implementation(by, budget_wan=Decimal("320.5"), lead_unit="江口镇人民政府")


def _finish(p: LivelihoodProject, by: Attribution) -> None:
    p.report_progress(by, progress=100, spent_wan=Decimal("318"))


def _evaluate(p: LivelihoodProject, by: Attribution) -> None:
    p.evaluate(by, satisfied=40, basically_satisfied=5, dissatisfied=1)


def _close(p: LivelihoodProject, by: Attribution) -> None:
    p.close(by)


PATHS: dict[ProjectState, list[Callable[[LivelihoodProject, Attribution], None]]] = {
    P.PROPOSED: [],
    P.CANDIDATE: [_list],
    P.DELIBERATED: [_list, _deliberate],
    P.PASSED: [_list, _deliberate, _vote(30)],
    P.REJECTED: [_list, _deliberate, _vote(20)],
    P.IMPLEMENTING: [_list, _deliberate, _vote(30), _implement],
    P.EVALUATED: [_list, _deliberate, _vote(30), _implement, _finish, _evaluate],
    P.CLOSED: [_list, _deliberate, _vote(30), _implement, _finish, _evaluate, _close],
}


def in_state(state: ProjectState, owner: NodeRef, by: Attribution) -> LivelihoodProject:
    project = propose(owner, by)
    for step in PATHS[state]:
        step(project, by)
    assert project.state is state
    return project


# ------------------------------------------------------------------------------------------------ propose


@pytest.mark.parametrize("where", ["town", "ethnic_township", "zhuoxi_township", "county"])
def test_propose_at_township_congresses_and_counties(request, clerk: Attribution, where: str) -> None:
    owner: NodeRef = request.getfixturevalue(where)
    project = propose(owner, clerk, proposed_by="deputies")
    assert project.id == LivelihoodProject.id_for(owner.node_id, 2025, "江口镇集镇污水管网改造")
    assert project.state is P.PROPOSED and project.state_label == "proposed"
    assert project.proposed_by == ProposedBy.DEPUTIES.value
    assert (project.estimate_wan, project.budget_wan, project.spent_wan, project.progress) == (0, 0, 0, 0)
    assert (project.tally, project.lead_unit, project.supervisions, project.satisfaction) == ({}, "", 0, {})


@pytest.mark.parametrize(
    ("where", "rule"),
    [
        ("street", "文昌街道(430525001) is a 街道: it has no congress, so no livelihood voting"),
        ("prefecture", "livelihood projects are voted by 镇/乡 and county congresses, not at 邵阳市(430500)"),
        ("province", "livelihood projects are voted by 镇/乡 and county congresses, not at 湖南省(430000)"),
    ],
)
def test_propose_elsewhere_rejected(request, clerk: Attribution, refused, where: str, rule: str) -> None:
    owner: NodeRef = request.getfixturevalue(where)
    refused(lambda: propose(owner, clerk), named="livelihood project '江口镇集镇污水管网改造'", rule=rule)


@pytest.mark.parametrize(
    ("kw", "rule"),
    [
        ({"year": 1999}, "year must be 2000..2100 (got 1999)"),
        ({"year": 2101}, "year must be 2000..2100 (got 2101)"),
        ({"category": ""}, "category must not be empty"),
        ({"proposed_by": "mayor"}, "proposed_by must be one of: public, deputies, government"),
    ],
)
def test_propose_rejects_bad_fields(town: NodeRef, clerk: Attribution, refused, kw: dict[str, Any], rule: str) -> None:
    refused(lambda: propose(town, clerk, **kw), named="livelihood project '江口镇集镇污水管网改造'", rule=rule)
    refused(lambda: propose(town, clerk, title="  "), named="livelihood project '  '", rule="title must not be empty")


# ----------------------------------------------------------------------------------------------- the path


def test_full_lifecycle(town: NodeRef, clerk: Attribution) -> None:
    p = propose(town, clerk)
    p.list_as_candidate(clerk, estimate_wan=Decimal("350.456"))
    assert p.state is P.CANDIDATE and p.estimate_wan == Decimal("350.46")
    p.deliberate(clerk, deputies_present=45)
    assert p.state is P.DELIBERATED
    p.vote(clerk, session=" 第五次会议 ", yes=26, no=10, abstain=4, present=40, total_deputies=50)
    assert p.state is P.PASSED
    assert p.tally == {"yes": 26, "no": 10, "abstain": 4, "present": 40, "total_deputies": 50}
    assert p.pending_events[-1].session == "第五次会议"
    p.start_implementation(clerk, budget_wan=Decimal("320"), lead_unit=" 江口镇人民政府 ")
    assert (p.state, p.budget_wan, p.lead_unit) == (P.IMPLEMENTING, Decimal("320.00"), "江口镇人民政府")
    p.report_progress(clerk, progress=40, spent_wan=Decimal("100"), note=" 管网铺设过半 ")
    p.supervise(clerk, action="代表视察", note="现场查看")
    p.report_progress(clerk, progress=40, spent_wan=Decimal("150"))  # same progress, more spent
    p.report_progress(clerk, progress=100, spent_wan="318.2")
    assert (p.progress, p.spent_wan, p.supervisions) == (100, Decimal("318.20"), 1)
    p.evaluate(clerk, satisfied=40, basically_satisfied=5, dissatisfied=1)
    assert p.state is P.EVALUATED and p.satisfaction == {"satisfied": 40, "basically_satisfied": 5, "dissatisfied": 1}
    p.close(clerk)
    assert p.state is P.CLOSED


def test_rejected_project_closes(town: NodeRef, clerk: Attribution) -> None:
    p = in_state(P.REJECTED, town, clerk)
    p.close(clerk)
    assert p.state is P.CLOSED and p.tally["yes"] == 20


STEPS: dict[str, Callable[[LivelihoodProject, Attribution], None]] = {
    "list_as_candidate": _list,
    "deliberate": _deliberate,
    "vote": _vote(30),
    "start_implementation": _implement,
    "report_progress": lambda p, by: p.report_progress(by, progress=10, spent_wan=Decimal(1)),
    "supervise": lambda p, by: p.supervise(by, action="专题询问"),
    "evaluate": _evaluate,
    "close": _close,
}
ALLOWED = {
    "list_as_candidate": {P.PROPOSED},
    "deliberate": {P.CANDIDATE},
    "vote": {P.DELIBERATED},
    "start_implementation": {P.PASSED},
    "report_progress": {P.IMPLEMENTING},
    "supervise": {P.IMPLEMENTING},
    "evaluate": {P.IMPLEMENTING},
    "close": {P.EVALUATED, P.REJECTED},
}
NEEDS = {
    "list_as_candidate": "群众提",
    "deliberate": "征集初定",
    "vote": "代表议",
    "start_implementation": "大会决(通过)",
    "report_progress": "政府办",
    "supervise": "政府办",
    "evaluate": "政府办",
    "close": "代表评 or 大会决(未通过)",
}


@pytest.mark.parametrize("state", list(P))
@pytest.mark.parametrize("step", list(STEPS))
def test_every_step_in_every_state(town: NodeRef, clerk: Attribution, rejects, state: ProjectState, step: str) -> None:
    p = in_state(state, town, clerk)
    if state in ALLOWED[step]:
        if step == "evaluate":
            _finish(p, clerk)
        version = p.version
        STEPS[step](p, clerk)
        assert p.version == version + 1
        return
    rejects(
        p,
        lambda: STEPS[step](p, clerk),
        state=state.value,
        rule=f"this step needs the project to be {NEEDS[step]}, but it is {state.label}",
    )


def test_deliberation_needs_deputies(town: NodeRef, clerk: Attribution, rejects) -> None:
    p = in_state(P.CANDIDATE, town, clerk)
    rule = "deliberation needs deputies present and a non-negative count of opinions"
    rejects(p, lambda: p.deliberate(clerk, deputies_present=0), state="candidate", rule=rule)
    rejects(p, lambda: p.deliberate(clerk, deputies_present=30, opinions=-1), state="candidate", rule=rule)


# ------------------------------------------------------------------------------------------------ the vote


def vote(
    p: LivelihoodProject, by: Attribution, yes: int, no: int = 0, abstain: int = 0, present: int = 40, total: int = 50
) -> None:
    p.vote(by, session="第五次会议", yes=yes, no=no, abstain=abstain, present=present, total_deputies=total)


@pytest.mark.parametrize(
    ("yes", "no", "abstain", "present", "total", "state"),
    [
        (26, 0, 0, 40, 50, P.PASSED),  # 26 of 50: more than half of all deputies
        (25, 10, 5, 40, 50, P.REJECTED),  # 25 of 50 fails, though 25 of 40 present is a clear majority
        (25, 0, 0, 40, 50, P.REJECTED),  # ... and even when nobody voted against
        (26, 5, 5, 40, 51, P.PASSED),  # odd total: 26 of 51 > 25.5
        (25, 5, 5, 40, 51, P.REJECTED),
        (50, 0, 0, 50, 50, P.PASSED),  # unanimous and everyone present
        (0, 40, 0, 40, 50, P.REJECTED),
        (3, 0, 1, 4, 5, P.PASSED),  # a small congress: 3 yes of 5, 4 present
    ],
)
def test_the_vote_rule(
    town: NodeRef, clerk: Attribution, yes: int, no: int, abstain: int, present: int, total: int, state: ProjectState
) -> None:
    p = in_state(P.DELIBERATED, town, clerk)
    vote(p, clerk, yes, no, abstain, present, total)
    assert p.state is state
    assert passes(yes, total) is (state is P.PASSED)


def test_passes_counts_against_all_deputies() -> None:
    assert passes(26, 50) and not passes(25, 50)
    assert passes(26, 51) and not passes(25, 51)
    assert not passes(0, 1) and passes(1, 1)


def test_25_of_50_present_all_voting_yes_is_no_session(town: NodeRef, clerk: Attribution, rejects) -> None:
    """With 25 of 50 deputies present the congress cannot vote at all: nothing is recorded."""
    p = in_state(P.DELIBERATED, town, clerk)
    rejects(p, lambda: vote(p, clerk, 25, present=25), state="deliberated", rule="no quorum: 25 present of 50")


@pytest.mark.parametrize(
    ("yes", "no", "abstain", "present", "total", "rule"),
    [
        (-1, 0, 0, 40, 50, "vote counts must not be negative"),
        (30, -1, 0, 40, 50, "vote counts must not be negative"),
        (30, 0, -5, 40, 50, "vote counts must not be negative"),
        (0, 0, 0, 0, 0, "the congress must have deputies"),
        (30, 0, 0, 51, 50, "present (51) cannot exceed all deputies (50)"),
        (30, 10, 1, 40, 50, "yes+no+abstain (41) cannot exceed present (40)"),
        (20, 0, 0, 25, 50, "no quorum: 25 present of 50 is less than two thirds"),
        (10, 0, 0, 10, 50, "no quorum: 10 present of 50"),
    ],
)
def test_vote_rejected(
    town: NodeRef, clerk: Attribution, rejects, yes: int, no: int, abstain: int, present: int, total: int, rule: str
) -> None:
    p = in_state(P.DELIBERATED, town, clerk)
    rejects(p, lambda: vote(p, clerk, yes, no, abstain, present, total), state="deliberated", rule=rule)


@pytest.mark.parametrize(("present", "total"), [(30, 50), (26, 50), (79, 120)])
def test_quorum_is_two_thirds_of_all_deputies(town: NodeRef, clerk: Attribution, rejects, present: int, total: int) -> None:
    p = in_state(P.DELIBERATED, town, clerk)
    rejects(p, lambda: vote(p, clerk, present, present=present, total=total), state="deliberated", rule="quorum")


@pytest.mark.parametrize(("present", "total"), [(34, 50), (80, 120), (40, 50)])
def test_two_thirds_present_is_a_quorum(town: NodeRef, clerk: Attribution, present: int, total: int) -> None:
    p = in_state(P.DELIBERATED, town, clerk)
    vote(p, clerk, present, present=present, total=total)
    assert p.state is P.PASSED


# --------------------------------------------------------------------------------------- progress and money


def test_progress_cannot_go_back(town: NodeRef, clerk: Attribution, rejects) -> None:
    p = in_state(P.IMPLEMENTING, town, clerk)
    p.report_progress(clerk, progress=60, spent_wan=Decimal("200"))
    rejects(
        p,
        lambda: p.report_progress(clerk, progress=59, spent_wan=Decimal("250")),
        state="implementing",
        rule="progress cannot go back from 60% to 59%",
    )
    rejects(
        p,
        lambda: p.report_progress(clerk, progress=70, spent_wan=Decimal("199.99")),
        state="implementing",
        rule="spending cannot go back from 200.00 to 199.99 万元",
    )
    for progress in (-1, 101):
        rejects(
            p,
            lambda progress=progress: p.report_progress(clerk, progress=progress, spent_wan=Decimal("250")),
            state="implementing",
            rule=f"progress is a percentage 0..100 (got {progress})",
        )


def test_evaluate_needs_100_percent(town: NodeRef, clerk: Attribution, rejects) -> None:
    p = in_state(P.IMPLEMENTING, town, clerk)
    p.report_progress(clerk, progress=99, spent_wan=Decimal("300"))
    rejects(p, lambda: _evaluate(p, clerk), state="implementing", rule="deputies evaluate a finished project; it is at 99%")
    p.report_progress(clerk, progress=100, spent_wan=Decimal("300"))
    rejects(
        p,
        lambda: p.evaluate(clerk, satisfied=-1, basically_satisfied=5, dissatisfied=0),
        state="implementing",
        rule="evaluation counts must not be negative",
    )
    rejects(
        p,
        lambda: p.evaluate(clerk, satisfied=0, basically_satisfied=0, dissatisfied=0),
        state="implementing",
        rule="an evaluation needs at least one vote",
    )
    _evaluate(p, clerk)
    assert p.state is P.EVALUATED


BAD_MONEY = [
    (Decimal("-0.01"), "must be a non-negative amount of 万元 (got -0.01)"),
    (-5, "must be a non-negative amount of 万元 (got -5)"),
    (Decimal("NaN"), "must be a non-negative amount of 万元 (got NaN)"),
    (Decimal("sNaN"), "must be a non-negative amount of 万元 (got sNaN)"),
    (float("nan"), "must be a non-negative amount of 万元 (got nan)"),
    (Decimal("Infinity"), "must be a non-negative amount of 万元 (got Infinity)"),
    ("-Infinity", "must be a non-negative amount of 万元 (got -Infinity)"),
    (Decimal("100000.01"), "100000.01 万元 is implausibly large: is it in 元?"),
    ("350000000", "350000000 万元 is implausibly large: is it in 元?"),
    ("1e30", "1E+30 万元 is implausibly large"),
    ("三百五十万", "must be an amount of 万元 (got '三百五十万')"),
    ("350万", "must be an amount of 万元 (got '350万')"),
    ("", "must be an amount of 万元 (got '')"),
    (None, "must be an amount of 万元 (got None)"),
    ([350], "must be an amount of 万元 (got [350])"),
]


@pytest.mark.parametrize(("amount", "rule"), BAD_MONEY)
def test_money_guards_on_the_estimate(town: NodeRef, clerk: Attribution, rejects, amount: Any, rule: str) -> None:
    p = in_state(P.PROPOSED, town, clerk)
    error = rejects(p, lambda: p.list_as_candidate(clerk, estimate_wan=amount), state="proposed", rule=rule)
    assert error.rule.startswith("estimate_wan ")


@pytest.mark.parametrize(("amount", "rule"), BAD_MONEY)
def test_money_guards_on_the_budget_and_spending(town: NodeRef, clerk: Attribution, rejects, amount: Any, rule: str) -> None:
    p = in_state(P.PASSED, town, clerk)
    error = rejects(p, lambda: p.start_implementation(clerk, budget_wan=amount, lead_unit="镇政府"), state="passed", rule=rule)
    assert error.rule.startswith("budget_wan ")
    _implement(p, clerk)
    error = rejects(p, lambda: p.report_progress(clerk, progress=10, spent_wan=amount), state="implementing", rule=rule)
    assert error.rule.startswith("spent_wan ")


@pytest.mark.parametrize(
    ("amount", "stored"),
    [
        (Decimal("0"), Decimal("0.00")),
        (0, Decimal("0.00")),
        ("350", Decimal("350.00")),
        (" 12.345 ", Decimal("12.34")),  # quantized to 0.01 万元 (banker's rounding)
        (12.5, Decimal("12.50")),
        (MAX_WAN, Decimal("100000.00")),
    ],
)
def test_money_accepted_and_quantized(town: NodeRef, clerk: Attribution, amount: Any, stored: Decimal) -> None:
    p = in_state(P.PROPOSED, town, clerk)
    p.list_as_candidate(clerk, estimate_wan=amount)
    assert p.estimate_wan == stored and p.estimate_wan.as_tuple().exponent == -2


# ------------------------------------------------------------------ field validation on an existing project

FIELD_CASES = {
    "empty session": (
        P.DELIBERATED,
        lambda p, by: p.vote(by, session=" ", yes=30, no=0, abstain=0, present=40, total_deputies=50),
        "session must not be empty",
    ),
    "empty lead unit": (
        P.PASSED,
        lambda p, by: p.start_implementation(by, budget_wan=Decimal(1), lead_unit=""),
        "lead_unit must not be empty",
    ),
    "empty action": (P.IMPLEMENTING, lambda p, by: p.supervise(by, action=""), "action must not be empty"),
}


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_rejects_and_records_nothing(town: NodeRef, clerk: Attribution, records_nothing, case: str) -> None:
    state, command, rule = FIELD_CASES[case]
    p = in_state(state, town, clerk)
    records_nothing(p, lambda: command(p, clerk), rule=rule)


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_names_the_project_and_its_state(town: NodeRef, clerk: Attribution, rejects, case: str) -> None:
    state, command, rule = FIELD_CASES[case]
    p = in_state(state, town, clerk)
    rejects(p, lambda: command(p, clerk), state=state.value, rule=rule)
