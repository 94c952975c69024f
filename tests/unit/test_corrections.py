"""Corrections (更正) and voids (作废): events naming what they correct, checked by the rules the fact was recorded
under, by the owner office only; a voided record takes nothing more. The original events stay."""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.base import Attribution, DomainError, DutyAggregate, NodeRef
from domain.deputies import Deputy
from domain.levels import DivisionKind, Level
from domain.livelihood import LivelihoodProject
from domain.stations import Station
from domain.store import NodeStore
from domain.visits import StationVisit

D1 = UUID(int=11)
Rejects = Callable[..., Any]


@pytest.fixture
def visit(town: NodeRef, clerk: Attribution) -> StationVisit:
    station = Station.establish(town, clerk, name="江口镇人大代表联络站")
    station.enrol(clerk, deputy_id=D1, deputy_name="李桂花", congress="county")
    visit = StationVisit.record_visit(
        town, clerk, station=station, visit_date=date(2025, 3, 8), deputy_ids=[D1], people_received=12
    )
    visit.raise_issue(clerk, summary="路灯不亮", category="城建")
    visit.raise_issue(clerk, summary="垃圾清运不及时", category="环境")
    return visit


@pytest.fixture
def project(town: NodeRef, clerk: Attribution) -> LivelihoodProject:
    project = LivelihoodProject.propose(town, clerk, year=2025, title="集镇污水管网改造", category="生态环境")
    project.list_as_candidate(clerk, estimate_wan=Decimal("350"))
    project.deliberate(clerk, deputies_present=45, opinions=6)
    project.vote(clerk, session="第五次会议", yes=30, no=10, abstain=0, present=40, total_deputies=50)
    project.start_implementation(clerk, budget_wan=Decimal("1500"), lead_unit="江口镇人民政府")
    project.report_progress(clerk, progress=5, spent_wan=Decimal("100"))
    project.report_progress(clerk, progress=90, spent_wan=Decimal("120"))  # 9% typed as 90
    project.report_progress(clerk, progress=95, spent_wan=Decimal("130"))
    return project


@pytest.fixture
def deputy(town: NodeRef, clerk: Attribution) -> Deputy:
    return Deputy.register(town, clerk, person_id="P-1", name="李桂花", gender="女", grassroots=False, leading_cadre=True)


def corrected(aggregate: DutyAggregate) -> Any:
    return aggregate.pending_events[-1]


# ------------------------------------------------------------------------------------------------ visits


def test_a_visit_count_and_an_issue_corrected(visit: StationVisit, town: NodeRef, clerk: Attribution) -> None:
    visit.correct(town, clerk, fact="visit", changes={"people_received": 21}, reason="登记时把21录成12")
    visit.correct(town, clerk, fact="issue", number=2, changes={"category": "环境卫生"}, reason="类别有误")
    assert visit.people_received == 21
    assert visit.issues[1]["category"] == "环境卫生" and visit.issues[1]["summary"] == "垃圾清运不及时"
    event = corrected(visit)
    assert (event.fact, event.number, event.version, event.changes, event.reason, event.effective_from) == (
        "issue",
        2,
        3,  # the second issue's event
        {"category": "环境卫生"},
        "类别有误",
        None,
    )
    assert [type(e).__name__ for e in visit.pending_events] == [
        "Recorded",
        "IssueRaised",
        "IssueRaised",
        "Corrected",
        "Corrected",
    ]  # the original events stay
    assert event.label == "更正"


@pytest.mark.parametrize(
    ("fact", "number", "changes", "rule"),
    [
        ("visit", 1, {"people_received": 10_001}, "people_received must be 0..10000 (got 10001)"),
        ("visit", 1, {"people_received": -3}, "people_received must be 0..10000 (got -3)"),
        ("visit", 1, {"visit_date": "2025-03-09"}, "visit_date of a visit cannot be corrected (correctable: people_received)"),
        ("visit", 1, {"deputy_ids": []}, "deputy_ids of a visit cannot be corrected"),
        ("visit", 2, {"people_received": 3}, "number: a station visit has one visit, number 1 (got 2)"),
        ("visit", 1, {}, "changes must name at least one field"),
        ("visit", 1, {"people_received": 12}, "the visit already holds these values"),
        ("issue", 3, {"summary": "x"}, "number: no issue number 3 (this station visit has 2)"),
        ("issue", 1, {"summary": "  "}, "summary must not be empty"),
        ("issue", 1, {"category": "类" * 51}, "category must be at most 50 characters"),
        ("outcome", 1, {"to_unit": "x"}, "fact must be one of: visit, issue (got 'outcome')"),
    ],
)
def test_a_visit_correction_refused(
    visit: StationVisit,
    town: NodeRef,
    clerk: Attribution,
    rejects: Rejects,
    fact: str,
    number: int,
    changes: dict[str, Any],
    rule: str,
) -> None:
    rejects(
        visit,
        lambda: visit.correct(town, clerk, fact=fact, number=number, changes=changes, reason="更正"),
        state="open",
        rule=rule,
    )


