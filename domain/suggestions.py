"""Deputies' suggestions (代表建议): submitted, assigned, handled, replied A/B/C, evaluated by the lead deputy only.

    submitted ─assign─▶ assigned ─start_handling─▶ in_handling ─reply─▶ replied ─evaluate─┬─▶ evaluated ─close─▶ closed
                                                        ▲                                  ├─▶ follow_up ─mark_solved─▶ evaluated
                                                        └──────────── rehandling ◀─────────┘ (dissatisfied)

B and C replies stay under follow-up (跟踪督办) until solved. Only the lead deputy evaluates: with their own deputy
credential (``evaluate``: entry ``self``), or on a paper form they signed, which the office enters (代录,
``enter_evaluation``: entry ``office``, with the form's number; the clerk is the event's actor and token). No office
account can record an evaluation as the deputy's own ("被满意" must be impossible, and an office entry is always
shown as one).

The owner office corrects (更正) the title and category of a submission, the lead unit and due date of an assignment,
and the category of a reply until the lead deputy evaluates it (the evaluation judged the reply as recorded); and voids
(作废) a suggestion entered in error, at any step.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain.base import (
    Attribution,
    DomainError,
    DutyAggregate,
    Fact,
    NodeRef,
    Role,
    Step,
    choice,
    member,
    natural_id,
    require_text,
)
from domain.labelled import Labelled
from domain.levels import CongressLevel
from domain.terms import term_years
from domain.timeline import day_of


class SuggestionState(Labelled):
    SUBMITTED = "submitted", "已提出"
    ASSIGNED = "assigned", "已交办"
    IN_HANDLING = "in_handling", "办理中"
    REPLIED = "replied", "已答复"
    REHANDLING = "rehandling", "重新办理"
    FOLLOW_UP = "follow_up", "跟踪督办"
    EVALUATED = "evaluated", "已评价"
    CLOSED = "closed", "已办结"


class ReplyCategory(Labelled):
    A = "A", "A类(已解决或基本解决)"  # solved or basically solved
    B = "B", "B类(正在解决或列入计划)"  # being solved / planned
    C = "C", "C类(留作参考)"  # cannot be solved now, kept for reference


class Evaluation(Labelled):
    SATISFIED = "satisfied", "满意"
    BASICALLY_SATISFIED = "basically_satisfied", "基本满意"
    DISSATISFIED = "dissatisfied", "不满意"


class EvaluationEntry(Labelled):
    """How an evaluation came to be recorded."""

    SELF = "self", "代表本人评价"  # with the deputy's own credential
    OFFICE = "office", "办公室代录"  # entered by the office from the deputy's signed paper form


class SupervisionType(Labelled):
    CHAIR_LED = "chair_led", "主任领衔督办"
    LEADER_LED = "leader_led", "领导领办"  # 政府领导领办
    COMMITTEE_COUNTERPART = "committee_counterpart", "专委会对口督办"
    DEPUTY_INSPECTION_REVIEW = "deputy_inspection_review", "代表视察评议"
    SC_REPORT_REVIEW = "sc_report_review", "常委会审议报告"  # 常委会听取审议报告
    SPECIAL_INQUIRY = "special_inquiry", "专题询问"
    PROGRESS_MEETING = "progress_meeting", "推进会"
    FOLLOW_UP = "follow_up", "跟踪督办"


_OPEN = frozenset(SuggestionState) - {SuggestionState.CLOSED}
_UNDER_HANDLING = _OPEN - {SuggestionState.SUBMITTED}


class Suggestion(DutyAggregate):
    label: ClassVar[str] = "suggestion"

    class Submitted(DutyAggregate.Created):
        """Version 2 names a lead deputy and co-signers; version 1 had a single ``deputy_id``."""

        label: ClassVar[str] = "提出建议"
        class_version: ClassVar[int] = 2
        number: str
        congress: str
        term: int
        session: int
        title: str
        content: str
        category: str
        lead_deputy_id: UUID
        co_deputy_ids: list[UUID]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["lead_deputy_id"] = state.pop("deputy_id")
            state["co_deputy_ids"] = []

        def apply(self, suggestion: Suggestion) -> None:
            suggestion.number = self.number
            suggestion.congress = self.congress
            suggestion.term = self.term
            suggestion.session = self.session
            suggestion.title = self.title
            suggestion.category = self.category
            suggestion.lead_deputy_id = self.lead_deputy_id
            suggestion.co_deputy_ids = list(self.co_deputy_ids)
            suggestion.state = SuggestionState.SUBMITTED
            suggestion.lead_unit = ""
            suggestion.co_units = []
            suggestion.due_on = None
            suggestion.replies = []
            suggestion.evaluations = []
            suggestion.priority = False
            suggestion.leader = ""
            suggestion.supervisions = []
            suggestion.step = suggestion.submitted = suggestion.assigned = Step.of(self)

    class Assigned(DutyAggregate.Event):
        label: ClassVar[str] = "交办"
        lead_unit: str
        co_units: list[str]
        due_on: date

        def apply(self, suggestion: Suggestion) -> None:
            suggestion.lead_unit = self.lead_unit
            suggestion.co_units = list(self.co_units)
            suggestion.due_on = self.due_on
            suggestion.state = SuggestionState.ASSIGNED
            suggestion.step = suggestion.assigned = Step.of(self)
            suggestion.assigned_version = self.originator_version  # what a correction of the assignment names

    class HandlingStarted(DutyAggregate.Event):
        label: ClassVar[str] = "开始办理(联系代表)"
        contacted_on: date

        def apply(self, suggestion: Suggestion) -> None:
            suggestion.state = SuggestionState.IN_HANDLING
            suggestion.step = Step.of(self, self.contacted_on)

    class Replied(DutyAggregate.Event):
        label: ClassVar[str] = "答复"
        category: str
        text: str
        replied_on: date

        def apply(self, suggestion: Suggestion) -> None:
            suggestion.replies.append(
                {
                    "category": self.category,
                    "replied_on": self.replied_on,
                    "version": self.originator_version,  # what a correction of the reply names
                    "day": day_of(self.occurred_at),
                }
            )
            suggestion.state = SuggestionState.REPLIED
            suggestion.step = Step.of(self, self.replied_on)

    class Evaluated(DutyAggregate.Event):
        """Version 2 says how it was recorded (``entry``) and, entered by the office, the signed form's number;
        version 1 was always the deputy's own."""

        label: ClassVar[str] = "代表评价"
        class_version: ClassVar[int] = 2
        deputy_id: UUID
        evaluation: str
        comment: str
        entry: str
        form_number: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["entry"] = EvaluationEntry.SELF.value
            state["form_number"] = ""

        def apply(self, suggestion: Suggestion) -> None:
            suggestion.evaluations.append(self.evaluation)
            suggestion.step = Step.of(self)
            if self.evaluation == Evaluation.DISSATISFIED:
                suggestion.state = SuggestionState.REHANDLING
            elif suggestion.replies[-1]["category"] == ReplyCategory.A:
                suggestion.state = SuggestionState.EVALUATED
            else:
                suggestion.state = SuggestionState.FOLLOW_UP

    class Solved(DutyAggregate.Event):
        label: ClassVar[str] = "跟踪督办后解决"
        note: str
        solved_on: date

        def apply(self, suggestion: Suggestion) -> None:
            suggestion.state = SuggestionState.EVALUATED
            suggestion.step = Step.of(self, self.solved_on)

    class MarkedPriority(DutyAggregate.Event):
        label: ClassVar[str] = "确定为重点处理建议"
        leader: str  # 领办 government leader, or "" when not leader-led

        def apply(self, suggestion: Suggestion) -> None:
            suggestion.priority = True
            suggestion.leader = self.leader

    class Supervised(DutyAggregate.Event):
        label: ClassVar[str] = "督办"
        supervision: str
        note: str

        def apply(self, suggestion: Suggestion) -> None:
            suggestion.supervisions.append(self.supervision)

    class Closed(DutyAggregate.Event):
        label: ClassVar[str] = "办结"

        def apply(self, suggestion: Suggestion) -> None:
            suggestion.state = SuggestionState.CLOSED
            suggestion.step = Step.of(self)

    if TYPE_CHECKING:  # state set by the events' apply(); annotations here would make a dataclass __init__
        number: str
        congress: str
        term: int
        session: int
        title: str
        category: str
        lead_deputy_id: UUID
        co_deputy_ids: list[UUID]
        state: SuggestionState
        lead_unit: str
        co_units: list[str]
        due_on: date | None
        replies: list[dict[str, Any]]
        evaluations: list[str]
        priority: bool
        leader: str
        supervisions: list[str]
        submitted: Step  # the steps that side steps (priority, supervision) are ordered against
        assigned: Step
        assigned_version: int

    @staticmethod
    def id_for(owner: UUID, term: int, session: int, number: str) -> UUID:
        return natural_id("suggestion", owner, term, session, number)

    @classmethod
    def submit(
        cls,
        owner: NodeRef,
        by: Attribution,
        *,
        number: str,
        congress: CongressLevel | str,
        term: int,
        session: int,
        title: str,
        content: str,
        category: str,
        lead_deputy_id: UUID,
        co_deputy_ids: list[UUID] | None = None,
    ) -> Suggestion:
        where = f"suggestion {number}"
        number = require_text(where, "number", number, 32)
        level = choice(where, "congress", CongressLevel, congress)
        if level is CongressLevel.NATIONAL:
            raise DomainError(where, "new", "national deputies' suggestions go to the NPC, not to a Hunan office")
        if level.recorded_at is not owner.level:
            raise DomainError(
                where, "new", f"{level.label} suggestions are handled by the {level.recorded_at.label} office, not {owner}"
            )
        if not owner.has_congress:
            raise DomainError(where, "new", f"{owner} is a {owner.kind.label}: it has no congress to submit suggestions to")
        co = list(co_deputy_ids or [])
        if lead_deputy_id in co or len(set(co)) != len(co):
            raise DomainError(where, "new", "co-signers must be distinct and not the lead deputy")
        if not (1 <= term <= 99 and 1 <= session <= 10):
            raise DomainError(where, "new", f"term must be 1..99 and session 1..10 (got {term}, {session})")
        first, last = term_years(level, term)
        if not first <= by.day.year <= last + 1:  # a recess suggestion of a term's last year: before the next session
            raise DomainError(
                where,
                "new",
                f"term {term} of the {level.label} congress runs {first}–{last}: a suggestion submitted on {by.day}"
                " belongs to another term (届次与提出时间不符)",
            )
        return cls.start(
            cls.Submitted,
            cls.id_for(owner.node_id, term, session, number),
            owner.node_id,
            by,
            number=number,
            congress=level._value_,
            term=term,
            session=session,
            title=require_text(where, "title", title),
            content=require_text(where, "content", content, 20_000),
            category=require_text(where, "category", category, 50),
            lead_deputy_id=lead_deputy_id,
            co_deputy_ids=co,
        )

    @property
    def state_label(self) -> str:
        return self.state.value

    def assign(self, by: Attribution, *, lead_unit: str, co_units: list[str] | None = None, due_on: date) -> None:
        self._require_state(SuggestionState.SUBMITTED)
        self.follows(by)
        lead = self.text("lead_unit", lead_unit, 100)
        co = [u.strip() for u in co_units or []]
        self.require(
            lead not in co and len(set(co)) == len(co) and all(co), "co-units must be distinct, non-empty and not the lead unit"
        )
        if not due_on > by.occurred_at.date():  # the rule's text only when it is broken
            raise self.reject(f"due date {due_on} must be after the assignment ({by.occurred_at.date()})")
        self.record(self.Assigned, by, lead_unit=lead, co_units=co, due_on=due_on)

    def start_handling(self, by: Attribution, *, contacted_on: date) -> None:
        """The unit must contact the deputy before it replies; the contact date is the proof."""
        self._require_state(SuggestionState.ASSIGNED)
        self.follows(by, "contacted_on", contacted_on)
        self.record(self.HandlingStarted, by, contacted_on=contacted_on)

    def reply(self, by: Attribution, *, category: ReplyCategory | str, text: str, replied_on: date) -> None:
        self._require_state(SuggestionState.IN_HANDLING, SuggestionState.REHANDLING)
        self.follows(by, "replied_on", replied_on)
        self.record(
            self.Replied,
            by,
            category=self.pick("category", ReplyCategory, category)._value_,
            text=self.text("text", text, 20_000),
            replied_on=replied_on,
        )

    def evaluate(self, by: Attribution, *, deputy_id: UUID, evaluation: Evaluation | str, comment: str = "") -> None:
        self._require_state(SuggestionState.REPLIED)
        # Rules' texts are made only when a rule is broken (they format ids).
        if by.role is not Role.DEPUTY:
            raise self.reject(f"only the lead deputy evaluates a reply; an account in role {by.role.value} cannot")
        if deputy_id != self.lead_deputy_id:
            raise self.reject(f"only the lead deputy {self.lead_deputy_id} evaluates this reply, not {deputy_id}")
        self.require(by.actor == str(deputy_id), "the evaluation must be recorded by the lead deputy's own account")
        self._evaluated(by, deputy_id, evaluation, comment, EvaluationEntry.SELF, "")

    def enter_evaluation(
        self,
        office: NodeRef,
        by: Attribution,
        *,
        deputy_id: UUID,
        evaluation: Evaluation | str,
        form_number: str,
        comment: str = "",
    ) -> None:
        """代录: the office enters the lead deputy's evaluation from the paper form the deputy signed; recorded as the
        office's entry (the clerk is the actor), never as the deputy's own."""
        self._require_state(SuggestionState.REPLIED)
        if by.role not in (Role.RECORDER, Role.ADMINISTRATOR):
            raise self.reject(f"an evaluation is entered from a signed form by an office account, not a {by.role.value}")
        if office.node_id != self.owner:
            raise self.reject(f"only the office handling the suggestion enters its evaluation, not {office}")
        if deputy_id != self.lead_deputy_id:
            raise self.reject(f"only the lead deputy {self.lead_deputy_id} evaluates this reply, not {deputy_id}")
        number = self.text("form_number", form_number, 50)  # the signed paper form's number (评价表编号)
        self._evaluated(by, deputy_id, evaluation, comment, EvaluationEntry.OFFICE, number)

    def _evaluated(
        self, by: Attribution, deputy_id: UUID, evaluation: Evaluation | str, comment: str, entry: EvaluationEntry, form: str
    ) -> None:
        self.follows(by)
        result = self.pick("evaluation", Evaluation, evaluation)
        self.record(
            self.Evaluated,
            by,
            deputy_id=deputy_id,
            evaluation=result._value_,
            comment=comment.strip(),
            entry=entry._value_,
            form_number=form,
        )

    def mark_solved(self, by: Attribution, *, note: str, solved_on: date) -> None:
        self._require_state(SuggestionState.FOLLOW_UP)
        self.follows(by, "solved_on", solved_on)
        self.record(self.Solved, by, note=self.text("note", note, 2000), solved_on=solved_on)

    def mark_priority(self, by: Attribution, *, leader: str = "") -> None:
        self._require_state(*_OPEN)
        self.require(not self.priority, "already a priority suggestion")
        self.not_before("occurred_at", by.day, self.submitted.label, self.submitted.occurred)
        self.record(self.MarkedPriority, by, leader=leader.strip())

    def supervise(self, by: Attribution, *, supervision: SupervisionType | str, note: str = "") -> None:
        self._require_state(*_UNDER_HANDLING)
        kind = self.pick("supervision", SupervisionType, supervision)
        self.not_before("occurred_at", by.day, self.assigned.label, self.assigned.occurred)
        self.record(self.Supervised, by, supervision=kind._value_, note=note.strip())

    def close(self, by: Attribution) -> None:
        self._require_state(SuggestionState.EVALUATED)
        self.follows(by)
        self.record(self.Closed, by)

    # ---------------------------------------------------------------------------------------------- corrections

    correctable: ClassVar[dict[str, tuple[str, ...]]] = {
        "submission": ("title", "category"),
        "assignment": ("lead_unit", "due_on"),
        "reply": ("category",),
    }
    voidable: ClassVar[bool] = True

    def fact(self, fact: str, number: int) -> Fact:
        if fact == "reply":
            return self.nth(fact, number, self.replies)
        if fact == "assignment":
            if self.state is SuggestionState.SUBMITTED:
                raise self.reject("fact: the suggestion has not been assigned yet (尚未交办)")
            return self.single(fact, number, self.assigned_version, self.assigned.occurred, vars(self))
        return self.single(fact, number, 1, self.submitted.occurred, vars(self))

    def checked_correction(self, fact: str, number: int, changes: dict[str, Any], by: Attribution) -> dict[str, Any]:
        for name, most in (("title", 200), ("lead_unit", 100)):
            if name in changes:
                changes[name] = self.text(name, changes[name], most)
        if fact == "submission" and "category" in changes:
            changes["category"] = self.text("category", changes["category"], 50)
        if fact == "reply":
            if number <= len(self.evaluations):
                raise self.reject(
                    f"reply {number} was evaluated by the lead deputy as recorded: its category can no longer be corrected"
                    " (已评价的答复不可更正类别)"
                )
            changes["category"] = self.pick("category", ReplyCategory, changes["category"])._value_
        if changes.get("lead_unit") in self.co_units:
            raise self.reject(f"lead_unit {changes['lead_unit']} is one of the co-units: co-units must not be the lead unit")
        if "due_on" in changes:
            due_on = changes["due_on"] = self._day("due_on", changes["due_on"])
            if not due_on > self.assigned.occurred:
                raise self.reject(f"due date {due_on} must be after the assignment ({self.assigned.occurred})")
        return changes

    def _day(self, field: str, value: Any) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise self.reject(f"{field} must be a date YYYY-MM-DD (got {value!r})") from None

    @property
    def last_category(self) -> ReplyCategory | None:
        return member(ReplyCategory, self.replies[-1]["category"]) if self.replies else None

    def is_overdue(self, today: date) -> bool:
        """Assigned and not yet replied after its due date."""
        not_replied = self.state in (SuggestionState.ASSIGNED, SuggestionState.IN_HANDLING)
        return not_replied and self.due_on is not None and today > self.due_on

    def _require_state(self, *allowed: SuggestionState) -> None:
        if self.state not in allowed:
            names = " or ".join(s.label for s in sorted(allowed, key=list(SuggestionState).index))
            raise self.reject(f"this step needs the suggestion to be {names}, but it is {self.state.label}")
