"""Suggestions: every transition, every out-of-order step, evaluation by the lead deputy only (no "被满意")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.base import Attribution, DomainError, NodeRef, Role
from domain.levels import CongressLevel
from domain.suggestions import Evaluation, ReplyCategory, Suggestion, SuggestionState, SupervisionType
from domain.terms import term_of
from domain.timeline import SHANGHAI
from tests.unit.conftest import NOW, as_deputy

LEAD, CO1, CO2, OTHER = (UUID(int=i) for i in (31, 32, 33, 34))
DUE = date(2025, 6, 10)
S = SuggestionState


def submit(owner: NodeRef, by: Attribution, number: str = "0042", **kw: Any) -> Suggestion:
    args: dict[str, Any] = {
        "congress": CongressLevel.COUNTY,
        "term": 18,
        "session": 4,
        "title": "关于加快江口镇农村公路提质改造的建议",
        "content": "江口镇部分村道路面破损严重……",
        "category": "交通",
        "lead_deputy_id": LEAD,
        "co_deputy_ids": [CO1, CO2],
    }
    args.update(kw)
    return Suggestion.submit(owner, by, number=number, **args)  # type: ignore[arg-type]


def lead() -> Attribution:
    return as_deputy(LEAD)


# The happy-path steps, each taking a suggestion from the state before to the state after.
def _assign(s: Suggestion, by: Attribution) -> None:
    s.assign(by, lead_unit="县交通运输局", co_units=["县财政局"], due_on=DUE)


def _start(s: Suggestion, by: Attribution) -> None:
    s.start_handling(by, contacted_on=NOW.date())


def _reply(category: str) -> Callable[[Suggestion, Attribution], None]:
    def step(s: Suggestion, by: Attribution) -> None:
        s.reply(by, category=category, text=f"{category}类答复", replied_on=NOW.date())

    return step


def _evaluate(evaluation: str) -> Callable[[Suggestion, Attribution], None]:
    def step(s: Suggestion, _: Attribution) -> None:
        s.evaluate(lead(), deputy_id=LEAD, evaluation=evaluation)

    return step


def _solve(s: Suggestion, by: Attribution) -> None:
    s.mark_solved(by, note="道路已完成改造", solved_on=NOW.date())


def _close(s: Suggestion, by: Attribution) -> None:
    s.close(by)


def in_state(state: SuggestionState, owner: NodeRef, by: Attribution, category: str = "A") -> Suggestion:
    """A suggestion driven through the lifecycle to ``state``."""
    paths: dict[SuggestionState, list[Callable[[Suggestion, Attribution], None]]] = {
        S.SUBMITTED: [],
        S.ASSIGNED: [_assign],
        S.IN_HANDLING: [_assign, _start],
        S.REPLIED: [_assign, _start, _reply(category)],
        S.REHANDLING: [_assign, _start, _reply(category), _evaluate("dissatisfied")],
        S.FOLLOW_UP: [_assign, _start, _reply("B"), _evaluate("basically_satisfied")],
        S.EVALUATED: [_assign, _start, _reply("A"), _evaluate("satisfied")],
        S.CLOSED: [_assign, _start, _reply("A"), _evaluate("satisfied"), _close],
    }
    suggestion = submit(owner, by)
    for step in paths[state]:
        step(suggestion, by)
    assert suggestion.state is state
    return suggestion


# ------------------------------------------------------------------------------------------------- submit


def test_submit(county: NodeRef, clerk: Attribution) -> None:
    s = submit(county, clerk)
    assert s.id == Suggestion.id_for(county.node_id, 18, 4, "0042")
    assert (s.number, s.congress, s.term, s.session, s.category) == ("0042", "county", 18, 4, "交通")
    assert (s.lead_deputy_id, s.co_deputy_ids) == (LEAD, [CO1, CO2])
    assert s.state is S.SUBMITTED and s.state_label == "submitted"
    assert (s.lead_unit, s.co_units, s.due_on, s.replies, s.evaluations) == ("", [], None, [], [])
    assert (s.priority, s.leader, s.supervisions) == (False, "", [])
    assert s.last_category is None


@pytest.mark.parametrize(
    ("where", "congress"),
    [
        ("province", "provincial"),
        ("prefecture", "prefecture"),
        ("county", "county"),
        ("town", "township"),
    ],
)
def test_submit_at_the_office_of_its_congress(request, clerk: Attribution, where: str, congress: str) -> None:
    owner: NodeRef = request.getfixturevalue(where)
    term = term_of(congress, clerk.day.year)
    assert submit(owner, clerk, congress=congress, term=term, co_deputy_ids=None).co_deputy_ids == []


@pytest.mark.parametrize(
    ("term", "day", "refused"),
    [
        (18, "2022-03-01", False),
        (18, "2027-01-10", False),
        (17, "2025-03-10", True),
        (19, "2025-03-10", True),
        (18, "2021-12-31", True),
    ],
)
def test_a_suggestion_belongs_to_the_term_it_was_submitted_in(county: NodeRef, term: int, day: str, refused: bool) -> None:
    """A county term runs five years from its first session (18th: 2022–2026); a recess suggestion of its last year
    may come before the next term's first session (the next January)."""
    by = Attribution("clerk", Role.RECORDER, datetime.fromisoformat(day).replace(hour=10, tzinfo=SHANGHAI))
    if not refused:
        assert submit(county, by, term=term).term == term
        return
    with pytest.raises(DomainError, match="届次与提出时间不符"):
        submit(county, by, term=term)


