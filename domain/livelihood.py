"""Livelihood projects voted by deputies (民生实事代表票决制), at 镇/乡 and county congresses only.

    proposed ─list─▶ candidate ─deliberate─▶ deliberated ─vote─┬─▶ passed ─implement─▶ implementing ─evaluate─▶ evaluated
                                                               │                                                  │ close
                                                               └─▶ rejected ─────────────────────close──────────▶ closed

The vote records only the tally, never who voted how. A project passes only with more yes votes than half of
**all** deputies of the congress, whoever was present.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain.base import Attribution, DomainError, DutyAggregate, Fact, NodeRef, Step, choice, natural_id, require_text
from domain.labelled import Labelled
from domain.levels import Level
from domain.timeline import day_of


class ProjectState(Labelled):
    PROPOSED = "proposed", "群众提"
    CANDIDATE = "candidate", "征集初定"
    DELIBERATED = "deliberated", "代表议"
    PASSED = "passed", "大会决(通过)"
    REJECTED = "rejected", "大会决(未通过)"
    IMPLEMENTING = "implementing", "政府办"
    EVALUATED = "evaluated", "代表评"
    CLOSED = "closed", "已办结"


class ProposedBy(StrEnum):
    PUBLIC = "public"
    DEPUTIES = "deputies"
    GOVERNMENT = "government"


#: The most any one livelihood project costs, in 万元: 10亿元. 邵阳's 296 projects voted in 2024 were worth 9.06亿元 in
#: all (about 306万元 each); a township's or county's single project near 10亿元 is a unit mistake (元 typed as 万元).
MAX_WAN = Decimal("100000")

#: The most deputies a congress that votes livelihood projects has: 选举法 §12 caps a county congress at 450 deputies
#: (a 镇/乡 congress at 160). Deputies present, votes and evaluations count at most these.
MAX_DEPUTIES = 450


class LivelihoodProject(DutyAggregate):
    label: ClassVar[str] = "livelihood project"

    class Proposed(DutyAggregate.Created):
        label: ClassVar[str] = "群众提出"
        year: int
        title: str
        category: str
        proposed_by: str

        def apply(self, project: LivelihoodProject) -> None:
            project.year = self.year
            project.title = self.title
            project.category = self.category
            project.proposed_by = self.proposed_by
            project.state = ProjectState.PROPOSED
            project.estimate_wan = Decimal(0)
            project.budget_wan = Decimal(0)
            project.spent_wan = Decimal(0)
            project.progress = 0
            project.tally = {}
            project.lead_unit = ""
            project.supervisions = 0
            project.satisfaction = {}
            project.overspend_reason = ""
            project.reports = []
            project.step = Step.of(self)

    class Listed(DutyAggregate.Event):
        label: ClassVar[str] = "列入候选"
        estimate_wan: Decimal

        def apply(self, project: LivelihoodProject) -> None:
            project.estimate_wan = self.estimate_wan
            project.state = ProjectState.CANDIDATE
            project.step = Step.of(self)
            project.listed = (self.originator_version, project.step.occurred)

    class Deliberated(DutyAggregate.Event):
        label: ClassVar[str] = "代表审议"
        deputies_present: int
        opinions: int

        def apply(self, project: LivelihoodProject) -> None:
            project.deliberation = {"deputies_present": self.deputies_present, "opinions": self.opinions}
            project.state = ProjectState.DELIBERATED
            project.step = Step.of(self)
            project.deliberated = (self.originator_version, project.step.occurred)

    class Voted(DutyAggregate.Event):
        label: ClassVar[str] = "大会票决"
        session: str
        yes: int
        no: int
        abstain: int
        present: int
        total_deputies: int

        def apply(self, project: LivelihoodProject) -> None:
            project.tally = {
                "yes": self.yes,
                "no": self.no,
                "abstain": self.abstain,
                "present": self.present,
                "total_deputies": self.total_deputies,
            }
            project.state = ProjectState.PASSED if passes(self.yes, self.total_deputies) else ProjectState.REJECTED
            project.step = Step.of(self)
            project.voted = (self.originator_version, project.step.occurred)

    class ImplementationStarted(DutyAggregate.Event):
        label: ClassVar[str] = "政府实施"
        budget_wan: Decimal
        lead_unit: str

        def apply(self, project: LivelihoodProject) -> None:
            project.budget_wan = self.budget_wan
            project.lead_unit = self.lead_unit
            project.state = ProjectState.IMPLEMENTING
            project.step = Step.of(self)
            project.started = (self.originator_version, project.step.occurred)

    class ProgressReported(DutyAggregate.Event):
        """Version 2 carries the reason for spending more than the budget ("" while within it)."""

        label: ClassVar[str] = "进度报告"
        class_version: ClassVar[int] = 2
        progress: int
        spent_wan: Decimal
        note: str
        overspend_reason: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["overspend_reason"] = ""

        def apply(self, project: LivelihoodProject) -> None:
            project.reports.append(
                {
                    "progress": self.progress,
                    "spent_wan": self.spent_wan,
                    "overspend_reason": self.overspend_reason,
                    "version": self.originator_version,  # what a correction of the report names
                    "day": day_of(self.occurred_at),
                }
            )
            project.derive("progress")
            project.step = Step.of(self)

    class Supervised(DutyAggregate.Event):
        label: ClassVar[str] = "人大监督"
        action: str
        note: str

        def apply(self, project: LivelihoodProject) -> None:
            project.supervisions += 1
            project.step = Step.of(self)

    class Evaluated(DutyAggregate.Event):
        label: ClassVar[str] = "代表测评"
        satisfied: int
        basically_satisfied: int
        dissatisfied: int

        def apply(self, project: LivelihoodProject) -> None:
            project.satisfaction = {
                "satisfied": self.satisfied,
                "basically_satisfied": self.basically_satisfied,
                "dissatisfied": self.dissatisfied,
            }
            project.state = ProjectState.EVALUATED
            project.step = Step.of(self)
            project.evaluated = (self.originator_version, project.step.occurred)

    class Closed(DutyAggregate.Event):
        label: ClassVar[str] = "办结"

        def apply(self, project: LivelihoodProject) -> None:
            project.state = ProjectState.CLOSED
            project.step = Step.of(self)

    if TYPE_CHECKING:  # state set by the events' apply(); annotations here would make a dataclass __init__
        year: int
        title: str
        category: str
        proposed_by: str
        state: ProjectState
        estimate_wan: Decimal
        budget_wan: Decimal
        spent_wan: Decimal
        progress: int
        tally: dict[str, int]
        deliberation: dict[str, int]
        lead_unit: str
        supervisions: int
        satisfaction: dict[str, int]
        overspend_reason: str
        reports: list[dict[str, Any]]
        listed: tuple[int, date]  # the version and day of each single step (what a correction of it names)
        deliberated: tuple[int, date]
        voted: tuple[int, date]
        started: tuple[int, date]
        evaluated: tuple[int, date]

    @staticmethod
    def id_for(owner: UUID, year: int, title: str) -> UUID:
        return natural_id("livelihood", owner, year, title)

    @classmethod
    def propose(
        cls,
        owner: NodeRef,
        by: Attribution,
        *,
        year: int,
        title: str,
        category: str,
        proposed_by: ProposedBy | str = ProposedBy.PUBLIC,
    ) -> LivelihoodProject:
        where = f"livelihood project {title!r}"
        if owner.level not in (Level.TOWNSHIP, Level.COUNTY):
            raise DomainError(where, "new", f"livelihood projects are voted by 镇/乡 and county congresses, not at {owner}")
        if not owner.has_congress:
            raise DomainError(where, "new", f"{owner} is a {owner.kind.label}: it has no congress, so no livelihood voting")
        if not 2000 <= year <= 2100:
            raise DomainError(where, "new", f"year must be 2000..2100 (got {year})")
        if by.day.year not in (year - 1, year):  # proposals are gathered before the year's session votes
            raise DomainError(
                where, "new", f"a project of {year} is proposed in {year - 1} or {year}, not on {by.day} (年度与征集时间不符)"
            )
        title = require_text(where, "title", title)
        return cls.start(
            cls.Proposed,
            cls.id_for(owner.node_id, year, title),
            owner.node_id,
            by,
            year=year,
            title=title,
            category=require_text(where, "category", category, 50),
            proposed_by=choice(where, "proposed_by", ProposedBy, proposed_by)._value_,
        )

    @property
    def state_label(self) -> str:
        return self.state.value

    def list_as_candidate(self, by: Attribution, *, estimate_wan: Decimal) -> None:
        self._require_state(ProjectState.PROPOSED)
        self.follows(by)
        self.record(self.Listed, by, estimate_wan=self._money("estimate_wan", estimate_wan))

    def deliberate(self, by: Attribution, *, deputies_present: int, opinions: int = 0) -> None:
        self._require_state(ProjectState.CANDIDATE)
        self.follows(by)
        self._check_deliberation(deputies_present, opinions)
        self.record(self.Deliberated, by, deputies_present=deputies_present, opinions=opinions)

    def _check_deliberation(self, deputies_present: int, opinions: int) -> None:
        self.require(
            deputies_present > 0 and opinions >= 0, "deliberation needs deputies present and a non-negative count of opinions"
        )
        self._at_most("deputies_present", deputies_present, MAX_DEPUTIES, "the deputies a congress has (选举法 §12)")
        self._at_most("opinions", opinions, 100 * MAX_DEPUTIES, "a hundred per deputy a congress can have")

    def vote(self, by: Attribution, *, session: str, yes: int, no: int, abstain: int, present: int, total_deputies: int) -> None:
        self._require_state(ProjectState.DELIBERATED)
        self.follows(by)
        self._check_tally(yes, no, abstain, present, total_deputies)
        self.record(
            self.Voted,
            by,
            session=self.text("session", session, 50),
            yes=yes,
            no=no,
            abstain=abstain,
            present=present,
            total_deputies=total_deputies,
        )

    def _check_tally(self, yes: int, no: int, abstain: int, present: int, total_deputies: int) -> None:
        self.require(min(yes, no, abstain) >= 0, "vote counts must not be negative")
        self.require(total_deputies > 0, "the congress must have deputies")
        self._at_most("total_deputies", total_deputies, MAX_DEPUTIES, "the deputies a congress has (选举法 §12)")
        # Rules' texts are made only when a rule is broken.
        if present > total_deputies:
            raise self.reject(f"present ({present}) cannot exceed all deputies ({total_deputies})")
        if yes + no + abstain > present:
            raise self.reject(f"yes+no+abstain ({yes + no + abstain}) cannot exceed present ({present})")
        # 地方组织法: a congress session needs two thirds or more of all its deputies present.
        if 3 * present < 2 * total_deputies:
            raise self.reject(f"no quorum: {present} present of {total_deputies} is less than two thirds")

    def start_implementation(self, by: Attribution, *, budget_wan: Decimal, lead_unit: str) -> None:
        self._require_state(ProjectState.PASSED)
        self.follows(by)
        self.record(
            self.ImplementationStarted,
            by,
            budget_wan=self._money("budget_wan", budget_wan),
            lead_unit=self.text("lead_unit", lead_unit, 100),
        )

    def report_progress(
        self, by: Attribution, *, progress: int, spent_wan: Decimal, note: str = "", overspend_reason: str = ""
    ) -> None:
        """``overspend_reason``: required when ``spent_wan`` is over the budget (超支须说明理由), empty otherwise."""
        self._require_state(ProjectState.IMPLEMENTING)
        self.follows(by)
        report = self._checked_report(
            {"progress": progress, "spent_wan": spent_wan, "overspend_reason": overspend_reason},
            self.reports[-1] if self.reports else None,
            None,
        )
        self.record(self.ProgressReported, by, **report, note=note.strip())

    def _checked_report(
        self, report: dict[str, Any], earlier: dict[str, Any] | None, later: dict[str, Any] | None
    ) -> dict[str, Any]:
        """A progress report's figures in their recorded form, checked: a percentage, an amount of 万元, neither going
        back from the ``earlier`` report nor beyond the ``later`` one (a correction's neighbours), and a reason for
        spending over the budget (and only then)."""
        progress, reason = report["progress"], report["overspend_reason"].strip()
        # Rules' texts are made only when a rule is broken.
        if type(progress) is not int or not 0 <= progress <= 100:
            raise self.reject(f"progress is a percentage 0..100 (got {progress})")
        spent = self._money("spent_wan", report["spent_wan"])
        if earlier is not None:
            if progress < earlier["progress"]:
                raise self.reject(f"progress cannot go back from {earlier['progress']}% to {progress}%")
            if spent < earlier["spent_wan"]:
                raise self.reject(f"spending cannot go back from {earlier['spent_wan']} to {spent} 万元")
        if later is not None:
            if progress > later["progress"]:
                raise self.reject(f"progress {progress}% is beyond the later report's {later['progress']}%")
            if spent > later["spent_wan"]:
                raise self.reject(f"spent_wan {spent} 万元 is beyond the later report's {later['spent_wan']} 万元")
        if spent > self.budget_wan and not reason:
            raise self.reject(
                f"overspend_reason is required: spent_wan {spent} 万元 is over the budget of {self.budget_wan} 万元"
                " (超支须说明理由)"
            )
        if reason and spent <= self.budget_wan:
            raise self.reject(f"overspend_reason is only for spending over the budget ({self.budget_wan} 万元)")
        return {
            "progress": progress,
            "spent_wan": spent,
            "overspend_reason": self.text("overspend_reason", reason, 500) if reason else "",
        }

    def supervise(self, by: Attribution, *, action: str, note: str = "") -> None:
        self._require_state(ProjectState.IMPLEMENTING)
        self.follows(by)
        self.record(self.Supervised, by, action=self.text("action", action, 100), note=note.strip())

    def evaluate(self, by: Attribution, *, satisfied: int, basically_satisfied: int, dissatisfied: int) -> None:
        self._require_state(ProjectState.IMPLEMENTING)
        if self.progress != 100:
            raise self.reject(f"deputies evaluate a finished project; it is at {self.progress}%")
        self.follows(by)
        self._check_evaluation(satisfied, basically_satisfied, dissatisfied, self.tally["total_deputies"])
        self.record(self.Evaluated, by, satisfied=satisfied, basically_satisfied=basically_satisfied, dissatisfied=dissatisfied)

    def _check_evaluation(self, satisfied: int, basically_satisfied: int, dissatisfied: int, total_deputies: int) -> None:
        self.require(min(satisfied, basically_satisfied, dissatisfied) >= 0, "evaluation counts must not be negative")
        self.require(satisfied + basically_satisfied + dissatisfied > 0, "an evaluation needs at least one vote")
        # Only deputies of the congress that voted the project evaluate it.
        self._at_most(
            "satisfied+basically_satisfied+dissatisfied",
            satisfied + basically_satisfied + dissatisfied,
            total_deputies,
            "all deputies of the congress that voted it",
        )

    def close(self, by: Attribution) -> None:
        self._require_state(ProjectState.EVALUATED, ProjectState.REJECTED)
        self.follows(by)
        self.record(self.Closed, by)

    # ---------------------------------------------------------------------------------------------- corrections

    #: What a project's record may correct: the estimate of its listing, the deliberation's figures, the vote tally
    #: (not whether the project passed: that decided what followed), the budget and lead unit of its implementation,
    #: the figures of a progress report (90 entered for 9), the evaluation's votes.
    correctable: ClassVar[dict[str, tuple[str, ...]]] = {
        "candidate": ("estimate_wan",),
        "deliberation": ("deputies_present", "opinions"),
        "vote": ("yes", "no", "abstain", "present", "total_deputies"),
        "implementation": ("budget_wan", "lead_unit"),
        "progress": ("progress", "spent_wan", "overspend_reason"),
        "evaluation": ("satisfied", "basically_satisfied", "dissatisfied"),
    }
    #: Each single fact: the attribute its (version, day) is kept in, and its values (the aggregate's own: None).
    _SINGLE: ClassVar[dict[str, tuple[str, str | None]]] = {
        "candidate": ("listed", None),
        "deliberation": ("deliberated", "deliberation"),
        "vote": ("voted", "tally"),
        "implementation": ("started", None),
        "evaluation": ("evaluated", "satisfaction"),
    }
    voidable: ClassVar[bool] = True

    def fact(self, fact: str, number: int) -> Fact:
        if fact == "progress":
            return self.nth(fact, number, self.reports)
        step, values = self._SINGLE[fact]
        done: tuple[int, date] | None = getattr(self, step, None)
        if done is None:
            raise self.reject(f"fact: the project has no {fact} yet")
        return self.single(fact, number, done[0], done[1], vars(self) if values is None else getattr(self, values))

    def checked_correction(self, fact: str, number: int, changes: dict[str, Any], by: Attribution) -> dict[str, Any]:
        if fact == "progress":
            reports = self.reports
            corrected = self._checked_report(
                {**reports[number - 1], **changes},
                reports[number - 2] if number > 1 else None,
                reports[number] if number < len(reports) else None,
            )
            if number == len(reports) and self.satisfaction and corrected["progress"] != 100:
                raise self.reject(f"progress: deputies evaluated the project as finished (100%), got {corrected['progress']}%")
            return {name: corrected[name] for name in changes}
        if fact in ("deliberation", "vote", "evaluation"):
            return self._checked_counts(fact, changes)
        if "estimate_wan" in changes:
            changes["estimate_wan"] = self._money("estimate_wan", changes["estimate_wan"])
        if "lead_unit" in changes:
            changes["lead_unit"] = self.text("lead_unit", changes["lead_unit"], 100)
        if "budget_wan" in changes:
            budget = changes["budget_wan"] = self._money("budget_wan", changes["budget_wan"])
            for n, report in enumerate(self.reports, 1):
                if report["spent_wan"] > budget and not report["overspend_reason"]:
                    raise self.reject(
                        f"budget_wan {budget} 万元 is below the {report['spent_wan']} 万元 spent by progress report {n},"
                        " which gives no overspend_reason (超支须说明理由): correct the report first"
                    )
        return changes

    def derive(self, fact: str) -> None:
        if fact == "progress":
            latest = self.reports[-1]
            self.progress, self.spent_wan, self.overspend_reason = (
                latest["progress"],
                latest["spent_wan"],
                latest["overspend_reason"],
            )

    def _checked_counts(self, fact: str, changes: dict[str, Any]) -> dict[str, Any]:
        """A deliberation's, a tally's or an evaluation's corrected counts, checked with the fact's other counts by the
        rules it was recorded under (and the others that depend on them)."""
        for name, value in changes.items():
            if type(value) is not int:
                raise self.reject(f"{name} must be a whole number (got {value!r})")
        evaluated = self.satisfaction
        if fact == "deliberation":
            self._check_deliberation(**{**self.deliberation, **changes})
        elif fact == "vote":
            tally = {**self.tally, **changes}
            self._check_tally(**tally)
            if passes(tally["yes"], tally["total_deputies"]) != passes(self.tally["yes"], self.tally["total_deputies"]):
                raise self.reject(
                    "a corrected tally cannot change whether the project passed (what followed depended on it):"
                    " void the project and record it again (票决结果不可更正)"
                )
            if evaluated:
                self._check_evaluation(**evaluated, total_deputies=tally["total_deputies"])
        else:
            self._check_evaluation(**{**evaluated, **changes}, total_deputies=self.tally["total_deputies"])
        return changes

    def _money(self, field: str, value: Decimal | int | str) -> Decimal:
        try:
            amount = Decimal(value)
        except (InvalidOperation, TypeError, ValueError):
            raise self.reject(f"{field} must be an amount of 万元 (got {value!r})") from None
        if not (amount.is_finite() and amount >= 0):
            raise self.reject(f"{field} must be a non-negative amount of 万元 (got {value})")
        if amount > MAX_WAN:
            raise self.reject(
                f"{field} {amount} 万元 is implausibly large: is it in 元? (one project costs at most {MAX_WAN} 万元, 10亿元)"
            )
        return amount.quantize(Decimal("0.01"))

    def _at_most(self, field: str, count: int, most: int, what: str) -> None:
        if count > most:
            raise self.reject(f"{field} {count} is more than {what} ({most}): 人数超出")

    def _require_state(self, *allowed: ProjectState) -> None:
        if self.state not in allowed:
            names = " or ".join(s.label for s in allowed)
            raise self.reject(f"this step needs the project to be {names}, but it is {self.state.label}")


def passes(yes: int, total_deputies: int) -> bool:
    """More yes votes than half of all deputies of the congress (not of those present)."""
    return 2 * yes > total_deputies
