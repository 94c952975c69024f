"""Property tests: random command sequences on a Suggestion and a LivelihoodProject.

After every step the invariants hold, a rejected command changes nothing, an accepted one records exactly one
event and agrees with a small reference model of the lifecycle; at the end (and at random points in between)
replaying the events rebuilds the live aggregate, and so does a round trip through a real SQLite node store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as label_run
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.base import Attribution, DomainError, DutyAggregate, Role
from domain.levels import DivisionKind, Level
from domain.livelihood import MAX_WAN, LivelihoodProject, ProjectState, passes
from domain.store import NodeStore, StoreSettings
from domain.suggestions import Evaluation, ReplyCategory, Suggestion, SuggestionState, SupervisionType
from tests.unit.conftest import NOW, as_deputy, node, snapshot

COUNTY = node("430525", "洞口县", Level.COUNTY, DivisionKind.COUNTY)
TOWN = node("430525101", "江口镇", Level.TOWNSHIP, DivisionKind.TOWN)
CLERK = Attribution("office-clerk-01", Role.RECORDER, NOW)
LEAD, CO, OTHER = UUID(int=51), UUID(int=52), UUID(int=53)
S = SuggestionState
P = ProjectState


def state_of(aggregate: DutyAggregate) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def replay(events: list[Any]) -> Any:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def attempt(aggregate: DutyAggregate, command: Callable[[], object]) -> bool:
    """Run a command: True if it recorded exactly one event, False if it was rejected and changed nothing."""
    before = (len(aggregate.pending_events), aggregate.version, snapshot(aggregate))
    try:
        command()
    except DomainError as error:
        assert error.rule and error.aggregate and error.state
        assert (len(aggregate.pending_events), aggregate.version, snapshot(aggregate)) == before
        return False
    assert len(aggregate.pending_events) == before[0] + 1
    assert aggregate.version == before[1] + 1
    return True


def is_text(value: str) -> bool:
    return bool(value.strip())


# ================================================================================================ suggestion

EVALUATORS = {
    "lead deputy": as_deputy(LEAD),
    "co-signer": as_deputy(CO),
    "recorder as lead": Attribution(str(LEAD), Role.RECORDER, NOW),
    "administrator": Attribution("office-admin-01", Role.ADMINISTRATOR, NOW),
    "system": Attribution.system(NOW),
}
TEXTS = st.sampled_from(["县交通运输局", "答复内容", "", "   "])


class SuggestionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.suggestion = Suggestion.submit(
            COUNTY,
            CLERK,
            number=uuid4().hex[:8],
            congress="county",
            term=18,
            session=4,
            title="关于农村公路的建议",
            content="……",
            category="交通",
            lead_deputy_id=LEAD,
            co_deputy_ids=[CO],
        )
        self.events: list[Any] = list(self.suggestion.pending_events)
        self.model_state = S.SUBMITTED
        self.model_category: str | None = None
        self.model_priority = False
        self.previous_state = S.SUBMITTED
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._store: NodeStore | None = None

    # --------------------------------------------------------------------------------------- plumbing

    def run(self, command: Callable[[], object], accepted: bool, next_state: SuggestionState | None = None) -> bool:
        s = self.suggestion
        self.previous_state = s.state
        pending = len(s.pending_events)
        ok = attempt(s, command)
        assert ok is accepted, f"model expected {'acceptance' if accepted else 'rejection'} in state {s.state}"
        if ok:
            self.events.extend(s.pending_events[pending:])
            if next_state is not None:
                self.model_state = next_state
        assert s.state is self.model_state
        return ok

    def store(self) -> NodeStore:
        if self._store is None:
            self._tmp = tempfile.TemporaryDirectory()
            self._store = NodeStore(COUNTY, StoreSettings(store="sqlite", data_dir=Path(self._tmp.name)))
        return self._store

    # ------------------------------------------------------------------------------------------ rules

    @initialize(
        steps=st.integers(0, 4),
        category=st.sampled_from([c.value for c in ReplyCategory]),
        evaluation=st.sampled_from([e.value for e in Evaluation]),
    )
    def walk_part_of_the_happy_path(self, steps: int, category: str, evaluation: str) -> None:
        """Start some runs further along the lifecycle, so that the later states are explored as often."""
        happy = [
            lambda: self.assign("县交通运输局", ["县财政局"], 90),
            self.start_handling,
            lambda: self.reply(category, "答复内容"),
            lambda: self.evaluate("lead deputy", LEAD, evaluation),
        ]
        for step in happy[:steps]:
            step()

    @rule(
        lead_unit=TEXTS,
        co_units=st.lists(st.sampled_from(["县财政局", "县交通运输局", " "]), max_size=2),
        days=st.integers(-3, 120),
    )
    def assign(self, lead_unit: str, co_units: list[str], days: int) -> None:
        co = [u.strip() for u in co_units]
        ok = (
            self.model_state is S.SUBMITTED
            and is_text(lead_unit)
            and lead_unit.strip() not in co
            and len(set(co)) == len(co)
            and all(co)
            and days > 0
        )
        due = NOW.date() + timedelta(days=days)
        self.run(lambda: self.suggestion.assign(CLERK, lead_unit=lead_unit, co_units=co_units, due_on=due), ok, S.ASSIGNED)

    @rule()
    def start_handling(self) -> None:
        self.run(
            lambda: self.suggestion.start_handling(CLERK, contacted_on=NOW.date()),
            self.model_state is S.ASSIGNED,
            S.IN_HANDLING,
        )

    @rule(category=st.sampled_from(["A", "B", "C", "D", ""]), text=TEXTS)
    def reply(self, category: str, text: str) -> None:
        ok = self.model_state in (S.IN_HANDLING, S.REHANDLING) and category in ("A", "B", "C") and is_text(text)
        if self.run(lambda: self.suggestion.reply(CLERK, category=category, text=text, replied_on=NOW.date()), ok, S.REPLIED):
            self.model_category = category

    @rule(
        who=st.sampled_from(sorted(EVALUATORS)),
        deputy_id=st.sampled_from([LEAD, CO, OTHER]),
        evaluation=st.sampled_from([*(e.value for e in Evaluation), "被满意"]),
    )
    def evaluate(self, who: str, deputy_id: UUID, evaluation: str) -> None:
        by = EVALUATORS[who]
        ok = self.model_state is S.REPLIED and who == "lead deputy" and deputy_id == LEAD and evaluation in set(Evaluation)
        if evaluation == Evaluation.DISSATISFIED:
            nxt = S.REHANDLING
        elif self.model_category == "A":
            nxt = S.EVALUATED
        else:
            nxt = S.FOLLOW_UP
        self.run(lambda: self.suggestion.evaluate(by, deputy_id=deputy_id, evaluation=evaluation), ok, nxt)

    @rule(note=TEXTS)
    def mark_solved(self, note: str) -> None:
        ok = self.model_state is S.FOLLOW_UP and is_text(note)
        self.run(lambda: self.suggestion.mark_solved(CLERK, note=note, solved_on=NOW.date()), ok, S.EVALUATED)

    @rule(leader=st.sampled_from(["", "副县长 王某"]))
    def mark_priority(self, leader: str) -> None:
        ok = self.model_state is not S.CLOSED and not self.model_priority
        if self.run(lambda: self.suggestion.mark_priority(CLERK, leader=leader), ok):
            self.model_priority = True
            assert self.suggestion.leader == leader.strip()

    @rule(supervision=st.sampled_from([*(t.value for t in SupervisionType), "lunch"]))
    def supervise(self, supervision: str) -> None:
        ok = self.model_state not in (S.SUBMITTED, S.CLOSED) and supervision in set(SupervisionType)
        self.run(lambda: self.suggestion.supervise(CLERK, supervision=supervision), ok)

    @rule()
    def close(self) -> None:
        self.run(lambda: self.suggestion.close(CLERK), self.model_state is S.EVALUATED, S.CLOSED)

    @rule()
    def save_and_reload(self) -> None:
        """Persist to SQLite mid-lifecycle and carry on with the aggregate read back."""
        store = self.store()
        store.save(self.suggestion)
        reloaded = store.get(self.suggestion.id)
        assert reloaded == self.suggestion
        self.suggestion = reloaded

    # ------------------------------------------------------------------------------------- invariants

    @invariant()
    def lifecycle_invariants(self) -> None:
        s = self.suggestion
        assert isinstance(s.state, SuggestionState) and s.state in set(SuggestionState)
        assert s.state_label == s.state.value
        replies, evaluations = len(s.replies), len(s.evaluations)
        assert (s.due_on is None) is (s.state is S.SUBMITTED)
        if s.state in (S.SUBMITTED, S.ASSIGNED, S.IN_HANDLING):
            assert replies == evaluations == 0
        elif s.state is S.REPLIED:
            assert replies == evaluations + 1
        else:
            assert replies == evaluations >= 1
        if s.state is S.REHANDLING:
            assert s.evaluations[-1] == Evaluation.DISSATISFIED
        if s.state is S.FOLLOW_UP:  # follow-up only after a B or C reply the deputy accepted
            assert s.last_category in (ReplyCategory.B, ReplyCategory.C)
            assert s.evaluations[-1] != Evaluation.DISSATISFIED
            assert self.previous_state in (S.REPLIED, S.FOLLOW_UP)
        if s.state in (S.EVALUATED, S.CLOSED):  # a closed suggestion has an evaluation and a last reply
            assert s.evaluations and s.evaluations[-1] != Evaluation.DISSATISFIED
            assert s.last_category is not None
        assert all(r["category"] in set(ReplyCategory) for r in s.replies)
        assert set(s.supervisions) <= set(SupervisionType)
        assert s.priority is self.model_priority
        # "被满意" is impossible: every evaluation was recorded by the lead deputy's own account
        for event in self.events:
            if isinstance(event, Suggestion.Evaluated):
                assert (event.role, event.actor, event.deputy_id) == ("deputy", str(LEAD), LEAD)

    @invariant()
    def overdue_only_while_unreplied(self) -> None:
        s = self.suggestion
        late = date(2030, 1, 1)
        assert s.is_overdue(late) is (s.state in (S.ASSIGNED, S.IN_HANDLING))

    def teardown(self) -> None:
        label_run(f"suggestion ended {self.suggestion.state.value}")
        try:
            rebuilt = replay(self.events)
            assert state_of(rebuilt) == state_of(self.suggestion)
            assert [e.originator_version for e in self.events] == list(range(1, len(self.events) + 1))
            store = self.store()
            store.save(self.suggestion)
            assert store.get(self.suggestion.id) == self.suggestion
            assert [type(e) for e in store.history(self.suggestion.id)] == [type(e) for e in self.events]
        finally:
            if self._store is not None:
                self._store.close()
            if self._tmp is not None:
                self._tmp.cleanup()


SuggestionMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestSuggestionLifecycle = SuggestionMachine.TestCase


# ========================================================================================= livelihood project

BAD_MONEY = st.sampled_from([Decimal("NaN"), Decimal("-0.01"), "-1", "abc", "", None, float("inf"), Decimal("1e9"), "1e30"])
MONEY = st.one_of(
    st.decimals(min_value=0, max_value=5000, places=2),
    st.integers(0, 5000),
    st.decimals(min_value=0, max_value=5000, places=4).map(str),
    BAD_MONEY,
)


@st.composite
def tallies(draw: st.DrawFn) -> dict[str, int]:
    """Mostly well-formed tallies (so projects do pass and fail), sometimes broken ones."""
    total = draw(st.integers(1, 60))
    present = draw(st.integers(0, total))
    yes = draw(st.integers(0, present))
    no = draw(st.integers(0, present - yes))
    abstain = draw(st.integers(0, present - yes - no))
    tally = {"yes": yes, "no": no, "abstain": abstain, "present": present, "total_deputies": total}
    if draw(st.integers(0, 5)) == 0:  # break one field
        field = draw(st.sampled_from(sorted(tally)))
        tally[field] = draw(st.integers(-2, 70))
    return tally


COMMANDS = st.one_of(
    st.tuples(st.just("list"), st.fixed_dictionaries({"estimate_wan": MONEY})),
    st.tuples(
        st.just("deliberate"), st.fixed_dictionaries({"deputies_present": st.integers(-1, 60), "opinions": st.integers(-1, 9)})
    ),
    st.tuples(st.just("vote"), tallies()),
    st.tuples(st.just("implement"), st.fixed_dictionaries({"budget_wan": MONEY, "lead_unit": st.sampled_from(["镇政府", " "])})),
    st.tuples(
        st.just("progress"),
        st.fixed_dictionaries({"progress": st.one_of(st.just(100), st.integers(-5, 105)), "spent_wan": MONEY}),
    ),
    st.tuples(st.just("supervise"), st.fixed_dictionaries({"action": st.sampled_from(["代表视察", ""])})),
    st.tuples(
        st.just("evaluate"),
        st.fixed_dictionaries(
            {"satisfied": st.integers(-1, 40), "basically_satisfied": st.integers(-1, 10), "dissatisfied": st.integers(-1, 5)}
        ),
    ),
    st.tuples(st.just("close"), st.just({})),
    st.tuples(st.just("reload"), st.just({})),
)


def good_money(value: object, floor: Decimal = Decimal(0)) -> Decimal | None:
    try:
        amount = Decimal(value)  # type: ignore[arg-type]
    except Exception:
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_WAN:
        return None
    amount = amount.quantize(Decimal("0.01"))
    return amount if amount >= floor else None


def livelihood_model(p: LivelihoodProject, name: str, kw: dict[str, Any]) -> ProjectState | None:
    """The state the project must be in after the command, or None if the command must be rejected."""
    st_ = p.state
    if name == "list":
        return P.CANDIDATE if st_ is P.PROPOSED and good_money(kw["estimate_wan"]) is not None else None
    if name == "deliberate":
        return P.DELIBERATED if st_ is P.CANDIDATE and kw["deputies_present"] > 0 and kw["opinions"] >= 0 else None
    if name == "vote":
        y, n, a, present, total = (kw[k] for k in ("yes", "no", "abstain", "present", "total_deputies"))
        valid = min(y, n, a) >= 0 and total > 0 and present <= total and y + n + a <= present and 3 * present >= 2 * total
        if st_ is not P.DELIBERATED or not valid:
            return None
        return P.PASSED if 2 * y > total else P.REJECTED
    if name == "implement":
        ok = st_ is P.PASSED and good_money(kw["budget_wan"]) is not None and is_text(kw["lead_unit"])
        return P.IMPLEMENTING if ok else None
    if name == "progress":
        ok = (
            st_ is P.IMPLEMENTING
            and p.progress <= kw["progress"] <= 100
            and good_money(kw["spent_wan"], p.spent_wan) is not None
            and good_money(kw["spent_wan"]) <= p.budget_wan  # no overspend_reason given: within the budget only
        )
        return P.IMPLEMENTING if ok else None
    if name == "supervise":
        return P.IMPLEMENTING if st_ is P.IMPLEMENTING and is_text(kw["action"]) else None
    if name == "evaluate":
        counts = (kw["satisfied"], kw["basically_satisfied"], kw["dissatisfied"])
        ok = st_ is P.IMPLEMENTING and p.progress == 100 and min(counts) >= 0 and 0 < sum(counts) <= p.tally["total_deputies"]
        return P.EVALUATED if ok else None
    if name == "close":
        return P.CLOSED if st_ in (P.EVALUATED, P.REJECTED) else None
    raise AssertionError(name)


def check_project(p: LivelihoodProject, before: tuple[int, Decimal]) -> None:
    assert isinstance(p.state, ProjectState) and p.state in set(ProjectState)
    assert 0 <= p.progress <= 100 and p.progress >= before[0]  # progress monotone 0..100
    assert p.spent_wan >= before[1]  # spending never goes back
    for amount in (p.estimate_wan, p.budget_wan, p.spent_wan):
        assert amount.is_finite() and 0 <= amount <= MAX_WAN
    if p.state in (P.PROPOSED, P.CANDIDATE, P.DELIBERATED):
        assert p.tally == {}
    else:
        t = p.tally
        assert min(t["yes"], t["no"], t["abstain"]) >= 0
        assert t["yes"] + t["no"] + t["abstain"] <= t["present"] <= t["total_deputies"]
        assert 2 * t["present"] > t["total_deputies"]
        passed = passes(t["yes"], t["total_deputies"])
        assert passed is (2 * t["yes"] > t["total_deputies"])
        if p.state in (P.PASSED, P.IMPLEMENTING, P.EVALUATED):
            assert passed
        elif p.state is P.REJECTED:
            assert not passed
        else:  # closed: evaluated if it passed, never implemented if it failed
            assert passed is bool(p.satisfaction)
    if p.state in (P.PROPOSED, P.CANDIDATE, P.DELIBERATED, P.PASSED, P.REJECTED):
        assert (p.progress, p.spent_wan, p.lead_unit, p.supervisions) == (0, 0, "", 0)
    if p.satisfaction:
        assert p.progress == 100 and sum(p.satisfaction.values()) > 0
        assert p.state in (P.EVALUATED, P.CLOSED)


@pytest.fixture(scope="module")
def town_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeStore]:
    store = NodeStore(TOWN, StoreSettings(store="sqlite", data_dir=tmp_path_factory.mktemp("livelihood")))
    yield store
    store.close()


def _run(project: LivelihoodProject, name: str, kw: dict[str, Any]) -> None:
    by = CLERK
    if name == "list":
        project.list_as_candidate(by, **kw)
    elif name == "deliberate":
        project.deliberate(by, **kw)
    elif name == "vote":
        project.vote(by, session="第五次会议", **kw)
    elif name == "implement":
        project.start_implementation(by, **kw)
    elif name == "progress":
        project.report_progress(by, **kw)
    elif name == "supervise":
        project.supervise(by, **kw)
    elif name == "evaluate":
        project.evaluate(by, **kw)
    elif name == "close":
        project.close(by)


# A prefix that walks part of the happy path, so that the later states are explored too.
HAPPY_PREFIX: list[tuple[str, dict[str, Any]]] = [
    ("list", {"estimate_wan": Decimal("300")}),
    ("deliberate", {"deputies_present": 40, "opinions": 3}),
    ("vote", {"yes": 30, "no": 5, "abstain": 0, "present": 40, "total_deputies": 50}),
    ("implement", {"budget_wan": Decimal("280"), "lead_unit": "镇政府"}),
    ("progress", {"progress": 100, "spent_wan": Decimal("275.5")}),
    ("evaluate", {"satisfied": 30, "basically_satisfied": 8, "dissatisfied": 2}),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.integers(0, len(HAPPY_PREFIX)), commands=st.lists(COMMANDS, max_size=25))
def test_livelihood_random_commands(town_store: NodeStore, prefix: int, commands: list[tuple[str, dict[str, Any]]]) -> None:
    project = LivelihoodProject.propose(TOWN, CLERK, year=2025, title=f"集镇供水工程-{uuid4().hex[:12]}", category="民生")
    events: list[Any] = list(project.pending_events)
    for name, kw in [*HAPPY_PREFIX[:prefix], *commands]:
        if name == "reload":
            town_store.save(project)
            reloaded = town_store.get(project.id)
            assert reloaded == project
            project = reloaded
            continue
        before = (project.progress, project.spent_wan)
        expected = livelihood_model(project, name, kw)
        pending = len(project.pending_events)
        accepted = attempt(project, partial(_run, project, name, kw))
        assert accepted is (expected is not None), f"{name} {kw} in {project.state}: model says {expected}"
        if accepted:
            assert project.state is expected
            events.extend(project.pending_events[pending:])
        check_project(project, before)

    label_run(f"project ended {project.state.value}")
    rebuilt = replay(events)
    assert state_of(rebuilt) == state_of(project)
    town_store.save(project)
    assert town_store.get(project.id) == project
    assert len(town_store.history(project.id)) == len(events)