@pytest.mark.parametrize(
    ("where", "kw", "rule"),
    [
        ("county", {"congress": "provincial"}, "省人大代表 suggestions are handled by the 省 office, not 洞口县(430525)"),
        ("town", {"congress": "county"}, "县市区人大代表 suggestions are handled by the 县市区 office"),
        ("street", {"congress": "township"}, "文昌街道(430525001) is a 街道: it has no congress to submit suggestions to"),
        ("county", {"congress": "village"}, "congress must be one of"),
        ("province", {"congress": "national"}, "national deputies' suggestions go to the NPC"),
        ("county", {"co_deputy_ids": [CO1, LEAD]}, "co-signers must be distinct and not the lead deputy"),
        ("county", {"co_deputy_ids": [CO1, CO1]}, "co-signers must be distinct and not the lead deputy"),
        ("county", {"term": 0}, "term must be 1..99 and session 1..10 (got 0, 4)"),
        ("county", {"session": 11}, "term must be 1..99 and session 1..10 (got 18, 11)"),
        ("county", {"title": ""}, "title must not be empty"),
        ("county", {"content": " "}, "content must not be empty"),
        ("county", {"content": "字" * 20_001}, "content must be at most 20000 characters"),
        ("county", {"category": ""}, "category must not be empty"),
    ],
)
def test_submit_rejected(request, clerk: Attribution, refused, where: str, kw: dict[str, Any], rule: str) -> None:
    owner: NodeRef = request.getfixturevalue(where)
    refused(lambda: submit(owner, clerk, **kw), named="suggestion 0042", rule=rule)


def test_submit_rejects_empty_number(county: NodeRef, clerk: Attribution, refused) -> None:
    refused(lambda: submit(county, clerk, number=""), named="suggestion ", rule="number must not be empty")


# ------------------------------------------------------------------------------------------ the happy paths


def test_a_reply_satisfied_then_closed(county: NodeRef, clerk: Attribution) -> None:
    s = submit(county, clerk)
    s.assign(clerk, lead_unit=" 县交通运输局 ", co_units=[" 县财政局 ", "县自然资源局"], due_on=DUE)
    assert (s.state, s.lead_unit, s.co_units, s.due_on) == (S.ASSIGNED, "县交通运输局", ["县财政局", "县自然资源局"], DUE)
    s.start_handling(clerk, contacted_on=NOW.date())
    assert s.state is S.IN_HANDLING
    s.reply(clerk, category=ReplyCategory.A, text="已列入2025年改造计划并完工", replied_on=NOW.date())
    assert s.state is S.REPLIED and s.replies == [{"category": "A", "replied_on": NOW.date(), "version": 4, "day": NOW.date()}]
    assert s.last_category is ReplyCategory.A
    s.evaluate(lead(), deputy_id=LEAD, evaluation=Evaluation.SATISFIED, comment=" 很好 ")
    assert s.state is S.EVALUATED and s.evaluations == ["satisfied"]
    evaluated = s.pending_events[-1]
    assert isinstance(evaluated, Suggestion.Evaluated)
    assert (evaluated.deputy_id, evaluated.actor, evaluated.role, evaluated.comment) == (LEAD, str(LEAD), "deputy", "很好")
    s.close(clerk)
    assert s.state is S.CLOSED
    assert [type(e).__name__ for e in s.pending_events] == [
        "Submitted",
        "Assigned",
        "HandlingStarted",
        "Replied",
        "Evaluated",
        "Closed",
    ]


