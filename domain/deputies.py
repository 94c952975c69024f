"""Deputies (人大代表): a person's mandates at the congress whose office records them, per term.

One person may hold mandates at several of the five levels. Each office records the mandates of its own congress
in its own ``Deputy`` aggregate (single-writer rule); the aggregates of one person at different nodes share a
``person_id``. The province's office records both national (在湘全国人大代表) and provincial mandates, so one
provincial ``Deputy`` may hold mandates at two levels.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain.base import Attribution, DomainError, DutyAggregate, Fact, NodeRef, Step, member, natural_id, require_text
from domain.labelled import Labelled
from domain.levels import CongressLevel
from domain.timeline import day_of


class MandateStatus(Labelled):
    PENDING_REVIEW = "pending_review", "待资格审查"  # elected, credentials not yet reviewed
    ACTIVE = "active", "在任"
    VOID = "void", "资格无效"  # credentials review failed
    TERMINATED = "terminated", "资格终止"


class ElectedVia(StrEnum):
    ELECTION = "election"
    BY_ELECTION = "by_election"


class GroupKind(StrEnum):
    AREA = "area"  # 代表小组 by area
    PROFESSIONAL = "professional"  # 专业小组 by profession or industry


ONE_CATEGORY = "a deputy is either grassroots or a leading cadre, not both"


def mandate_key(congress: CongressLevel | str, term: int) -> str:
    return f"{member(CongressLevel, congress)._value_}/{term}"


_PENDING_REVIEW = MandateStatus.PENDING_REVIEW._value_
_ACTIVE = MandateStatus.ACTIVE._value_
_VOID = MandateStatus.VOID._value_
_TERMINATED = MandateStatus.TERMINATED._value_


class Deputy(DutyAggregate):
    label: ClassVar[str] = "deputy"
    #: A deputy's record entered in error (登记有误: at the wrong office, under a wrong person id) is voided: it serves
    #: no mandate from then on (by the occurred clock, never did). Its person id stays taken at this office.
    voidable: ClassVar[bool] = True

    class Registered(DutyAggregate.Created):
        label: ClassVar[str] = "登记代表"
        person_id: str
        name: str
        gender: str
        unit: str
        grassroots: bool
        leading_cadre: bool
        home_node: UUID  # where the deputy lives or works: the node whose stations they are enrolled near

        def apply(self, deputy: Deputy) -> None:
            deputy.person_id = self.person_id
            deputy.home_node = self.home_node
            deputy.name = self.name
            deputy.gender = self.gender
            deputy.unit = self.unit
            deputy.grassroots = self.grassroots
            deputy.leading_cadre = self.leading_cadre
            deputy.mandates = {}
            deputy.groups = {}
            deputy.registered_on = day_of(self.occurred_at)

    class MandateGranted(DutyAggregate.Event):
        label: ClassVar[str] = "取得代表资格"
        congress: str
        term: int
        elected_by: str  # electing unit (选举单位) or constituency (原选区)
        via: str
        delegation: str

        def apply(self, deputy: Deputy) -> None:
            deputy.mandates[mandate_key(self.congress, self.term)] = {
                "congress": self.congress,
                "term": self.term,
                "elected_by": self.elected_by,
                "via": self.via,
                "delegation": self.delegation,
                "status": _PENDING_REVIEW,
                "step": Step.of(self),  # what the credentials review and a termination are ordered against
                "version": self.originator_version,  # what a correction of the mandate names
                "day": day_of(self.occurred_at),
            }

    class CredentialsReviewed(DutyAggregate.Event):
        label: ClassVar[str] = "代表资格审查"
        congress: str
        term: int
        passed: bool
        note: str

        def apply(self, deputy: Deputy) -> None:
            deputy.mandates[mandate_key(self.congress, self.term)].update(
                status=_ACTIVE if self.passed else _VOID, step=Step.of(self)
            )

    class MandateTerminated(DutyAggregate.Event):
        label: ClassVar[str] = "终止代表资格"
        congress: str
        term: int
        reason: str

        def apply(self, deputy: Deputy) -> None:
            deputy.mandates[mandate_key(self.congress, self.term)].update(status=_TERMINATED, step=Step.of(self))

    class FlagsSet(DutyAggregate.Event):
        label: ClassVar[str] = "设置代表类别"
        grassroots: bool
        leading_cadre: bool

        def apply(self, deputy: Deputy) -> None:
            deputy.grassroots = self.grassroots
            deputy.leading_cadre = self.leading_cadre

    class JoinedGroup(DutyAggregate.Event):
        label: ClassVar[str] = "编入代表小组"
        group: str
        kind: str

        def apply(self, deputy: Deputy) -> None:
            deputy.groups[self.group] = self.kind

    class LeftGroup(DutyAggregate.Event):
        label: ClassVar[str] = "退出代表小组"
        group: str

        def apply(self, deputy: Deputy) -> None:
            del deputy.groups[self.group]

    if TYPE_CHECKING:  # state set by the events' apply(); annotations here would make a dataclass __init__
        person_id: str
        name: str
        gender: str
        unit: str
        grassroots: bool
        leading_cadre: bool
        home_node: UUID
        mandates: dict[str, dict[str, Any]]
        groups: dict[str, str]
        registered_on: date

    @staticmethod
    def id_for(owner: UUID, person_id: str) -> UUID:
        return natural_id("deputy", owner, person_id)

    @classmethod
    def register(
        cls,
        owner: NodeRef,
        by: Attribution,
        *,
        person_id: str,
        name: str,
        gender: str,
        unit: str = "",
        grassroots: bool = False,
        leading_cadre: bool = False,
        home_node: UUID | None = None,
    ) -> Deputy:
        """Register a deputy at the office that records their mandates; ``home_node`` defaults to that office's node."""
        where = f"deputy {person_id}"
        person_id = require_text(where, "person_id", person_id, 64)
        if grassroots and leading_cadre:
            raise DomainError(where, "new", ONE_CATEGORY)
        if gender not in ("男", "女"):
            raise DomainError(where, "new", f"gender must be 男 or 女 (got {gender!r})")
        return cls.start(
            cls.Registered,
            cls.id_for(owner.node_id, person_id),
            owner.node_id,
            by,
            person_id=person_id,
            name=require_text(where, "name", name, 50),
            gender=gender,
            unit=unit.strip(),
            grassroots=grassroots,
            leading_cadre=leading_cadre,
            home_node=home_node or owner.node_id,
        )

    def grant_mandate(
        self,
        owner: NodeRef,
        by: Attribution,
        *,
        congress: CongressLevel | str,
        term: int,
        elected_by: str,
        via: ElectedVia | str = ElectedVia.ELECTION,
        delegation: str = "",
    ) -> None:
        # Rules' texts are made only when a rule is broken (they format node names and ids).
        level = self.pick("congress", CongressLevel, congress)
        self.require(owner.node_id == self.owner, "only the owner node records this deputy's mandates")
        if level.recorded_at != owner.level:
            raise self.reject(f"{level.label} mandates are recorded by the {level.recorded_at.label} office, not at {owner}")
        if level is CongressLevel.TOWNSHIP and not owner.has_congress:
            raise self.reject(f"{owner} is a {owner.kind.label}: it has no congress, so no township deputies")
        if not 1 <= term <= 99:
            raise self.reject(f"term must be between 1 and 99 (got {term})")
        if mandate_key(level, term) in self.mandates:
            raise self.reject(f"already holds a {level.label} mandate of term {term}")
        self.record(
            self.MandateGranted,
            by,
            congress=level._value_,
            term=term,
            elected_by=self.text("elected_by", elected_by),
            via=self.pick("via", ElectedVia, via)._value_,
            delegation=delegation.strip(),
        )

    def review_credentials(self, by: Attribution, *, congress: str, term: int, passed: bool, note: str = "") -> None:
        self._require_mandate(congress, term, MandateStatus.PENDING_REVIEW, by)
        self.record(
            self.CredentialsReviewed, by, congress=member(CongressLevel, congress)._value_, term=term, passed=passed, note=note
        )

    def terminate(self, by: Attribution, *, congress: str, term: int, reason: str) -> None:
        self._require_mandate(congress, term, MandateStatus.ACTIVE, by)
        self.record(
            self.MandateTerminated,
            by,
            congress=member(CongressLevel, congress)._value_,
            term=term,
            reason=self.text("reason", reason),
        )

    #: What a deputy's record may correct: the category (grassroots, leading cadre), from the day it really held (a
    #: correction names both flags, the one not given filled in: a category is one fact); the name, gender and work
    #: unit registered (a typo: they were always the corrected ones). The person id is the record's natural key.
    #: A mandate N (in the order granted) may correct how it was won: the electing unit or constituency, the way
    #: (election, by-election) and the delegation; its congress and term are the mandate itself.
    correctable: ClassVar[dict[str, tuple[str, ...]]] = {
        "category": ("grassroots", "leading_cadre"),
        "registration": ("name", "gender", "unit"),
        "mandate": ("elected_by", "via", "delegation"),
    }
    dated_facts: ClassVar[tuple[str, ...]] = ("category",)

    def fact(self, fact: str, number: int) -> Fact:
        if fact == "mandate":
            return self.nth(fact, number, list(self.mandates.values()))
        return self.single(fact, number, 1, self.registered_on, vars(self))

    def checked_correction(self, fact: str, number: int, changes: dict[str, Any], by: Attribution) -> dict[str, Any]:
        if fact == "registration":
            return self._checked_registration(changes)
        if fact == "mandate":
            if "elected_by" in changes:
                changes["elected_by"] = self.text("elected_by", str(changes["elected_by"]))
            if "via" in changes:
                changes["via"] = self.pick("via", ElectedVia, str(changes["via"]))._value_
            if "delegation" in changes:
                changes["delegation"] = self.optional_text("delegation", changes["delegation"], 100)
            return changes
        flags = {"grassroots": self.grassroots, "leading_cadre": self.leading_cadre, **changes}
        for name, value in flags.items():
            if type(value) is not bool:
                raise self.reject(f"{name} must be true or false (got {value!r})")
        self._one_category(**flags)
        return flags

    def _checked_registration(self, changes: dict[str, Any]) -> dict[str, Any]:
        if "name" in changes:
            changes["name"] = self.text("name", str(changes["name"]), 50)
        if "gender" in changes and changes["gender"] not in ("男", "女"):
            raise self.reject(f"gender must be 男 or 女 (got {changes['gender']!r})")
        if "unit" in changes:
            changes["unit"] = self.optional_text("unit", changes["unit"])
        return changes

    def set_flags(self, by: Attribution, *, grassroots: bool, leading_cadre: bool) -> None:
        self._one_category(grassroots, leading_cadre)
        self.require((grassroots, leading_cadre) != (self.grassroots, self.leading_cadre), "the flags are already so")
        self.record(self.FlagsSet, by, grassroots=grassroots, leading_cadre=leading_cadre)

    def join_group(self, by: Attribution, *, group: str, kind: GroupKind | str = GroupKind.AREA) -> None:
        group = self.text("group", group, 100)
        if group in self.groups:
            raise self.reject(f"already in deputy group {group}")
        self.require(self.has_active_mandate, "only a deputy with an active mandate joins a deputy group")
        self.record(self.JoinedGroup, by, group=group, kind=self.pick("kind", GroupKind, kind)._value_)

    def leave_group(self, by: Attribution, *, group: str) -> None:
        if group not in self.groups:
            raise self.reject(f"not in deputy group {group}")
        self.record(self.LeftGroup, by, group=group)

    def mandate_status(self, congress: CongressLevel | str, term: int) -> MandateStatus | None:
        mandate = self.mandates.get(mandate_key(congress, term))
        return member(MandateStatus, mandate["status"]) if mandate else None

    @property
    def has_active_mandate(self) -> bool:
        return any(m["status"] == _ACTIVE for m in self.mandates.values())

    @property
    def congress_levels(self) -> list[CongressLevel]:
        return sorted({CongressLevel(m["congress"]) for m in self.mandates.values()}, key=list(CongressLevel).index)

    @property
    def state_label(self) -> str:
        return "serving" if self.has_active_mandate else "not serving"

    def _one_category(self, grassroots: bool, leading_cadre: bool) -> None:
        self.require(not (grassroots and leading_cadre), ONE_CATEGORY)

    def _require_mandate(self, congress: str, term: int, status: MandateStatus, by: Attribution) -> None:
        """The mandate is in ``status``, and ``by`` dates the next step of it not before its last."""
        level = self.pick("congress", CongressLevel, congress)
        current = self.mandate_status(level, term)
        if current is None:
            raise self.reject(f"holds no {level.label} mandate of term {term}")
        if current is not status:
            raise self.reject(f"the {level.label} mandate of term {term} is {current.label}, not {status.label}")
        last: Step = self.mandates[mandate_key(level, term)]["step"]
        self.not_before("occurred_at", by.day, last.label, last.occurred)