def test_a_correction_needs_a_reason_the_owner_and_a_plain_date(
    visit: StationVisit, town: NodeRef, other_county: NodeRef, clerk: Attribution, rejects: Rejects
) -> None:
    change = {"people_received": 21}
    rejects(
        visit,
        lambda: visit.correct(town, clerk, fact="visit", changes=change, reason=" "),
        state="open",
        rule="reason must not be empty",
    )
    rejects(
        visit,
        lambda: visit.correct(other_county, clerk, fact="visit", changes=change, reason="x"),
        state="open",
        rule="only the owner office corrects this record, not 邵东市(430582)",
    )
    rejects(
        visit,
        lambda: visit.correct(town, clerk, fact="visit", changes=change, reason="x", effective_from=date(2025, 1, 1)),
        state="open",
        rule="effective_from is only for a deputy's attributes",
    )
    early = Attribution(clerk.actor, clerk.role, clerk.occurred_at - timedelta(days=30))
    rejects(
        visit,
        lambda: visit.correct(town, early, fact="visit", changes=change, reason="x"),
        state="open",
        rule="occurred_at 2025-02-08 is before the corrected visit (2025-03-08)",
    )


def test_a_voided_visit_takes_nothing_more(visit: StationVisit, town: NodeRef, clerk: Attribution, rejects: Rejects) -> None:
    visit.void(town, clerk, reason="登记有误: 重复录入")
    assert visit.void_reason == "登记有误: 重复录入" and corrected(visit).label == "作废"
    voided = "the record was voided (已作废: 登记有误: 重复录入)"
    rejects(visit, lambda: visit.raise_issue(clerk, summary="x", category="y"), state="voided", rule=voided)
    rejects(visit, lambda: visit.resolve_issue(clerk, number=1, outcome="ok"), state="voided", rule=voided)
    rejects(visit, lambda: visit.void(town, clerk, reason="again"), state="voided", rule=voided)
    rejects(
        visit,
        lambda: visit.correct(town, clerk, fact="visit", changes={"people_received": 1}, reason="x"),
        state="voided",
        rule=voided,
    )


def test_only_the_owner_voids(visit: StationVisit, other_county: NodeRef, clerk: Attribution, rejects: Rejects) -> None:
    rejects(visit, lambda: visit.void(other_county, clerk, reason="x"), state="open", rule="only the owner office voids")


# -------------------------------------------------------------------------------------------- livelihood


def test_a_progress_report_and_the_budget_corrected(project: LivelihoodProject, town: NodeRef, clerk: Attribution) -> None:
    project.correct(town, clerk, fact="progress", number=2, changes={"progress": 9}, reason="9录成了90")
    assert [r["progress"] for r in project.reports] == [5, 9, 95] and project.progress == 95
    project.correct(town, clerk, fact="progress", number=3, changes={"progress": 30}, reason="x")
    assert project.progress == 30  # the latest report's figures are the project's
    project.correct(town, clerk, fact="implementation", changes={"budget_wan": "150"}, reason="1500 应为 150 万元")
    assert project.budget_wan == Decimal("150.00")
    assert corrected(project).changes == {"budget_wan": Decimal("150.00")} and corrected(project).version == 5
    project.correct(town, clerk, fact="candidate", changes={"estimate_wan": 35}, reason="x")
    assert project.estimate_wan == Decimal("35.00")