@pytest.mark.parametrize("category", ["B", "C"])
def test_b_or_c_reply_goes_to_follow_up_until_solved(county: NodeRef, clerk: Attribution, rejects, category: str) -> None:
    s = in_state(S.REPLIED, county, clerk, category)
    s.evaluate(lead(), deputy_id=LEAD, evaluation="basically_satisfied")
    assert s.state is S.FOLLOW_UP
    rejects(s, lambda: s.close(clerk), state="follow_up", rule="this step needs the suggestion to be 已评价, but it is 跟踪督办")
    s.supervise(clerk, supervision=SupervisionType.FOLLOW_UP, note="季度跟踪")
    s.mark_solved(clerk, note=" 项目已竣工 ", solved_on=NOW.date())
    assert s.state is S.EVALUATED
    assert s.pending_events[-1].note == "项目已竣工"
    s.close(clerk)
    assert s.state is S.CLOSED and s.evaluations == ["basically_satisfied"]


def test_dissatisfied_means_rehandling_and_a_new_reply(county: NodeRef, clerk: Attribution) -> None:
    s = in_state(S.REPLIED, county, clerk, "C")
    s.evaluate(lead(), deputy_id=LEAD, evaluation="dissatisfied", comment="答复敷衍")
    assert s.state is S.REHANDLING
    s.reply(clerk, category="A", text="重新办理，已解决", replied_on=NOW.date())
    assert s.state is S.REPLIED and [r["category"] for r in s.replies] == ["C", "A"]
    s.evaluate(lead(), deputy_id=LEAD, evaluation="satisfied")
    assert s.state is S.EVALUATED and s.evaluations == ["dissatisfied", "satisfied"]
    s.close(clerk)
    assert s.state is S.CLOSED


def test_dissatisfied_again_after_rehandling(county: NodeRef, clerk: Attribution) -> None:
    s = in_state(S.REHANDLING, county, clerk, "B")
    s.reply(clerk, category="B", text="再次答复", replied_on=NOW.date())
    s.evaluate(lead(), deputy_id=LEAD, evaluation="dissatisfied")
    assert s.state is S.REHANDLING
    s.reply(clerk, category="B", text="第三次答复", replied_on=NOW.date())
    s.evaluate(lead(), deputy_id=LEAD, evaluation="satisfied")
    assert s.state is S.FOLLOW_UP  # a B reply stays under follow-up even when the deputy is satisfied


# --------------------------------------------------------------------------------------- out-of-order steps

STEPS: dict[str, Callable[[Suggestion, Attribution], None]] = {
    "assign": _assign,
    "start_handling": _start,
    "reply": _reply("A"),
    "evaluate": _evaluate("satisfied"),
    "mark_solved": _solve,
    "close": _close,
}
ALLOWED = {
    "assign": {S.SUBMITTED},
    "start_handling": {S.ASSIGNED},
    "reply": {S.IN_HANDLING, S.REHANDLING},
    "evaluate": {S.REPLIED},
    "mark_solved": {S.FOLLOW_UP},
    "close": {S.EVALUATED},
}
NEEDS = {
    "assign": "已提出",
    "start_handling": "已交办",
    "reply": "办理中 or 重新办理",
    "evaluate": "已答复",
    "mark_solved": "跟踪督办",
    "close": "已评价",
}


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("step", list(STEPS))
def test_every_step_in_every_state(county: NodeRef, clerk: Attribution, rejects, state: SuggestionState, step: str) -> None:
    s = in_state(state, county, clerk)
    if state in ALLOWED[step]:
        STEPS[step](s, clerk)
        assert s.state is not state  # every allowed step moves the lifecycle on
        return
    rejects(
        s,
        lambda: STEPS[step](s, clerk),
        state=state.value,
        rule=f"this step needs the suggestion to be {NEEDS[step]}, but it is {state.label}",
    )


# ------------------------------------------------------------------------------------------------- assign


def test_assign_rules(county: NodeRef, clerk: Attribution, rejects) -> None:
    s = submit(county, clerk)
    rule = "co-units must be distinct, non-empty and not the lead unit"
    for co_units in (["县交通运输局"], ["县财政局", " 县财政局"], ["  "]):
        rejects(
            s,
            lambda co_units=co_units: s.assign(clerk, lead_unit="县交通运输局", co_units=co_units, due_on=DUE),
            state="submitted",
            rule=rule,
        )
    today = NOW.date()
    for due in (today, today - timedelta(days=1)):
        rejects(
            s,
            lambda due=due: s.assign(clerk, lead_unit="县交通运输局", due_on=due),
            state="submitted",
            rule=f"due date {due} must be after the assignment ({today})",
        )
    s.assign(clerk, lead_unit="县交通运输局", due_on=today + timedelta(days=1))
    assert s.co_units == []


