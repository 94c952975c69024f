"""Liaison stations (代表联络站): where deputies of any level meet the public.

Stations are merged, never deleted: a merged station keeps its history and names its successor, and the
successor records which station it absorbed with the deputies it took over.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain.base import Attribution, DutyAggregate, Fact, NodeRef, Step, natural_id, require_text
from domain.labelled import Labelled
from domain.levels import CongressLevel
from domain.timeline import day_of


class StationStatus(Labelled):
    OPEN = "open", "运行中"
    MERGED = "merged", "已合并"
    CLOSED = "closed", "已撤销"


class Station(DutyAggregate):
    label: ClassVar[str] = "station"

    class Established(DutyAggregate.Created):
        label: ClassVar[str] = "设立联络站"
        name: str
        address: str

        def apply(self, station: Station) -> None:
            station.name = self.name
            station.address = self.address
            station.status = StationStatus.OPEN
            station.enrolled = {}
            station.successor_id = None
            station.absorbed = []
            station.step = Step.of(self)  # what enrolments, removals, merges and closing are ordered against
            station.established_on = day_of(self.occurred_at)

    class DeputyEnrolled(DutyAggregate.Event):
        label: ClassVar[str] = "代表进站"
        deputy_id: UUID
        deputy_name: str
        congress: str

        def apply(self, station: Station) -> None:
            station.enrolled[self.deputy_id] = self.congress

    class DeputyRemoved(DutyAggregate.Event):
        label: ClassVar[str] = "代表出站"
        deputy_id: UUID
        reason: str

        def apply(self, station: Station) -> None:
            del station.enrolled[self.deputy_id]

    class MergedInto(DutyAggregate.Event):
        label: ClassVar[str] = "并入他站"
        successor_id: UUID
        successor_name: str

        def apply(self, station: Station) -> None:
            station.status = StationStatus.MERGED
            station.successor_id = self.successor_id
            station.enrolled = {}

    class Absorbed(DutyAggregate.Event):
        label: ClassVar[str] = "合并他站"
        merged_id: UUID
        merged_name: str
        deputies: dict[str, str]  # deputy id (hex) -> congress level, taken over from the merged station

        def apply(self, station: Station) -> None:
            station.absorbed.append(self.merged_id)
            for deputy_id, congress in self.deputies.items():
                station.enrolled.setdefault(UUID(deputy_id), congress)

    class Closed(DutyAggregate.Event):
        label: ClassVar[str] = "撤销联络站"
        reason: str

        def apply(self, station: Station) -> None:
            station.status = StationStatus.CLOSED

    if TYPE_CHECKING:  # state set by the events' apply(); annotations here would make a dataclass __init__
        name: str
        address: str
        status: StationStatus
        enrolled: dict[UUID, str]
        successor_id: UUID | None
        absorbed: list[UUID]
        established_on: date

    @staticmethod
    def id_for(owner: UUID, name: str) -> UUID:
        return natural_id("station", owner, name)

    @classmethod
    def establish(cls, owner: NodeRef, by: Attribution, *, name: str, address: str = "") -> Station:
        name = require_text("station", "name", name, 100)
        return cls.start(cls.Established, cls.id_for(owner.node_id, name), owner.node_id, by, name=name, address=address)

    @property
    def state_label(self) -> str:
        return self.status.label

    #: What a station's record may correct: its name and address as established (a typo). Its id stays the one its
    #: first name gave it (``id_for``): a station is not made another by a corrected name.
    correctable: ClassVar[dict[str, tuple[str, ...]]] = {"establishment": ("name", "address")}

    def fact(self, fact: str, number: int) -> Fact:
        return self.single(fact, number, 1, self.established_on, vars(self))

    def checked_correction(self, fact: str, number: int, changes: dict[str, Any], by: Attribution) -> dict[str, Any]:
        if "name" in changes:
            changes["name"] = self.text("name", str(changes["name"]), 100)
        if "address" in changes:
            changes["address"] = self.optional_text("address", changes["address"])
        return changes

    def enrol(self, by: Attribution, *, deputy_id: UUID, deputy_name: str, congress: CongressLevel | str) -> None:
        self._require_open()
        self.follows(by)
        if deputy_id in self.enrolled:  # rules' texts are made only when a rule is broken
            raise self.reject(f"deputy {deputy_name} ({deputy_id}) is already enrolled here")
        level = self.pick("congress", CongressLevel, congress)
        self.record(self.DeputyEnrolled, by, deputy_id=deputy_id, deputy_name=deputy_name, congress=level._value_)

    def remove(self, by: Attribution, *, deputy_id: UUID, reason: str) -> None:
        self._require_open()
        self.follows(by)
        if deputy_id not in self.enrolled:
            raise self.reject(f"deputy {deputy_id} is not enrolled here")
        self.record(self.DeputyRemoved, by, deputy_id=deputy_id, reason=self.text("reason", reason))

    def merge_into(self, successor: Station, by: Attribution) -> None:
        """Merge this station into ``successor``; both events belong in one save."""
        self._require_open()
        self.require(successor.id != self.id, "a station cannot be merged into itself")
        self.require(successor.owner == self.owner, "stations merge only within the node that owns them")
        successor._require_open()
        self.follows(by)
        successor.follows(by)
        taken_over = {deputy_id.hex: congress for deputy_id, congress in self.enrolled.items()}
        successor.record(successor.Absorbed, by, merged_id=self.id, merged_name=self.name, deputies=taken_over)
        self.record(self.MergedInto, by, successor_id=successor.id, successor_name=successor.name)

    def close(self, by: Attribution, *, reason: str) -> None:
        self._require_open()
        self.follows(by)
        if self.enrolled:
            raise self.reject(f"{len(self.enrolled)} deputies are still enrolled: remove them or merge the station")
        self.record(self.Closed, by, reason=self.text("reason", reason))

    def is_enrolled(self, deputy_id: UUID) -> bool:
        return deputy_id in self.enrolled

    def _require_open(self) -> None:
        if self.status is not StationStatus.OPEN:
            raise self.reject(f"the station is {self.status.label}, not open")
