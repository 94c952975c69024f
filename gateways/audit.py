"""审计日志: who recorded what, when, in which role and with which token, over a node's subtree.

The one scan behind ``yipanqi audit`` and ``GET /nodes/{code}/audit``: a node's log (its own events and, after sync,
its subtree's) read oldest first from a cursor (a log position), each event that passes an ``AuditFilter`` given as
an ``AuditRow``. A province's log holds some 1.5 million events, so what can be decided without decoding an event is:

- the event types go into the query (``select_notifications(topics=...)``): the database skips the others;
- one aggregate is read by its own positions (``notification_ids``), not by scanning the log;
- actor, token, role and a small region are first looked for in the stored bytes. The stored state is the library's
  compact JSON (``domain.codec`` writes exactly the bytes of ``json.dumps(..., separators=(",", ":"),
  ensure_ascii=False)``), so an event recorded by ``clerk-1`` holds ``"actor":"clerk-1"``; a row without it cannot
  match and is never decoded. A row with it may still not match (the text can be a payload field's too): every
  condition is checked again on the decoded event;
- a larger region, a time span and "no token" are first checked on the state read as plain JSON (``orjson``, a
  quarter of the cost of decoding the event), which only ever rejects a row that surely fails.

Measured on a SQLite log of 1.5 million events: a selective token or actor query reads it all in about 4 s, a time
span or a prefecture's region in about 9 s; PostgreSQL reads about three times slower per event.

Times given without an offset are Beijing time; a date alone is that whole day (``since`` its start, ``until`` its
end); ``since`` is inclusive and ``until`` exclusive. Times come out in Beijing time.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from difflib import get_close_matches
from enum import StrEnum
from functools import cache
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.base import DomainError, Role
from domain.catalogue import AGGREGATES, event_classes
from domain.hierarchy import Hierarchy
from domain.persistence import as_uuid
from domain.store import NodeStore
from domain.timeline import SHANGHAI
from gateways.api.auth import ROLE_LABELS

#: Each role's Chinese name, the gateway's (``ROLE_LABELS``), and 系统 for the system's own acts.
ROLE_NAMES = {role.value: label for role, label in ROLE_LABELS.items()} | {Role.SYSTEM.value: "系统"}

#: The token filter's value for events written without a token (the simulator, a node's own system acts, the host's
#: command line, and every event stored before tokens were recorded).
NO_TOKEN = "none"

#: The columns of a row, in the order of the CSV and of ``AuditRow.as_dict``.
COLUMNS = (
    "position",
    "occurred_at",
    "recorded_at",
    "owner_code",
    "owner_name",
    "actor",
    "role",
    "role_label",
    "token",
    "aggregate_id",
    "version",
    "type",
    "label",
    "topic",
)

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class Clock(StrEnum):
    """Which time ``since``/``until`` are compared with."""

    OCCURRED = "occurred"  # 发生时间: when it happened, as the office recorded it (occurred_at)
    RECORDED = "recorded"  # 记录时间: when the office's store recorded it (the event's timestamp)


class AuditInputError(ValueError):
    """A filter that cannot be used, with the field it came from (``type``, ``since``...) for the answer."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# ---------------------------------------------------------------------------------------------------- types


@cache
def event_types() -> dict[str, type]:
    """Every audited event type by its topic."""
    return {get_topic(cls): cls for aggregate in AGGREGATES for cls in event_classes(aggregate)}


@cache
def _names() -> dict[str, tuple[str, frozenset[str]]]:
    """What a person may call a type (case aside), as written, with the topics it stands for: the topic,
    ``Aggregate.Event``, the aggregate (all its events), the event's short name (``Voided``: of every aggregate) and
    its Chinese label."""
    names: dict[str, tuple[str, set[str]]] = {}
    for topic, cls in event_types().items():
        aggregate, _, short = cls.__qualname__.partition(".")
        for name in filter(None, (topic, cls.__qualname__, aggregate, short, getattr(cls, "label", ""))):
            names.setdefault(name.casefold(), (name, set()))[1].add(topic)
    return {key: (name, frozenset(topics)) for key, (name, topics) in names.items()}