# --------------------------------------------------------------------------------------------- evaluation


@pytest.mark.parametrize("role", [Role.RECORDER, Role.ADMINISTRATOR, Role.VIEWER, Role.AUDITOR, Role.SYSTEM])
def test_office_accounts_cannot_evaluate_even_with_the_deputys_name(
    county: NodeRef, clerk: Attribution, rejects, role: Role
) -> None:
    """ "被满意" must be impossible: an office account, even one using the lead deputy's id as its actor, cannot."""
    s = in_state(S.REPLIED, county, clerk)
    for actor in ("office-clerk-01", str(LEAD)):
        office = Attribution(actor, role, NOW)
        rejects(
            s,
            lambda office=office: s.evaluate(office, deputy_id=LEAD, evaluation="satisfied"),
            state="replied",
            rule=f"only the lead deputy evaluates a reply; an account in role {role.value} cannot",
        )
    assert s.evaluations == []


@pytest.mark.parametrize("other", [CO1, OTHER])
def test_another_deputy_cannot_evaluate(county: NodeRef, clerk: Attribution, rejects, other: UUID) -> None:
    s = in_state(S.REPLIED, county, clerk)
    rejects(
        s,
        lambda: s.evaluate(as_deputy(other), deputy_id=other, evaluation="satisfied"),
        state="replied",
        rule=f"only the lead deputy {LEAD} evaluates this reply, not {other}",
    )
    # ... nor by claiming to be the lead deputy from their own account
    rejects(
        s,
        lambda: s.evaluate(as_deputy(other), deputy_id=LEAD, evaluation="satisfied"),
        state="replied",
        rule="the evaluation must be recorded by the lead deputy's own account",
    )


def test_evaluation_needs_a_reply(county: NodeRef, clerk: Attribution, rejects) -> None:
    s = in_state(S.IN_HANDLING, county, clerk)
    rejects(
        s,
        lambda: s.evaluate(lead(), deputy_id=LEAD, evaluation="satisfied"),
        state="in_handling",
        rule="this step needs the suggestion to be 已答复, but it is 办理中",
    )


def test_no_office_step_leads_to_a_closed_suggestion_without_the_deputys_evaluation(county: NodeRef, clerk: Attribution) -> None:
    s = in_state(S.CLOSED, county, clerk)
    evaluations = [e for e in s.pending_events if isinstance(e, Suggestion.Evaluated)]
    assert evaluations and all(e.role == "deputy" and e.actor == str(LEAD) for e in evaluations)


def test_an_office_enters_a_signed_form_as_its_own_entry(county: NodeRef, clerk: Attribution) -> None:
    """代录: the office enters the lead deputy's evaluation from a signed paper form; the event says so, names the form
    and the clerk (its actor and token), never the deputy as the one who recorded it."""
    s = in_state(S.REPLIED, county, clerk)
    entering = Attribution("office-clerk-01", Role.RECORDER, NOW, token="a1b2c3d4e5f6")
    s.enter_evaluation(county, entering, deputy_id=LEAD, evaluation="satisfied", form_number=" PJ-2025-017 ")
    event = s.pending_events[-1]
    assert isinstance(event, Suggestion.Evaluated)
    assert (event.entry, event.form_number, event.actor, event.role, event.token) == (
        "office",
        "PJ-2025-017",
        "office-clerk-01",
        "recorder",
        "a1b2c3d4e5f6",
    )
    assert s.state is S.EVALUATED and s.evaluations == ["satisfied"]
    s2 = in_state(S.REPLIED, county, clerk)
    s2.evaluate(lead(), deputy_id=LEAD, evaluation="satisfied")
    own = s2.pending_events[-1]
    assert (own.entry, own.form_number, own.actor, own.role) == ("self", "", str(LEAD), "deputy")


