"""What every aggregate of deputy work shares: one owner node, attributed events, rule errors, and corrections (更正)
and voids (作废) as events: each aggregate declares what of it is correctable and checks corrected values by its own
rules; ``as_occurred`` says what an aggregate was in the world at a time, corrections included."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from hashlib import sha1
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar
from uuid import NAMESPACE_URL, UUID, SafeUUID, uuid5

import eventsourcing.domain
from eventsourcing.domain import (
    Aggregate,
    BaseAggregate,
    CanCreateTimestamp,
    CanInitAggregate,
    CanMutateAggregate,
    DomainEvent,
)
from eventsourcing.utils import get_topic, resolve_topic

from domain.levels import DivisionKind, Level
from domain.timeline import FLOOR, FLOOR_AT, day_of, start_of

E = TypeVar("E", bound=StrEnum)

#: Namespace for deterministic ids (uuid5 of owner node + natural key).
YIPANQI_NS = uuid5(NAMESPACE_URL, "https://yipanqi.hunan/ids")


def natural_id(*parts: object) -> UUID:
    """A deterministic id from a natural key; the same key always names the same aggregate.

    ``uuid5(YIPANQI_NS, "/".join(str(p) for p in parts))``, computed faster (ids are made for every deputy, station,
    suggestion and project): the namespace's SHA-1 state is copied rather than hashed again, the text of a UUID part
    (a node id, again and again) is remembered, and the UUID is built as ``UUID(bytes=..., version=5)`` builds it, without
    its checks (CPython's ``uuid.UUID`` keeps ``int`` and ``is_safe`` in slots).
    """
    digest = _NS_SHA1.copy()
    digest.update("/".join([p if type(p) is str else _part_text(p) for p in parts]).encode())
    uuid = _new(UUID)
    _set(uuid, "int", int.from_bytes(digest.digest()[:16], "big") & _VERSION_KEEP | _VERSION_BITS[5])
    _set(uuid, "is_safe", SafeUUID.unknown)
    return uuid


def uuid_of(value: int, version: int) -> UUID:
    """``UUID(int=value, version=version)`` without its checks (``value`` is 128 bits; version 1 to 8)."""
    uuid = _new(UUID)
    _set(uuid, "int", value & _VERSION_KEEP | _VERSION_BITS[version])
    _set(uuid, "is_safe", SafeUUID.unknown)
    return uuid


_NS_SHA1 = sha1(YIPANQI_NS.bytes)
_VERSION_KEEP = ~((0xC000 << 48) | (0xF000 << 64))  # the variant and version bits, cleared...
_VERSION_BITS = [(0x8000 << 48) | (v << 76) for v in range(9)]  # ...and set: RFC 4122 variant, the version
_UUID_TEXT: dict[UUID, str] = {}  # str(UUID) of parts seen (node ids, mostly): formatting one costs ~2 µs
_UUID_TEXT_MAX = 1 << 16
_new = object.__new__
_set = object.__setattr__


def _part_text(part: object) -> str:
    if type(part) is UUID:
        text = _UUID_TEXT.get(part)
        if text is None:
            if len(_UUID_TEXT) >= _UUID_TEXT_MAX:
                _UUID_TEXT.clear()
            text = _UUID_TEXT[part] = str(part)
        return text
    return str(part)


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


@dataclass(frozen=True, init=False)
class Attribution:
    """Who recorded a fact, in which role, and when it happened in the world.

    ``latest``: the latest moment the fact (and any day it names) may be dated, the recording office's present plus
    the tolerance (``domain.timeline``); given by every edge that takes office input. ``None`` where the caller keeps
    a clock of its own (the simulator records each simulated day on that day).
    ``token``: the id of the access token the write came with (never its secret); ``""`` for writes that came with
    none (the simulator, the node's own system acts, the command line of the host).
    """

    actor: str
    role: Role
    occurred_at: datetime
    latest: datetime | None
    token: str

    def __init__(
        self, actor: str, role: Role | str, occurred_at: datetime, latest: datetime | None = None, token: str = ""
    ) -> None:
        # The dataclass's __init__ and a __post_init__, in one step (one is made for every clerk's day simulated).
        if not actor:
            raise ValueError("actor must not be empty")
        if type(role) is not Role:
            role = Role(role)
        if occurred_at.tzinfo is None or (latest is not None and latest.tzinfo is None):
            raise ValueError("occurred_at and latest must be timezone-aware")
        _set(self, "__dict__", {"actor": actor, "role": role, "occurred_at": occurred_at, "latest": latest, "token": token})

    def dating_problem(self) -> str | None:
        """What is wrong with ``occurred_at`` (too old, or later than ``latest``), if anything."""
        occurred = self.occurred_at
        if occurred < FLOOR_AT:
            return f"occurred_at {occurred.isoformat()} is before {FLOOR} (the first people's congress): 时间早于人大制度建立"
        latest = self.latest
        if latest is not None and occurred > latest:
            return f"occurred_at {occurred.isoformat()} is in the future, past the tolerance after now: 发生时间晚于当前时间"
        return None

    @property
    def day(self) -> date:
        """The calendar day in Hunan on which the fact happened."""
        return day_of(self.occurred_at)

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
        token: str  # the access token's id (see ``Attribution``); events stored before it was recorded read ""

    class Created(Event, Aggregate.Created):
        pass

    class Corrected(Event):
        """更正: new values for named fields of one fact recorded earlier (``fact``, ``number``: which of its kind;
        ``version``: its event). The fact's own event stays; ``effective_from``: for a deputy's attributes, the day from
        which the new values hold (``None`` otherwise: they hold from the fact itself)."""

        label: ClassVar[str] = "更正"
        fact: str
        number: int
        version: int
        changes: dict[str, Any]
        reason: str
        effective_from: date | None

        def apply(self, aggregate: DutyAggregate) -> None:
            aggregate.fact(self.fact, self.number).values.update(self.changes)
            aggregate.derive(self.fact)

    class Voided(Event):
        """作废 (登记有误): the whole record was entered in error. Its events stay; nothing more is recorded on it."""

        label: ClassVar[str] = "作废"
        reason: str

        def apply(self, aggregate: DutyAggregate) -> None:
            aggregate.void_reason = self.reason

    owner: UUID

    #: What may be corrected: fact → its correctable fields. Each aggregate declares its own and finds its facts
    #: (``fact``), and checks corrected values by its rules (``checked_correction``).
    correctable: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: The facts that are attributes holding from a day on (a deputy's category): their corrections say from when.
    dated_facts: ClassVar[tuple[str, ...]] = ()
    #: Whether a record of this kind may be voided (作废) by its owner office.
    voidable: ClassVar[bool] = False
    #: Why the record was voided ("" while it stands): a class default, set on the instance by ``Voided``.
    void_reason = ""

    if TYPE_CHECKING:  # set by the events' apply() of aggregates with a lifecycle
        step: Step

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

    def optional_text(self, field: str, value: Any, max_len: int = 200) -> str:
        """A text that may be empty (a work unit, an address), trimmed and at most ``max_len`` characters."""
        text = str(value).strip()
        self.require(len(text) <= max_len, f"{field} must be at most {max_len} characters (got {len(text)})")
        return text

    def pick(self, field: str, enum: type[E], value: str) -> E:
        """``choice`` for a command on this aggregate: errors name it and its state."""
        try:
            return choice(self.label, field, enum, value)
        except DomainError as e:
            raise self.reject(e.rule) from None

    def dated(self, field: str, day: date, by: Attribution) -> date:
        """A day a command names (a visit's, a reply's): not before the floor, not after the latest ``by`` allows."""
        problem = day_problem(field, day, by)
        if problem:
            raise self.reject(problem)
        return day

    def follows(self, by: Attribution, field: str | None = None, day: date | None = None) -> None:
        """Time order of a lifecycle's next step after its last one (``self.step``, see ``Step``): the next occurs on
        no day before the last occurred, and its own day (the ``day`` it names in ``field``, else the day it occurred)
        is not before the last step's day."""
        last: Step = self.step
        occurred = by.day
        self.not_before("occurred_at", occurred, last.label, last.occurred)
        if day is None:
            self.not_before("occurred_at", occurred, last.label, last.day)
        else:
            self.not_before(field or "day", self.dated(field or "day", day, by), last.label, last.day)

    def not_before(self, field: str, day: date, step: str, earlier: date) -> None:
        """Time order: a step cannot be dated on a day before the ``step`` it follows, dated ``earlier``."""
        if day < earlier:
            raise self.reject(
                f"{field} {day} is before {step} ({earlier}): a step cannot be dated before the step it follows (时间倒序)"
            )

    # ------------------------------------------------------------------------------------- corrections, voids

    def fact(self, fact: str, number: int) -> Fact:
        """One correctable fact (``fact`` is one of ``correctable``), or a refusal naming ``number`` if there is no
        such one. The aggregate's creating fact is number 1 of its kind."""
        raise self.reject(f"fact {fact!r} cannot be corrected")

    def single(self, fact: str, number: int, version: int, day: date, values: dict[str, Any]) -> Fact:
        """A fact the aggregate has once (its creation, a project's implementation): number 1 only."""
        if number != 1:
            raise self.reject(f"number: a {self.label} has one {fact}, number 1 (got {number})")
        return Fact(version, day, values)

    def nth(self, fact: str, number: int, facts: list[dict[str, Any]]) -> Fact:
        """Fact ``number`` of a numbered kind (a visit's issues, a project's progress reports), whose values hold their
        event's ``version`` and ``day``."""
        if not 1 <= number <= len(facts):
            raise self.reject(f"number: no {fact} number {number} (this {self.label} has {len(facts)})")
        found = facts[number - 1]
        return Fact(found["version"], found["day"], found)

    def checked_correction(self, fact: str, number: int, changes: dict[str, Any], by: Attribution) -> dict[str, Any]:
        """The corrected values in their recorded form, checked by the rules the fact was recorded under and against
        the aggregate's other facts (each refusal names the field and the rule)."""
        return changes

    def derive(self, fact: str) -> None:
        """What the aggregate derives from the values of its facts of kind ``fact`` (a project's progress from its
        latest report), derived again when one of them changes."""

    def correct(
        self,
        office: NodeRef,
        by: Attribution,
        *,
        fact: str,
        number: int = 1,
        changes: dict[str, Any],
        reason: str,
        effective_from: date | None = None,
    ) -> None:
        """更正: record new values for named fields of one fact, by the owner office only, with a reason."""
        self._require_standing(office, "corrects")
        fields = self.correctable.get(fact)
        if fields is None:
            allowed = ", ".join(self.correctable) or "none"
            raise self.reject(f"fact must be one of: {allowed} (got {fact!r}): 此项不可更正")
        self.require(bool(changes), "changes must name at least one field to correct")
        for name in changes:
            if name not in fields:
                raise self.reject(f"{name} of a {fact} cannot be corrected (correctable: {', '.join(fields)}): 此字段不可更正")
        version, day, current = self.fact(fact, number)
        self.not_before("occurred_at", by.day, f"the corrected {fact}", day)
        if fact in self.dated_facts:
            self.require(effective_from is not None, f"effective_from is required: from which day do the new {fact} values hold")
            self.dated("effective_from", effective_from, by)  # type: ignore[arg-type]
        elif effective_from is not None:
            raise self.reject(f"effective_from is only for a deputy's attributes: a {fact} is corrected from when it happened")
        values = self.checked_correction(fact, number, dict(changes), by)
        if all(current.get(name) == value for name, value in values.items()):
            raise self.reject(f"the {fact} already holds these values: nothing to correct")
        self.record(
            self.Corrected,
            by,
            fact=fact,
            number=number,
            version=version,
            changes=values,
            reason=self.text("reason", reason, 500),
            effective_from=effective_from,
        )

    def void(self, office: NodeRef, by: Attribution, *, reason: str) -> None:
        """作废: the record was entered in error (登记有误); by the owner office only, with a reason."""
        self._require_standing(office, "voids")
        self.require(self.voidable, f"a {self.label} cannot be voided")
        self.record(self.Voided, by, reason=self.text("reason", reason, 500))

    def _require_standing(self, office: NodeRef, what: str) -> None:
        if office.node_id != self.owner:
            raise self.reject(f"only the owner office {what} this record, not {office}: 仅登记单位可更正或作废")
        if self.void_reason:
            raise self.voided()

    def voided(self) -> DomainError:
        return DomainError(f"{self.label} {self.id}", "voided", f"the record was voided (已作废: {self.void_reason})")

    def record(self, event_class: type[Event], by: Attribution, **payload: Any) -> None:
        """Trigger one event of this aggregate, attributed and owned; none on a voided record.

        What the library's ``trigger_event`` does, leaner (see ``_lean_event``): the event built straight into its
        ``__dict__``, applied, the version and modified time set, the event made pending.
        """
        if self.void_reason:
            raise self.voided()
        if by.occurred_at < FLOOR_AT or (by.latest is not None and by.occurred_at > by.latest):
            raise self.reject(by.dating_problem() or "")
        make = _LEAN_EVENTS.get(event_class, _UNSEEN)
        if make is _UNSEEN:
            make = _lean_event(event_class, type(self))
        if make is None:
            self.trigger_event(event_class, **_attributed(self.owner, by), **payload)
            return
        version = self._version + 1
        timestamp = _now(_TZINFO)
        try:
            event = make(self._id, version, timestamp, self.owner, by.actor, by.role._value_, by.occurred_at, by.token, **payload)
        except TypeError as e:
            raise TypeError(f"Can't construct event {event_class}: {e}") from None
        event.apply(self)  # before the aggregate changes, as the library's mutate(): a failing apply changes nothing
        self._version = version
        self._modified_on = timestamp
        self._pending_events.append(event)

    @classmethod
    def start(cls, event_class: type[Created], id: UUID, owner: UUID, by: Attribution, **payload: Any) -> Any:
        """Create the aggregate with its first, attributed event.

        What the library's ``_create`` and the created event's ``mutate`` do, leaner (see ``_lean_event``): no
        keyword filtering for ``create_id`` and ``__init__`` (the id is given; ``__init__`` takes the owner), the
        aggregate's base attributes set as ``__base_init__`` sets them.
        """
        if by.occurred_at < FLOOR_AT or (by.latest is not None and by.occurred_at > by.latest):
            raise DomainError(f"{cls.label} {id}", "new", by.dating_problem() or "")
        make = _LEAN_EVENTS.get(event_class, _UNSEEN)
        if make is _UNSEEN:
            make = _lean_event(event_class, cls)
        if make is None or type(id) is not UUID:
            return cls._create(event_class, id=id, **_attributed(owner, by), **payload)
        version = cls.INITIAL_VERSION
        timestamp = _now(_TZINFO)
        try:
            event = make(id, version, timestamp, owner, by.actor, by.role._value_, by.occurred_at, by.token, **payload)
        except TypeError as e:
            raise TypeError(f"Unable to construct '{event_class.__qualname__}' event: {e}") from e
        aggregate = _new(cls)
        # BaseAggregate.__base_init__, then the dataclass __init__ (owner), in the library's order.
        aggregate._id = id
        aggregate._version = version
        aggregate._created_on = timestamp
        aggregate._modified_on = timestamp
        aggregate._pending_events = []
        aggregate.owner = owner
        event.apply(aggregate)
        aggregate._pending_events.append(event)
        return aggregate


class Fact(NamedTuple):
    """A correctable fact as its aggregate holds it: the version of its event, its day (what a correction is ordered
    after), and its values (mutable: a correction updates them; for a creating fact, the aggregate's own)."""

    version: int
    day: date
    values: dict[str, Any]


class Step(NamedTuple):
    """A lifecycle's last step, as the next is ordered against it: its label, the day it occurred, and its own day
    (the day it names, e.g. a reply's ``replied_on``; else the day it occurred)."""

    label: str
    occurred: date
    day: date

    @classmethod
    def of(cls, event: Any, day: date | None = None) -> Step:
        occurred = day_of(event.occurred_at)
        return cls(event.label, occurred, day or occurred)


def as_occurred(events: Sequence[Any], as_of: datetime) -> list[Any]:
    """The events that make an aggregate as it was in the world at ``as_of`` (the occurred clock), in their order:
    the prefix of its facts that had happened by then (its history is sequential), every correction of one of them
    that holds by then (from when the fact happened; a deputy's attributes from ``effective_from``), and a void
    whenever it was recorded (a record entered in error never was)."""
    kept: list[Any] = []
    held: set[int] = set()
    happened = True
    for event in events:
        if isinstance(event, DutyAggregate.Voided):
            kept.append(event)
        elif isinstance(event, DutyAggregate.Corrected):
            since = event.effective_from
            if event.version in held and (since is None or start_of(since) <= as_of):
                kept.append(event)
        elif happened and event.occurred_at <= as_of:
            kept.append(event)
            held.add(event.originator_version)
        else:
            happened = False
    return kept


# Events stored before the token was recorded have no ``token`` in their state: reading it finds this class attribute.
# A class attribute, not a dataclass default: every subclass's payload fields come after it and have none.
DutyAggregate.Event.token = ""  # type: ignore[misc]


def _attributed(owner: UUID, by: Attribution) -> dict[str, Any]:
    return {"owner": owner, "actor": by.actor, "role": str(by.role), "occurred_at": by.occurred_at, "token": by.token}


# ============================================================================================ lean events
#
# Recording an event through the library (``trigger_event``, ``_create``) costs more than simulating it: keyword
# dicts copied and filtered by signatures, the frozen dataclass ``__init__`` (one ``object.__setattr__`` per field)
# and ``__post_init__``, ``create_timestamp()`` through two calls, ``mutate`` checking what the caller just set, and
# for a created event the aggregate built through ``resolve_topic`` and two more signature filters. For an event
# class as the library makes them (a frozen dataclass of required fields, its ``mutate``, ``create_timestamp`` and
# ``__post_init__`` the library's) on an aggregate that overrides none of that, ``DutyAggregate.record``/``start``
# do the same in a few lines: the event's ``__dict__`` is set at once, in the dataclass's field order (the order
# its state is encoded in, so stored bytes do not change), ``timestamp`` is ``datetime.now(TZINFO)`` as the library's
# ``datetime_now_with_tzinfo()``. Anything else takes the library's path.
#
# This leans on eventsourcing 9.5.6 internals (pinned in pyproject.toml): the aggregate's private ``_id``,
# ``_version``, ``_created_on``, ``_modified_on`` and ``_pending_events`` (``BaseAggregate.__base_init__``), the
# ``originator_topic`` of created events, ``TZINFO``, and what trigger_event/_create/mutate do. A new version of
# the library needs this checked again (tests/unit/test_lean_events.py compares both paths event by event).

_UNSEEN: Any = object()
_LEAN_EVENTS: dict[type, Callable[..., Any] | None] = {}  # event class → its lean constructor, or None
_TZINFO = eventsourcing.domain.TZINFO
_now = datetime.now
_HEAD = ("originator_id", "originator_version", "timestamp", "owner", "actor", "role", "occurred_at", "token")


def _lean_event(event_class: type, aggregate_class: type) -> Callable[..., Any] | None:
    """A constructor of ``event_class`` events as its dataclass ``__init__`` makes them (same ``__dict__``, keys in
    the same order), or None if the event or its aggregate is not as the library makes them (the library's path)."""
    make = None
    if _lean_aggregate(aggregate_class) and _lean_event_class(event_class):
        names = [f.name for f in dataclasses.fields(event_class)]
        created = issubclass(event_class, CanInitAggregate)
        head = (*_HEAD, "originator_topic") if created else _HEAD
        if set(head) <= set(names) and not any(n.startswith("_lean") for n in names):
            payload = [n for n in names if n not in head]
            signature = ", ".join(head) + (", *, " + ", ".join(payload) if payload else "")
            state = ", ".join(f"{n!r}: {n}" for n in names)
            source = (
                f"def make({signature.replace('originator_topic', 'originator_topic=_lean_topic')}):\n"
                f"    event = _lean_new(_lean_class)\n"
                f"    _lean_set(event, '__dict__', {{{state}}})\n"
                f"    return event\n"
            )
            scope: dict[str, Any] = {"_lean_new": _new, "_lean_set": _set, "_lean_class": event_class}
            if created:
                scope["_lean_topic"] = get_topic(aggregate_class)
            exec(source, scope)  # noqa: S102 - source made here from the dataclass's field names
            make = scope["make"]
    _LEAN_EVENTS[event_class] = make
    return make


def _lean_event_class(event_class: Any) -> bool:
    if not (
        isinstance(event_class, type)
        and issubclass(event_class, CanMutateAggregate)
        and issubclass(event_class, DomainEvent)
        and dataclasses.is_dataclass(event_class)
    ):
        return False
    if getattr(event_class, "TOPIC", None) or not getattr(event_class, "__dataclass_params__").frozen:  # noqa: B009
        return False
    if any(
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING or not f.init
        for f in dataclasses.fields(event_class)
    ):
        return False
    init = event_class.__init__
    mutate = CanInitAggregate.mutate if issubclass(event_class, CanInitAggregate) else CanMutateAggregate.mutate
    return (
        getattr(init, "__code__", None) is not None
        and init.__code__.co_filename == "<string>"  # the dataclass-made __init__, not one of a subclass
        and event_class.__post_init__ is DomainEvent.__post_init__
        and event_class.mutate is mutate
        and event_class.create_timestamp is CanCreateTimestamp.create_timestamp
    )


def _lean_aggregate(cls: type) -> bool:
    if not issubclass(cls, DutyAggregate) or getattr(cls, "TOPIC", None):
        return False
    init = inspect.signature(cls.__init__).parameters
    return (
        cls.trigger_event is BaseAggregate.trigger_event
        and cls._create.__func__ is BaseAggregate._create.__func__  # type: ignore[attr-defined]
        and cls.__base_init__ is BaseAggregate.__base_init__
        and cls.__new__ is object.__new__
        and all(getattr(cls, a) is getattr(BaseAggregate, a) for a in ("version", "modified_on", "pending_events"))
        and (cls.__init__ is DutyAggregate.__init__ or list(init) == ["self", "owner"])
        and resolve_topic(get_topic(cls)) is cls
    )


def day_problem(field: str, day: date, by: Attribution) -> str | None:
    """What is wrong with a day a command names, if anything: before the floor, or after the latest ``by`` allows."""
    if day < FLOOR:
        return f"{field} {day} is before {FLOOR} (the first people's congress): 日期早于人大制度建立"
    if by.latest is not None and day > day_of(by.latest):
        return (
            f"{field} {day} is in the future (after {day_of(by.latest)}, the recording day plus the tolerance): 日期晚于当前日期"
        )
    return None


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
    if type(value) is enum:
        return value
    if type(value) is str:  # what Enum.__new__ looks up first, without the call through EnumType.__call__
        found = enum._value2member_map_.get(value)
        if found is not None:
            return found  # type: ignore[return-value]
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise DomainError(aggregate, "new", f"{field} must be one of: {allowed} (got {value!r})") from None


def member(enum: type[E], value: str) -> E:
    """``enum(value)``: the same member or the same error, without the call through ``EnumType.__call__`` for the
    value of a member (the common case: events' apply() turning stored values back into members)."""
    if type(value) is enum:
        return value  # type: ignore[return-value]
    if type(value) is str:
        found = enum._value2member_map_.get(value)
        if found is not None:
            return found  # type: ignore[return-value]
    return enum(value)