def resolve_types(names: Iterable[str]) -> frozenset[str]:
    """The topics of the types named; an unknown name is an ``AuditInputError`` that says how to name one."""
    topics: set[str] = set()
    known = _names()
    for name in names:
        found = known.get(name.strip().casefold())
        if found is None:
            close = [known[k][0] for k in get_close_matches(name.strip().casefold(), known, n=3, cutoff=0.7)]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            aggregates = ", ".join(a.__name__ for a in AGGREGATES)
            raise AuditInputError(
                "type",
                f"unknown event type {name!r}{hint}. Name a type as Aggregate.Event (Suggestion.Evaluated), as its topic "
                f"(domain.suggestions:Suggestion.Evaluated), by its Chinese label (代表评价), by an event name for every "
                f"aggregate (Voided, Corrected), or by an aggregate for all its events ({aggregates})",
            )
        topics |= found[1]
    return frozenset(topics)


# ---------------------------------------------------------------------------------------------------- filter


def parse_when(text: str, field: str, *, end: bool = False) -> datetime:
    """An ISO date or datetime as typed (naive: Beijing time); a date alone is its day's start, or (``end``) the
    start of the next day, so that ``until`` 2025-03-31 includes the 31st."""
    text = text.strip()
    try:
        if _DAY.fullmatch(text):
            start = datetime.combine(date.fromisoformat(text), datetime.min.time(), SHANGHAI)
            return start + timedelta(days=1) if end else start
        when = datetime.fromisoformat(text)
    except ValueError:
        raise AuditInputError(
            field,
            f"{field}: {text!r} is not an ISO date or datetime (e.g. 2025-03-01, 2025-03-01T09:30, "
            "2025-03-01T01:30:00Z; without an offset it is Beijing time)",
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=SHANGHAI)


@dataclass(frozen=True)
class AuditFilter:
    """What rows to keep; ``None`` keeps any. Every condition must hold."""

    region: UUID | None = None  # only events owned by this node or below it (None: the whole log)
    actor: str | None = None  # the token subject who recorded the event
    token: str | None = None  # the token id; NO_TOKEN: events written without one
    role: str | None = None
    aggregate: UUID | None = None
    topics: frozenset[str] = frozenset()  # event types (empty: all)
    since: datetime | None = None  # inclusive, on ``clock``
    until: datetime | None = None  # exclusive
    clock: Clock = Clock.OCCURRED

    @classmethod
    def parse(
        cls,
        *,
        region: UUID | None = None,
        actor: str | None = None,
        token: str | None = None,
        role: str | None = None,
        aggregate: str | UUID | None = None,
        types: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        clock: str = Clock.OCCURRED,
    ) -> AuditFilter:
        """A filter from what a person typed (the command line's options, the API's query): ``AuditInputError``
        names the field that cannot be used."""
        if isinstance(aggregate, str):
            try:
                aggregate = UUID(aggregate)
            except ValueError:
                raise AuditInputError("aggregate", f"aggregate: {aggregate!r} is not an aggregate id (a UUID)") from None
        if role is not None and role not in Role._value2member_map_:
            raise AuditInputError("role", f"role: {role!r} is not one of {', '.join(r.value for r in Role)}")
        if clock not in Clock._value2member_map_:
            raise AuditInputError("clock", f"clock: {clock!r} is not one of {', '.join(c.value for c in Clock)}")
        start = parse_when(since, "since") if since else None
        stop = parse_when(until, "until", end=True) if until else None
        if start is not None and stop is not None and start >= stop:
            raise AuditInputError("until", f"until ({stop.isoformat()}) must be after since ({start.isoformat()})")
        return cls(
            region=region,
            actor=actor or None,
            token=token or None,
            role=role,
            aggregate=aggregate,
            topics=resolve_types(types),
            since=start,
            until=stop,
            clock=Clock(clock),
        )

    def needles(self, region_ids: frozenset[UUID] | None) -> list[tuple[bytes, ...]]:
        """Byte strings a stored state must hold to match: one of each group. A region of a few nodes gives its
        owners' encoded ids; a larger one is left to the decoded check."""
        groups: list[tuple[bytes, ...]] = []
        for key, value in (("actor", self.actor), ("role", self.role)):
            if value is not None:
                groups.append((_pair(key, value),))
        if self.token is not None and self.token != NO_TOKEN:
            groups.append((_pair("token", self.token),))
        if region_ids is not None and len(region_ids) <= 16:
            groups.append(tuple(b'"owner":{"_type_":"uuid_hex","_data_":"%s"}' % i.hex.encode() for i in region_ids))
        return groups