@pytest.mark.parametrize(
    ("who", "where", "deputy", "form", "rule"),
    [
        (Role.VIEWER, "county", LEAD, "PJ-1", "an evaluation is entered from a signed form by an office account, not a viewer"),
        (Role.DEPUTY, "county", LEAD, "PJ-1", "an evaluation is entered from a signed form by an office account, not a deputy"),
        (Role.RECORDER, "other_county", LEAD, "PJ-1", "only the office handling the suggestion enters its evaluation"),
        (Role.RECORDER, "county", CO1, "PJ-1", f"only the lead deputy {LEAD} evaluates this reply, not {CO1}"),
        (Role.RECORDER, "county", LEAD, "  ", "form_number must not be empty"),
    ],
)
def test_an_office_entry_needs_an_office_account_the_lead_deputy_and_the_form(
    request, county: NodeRef, clerk: Attribution, rejects, who: Role, where: str, deputy: UUID, form: str, rule: str
) -> None:
    s = in_state(S.REPLIED, county, clerk)
    office = request.getfixturevalue(where)
    by = Attribution("office-clerk-01", who, NOW)
    rejects(
        s,
        lambda: s.enter_evaluation(office, by, deputy_id=deputy, evaluation="satisfied", form_number=form),
        state="replied",
        rule=rule,
    )
    assert s.evaluations == []


def test_an_evaluation_stored_before_entries_were_recorded_reads_as_the_deputys_own() -> None:
    state: dict[str, Any] = {"deputy_id": LEAD, "evaluation": "satisfied", "comment": ""}
    Suggestion.Evaluated.upcast_v1_v2(state)
    assert state == {"deputy_id": LEAD, "evaluation": "satisfied", "comment": "", "entry": "self", "form_number": ""}


# ------------------------------------------------------------------------------------ priority, supervision


def test_priority_with_a_leader(county: NodeRef, clerk: Attribution, rejects) -> None:
    s = in_state(S.ASSIGNED, county, clerk)
    s.mark_priority(clerk, leader=" 县长 王某 ")
    assert s.priority and s.leader == "县长 王某"
    rejects(s, lambda: s.mark_priority(clerk), state="assigned", rule="already a priority suggestion")


@pytest.mark.parametrize("state", [st for st in S if st is not S.CLOSED])
def test_priority_in_any_open_state(county: NodeRef, clerk: Attribution, state: SuggestionState) -> None:
    s = in_state(state, county, clerk)
    s.mark_priority(clerk)
    assert s.priority and s.leader == "" and s.state is state


def test_priority_of_a_closed_suggestion_rejected(county: NodeRef, clerk: Attribution, rejects) -> None:
    s = in_state(S.CLOSED, county, clerk)
    rejects(s, lambda: s.mark_priority(clerk, leader="县长"), state="closed", rule="but it is 已办结")


@pytest.mark.parametrize("supervision", list(SupervisionType))
def test_every_supervision_type(county: NodeRef, clerk: Attribution, supervision: SupervisionType) -> None:
    s = in_state(S.IN_HANDLING, county, clerk)
    s.supervise(clerk, supervision=supervision.value, note=" 督办 ")
    assert s.supervisions == [supervision.value] and s.state is S.IN_HANDLING
    assert supervision.label


@pytest.mark.parametrize("state", [S.SUBMITTED, S.CLOSED])
def test_supervision_only_while_under_handling(county: NodeRef, clerk: Attribution, rejects, state: SuggestionState) -> None:
    s = in_state(state, county, clerk)
    rejects(
        s,
        lambda: s.supervise(clerk, supervision="chair_led"),
        state=state.value,
        rule="this step needs the suggestion to be 已交办 or 办理中 or 已答复 or 重新办理 or 跟踪督办 or 已评价, "
        f"but it is {state.label}",
    )


# ------------------------------------------------------------------------------------------------- overdue


def test_overdue(county: NodeRef, clerk: Attribution) -> None:
    s = submit(county, clerk)
    assert not s.is_overdue(date(2030, 1, 1))  # not assigned: no due date
    _assign(s, clerk)
    assert not s.is_overdue(DUE) and s.is_overdue(DUE + timedelta(days=1))
    _start(s, clerk)
    assert not s.is_overdue(DUE) and s.is_overdue(DUE + timedelta(days=1))
    _reply("B")(s, clerk)
    assert not s.is_overdue(DUE + timedelta(days=100))


# ---------------------------------------------------------------- field validation on an existing suggestion

