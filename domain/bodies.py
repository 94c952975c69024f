"""Standing committees (人大常委会) and their members (常委会组成人员): the roster the contact targets count against.

Only county level and above has a standing committee; a township congress has a presidium instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain.base import Attribution, DomainError, DutyAggregate, Fact, NodeRef, natural_id
from domain.levels import Level
from domain.timeline import day_of

SC_POSTS = ("主任", "副主任", "秘书长", "委员")
SINGLE_POSTS = ("主任", "秘书长")


class StandingCommittee(DutyAggregate):
    label: ClassVar[str] = "standing committee"

    class Constituted(DutyAggregate.Created):
        label: ClassVar[str] = "组成常委会"
        term: int
        level: str

        def apply(self, sc: StandingCommittee) -> None:
            sc.term = self.term
            sc.level = Level(self.level)
            sc.members = {}
            sc.appointments = []

    class MemberAppointed(DutyAggregate.Event):
        label: ClassVar[str] = "任命组成人员"
        member_id: str
        name: str
        post: str

        def apply(self, sc: StandingCommittee) -> None:
            appointment = {
                "member_id": self.member_id,
                "name": self.name,
                "post": self.post,
                "version": self.originator_version,  # what a correction of the appointment names
                "day": day_of(self.occurred_at),
            }
            sc.members[self.member_id] = appointment
            sc.appointments.append(appointment)

    class MemberLeft(DutyAggregate.Event):
        label: ClassVar[str] = "组成人员离任"
        member_id: str
        reason: str

        def apply(self, sc: StandingCommittee) -> None:
            del sc.members[self.member_id]

    if TYPE_CHECKING:  # state set by the events' apply(); annotations here would make a dataclass __init__
        term: int
        level: Level
        members: dict[str, dict[str, Any]]  # the members on the committee now: their appointments
        appointments: list[dict[str, Any]]  # every appointment, in order (a member may be appointed again)

    @staticmethod
    def id_for(owner: UUID, term: int) -> UUID:
        return natural_id("standing-committee", owner, term)

    @classmethod
    def constitute(cls, owner: NodeRef, by: Attribution, *, term: int) -> StandingCommittee:
        if owner.level is Level.TOWNSHIP:
            raise DomainError(f"standing committee of {owner}", "new", "a township has a presidium, not a standing committee")
        if not 1 <= term <= 99:
            raise DomainError(f"standing committee of {owner}", "new", f"term must be between 1 and 99 (got {term})")
        return cls.start(cls.Constituted, cls.id_for(owner.node_id, term), owner.node_id, by, term=term, level=owner.level.value)

    def appoint(self, by: Attribution, *, member_id: str, name: str, post: str) -> None:
        member_id = self.text("member_id", member_id, 64)
        if member_id in self.members:  # rules' texts only when a rule is broken
            raise self.reject(f"member {member_id} is already on the committee")
        self._check_post(post, member_id)
        self.record(self.MemberAppointed, by, member_id=member_id, name=self.text("name", name, 50), post=post)

    def _check_post(self, post: str, member_id: str, *, now: bool = True) -> None:
        """地方组织法: a county-level standing committee has no secretary-general; a committee has one chair (and one
        secretary-general) at a time: checked among the members ``now`` on it, ``member_id`` aside."""
        if post not in SC_POSTS:
            raise self.reject(f"post must be one of {', '.join(SC_POSTS)} (got {post!r})")
        self.require(not (post == "秘书长" and self.level is Level.COUNTY), "a county standing committee has no 秘书长")
        if now and post in SINGLE_POSTS:
            holder = next((m["name"] for k, m in self.members.items() if m["post"] == post and k != member_id), None)
            if holder is not None:
                raise self.reject(f"the committee already has a {post} ({holder})")

    def remove_member(self, by: Attribution, *, member_id: str, reason: str) -> None:
        self.require(member_id in self.members, f"member {member_id} is not on the committee")
        self.record(self.MemberLeft, by, member_id=member_id, reason=self.text("reason", reason))

    #: What a committee's record may correct: an appointment's name and post (number: the appointment's place in the
    #: order of appointments, 1 first). Who was appointed (the member id) is the appointment itself.
    correctable: ClassVar[dict[str, tuple[str, ...]]] = {"appointment": ("name", "post")}

    def fact(self, fact: str, number: int) -> Fact:
        return self.nth(fact, number, self.appointments)

    def checked_correction(self, fact: str, number: int, changes: dict[str, Any], by: Attribution) -> dict[str, Any]:
        if "name" in changes:
            changes["name"] = self.text("name", str(changes["name"]), 50)
        if "post" in changes:
            appointment = self.appointments[number - 1]
            now = self.members.get(appointment["member_id"]) is appointment  # not a past appointment
            self._check_post(changes["post"], appointment["member_id"], now=now)
        return changes
