"""Contacts (两个联系): organs contacting deputies, and deputies contacting the public.

One ``ContactActivity`` is one meeting, visit, research trip, practical deed, 12345 hotline report, snapshot or
report to constituents. Opinions raised in it are each handled (adopted / assigned / explained) and then fed back.
The owner office corrects (更正) a contact's title, organiser's name and public count, and an opinion's text.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid4

from domain.base import (
    Attribution,
    DomainError,
    DutyAggregate,
    Fact,
    NodeRef,
    Step,
    choice,
    day_problem,
    member,
    natural_id,
    require_text,
)
from domain.labelled import Labelled
from domain.levels import Level
from domain.timeline import day_of


class ContactKind(Labelled):
    ORGAN_MEETING = "organ_meeting", "机关联系代表"  # organs meet deputies: 座谈, 走访, 列席, 征求意见
    GROUP_ACTIVITY = "group_activity", "代表小组活动"
    FIELD_RESEARCH = "field_research", "专题调研视察"  # 专题调研视察, 执法检查
    PRACTICAL_DEED = "practical_deed", "为民办实事"  # 为群众办实事
    HOTLINE_REPORT = "hotline_report", "向12345反映社情民意"  # 代表向12345反映社情民意
    SNAPSHOT = "snapshot", "随手拍"
    CONSTITUENT_REPORT = "constituent_report", "向选民报告履职"  # 向原选区选民/原选举单位报告履职

    @property
    def organ_to_deputy(self) -> bool:
        return self in (ContactKind.ORGAN_MEETING, ContactKind.FIELD_RESEARCH)


class Channel(Labelled):
    FACE_TO_FACE = "face_to_face", "面对面"
    SYMPOSIUM = "symposium", "座谈"
    VISIT = "visit", "走访"
    FIELD_RESEARCH = "field_research", "调研"
    PHONE = "phone", "电话"
    WECHAT = "wechat", "微信"
    LETTER = "letter", "信函"
    STATION = "station", "进站"
    ONLINE_STATION = "online_station", "线上联络站"
    HOTLINE = "hotline", "12345热线"
    SNAPSHOT = "snapshot", "随手拍"
    QR_CODE = "qr_code", "扫码"

    @property
    def face_to_face(self) -> bool:
        return self in _FACE_TO_FACE


_FACE_TO_FACE = {Channel.FACE_TO_FACE, Channel.SYMPOSIUM, Channel.VISIT, Channel.FIELD_RESEARCH, Channel.STATION}


class OrganiserKind(StrEnum):
    SC_MEMBER = "sc_member"  # 常委会组成人员
    CHAIR_COUNCIL = "chair_council"  # 主任会议成员
    SPECIAL_COMMITTEE = "special_committee"  # 专门委员会
    SC_OFFICE = "sc_office"  # 常委会工作机构
    TOWNSHIP_PRESIDIUM = "township_presidium"  # 乡镇人大主席团
    STREET_COMMITTEE = "street_committee"  # 人大街道工委
    DEPUTY_GROUP = "deputy_group"  # 代表小组
    DEPUTY = "deputy"


_SC_ORGANISERS = {OrganiserKind.SC_MEMBER, OrganiserKind.CHAIR_COUNCIL, OrganiserKind.SPECIAL_COMMITTEE, OrganiserKind.SC_OFFICE}
_ORGANISERS_BY_KIND = {
    ContactKind.ORGAN_MEETING: _SC_ORGANISERS | {OrganiserKind.TOWNSHIP_PRESIDIUM, OrganiserKind.STREET_COMMITTEE},
    ContactKind.FIELD_RESEARCH: _SC_ORGANISERS
    | {OrganiserKind.TOWNSHIP_PRESIDIUM, OrganiserKind.STREET_COMMITTEE, OrganiserKind.DEPUTY_GROUP},
    ContactKind.GROUP_ACTIVITY: {OrganiserKind.DEPUTY_GROUP},
    ContactKind.PRACTICAL_DEED: {OrganiserKind.DEPUTY, OrganiserKind.DEPUTY_GROUP},
    ContactKind.HOTLINE_REPORT: {OrganiserKind.DEPUTY},
    ContactKind.SNAPSHOT: {OrganiserKind.DEPUTY},
    ContactKind.CONSTITUENT_REPORT: {OrganiserKind.DEPUTY},
}


class Handling(Labelled):
    ADOPTED = "adopted", "采纳"
    ASSIGNED = "assigned", "转交办理"  # 转交有关单位
    EXPLAINED = "explained", "解释说明"


class ContactActivity(DutyAggregate):
    label: ClassVar[str] = "contact"
    #: A contact recorded in error (登记有误: twice, or never held) is voided: it counts nowhere from then on.
    voidable: ClassVar[bool] = True

    class Recorded(DutyAggregate.Created):
        label: ClassVar[str] = "记录联系活动"
        kind: str
        channel: str
        title: str
        held_on: date
        organiser_kind: str
        organiser: str  # the organiser's name, or the deputy group's name
        organiser_id: str  # an SC member id, a deputy id (hex), or the group name
        deputy_ids: list[UUID]
        public_count: int
        ticket: str  # 12345 work-order number, for hotline reports

        def apply(self, contact: ContactActivity) -> None:
            contact.kind = member(ContactKind, self.kind)
            contact.channel = member(Channel, self.channel)
            contact.title = self.title
            contact.held_on = self.held_on
            contact.organiser_kind = member(OrganiserKind, self.organiser_kind)
            contact.organiser = self.organiser
            contact.organiser_id = self.organiser_id
            contact.deputy_ids = list(self.deputy_ids)
            contact.public_count = self.public_count
            contact.ticket = self.ticket
            contact.opinions = []
            contact.hotline_outcome = ""
            contact.step = Step.of(self, self.held_on)  # what opinions and outcomes are ordered against

    class OpinionRaised(DutyAggregate.Event):
        label: ClassVar[str] = "提出意见"
        text: str
        deputy_id: UUID | None

        def apply(self, contact: ContactActivity) -> None:
            contact.opinions.append(
                {
                    "text": self.text,
                    "deputy_id": self.deputy_id,
                    "handling": "",
                    "unit": "",
                    "fed_back": False,
                    "step": Step.of(self),
                    "version": self.originator_version,  # what a correction of the opinion names
                    "day": day_of(self.occurred_at),
                }
            )

    class OpinionHandled(DutyAggregate.Event):
        label: ClassVar[str] = "意见办理"
        number: int
        handling: str
        unit: str
        note: str

        def apply(self, contact: ContactActivity) -> None:
            contact.opinions[self.number - 1].update(handling=self.handling, unit=self.unit, step=Step.of(self))

    class OpinionFedBack(DutyAggregate.Event):
        label: ClassVar[str] = "意见反馈"
        number: int
        note: str

        def apply(self, contact: ContactActivity) -> None:
            contact.opinions[self.number - 1].update(fed_back=True, step=Step.of(self))

    class HotlineOutcome(DutyAggregate.Event):
        label: ClassVar[str] = "12345办理结果"
        outcome: str

        def apply(self, contact: ContactActivity) -> None:
            contact.hotline_outcome = self.outcome

    if TYPE_CHECKING:  # state set by the events' apply(); annotations here would make a dataclass __init__
        kind: ContactKind
        channel: Channel
        title: str
        held_on: date
        organiser_kind: OrganiserKind
        organiser: str
        organiser_id: str
        deputy_ids: list[UUID]
        public_count: int
        ticket: str
        opinions: list[dict[str, Any]]
        hotline_outcome: str

    @staticmethod
    def hotline_id(owner: UUID, ticket: str) -> UUID:
        """A 12345 hotline report's id: its work-order ticket names it (one report per ticket and office)."""
        return natural_id("hotline", owner, ticket.strip())

    @classmethod
    def record_contact(
        cls,
        owner: NodeRef,
        by: Attribution,
        *,
        kind: ContactKind | str,
        channel: Channel | str,
        title: str,
        held_on: date,
        organiser_kind: OrganiserKind | str,
        organiser: str,
        organiser_id: str = "",
        deputy_ids: list[UUID],
        public_count: int = 0,
        ticket: str = "",
        contact_id: UUID | None = None,
    ) -> ContactActivity:
        where = f"contact {title!r}"
        kind = choice(where, "kind", ContactKind, kind)
        channel = choice(where, "channel", Channel, channel)
        organiser_kind = choice(where, "organiser_kind", OrganiserKind, organiser_kind)
        _check_organiser(where, owner, kind, organiser_kind)
        _check_participants(where, kind, channel, deputy_ids, ticket)
        if not 0 <= public_count <= 100_000:
            raise DomainError(where, "new", f"public_count must be 0..100000 (got {public_count})")
        problem = day_problem("held_on", held_on, by)
        if problem:
            raise DomainError(where, "new", problem)
        return cls.start(
            cls.Recorded,
            contact_id or uuid4(),
            owner.node_id,
            by,
            kind=kind._value_,
            channel=channel._value_,
            title=require_text(where, "title", title),
            held_on=held_on,
            organiser_kind=organiser_kind._value_,
            organiser=require_text(where, "organiser", organiser, 100),
            organiser_id=organiser_id.strip() or organiser.strip(),
            deputy_ids=list(deputy_ids),
            public_count=public_count,
            ticket=ticket.strip(),
        )

    # ---------------------------------------------------------------------------------------------- corrections

    #: What a contact's record may correct: its description (what it is, who took part and when are what it is:
    #: not corrected), and the text of an opinion raised in it.
    correctable: ClassVar[dict[str, tuple[str, ...]]] = {
        "record": ("title", "organiser", "public_count"),
        "opinion": ("text",),
    }

    def fact(self, fact: str, number: int) -> Fact:
        if fact == "opinion":
            return self.nth(fact, number, self.opinions)
        return self.single(fact, number, 1, self.held_on, vars(self))

    def checked_correction(self, fact: str, number: int, changes: dict[str, Any], by: Attribution) -> dict[str, Any]:
        for name, most in (("title", 200), ("organiser", 100), ("text", 1000)):
            if name in changes:
                changes[name] = self.text(name, str(changes[name]), most)
        if "public_count" in changes:
            count = changes["public_count"]
            if type(count) is not int or not 0 <= count <= 100_000:
                raise self.reject(f"public_count must be a whole number 0..100000 (got {count!r})")
        return changes

    @property
    def state_label(self) -> str:
        pending = sum(1 for o in self.opinions if not o["fed_back"])
        return f"{pending} opinions awaiting feedback" if pending else "recorded"

    def raise_opinion(self, by: Attribution, *, text: str, deputy_id: UUID | None = None) -> int:
        if deputy_id is not None and deputy_id not in self.deputy_ids:  # the rule's text only when it is broken
            raise self.reject(f"deputy {deputy_id} did not take part in this contact")
        self.follows(by)
        self.record(self.OpinionRaised, by, text=self.text("text", text, 1000), deputy_id=deputy_id)
        return len(self.opinions)

    def handle_opinion(self, by: Attribution, *, number: int, handling: Handling | str, unit: str = "", note: str = "") -> None:
        opinion = self._opinion(number)
        if opinion["handling"]:
            raise self.reject(f"opinion {number} was already handled ({opinion['handling']})")
        how = self.pick("handling", Handling, handling)
        self.require(how is not Handling.ASSIGNED or bool(unit.strip()), "an assigned opinion names the unit it went to")
        self._after(opinion, by)
        self.record(self.OpinionHandled, by, number=number, handling=how._value_, unit=unit.strip(), note=note.strip())

    def feed_back(self, by: Attribution, *, number: int, note: str = "") -> None:
        opinion = self._opinion(number)
        if not opinion["handling"]:
            raise self.reject(f"opinion {number} is fed back only after it was handled")
        if opinion["fed_back"]:
            raise self.reject(f"opinion {number} was already fed back")
        self._after(opinion, by)
        self.record(self.OpinionFedBack, by, number=number, note=note.strip())

    def record_hotline_outcome(self, by: Attribution, *, outcome: str) -> None:
        if self.kind is not ContactKind.HOTLINE_REPORT:
            raise self.reject(f"only a 12345 hotline report has an outcome, not a {self.kind.label}")
        self.require(not self.hotline_outcome, "the hotline outcome was already recorded")
        self.follows(by)
        self.record(self.HotlineOutcome, by, outcome=self.text("outcome", outcome, 1000))

    def _after(self, opinion: dict[str, Any], by: Attribution) -> None:
        """An opinion's steps (raised → handled → fed back) each follow the one before."""
        last: Step = opinion["step"]
        self.not_before("occurred_at", by.day, last.label, last.occurred)

    def _opinion(self, number: int) -> dict[str, Any]:
        if not 1 <= number <= len(self.opinions):
            raise self.reject(f"no opinion number {number} (this contact has {len(self.opinions)})")
        return self.opinions[number - 1]