FIELD_CASES = {
    "empty lead unit": (S.SUBMITTED, lambda s, by: s.assign(by, lead_unit=" ", due_on=DUE), "lead_unit must not be empty"),
    "bad category": (
        S.IN_HANDLING,
        lambda s, by: s.reply(by, category="D", text="x", replied_on=DUE),
        "category must be one of: A, B, C",
    ),
    "empty reply": (S.IN_HANDLING, lambda s, by: s.reply(by, category="A", text="", replied_on=DUE), "text must not be empty"),
    "bad evaluation": (
        S.REPLIED,
        lambda s, by: s.evaluate(lead(), deputy_id=LEAD, evaluation="被满意"),
        "evaluation must be one of",
    ),
    "empty solved note": (S.FOLLOW_UP, lambda s, by: s.mark_solved(by, note="", solved_on=DUE), "note must not be empty"),
    "bad supervision": (S.ASSIGNED, lambda s, by: s.supervise(by, supervision="phone_call"), "supervision must be one of"),
}


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_rejects_and_records_nothing(county: NodeRef, clerk: Attribution, records_nothing, case: str) -> None:
    state, command, rule = FIELD_CASES[case]
    s = in_state(state, county, clerk)
    records_nothing(s, lambda: command(s, clerk), rule=rule)


@pytest.mark.parametrize("case", FIELD_CASES)
def test_field_validation_names_the_suggestion_and_its_state(county: NodeRef, clerk: Attribution, rejects, case: str) -> None:
    state, command, rule = FIELD_CASES[case]
    s = in_state(state, county, clerk)
    rejects(s, lambda: command(s, clerk), state=state.value, rule=rule)


# ------------------------------------------------------------------------------------------------ corrections


def test_an_assignment_and_a_reply_corrected(county: NodeRef, clerk: Attribution) -> None:
    s = in_state(S.REPLIED, county, clerk, category="B")
    s.correct(county, clerk, fact="assignment", changes={"lead_unit": "县公路建设养护中心"}, reason="主办单位有误")
    s.correct(county, clerk, fact="assignment", changes={"due_on": "2025-05-01"}, reason="期限有误")  # as the CLI sends it
    s.correct(county, clerk, fact="reply", changes={"category": "A"}, reason="应为 A 类")
    s.correct(county, clerk, fact="submission", changes={"title": "关于江口镇农村公路改造的建议"}, reason="标题有误")
    assert (s.lead_unit, s.due_on, s.last_category, s.title) == (
        "县公路建设养护中心",
        date(2025, 5, 1),
        ReplyCategory.A,
        "关于江口镇农村公路改造的建议",
    )
    assert [(e.fact, e.version) for e in s.pending_events[-4:]] == [
        ("assignment", 2),
        ("assignment", 2),
        ("reply", 4),
        ("submission", 1),
    ]
    s.evaluate(lead(), deputy_id=LEAD, evaluation="satisfied")
    assert s.state is S.EVALUATED  # the corrected category decides: A, evaluated


@pytest.mark.parametrize(
    ("state", "fact", "number", "changes", "rule"),
    [
        (S.SUBMITTED, "assignment", 1, {"lead_unit": "x"}, "has not been assigned yet"),
        (S.ASSIGNED, "assignment", 1, {"due_on": NOW.date().isoformat()}, "must be after the assignment"),
        (S.ASSIGNED, "assignment", 1, {"due_on": "2025-13-01"}, "due_on must be a date YYYY-MM-DD"),
        (S.ASSIGNED, "assignment", 1, {"lead_unit": "县财政局"}, "is one of the co-units"),
        (S.ASSIGNED, "assignment", 1, {"lead_unit": " "}, "lead_unit must not be empty"),
        (S.ASSIGNED, "reply", 1, {"category": "A"}, "no reply number 1"),
        (S.REPLIED, "reply", 1, {"category": "D"}, "category must be one of"),
        (S.FOLLOW_UP, "reply", 1, {"category": "A"}, "evaluated by the lead deputy as recorded"),
        (S.REHANDLING, "reply", 1, {"category": "C"}, "evaluated by the lead deputy as recorded"),
        (S.REPLIED, "submission", 1, {"number": "9"}, "number of a submission cannot be corrected"),
        (S.REPLIED, "submission", 2, {"title": "x"}, "a suggestion has one submission, number 1"),
        (S.REPLIED, "evaluation", 1, {"evaluation": "x"}, "fact must be one of: submission, assignment, reply"),
    ],
)
def test_a_suggestion_correction_refused(
    county: NodeRef,
    clerk: Attribution,
    rejects,
    state: SuggestionState,
    fact: str,
    number: int,
    changes: dict[str, Any],
    rule: str,
) -> None:
    s = in_state(state, county, clerk)
    rejects(
        s,
        lambda: s.correct(county, clerk, fact=fact, number=number, changes=changes, reason="更正"),
        state=state.value,
        rule=rule,
    )