@pytest.mark.parametrize(
    ("fact", "number", "changes", "rule"),
    [
        ("progress", 2, {"progress": 4}, "progress cannot go back from 5% to 4%"),
        ("progress", 2, {"progress": 96}, "progress 96% is beyond the later report's 95%"),
        ("progress", 2, {"progress": 101}, "progress is a percentage 0..100 (got 101)"),
        ("progress", 2, {"spent_wan": "99"}, "spending cannot go back from 100.00 to 99.00 万元"),
        ("progress", 1, {"spent_wan": "121"}, "spent_wan 121.00 万元 is beyond the later report's 120.00 万元"),
        ("progress", 3, {"spent_wan": "1600"}, "overspend_reason is required: spent_wan 1600.00 万元 is over the budget"),
        ("progress", 3, {"overspend_reason": "材料涨价"}, "overspend_reason is only for spending over the budget"),
        ("progress", 4, {"progress": 99}, "number: no progress number 4 (this livelihood project has 3)"),
        ("implementation", 1, {"budget_wan": "100000000"}, "budget_wan 100000000 万元 is implausibly large"),
        ("implementation", 1, {"budget_wan": "-1"}, "budget_wan must be a non-negative amount"),
        (
            "implementation",
            1,
            {"budget_wan": "110"},
            "budget_wan 110.00 万元 is below the 120.00 万元 spent by progress report 2",
        ),
        ("vote", 1, {"yes": 3}, "cannot change whether the project passed"),
        ("vote", 1, {"yes": "30"}, "yes must be a whole number (got '30')"),
        ("vote", 1, {"present": 30}, "yes+no+abstain (40) cannot exceed present (30)"),
        ("vote", 1, {"present": 33, "yes": 30, "no": 3, "abstain": 0}, "no quorum: 33 present of 50"),
        ("deliberation", 1, {"deputies_present": 0}, "deliberation needs deputies present"),
        ("deliberation", 1, {"deputies_present": 451}, "deputies_present 451 is more than"),
        ("evaluation", 1, {"satisfied": 3}, "fact: the project has no evaluation yet"),
        ("tally", 1, {"yes": 3}, "fact must be one of: candidate, deliberation, vote, implementation, progress, evaluation"),
    ],
)
def test_a_project_correction_refused(
    project: LivelihoodProject,
    town: NodeRef,
    clerk: Attribution,
    rejects: Rejects,
    fact: str,
    number: int,
    changes: dict[str, Any],
    rule: str,
) -> None:
    rejects(
        project,
        lambda: project.correct(town, clerk, fact=fact, number=number, changes=changes, reason="更正"),
        state="implementing",
        rule=rule,
    )


def test_a_tally_a_deliberation_and_an_evaluation_corrected(
    project: LivelihoodProject, town: NodeRef, clerk: Attribution, rejects: Rejects
) -> None:
    project.correct(town, clerk, fact="vote", changes={"yes": 29, "abstain": 1}, reason="一票记错")
    project.correct(town, clerk, fact="deliberation", changes={"opinions": 7}, reason="漏记")
    assert project.tally == {"yes": 29, "no": 10, "abstain": 1, "present": 40, "total_deputies": 50}
    assert project.deliberation == {"deputies_present": 45, "opinions": 7}
    project.report_progress(clerk, progress=100, spent_wan=Decimal("140"))
    project.evaluate(clerk, satisfied=30, basically_satisfied=10, dissatisfied=2)
    project.correct(town, clerk, fact="evaluation", changes={"dissatisfied": 3}, reason="x")
    assert project.satisfaction == {"satisfied": 30, "basically_satisfied": 10, "dissatisfied": 3}
    for fact, changes, rule in (
        ("evaluation", {"satisfied": 40}, "satisfied+basically_satisfied+dissatisfied 53 is more than"),
        ("evaluation", {"satisfied": -1}, "evaluation counts must not be negative"),
        ("vote", {"total_deputies": 42}, "satisfied+basically_satisfied+dissatisfied 43 is more than"),
    ):
        rejects(
            project,
            lambda fact=fact, changes=changes: project.correct(town, clerk, fact=fact, changes=changes, reason="x"),
            state="evaluated",
            rule=rule,
        )
    assert [(e.fact, e.version) for e in project.pending_events if type(e).__name__ == "Corrected"] == [
        ("vote", 4),
        ("deliberation", 3),
        ("evaluation", 12),
    ]