def _pair(key: str, value: str) -> bytes:
    return f'"{key}":{json.dumps(value, ensure_ascii=False)}'.encode()


def _sieve(groups: list[tuple[bytes, ...]]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """The rows of a page whose state holds one needle of each group (``AuditFilter.needles``); the common case of
    one needle in one comprehension (~0.3 µs a row)."""
    if not groups:
        return lambda page: page
    if len(groups) == 1 and len(groups[0]) == 1:
        needle = groups[0][0]
        return lambda page: [r for r in page if needle in r[4]]
    return lambda page: [r for r in page if all(any(n in r[4] for n in group) for group in groups)]


def _typed(value: Any, name: str) -> str | None:
    """The ``_data_`` of a value the library's transcoder wrote as ``{"_type_": name, "_data_": "..."}``, else None."""
    if isinstance(value, dict) and value.get("_type_") == name and isinstance(data := value.get("_data_"), str):
        return data
    return None


# ------------------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class AuditRow:
    """One event of the log as an auditor reads it."""

    position: int  # in the node's log
    occurred_at: datetime | None
    recorded_at: datetime | None
    owner: UUID | None
    owner_code: str
    owner_name: str
    actor: str
    role: str
    role_label: str
    token: str  # "" written without a token
    aggregate_id: UUID
    version: int
    type: str  # Aggregate.Event
    label: str  # its Chinese name
    topic: str

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON and CSV write it (``COLUMNS``): times in Beijing time, ISO 8601 (None where unknown)."""
        values = {name: getattr(self, name) for name in COLUMNS}
        for name in ("occurred_at", "recorded_at"):
            when = values[name]
            values[name] = when.astimezone(SHANGHAI).isoformat() if when is not None else None
        values["aggregate_id"] = str(self.aggregate_id)
        return values


def csv_chunks(rows: Iterable[AuditRow], *, bom: bool = True) -> Iterator[str]:
    """CSV text, header first, a chunk per row (to stream). ``bom``: start with U+FEFF, which makes Excel read the
    file as UTF-8 (without it Excel on a Chinese Windows shows the names garbled); other readers skip it when they
    read ``utf-8-sig``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(COLUMNS)
    yield ("\ufeff" if bom else "") + take()
    for row in rows:
        writer.writerow(row.as_dict().values())  # None is written as an empty field
        yield take()


# ------------------------------------------------------------------------------------------------------- scan

#: One stored event as the scan reads it: position, aggregate id (as the backend keeps it), version, topic, bytes (a
#: tuple, or the database's row that indexes as one).
_Stored = Any


class AuditScan:
    """One pass over a node's log after ``after``, up to the log's head when it began; iterate it for the rows.

    ``position`` is where it stopped: the last row given when the reader stopped taking rows, else the last event
    examined, so that a scan started after it (``after=position``) gives every later row once. ``done``: the head
    was reached (there is nothing after ``position`` to scan, as of the start). ``budget``: the most events examined
    (a request's share of work; ``None``: the whole log). ``progress(scan)`` after each page read.
    """

    def __init__(
        self,
        store: NodeStore,
        hierarchy: Hierarchy,
        audit: AuditFilter,
        *,
        after: int = 0,
        budget: int | None = None,
        page: int = 2000,
        progress: Callable[[AuditScan], object] | None = None,
    ) -> None:
        self.store = store
        self.hierarchy = hierarchy
        self.filter = audit
        self.position = after
        self.budget = budget
        self.page = page
        self.progress = progress
        self.head = store.max_position()
        self.examined = 0
        self.matched = 0
        self.done = False
        self._owners: dict[UUID | None, tuple[str, str]] = {}
        self._region = self._region_ids()
        mapper = store.mapper
        plain = mapper.compressor is None and mapper.cipher is None  # bytes to look into, not compressed or enciphered
        self._sieve = _sieve(audit.needles(self._region) if plain else [])
        self._rejects = self._prejudge() if plain else None

    def __iter__(self) -> Iterator[AuditRow]:
        rejects = self._rejects
        for page in self._pages():
            self.examined += len(page)
            for stored in self._sieve(page):
                if rejects is not None and rejects(stored[4]):
                    continue
                self.position = stored[0]  # where a reader that stops after this row resumes
                row = self._row(stored)
                if self._keeps(row):
                    self.matched += 1
                    yield row
            self.position = max(self.position, page[-1][0])
            if self.progress is not None:
                self.progress(self)

    # ------------------------------------------------------------------------------------------------ reading

    def _pages(self) -> Iterator[Sequence[_Stored]]:
        """The log after ``position`` up to the head, a page at a time (never an empty page); ``done`` once the
        head is reached."""
        if self.filter.aggregate is not None:
            found = self._aggregate_rows(self.filter.aggregate)
            if found:
                yield found
            self.position, self.done = max(self.position, self.head), True
            return
        books, topics = self.store.books, sorted(self.filter.topics)
        start = self.position + 1
        while self.budget is None or self.examined < self.budget:
            want = self.page if self.budget is None else min(self.page, self.budget - self.examined)
            page: Sequence[_Stored] = []
            if start <= self.head and topics:  # the database leaves the other types out
                notifications = self.store.recorder.select_notifications(start=start, limit=want, stop=self.head, topics=topics)
                page = [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in notifications]
            elif start <= self.head:  # the cheaper read: the database's tuples
                page = [r for r in books.log_page(start, want) if r[0] <= self.head]
            if page:
                yield page
                start = page[-1][0] + 1
            if len(page) < want:  # nothing more up to the head (of the types asked for)
                self.position, self.done = max(self.position, self.head), True
                return

    def _aggregate_rows(self, aggregate: UUID) -> list[_Stored]:
        """One aggregate's events, found by their positions: a few reads instead of the whole log."""
        books, topics = self.store.books, self.filter.topics
        found: list[_Stored] = []
        for position in books.notification_ids(aggregate):
            if self.position < position <= self.head:
                found += [r for r in books.log_page(position, 1) if r[0] == position and (not topics or r[3] in topics)]
        return found

    def _prejudge(self) -> Callable[[bytes], bool] | None:
        """A cheap rejection, for what the bytes alone cannot show (a large region, a time span, no token): the
        state read as plain JSON (no transcoding, no event object: a quarter of the cost of decoding it). It rejects
        only a row whose head field is there in the library's shape and fails; any other row goes on to the full
        decode, which decides."""
        f = self.filter
        region = frozenset(i.hex for i in self._region) if self._region is not None and len(self._region) > 16 else None
        timed, since, until = f.since is not None or f.until is not None, f.since, f.until
        moment_key = "occurred_at" if f.clock is Clock.OCCURRED else "timestamp"
        no_token = f.token == NO_TOKEN
        if region is None and not timed and not no_token:
            return None

        def rejects(state: bytes) -> bool:
            try:
                head = orjson.loads(state)
            except orjson.JSONDecodeError:
                return False
            if not isinstance(head, dict):
                return False
            if no_token and isinstance(token := head.get("token"), str) and token:
                return True
            if region is not None and (owner := _typed(head.get("owner"), "uuid_hex")) is not None and owner not in region:
                return True
            if timed and (text := _typed(head.get(moment_key), "datetime_iso")) is not None:
                try:
                    moment = datetime.fromisoformat(text)
                except ValueError:
                    return False
                return moment.tzinfo is not None and (
                    (since is not None and moment < since) or (until is not None and moment >= until)
                )
            return False

        return rejects

    # ----------------------------------------------------------------------------------------------- deciding

    def _region_ids(self) -> frozenset[UUID] | None:
        region = self.filter.region
        if region is None or region == self.store.node.node_id:  # a node's log holds its subtree's events only
            return None
        return frozenset(d.id for d in self.hierarchy.subtree(self.hierarchy.get(region)))

    def _keeps(self, row: AuditRow) -> bool:
        f = self.filter
        if f.actor is not None and row.actor != f.actor:
            return False
        if f.token is not None and row.token != ("" if f.token == NO_TOKEN else f.token):
            return False
        if f.role is not None and row.role != f.role:
            return False
        if self._region is not None and row.owner not in self._region:
            return False
        if f.since is not None or f.until is not None:
            when = row.occurred_at if f.clock is Clock.OCCURRED else row.recorded_at
            if when is None or (f.since is not None and when < f.since) or (f.until is not None and when >= f.until):
                return False
        return True

    def _row(self, stored: _Stored) -> AuditRow:
        position, originator_id, version, topic, state = stored[0], stored[1], stored[2], stored[3], stored[4]
        aggregate_id = as_uuid(originator_id)
        cls = event_types().get(topic)
        try:
            event: Any = self.store.mapper.to_domain_event(StoredEvent(aggregate_id, version, topic, state))
            cls = type(event)
            head = vars(event)
        except Exception:  # noqa: BLE001 - an event this version cannot decode is still audited, by its head fields
            head = self._head_of(state)
        owner = head.get("owner") if isinstance(head.get("owner"), UUID) else None
        owner_code, owner_name = self._owner(owner)
        role = str(head.get("role", ""))
        return AuditRow(
            position=position,
            occurred_at=_moment(head.get("occurred_at")),
            recorded_at=_moment(head.get("timestamp")),
            owner=owner,
            owner_code=owner_code,
            owner_name=owner_name,
            actor=str(head.get("actor", "")),
            role=role,
            role_label=ROLE_NAMES.get(role, role),
            token=str(head.get("token", "") or ""),
            aggregate_id=aggregate_id,
            version=version,
            type=cls.__qualname__ if cls else topic.partition(":")[2] or topic,
            label=getattr(cls, "label", "") if cls else "未知事件类型 unknown type",
            topic=topic,
        )

    def _head_of(self, state: bytes) -> dict[str, Any]:
        try:
            decoded = self.store.mapper.transcoder.decode(state)
        except Exception:  # noqa: BLE001 - bytes no transcoder reads: the row shows what the log's columns say
            return {}
        return decoded if isinstance(decoded, dict) else {}

    def _owner(self, owner: UUID | None) -> tuple[str, str]:
        known = self._owners.get(owner)
        if known is None:
            if owner is not None and owner in self.hierarchy:
                ref = self.hierarchy.ref(self.hierarchy.get(owner))
                known = (ref.code, ref.name)
            else:
                known = ("", str(owner or ""))
            self._owners[owner] = known
        return known


def _moment(value: Any) -> datetime | None:
    """A head field's time, if it is one (an event decoded only in part may hold anything)."""
    return value if isinstance(value, datetime) and value.tzinfo is not None else None


def region_within(hierarchy: Hierarchy, node_id: UUID, code: str) -> UUID:
    """A region typed on the command line (a code or a name), within the node's subtree."""
    try:
        division = hierarchy.resolve(code)
    except DomainError as e:
        raise AuditInputError("region", f"region: {e}") from None
    if not hierarchy.is_within(division.id, node_id):
        node = hierarchy.get(node_id)
        raise AuditInputError("region", f"region: {division.name}({division.code}) is outside {node.name}({node.code})'s subtree")
    return division.id
