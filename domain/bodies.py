"""Standing committees (人大常委会) and their members (常委会组成人员): the roster the contact targets count against.

Only county level and above has a standing committee; a township congress has a presidium instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain.base import Attribution, DomainError, DutyAggregate, NodeRef, natural_id
from domain.levels import Level

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

    class MemberAppointed(DutyAggregate.Event):
        label: ClassVar[str] = "任命组成人员"
        member_id: str
        name: str
        post: str

        def apply(self, sc: StandingCommittee) -> None:
            sc.members[self.member_id] = {"name": self.name, "post": self.post}

    class MemberLeft(DutyAggregate.Event):
        label: ClassVar[str] = "组成人员离任"
        member_id: str
        reason: str

        def apply(self, sc: StandingCommittee) -> None:
            del sc.members[self.member_id]

    if TYPE_CHECKING:  # state set by the events' apply(); annotations here would make a dataclass __init__
        term: int
        level: Level
        members: dict[str, dict[str, Any]]

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
        if post not in SC_POSTS:
            raise self.reject(f"post must be one of {', '.join(SC_POSTS)} (got {post!r})")
        # 地方组织法: a county-level standing committee has no secretary-general; a committee has one chair.
        self.require(not (post == "秘书长" and self.level is Level.COUNTY), "a county standing committee has no 秘书长")
        if post in SINGLE_POSTS:
            holder = next((m["name"] for m in self.members.values() if m["post"] == post), None)
            if holder is not None:
                raise self.reject(f"the committee already has a {post} ({holder})")
        self.record(self.MemberAppointed, by, member_id=member_id, name=self.text("name", name, 50), post=post)

    def remove_member(self, by: Attribution, *, member_id: str, reason: str) -> None:
        self.require(member_id in self.members, f"member {member_id} is not on the committee")
        self.record(self.MemberLeft, by, member_id=member_id, reason=self.text("reason", reason))