def test_an_evaluated_project_keeps_its_last_report_finished(
    project: LivelihoodProject, town: NodeRef, clerk: Attribution, rejects: Rejects
) -> None:
    project.report_progress(clerk, progress=100, spent_wan=Decimal("140"))
    project.evaluate(clerk, satisfied=40, basically_satisfied=5, dissatisfied=1)
    rejects(
        project,
        lambda: project.correct(town, clerk, fact="progress", number=4, changes={"progress": 98}, reason="x"),
        state="evaluated",
        rule="progress: deputies evaluated the project as finished (100%), got 98%",
    )
    project.correct(town, clerk, fact="progress", number=4, changes={"spent_wan": "141"}, reason="x")
    project.void(town, clerk, reason="登记有误")
    rejects(project, lambda: project.close(clerk), state="voided", rule="the record was voided")


def test_a_project_not_yet_implemented_has_no_implementation_to_correct(
    town: NodeRef, clerk: Attribution, rejects: Rejects
) -> None:
    project = LivelihoodProject.propose(town, clerk, year=2025, title="村道硬化", category="交通")
    rejects(
        project,
        lambda: project.correct(town, clerk, fact="implementation", changes={"budget_wan": 1}, reason="x"),
        state="proposed",
        rule="fact: the project has no implementation yet",
    )


# ---------------------------------------------------------------------------------------------- deputies


def test_a_deputys_category_corrected_from_a_day(deputy: Deputy, town: NodeRef, clerk: Attribution) -> None:
    since = date(2021, 1, 1)
    changes = {"grassroots": True, "leading_cadre": False}
    deputy.correct(town, clerk, fact="category", changes=changes, reason="误登记为领导干部", effective_from=since)
    assert (deputy.grassroots, deputy.leading_cadre) == (True, False)
    assert (corrected(deputy).changes, corrected(deputy).effective_from) == (changes, since)
    # A category is one fact: a correction names both flags, the one not given filled in.
    deputy.correct(town, clerk, fact="category", changes={"grassroots": False}, reason="x", effective_from=since)
    assert corrected(deputy).changes == {"grassroots": False, "leading_cadre": False}


def test_a_deputys_registration_corrected(deputy: Deputy, town: NodeRef, clerk: Attribution, rejects: Rejects) -> None:
    deputy.correct(town, clerk, fact="registration", changes={"name": "李桂华", "unit": " 江口镇人民政府 "}, reason="笔误")
    assert (deputy.name, deputy.unit, deputy.gender) == ("李桂华", "江口镇人民政府", "女")
    assert (corrected(deputy).fact, corrected(deputy).version, corrected(deputy).effective_from) == ("registration", 1, None)
    for changes, rule in (
        ({"gender": "M"}, "gender must be 男 or 女 (got 'M')"),
        ({"name": " "}, "name must not be empty"),
        ({"unit": "单" * 201}, "unit must be at most 200 characters"),
        ({"person_id": "P-2"}, "person_id of a registration cannot be corrected"),
        ({"name": "李桂华"}, "the registration already holds these values"),
    ):
        rejects(
            deputy,
            lambda changes=changes: deputy.correct(town, clerk, fact="registration", changes=changes, reason="x"),
            state="not serving",
            rule=rule,
        )
    rejects(
        deputy,
        lambda: deputy.correct(
            town, clerk, fact="registration", changes={"name": "李"}, reason="x", effective_from=date(2021, 1, 1)
        ),
        state="not serving",
        rule="effective_from is only for a deputy's attributes",
    )


def test_a_deputys_category_correction_refused(deputy: Deputy, town: NodeRef, clerk: Attribution, rejects: Rejects) -> None:
    state = "not serving"
    rejects(
        deputy,
        lambda: deputy.correct(
            town, clerk, fact="category", changes={"grassroots": True}, reason="x", effective_from=date(2021, 1, 1)
        ),
        state=state,
        rule="a deputy is either grassroots or a leading cadre, not both",
    )
    rejects(
        deputy,
        lambda: deputy.correct(town, clerk, fact="category", changes={"leading_cadre": False}, reason="x"),
        state=state,
        rule="effective_from is required",
    )
    rejects(
        deputy,
        lambda: deputy.correct(
            town, clerk, fact="category", changes={"leading_cadre": "no"}, reason="x", effective_from=date(2021, 1, 1)
        ),
        state=state,
        rule="leading_cadre must be true or false (got 'no')",
    )
    at_the_gateway = Attribution(clerk.actor, clerk.role, clerk.occurred_at, clerk.occurred_at + timedelta(days=1))
    rejects(
        deputy,
        lambda: deputy.correct(
            town, at_the_gateway, fact="category", changes={"leading_cadre": False}, reason="x", effective_from=date(2099, 1, 1)
        ),
        state=state,
        rule="effective_from 2099-01-01 is in the future",
    )
    station = Station.establish(town, clerk, name="联络站")
    rejects(station, lambda: station.void(town, clerk, reason="x"), state="运行中", rule="a station cannot be voided")


