"""What every aggregate of deputy work shares: one owner node, attributed events, rule errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.levels import DivisionKind, Level

E = TypeVar("E", bound=StrEnum)

#: Namespace for deterministic ids (uuid5 of owner node + natural key).
YIPANQI_NS = uuid5(NAMESPACE_URL, "https://yipanqi.hunan/ids")


def natural_id(*parts: object) -> UUID:
    """A deterministic id from a natural key; the same key always names the same aggregate."""
    return uuid5(YIPANQI_NS, "/".join(str(p) for p in parts))


class DomainError(Exception):
    """A command broke a rule. Names the aggregate, its state and the rule; nothing was recorded."""

    def __init__(self, aggregate: str, state: str, rule: str) -> None:
        self.aggregate = aggregate
        self.state = state
        self.rule = rule
        super().__init__(f"{aggregate} [{state}]: {rule}")

    def as_dict(self) -> dict[str, str]:
        return {"aggregate": self.aggregate, "state": self.state, "rule": self.rule}


class NotFound(DomainError):
    """A referenced aggregate or node does not exist where it was looked for."""


@dataclass(frozen=True)
class NodeRef:
    """The facts about a node that rules need: which level it is and whether it has a congress."""

    node_id: UUID
    code: str
    name: str
    level: Level
    kind: DivisionKind

    @property
    def has_congress(self) -> bool:
        return self.kind.has_congress

    def __str__(self) -> str:
        return f"{self.name}({self.code})"


class Role(StrEnum):
    """Roles an actor records in. Only a deputy may evaluate the reply to their own suggestion."""

    RECORDER = "recorder"
    VIEWER = "viewer"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"
    DEPUTY = "deputy"
    SYSTEM = "system"


@dataclass(frozen=True)
class Attribution:
    """Who recorded a fact, in which role, and when it happened in the world."""

    actor: str
    role: Role
    occurred_at: datetime

    def __post_init__(self) -> None:
        if not self.actor:
            raise ValueError("actor must not be empty")
        object.__setattr__(self, "role", Role(self.role))
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")

    @classmethod
    def system(cls, occurred_at: datetime | None = None) -> Attribution:
        return cls("system", Role.SYSTEM, occurred_at or datetime.now(UTC))


class DutyAggregate(Aggregate):
    """Base of every aggregate of deputy work.

    The owner node is the only one that appends to the aggregate (single-writer rule), so every event names it,
    with who recorded it, in which role and when it happened (``occurred_at``) beside the store's own time.
    """

    label: ClassVar[str] = "aggregate"

    class Event(Aggregate.Event):
        owner: UUID
        actor: str
        role: str
        occurred_at: datetime

    class Created(Event, Aggregate.Created):
        pass

    owner: UUID

    def __init__(self, owner: UUID, **_: Any) -> None:
        self.owner = owner

    @property
    def state_label(self) -> str:
        """The state that error messages name; aggregates with a lifecycle override it."""
        return "active"

    def reject(self, rule: str) -> DomainError:
        return DomainError(f"{self.label} {self.id}", self.state_label, rule)

    def require(self, condition: bool, rule: str) -> None:
        if not condition:
            raise self.reject(rule)

    def text(self, field: str, value: str, max_len: int = 200) -> str:
        """``require_text`` for a command on this aggregate: errors name it and its state."""
        try:
            return require_text(self.label, field, value, max_len)
        except DomainError as e:
            raise self.reject(e.rule) from None

    def pick(self, field: str, enum: type[E], value: str) -> E:
        """``choice`` for a command on this aggregate: errors name it and its state."""
        try:
            return choice(self.label, field, enum, value)
        except DomainError as e:
            raise self.reject(e.rule) from None

    def record(self, event_class: type[Event], by: Attribution, **payload: Any) -> None:
        """Trigger one event of this aggregate, attributed and owned."""
        self.trigger_event(event_class, **_attributed(self.owner, by), **payload)

    @classmethod
    def start(cls, event_class: type[Created], id: UUID, owner: UUID, by: Attribution, **payload: Any) -> Any:
        """Create the aggregate with its first, attributed event."""
        return cls._create(event_class, id=id, **_attributed(owner, by), **payload)


def _attributed(owner: UUID, by: Attribution) -> dict[str, Any]:
    return {"owner": owner, "actor": by.actor, "role": str(by.role), "occurred_at": by.occurred_at}


def require_text(aggregate: str, field: str, value: str, max_len: int = 200) -> str:
    """Reject empty or over-long text in a named field."""
    stripped = value.strip() if isinstance(value, str) else ""
    if not stripped:
        raise DomainError(aggregate, "new", f"{field} must not be empty")
    if len(stripped) > max_len:
        raise DomainError(aggregate, "new", f"{field} must be at most {max_len} characters")
    return stripped


def choice(aggregate: str, field: str, enum: type[E], value: str) -> E:
    """Parse a value of a closed vocabulary, naming the field and the allowed values when it is not one."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise DomainError(aggregate, "new", f"{field} must be one of: {allowed} (got {value!r})") from None