def _check_organiser(where: str, owner: NodeRef, kind: ContactKind, organiser_kind: OrganiserKind) -> None:
    allowed = _ORGANISERS_BY_KIND[kind]
    if organiser_kind not in allowed:
        names = ", ".join(sorted(k.value for k in allowed))
        raise DomainError(where, "new", f"a {kind.label} is organised by one of: {names} (got {organiser_kind.value})")
    if organiser_kind in _SC_ORGANISERS and owner.level is Level.TOWNSHIP:
        raise DomainError(where, "new", f"{owner} has no standing committee: organiser cannot be {organiser_kind.value}")
    if organiser_kind is OrganiserKind.TOWNSHIP_PRESIDIUM and not (owner.level is Level.TOWNSHIP and owner.has_congress):
        raise DomainError(where, "new", f"{owner} has no township presidium")
    if organiser_kind is OrganiserKind.STREET_COMMITTEE and owner.has_congress:
        raise DomainError(where, "new", f"{owner} is not a street: it has no street committee")


def _check_participants(where: str, kind: ContactKind, channel: Channel, deputy_ids: list[UUID], ticket: str) -> None:
    if not deputy_ids:
        raise DomainError(where, "new", "at least one deputy takes part in a contact")
    if len(set(deputy_ids)) != len(deputy_ids):
        raise DomainError(where, "new", "a deputy is listed twice")
    if kind is ContactKind.CONSTITUENT_REPORT and len(deputy_ids) != 1:
        raise DomainError(where, "new", "a report to constituents is made by exactly one deputy")
    if kind is ContactKind.HOTLINE_REPORT and (channel is not Channel.HOTLINE or not ticket.strip()):
        raise DomainError(where, "new", "a 12345 hotline report goes by the hotline channel and names its work-order ticket")
