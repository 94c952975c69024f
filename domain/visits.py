"""Station visits (进站履职): deputies on duty at a station on a date, the people they received, the issues raised.

Every issue raised ends resolved on the spot or transferred to a unit; a visit closes only when none is pending.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain.base import Attribution, DutyAggregate, Fact, NodeRef, Step, member, natural_id
from domain.labelled import Labelled
from domain.stations import Station, StationStatus
from domain.timeline import day_of


class IssueStatus(Labelled):
    RAISED = "raised", "待处理"
    RESOLVED = "resolved", "已解决"
    TRANSFERRED = "transferred", "已转办"


_RAISED = IssueStatus.RAISED._value_
_RESOLVED = IssueStatus.RESOLVED._value_
_TRANSFERRED = IssueStatus.TRANSFERRED._value_


class StationVisit(DutyAggregate):
    label: ClassVar[str] = "station visit"

    class Recorded(DutyAggregate.Created):
        label: ClassVar[str] = "进站接待"
        station_id: UUID
        visit_date: date
        deputy_ids: list[UUID]
        people_received: int

        def apply(self, visit: StationVisit) -> None:
            visit.station_id = self.station_id
            visit.visit_date = self.visit_date
            visit.deputy_ids = list(self.deputy_ids)
            visit.people_received = self.people_received
            visit.issues = []
            visit.closed = False
            visit.step = Step.of(self, self.visit_date)

    class IssueRaised(DutyAggregate.Event):
        label: ClassVar[str] = "反映问题"
        summary: str
        category: str
        raised_by_name: str
        raised_by_phone: str  # personal data of the public: masked by the gateways unless the role may see it

        def apply(self, visit: StationVisit) -> None:
            visit.issues.append(
                {
                    "summary": self.summary,
                    "category": self.category,
                    "raised_by_name": self.raised_by_name,
                    "raised_by_phone": self.raised_by_phone,
                    "status": _RAISED,
                    "outcome": "",
                    "version": self.originator_version,  # what a correction of the issue names
                    "day": day_of(self.occurred_at),
                }
            )
            visit.step = Step.of(self)

    class IssueResolved(DutyAggregate.Event):
        label: ClassVar[str] = "当场解决"
        number: int
        outcome: str

        def apply(self, visit: StationVisit) -> None:
            visit.issues[self.number - 1].update(status=_RESOLVED, outcome=self.outcome)
            visit.step = Step.of(self)

    class IssueTransferred(DutyAggregate.Event):
        label: ClassVar[str] = "转交办理"
        number: int
        to_unit: str

        def apply(self, visit: StationVisit) -> None:
            visit.issues[self.number - 1].update(status=_TRANSFERRED, outcome=self.to_unit)
            visit.step = Step.of(self)

    class Closed(DutyAggregate.Event):
        label: ClassVar[str] = "接待办结"

        def apply(self, visit: StationVisit) -> None:
            visit.closed = True
            visit.step = Step.of(self)

    if TYPE_CHECKING:  # state set by the events' apply(); annotations here would make a dataclass __init__
        station_id: UUID
        visit_date: date
        deputy_ids: list[UUID]
        people_received: int
        issues: list[dict[str, Any]]
        closed: bool

    @classmethod
    def record_visit(
        cls,
        owner: NodeRef,
        by: Attribution,
        *,
        station: Station,
        visit_date: date,
        deputy_ids: list[UUID],
        people_received: int,
        visit_id: UUID | None = None,
    ) -> StationVisit:
        """Record deputies on duty; each must be enrolled at the station, which must be open and owned here."""
        # Rules' texts are made only when a rule is broken (they format node names and ids).
        if station.owner != owner.node_id:
            raise station.reject(f"the station belongs to another node than {owner}")
        if station.status is not StationStatus.OPEN:
            raise station.reject(f"the station is {station.status.label}, not open")
        station.require(bool(deputy_ids), "at least one deputy must be on duty")
        station.require(len(set(deputy_ids)) == len(deputy_ids), "a deputy is listed twice")
        enrolled = station.enrolled
        for deputy_id in deputy_ids:
            if deputy_id not in enrolled:
                raise station.reject(f"deputy {deputy_id} is not enrolled at {station.name}")
        problem = people_problem(people_received)
        if problem:
            raise station.reject(problem)
        station.dated("visit_date", visit_date, by)
        key = visit_id or natural_id("visit", station.id, visit_date.isoformat(), *sorted(d.hex for d in deputy_ids))
        return cls.start(
            cls.Recorded,
            key,
            owner.node_id,
            by,
            station_id=station.id,
            visit_date=visit_date,
            deputy_ids=list(deputy_ids),
            people_received=people_received,
        )

    #: What a visit's record may correct: the people received, an issue's summary and category. Its station, date
    #: and deputies on duty are its natural key (its id): a visit recorded under a wrong one is voided and recorded
    #: again, so that the same visit stays refused as a duplicate.
    correctable: ClassVar[dict[str, tuple[str, ...]]] = {"visit": ("people_received",), "issue": ("summary", "category")}
    voidable: ClassVar[bool] = True

    @property
    def state_label(self) -> str:
        return "closed" if self.closed else "open"

    def fact(self, fact: str, number: int) -> Fact:
        if fact == "issue":
            return self.nth(fact, number, self.issues)
        return self.single(fact, number, 1, self.visit_date, vars(self))

    def checked_correction(self, fact: str, number: int, changes: dict[str, Any], by: Attribution) -> dict[str, Any]:
        if "people_received" in changes:
            problem = people_problem(changes["people_received"])
            if problem:
                raise self.reject(problem)
        if "summary" in changes:
            changes["summary"] = self.text("summary", changes["summary"], 500)
        if "category" in changes:
            changes["category"] = self.text("category", changes["category"], 50)
        return changes

    def raise_issue(
        self, by: Attribution, *, summary: str, category: str, raised_by_name: str = "", raised_by_phone: str = ""
    ) -> int:
        self.require(not self.closed, "the visit is closed")
        self.follows(by)
        self.record(
            self.IssueRaised,
            by,
            summary=self.text("summary", summary, 500),
            category=self.text("category", category, 50),
            raised_by_name=raised_by_name.strip(),
            raised_by_phone=raised_by_phone.strip(),
        )
        return len(self.issues)

    def resolve_issue(self, by: Attribution, *, number: int, outcome: str) -> None:
        self._require_pending(number)
        self.follows(by)
        self.record(self.IssueResolved, by, number=number, outcome=self.text("outcome", outcome, 500))

    def transfer_issue(self, by: Attribution, *, number: int, to_unit: str) -> None:
        self._require_pending(number)
        self.follows(by)
        self.record(self.IssueTransferred, by, number=number, to_unit=self.text("to_unit", to_unit, 100))

    def close(self, by: Attribution) -> None:
        self.require(not self.closed, "the visit is already closed")
        pending = [i + 1 for i, issue in enumerate(self.issues) if issue["status"] == _RAISED]
        if pending:
            raise self.reject(f"issues {pending} are neither resolved nor transferred")
        self.follows(by)
        self.record(self.Closed, by)

    def _require_pending(self, number: int) -> None:
        self.require(not self.closed, "the visit is closed")
        if not 1 <= number <= len(self.issues):
            raise self.reject(f"no issue number {number} (this visit has {len(self.issues)})")
        status = member(IssueStatus, self.issues[number - 1]["status"])
        if status is not IssueStatus.RAISED:
            raise self.reject(f"issue {number} is already {status.label}")


def people_problem(people: int) -> str | None:
    """What is wrong with the people received at one visit, if anything: a count, 0..10000 (more is a typing mistake)."""
    if type(people) is not int or not 0 <= people <= 10_000:
        return f"people_received must be 0..10000 (got {people!r})"
    return None