# ------------------------------------------------------------------------------------------------ stored


def test_corrections_and_voids_come_back_from_the_store(
    project: LivelihoodProject, visit: StationVisit, town: NodeRef, clerk: Attribution, open_store: Callable[[NodeRef], NodeStore]
) -> None:
    project.correct(town, clerk, fact="progress", number=2, changes={"progress": 9, "spent_wan": "110"}, reason="x")
    project.correct(town, clerk, fact="implementation", changes={"budget_wan": "150"}, reason="y")
    visit.void(town, clerk, reason="登记有误")
    store = open_store(town)
    store.save(project, visit)
    again = store.get(project.id)
    assert again.reports == project.reports and again.budget_wan == Decimal("150.00") and again.progress == 95
    assert store.get(visit.id).void_reason == "登记有误"


# -------------------------------------------------------------------------------------- random corrections

CORRECTIONS = st.one_of(
    st.tuples(
        st.just("progress"),
        st.integers(0, 5),
        st.fixed_dictionaries(
            {},
            optional={
                "progress": st.integers(-5, 105),
                "spent_wan": st.integers(-1, 200).map(Decimal),
                "overspend_reason": st.sampled_from(["", "追加工程量"]),
            },
        ),
    ),
    st.tuples(st.just("implementation"), st.integers(0, 2), st.fixed_dictionaries({"budget_wan": st.integers(-1, 200)})),
    st.tuples(st.just("candidate"), st.just(1), st.fixed_dictionaries({"estimate_wan": st.integers(0, 200)})),
    st.tuples(st.just("void"), st.just(1), st.just({})),
)


@settings(max_examples=200, deadline=None)
@given(
    reports=st.lists(st.tuples(st.integers(0, 100), st.integers(0, 100)), max_size=5),
    corrections=st.lists(CORRECTIONS, max_size=12),
)
def test_random_corrections_keep_a_projects_rules(
    reports: list[tuple[int, int]], corrections: list[tuple[str, int, dict[str, Any]]]
) -> None:
    """Whatever corrections are asked for, the accepted ones keep every rule a progress report was recorded under
    (monotone figures, a reason for spending over the budget), the project's progress is its latest report's, a refused
    one records nothing, and the events replayed give the same project."""
    town = NodeRef(UUID(int=7), "430582204", "斫𥕢乡", Level.TOWNSHIP, DivisionKind.TOWNSHIP)
    by = Attribution("clerk", "recorder", datetime(2025, 3, 10, 9, tzinfo=UTC))
    project = LivelihoodProject.propose(town, by, year=2025, title="供水", category="民生")
    project.list_as_candidate(by, estimate_wan=Decimal(100))
    project.deliberate(by, deputies_present=40)
    project.vote(by, session="会议", yes=40, no=0, abstain=0, present=40, total_deputies=50)
    project.start_implementation(by, budget_wan=Decimal(100), lead_unit="镇政府")
    for progress, spent in sorted(reports):
        with contextlib.suppress(DomainError):
            project.report_progress(by, progress=progress, spent_wan=Decimal(spent))
    for fact, number, changes in corrections:
        before = (project.version, copy.deepcopy(project.reports), project.budget_wan, project.void_reason)
        try:
            if fact == "void":
                project.void(town, by, reason="登记有误")
            else:
                project.correct(town, by, fact=fact, number=number, changes=changes, reason="更正")
        except DomainError:
            assert (project.version, project.reports, project.budget_wan, project.void_reason) == before
        for earlier, later in itertools.pairwise(project.reports):
            assert earlier["progress"] <= later["progress"] and earlier["spent_wan"] <= later["spent_wan"]
        for report in project.reports:
            assert 0 <= report["progress"] <= 100
            assert report["spent_wan"] <= project.budget_wan or report["overspend_reason"]
        if project.reports:
            assert (project.progress, project.spent_wan) == (project.reports[-1]["progress"], project.reports[-1]["spent_wan"])
    replayed = None
    for event in project.pending_events:
        replayed = event.mutate(replayed)
    assert replayed is not None and vars(replayed) == vars(project) | {"_pending_events": []}
