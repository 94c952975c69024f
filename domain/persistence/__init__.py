"""What a node keeps beside its log: when it came to hold each event (known time), positions in other logs and
parked messages (sync), and the answers to commands given under an idempotency key (gateways).

The recorders of this package extend the eventsourcing application recorders, one module per backend, so that
rows *beside* the events are written in the events' database transaction: events copied from a child's log with
the child's position (that is what makes replication exactly-once), a command's events with its answer (a retry
finds both or neither, even after a crash between the two). The node's store selects them through
``APPLICATION_RECORDER_TOPIC``.
"""

from __future__ import annotations

from abc import abstractmethod
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from domain.persistence.chain import Chainer, Head, id_bytes, place

#: The PostgreSQL advisory lock under which tables are created, one creator at a time per database.
CREATE_LOCK = 0x59_49_50_41_4E_51_49  # "YIPANQI"

#: The stream name under which a node keeps its own relay's published position.
RELAY_STREAM = "relay"

#: One stored event as the recorders insert it: originator id, originator version, topic, state (JSON bytes).
EventRow = tuple[UUID | str, int, str, bytes]

#: One event of the log as the relay reads it: notification id, originator id (16 bytes), version, topic, state, and
#: the node whose chain it is in (16 bytes; None: stored before chaining began, see ``domain.persistence.chain``).
LogRow = tuple[int, bytes, int, str, bytes, bytes | None]

#: One event with its place in its origin's chain: a ``LogRow``, then seq and link (None both where it has none).
ChainedRow = tuple[int, bytes, int, str, bytes, bytes | None, int | None, bytes | None]

#: One event as a backend returns it: notification id, aggregate id (as the backend keeps it: 32 hex digits, UUID),
#: version, topic, stored bytes, ``chain`` column (``domain.persistence.chain``; None: stored before chaining).
LogPageRow = tuple[int, Any, int, str, bytes, bytes | None]


def as_uuid(originator_id: UUID | str) -> UUID:
    """An originator id as read back from the log: a UUID, or its text where the database keeps ids as text
    (PostgreSQL with ``ORIGINATOR_ID_TYPE=text``)."""
    return originator_id if isinstance(originator_id, UUID) else UUID(originator_id)


@dataclass(frozen=True)
class StreamPosition:
    """How far a node has gone in one stream: applied (a child's log) or published (its own relay)."""

    stream: str
    position: int
    link: str  # hash-chain link after that position, hex
    offset: int = -1  # the Kafka offset of that message: a hint for seeking, never the truth


@dataclass(frozen=True)
class StoredAnswer:
    """The first answer to a command sent with an idempotency key: a retry with the same key gets it again."""

    principal: str  # who sent it (a token id): keys are unique per client, not across clients
    key: str
    request_hash: str  # a retry must be the same request; the same key with another request is refused
    status: int
    body: bytes  # the answer's JSON


@dataclass(frozen=True)
class KnownSpan:
    """The events ``first``..``last`` of the log (notification ids) came to be held by this node at ``known_at``:
    its own when they were recorded here, a child's when the ingest stored them. One row per insert, written in the
    events' transaction, the time taken from the database's clock after the insert (so, in commit order, never
    decreasing). Events stored before the node kept these rows have none: their known time is unknown."""

    first: int
    last: int
    known_at: datetime


def known_times(ids: Sequence[int], spans: Sequence[KnownSpan]) -> list[datetime | None]:
    """The known time of each of ``ids`` (ascending) from the spans covering them (ascending, as
    ``SyncRecorder.known_spans`` returns them); None for an event stored before spans were kept."""
    lasts = [span.last for span in spans]
    out: list[datetime | None] = []
    for i in ids:
        k = bisect_left(lasts, i)
        out.append(spans[k].known_at if k < len(spans) and spans[k].first <= i else None)
    return out


#: One data key as the key store keeps it: key id, subject id (a keyed digest), the key wrapped by the master key.
DataKeyRow = tuple[str, str, bytes]


@dataclass(frozen=True)
class NewDataKeys:
    """Data keys made for the events they are written beside (``domain.persistence.datakeys``): in the events'
    transaction, so an event is never stored without its key, and no commit of their own."""

    rows: tuple[DataKeyRow, ...]


#: What may be written beside events, in their transaction.
Beside = StreamPosition | StoredAnswer | NewDataKeys


@dataclass(frozen=True)
class ParkedMessage:
    """A message that could not be applied (undecodable, or an event type this version does not know)."""

    stream: str
    position: int
    reason: str
    envelope: str  # the envelope as JSON text, for operators
    payload: bytes
    parked_at: datetime


@dataclass(frozen=True)
class StreamHalt:
    """An incoming stream halted on a gap (waiting for its origin to re-publish), kept beside the positions so that
    `yipanqi sync status`, another process, can say so, why and since when."""

    stream: str
    reason: str
    since: datetime


class SyncRecorder(ApplicationRecorder):
    """A node's recorder: the library's application recorder with the sync bookkeeping beside the log; each backend
    module implements it on top of that backend's application recorder (which comes next in the MRO).

    Every insert also writes a ``KnownSpan`` for its events (when this node came to hold them), beside the events
    and never in their bytes: the "known" clock of the views. A node's recorder (``origin`` set: the node's id) also
    writes each event's place in its origin's hash chain (``domain.persistence.chain``): its own events in its own
    chain, a child's as the ingest says (``origins=``).

    Its ``insert_events(stored_events, beside=[...])`` (the library's method, extended) writes the ``Beside`` rows
    (stream positions, stored answers) in the same transaction as the events; ``insert_rows`` does the same for
    plain tuples (the store's lean append path, without ``StoredEvent`` objects). ``positions=`` is the sync
    jobs' name for the same thing; both may be given. A stored answer whose key is taken already raises the
    library's ``IntegrityError`` and nothing of the transaction is written.
    """

    #: The node whose chain this log's own events go in (its id's 16 bytes); None: no chaining (a reference store of
    #: replicas, a recorder made outside a node store).
    origin: bytes | None = None

    @abstractmethod
    def insert_rows(
        self,
        rows: Iterable[EventRow],
        *,
        positions: Sequence[StreamPosition] = (),
        beside: Sequence[Beside] = (),
        origins: Sequence[bytes | None] | None = None,
    ) -> Sequence[int]:
        """Insert events given as ``(originator_id, originator_version, topic, state)`` and the rows beside them, in
        one transaction; return the events' notification ids, in order. ``rows`` may be a lazy iterable (consumed
        once). ``origins``: each event's origin (replicated events, as their envelope says; None: unchained); by
        default every event is this node's own."""

    def _chainer(self, cursor: Any, origins: Sequence[bytes | None] | None) -> Chainer | None:
        """For an insert, once the writer holds the log's lock: the chainer of its events, from the heads of their
        origins as they are now (None: this recorder does not chain)."""
        if self.origin is None:
            return None
        wanted = {self.origin} if origins is None else {o for o in origins if o is not None}
        return Chainer(self._heads(cursor, wanted), self.origin, origins)

    def _write_chained(self, cursor: Any, chainer: Chainer | None) -> None:
        """The heads the inserted events moved, in the events' transaction."""
        if chainer is not None:
            heads = chainer.heads()
            if heads:
                self._write_heads(cursor, heads)

    @abstractmethod
    def insert_sealed(self, make: Callable[[Head | None], Sequence[EventRow]]) -> Sequence[int]:
        """Insert this node's own events made from its chain's head, read in the insert's transaction (so that no
        other event comes between: a checkpoint signs the link right before it)."""

    @abstractmethod
    def _heads(self, cursor: Any, origins: set[bytes]) -> dict[bytes, Head]:
        """The heads of these origins' chains, as this log holds them (origins without one are left out)."""

    @abstractmethod
    def _write_heads(self, cursor: Any, heads: Sequence[Head]) -> None: ...

    @abstractmethod
    def chain_heads(self) -> tuple[int, dict[bytes, Head]]:
        """Every origin's chain head in this log, and the log's last notification id, read together (what a check of
        the log reads up to)."""

    @abstractmethod
    def log_page(self, start: int, limit: int) -> list[LogPageRow]:
        """Up to ``limit`` events from notification id ``start`` on, in log order, as the database returns them (the
        aggregate id as this backend keeps it), each with its ``chain`` column."""

    def chained_rows(self, start: int, limit: int) -> list[ChainedRow]:
        """Up to ``limit`` events from notification id ``start`` on, in log order, each with its place in its chain."""
        return [(p, id_bytes(oid), v, t, s, *place(chain)) for p, oid, v, t, s, chain in self.log_page(start, limit)]

    @abstractmethod
    def held_states(self, keys: Sequence[tuple[bytes, int]]) -> dict[tuple[bytes, int], bytes]:
        """The stored bytes of the events held among ``keys`` (aggregate id's 16 bytes, version)."""

    def _write_beside(self, cursor: Any, rows: Sequence[Beside]) -> None:
        """In the transaction of the events: stream positions upserted, stored answers inserted in one statement (a
        key taken already fails the whole transaction: IntegrityError)."""
        answers = []
        for row in rows:
            if isinstance(row, StreamPosition):
                self._upsert_position(cursor, row)
            elif isinstance(row, NewDataKeys):
                self._insert_data_keys(cursor, row.rows)
            else:
                answers.append(row)
        if answers:
            self._insert_answers(cursor, answers)

    @abstractmethod
    def _upsert_position(self, cursor: Any, position: StreamPosition) -> None: ...

    @abstractmethod
    def _insert_answers(self, cursor: Any, answers: Sequence[StoredAnswer]) -> None: ...

    @abstractmethod
    def known_spans(self, start: int, stop: int) -> list[KnownSpan]:
        """The spans covering any of the notification ids ``start``..``stop``, in order (see ``known_times``)."""

    @abstractmethod
    def notification_ids(self, originator_id: UUID) -> list[int]:
        """Where an aggregate's events are in the log (notification ids), in version order."""

    @abstractmethod
    def answer(self, principal: str, key: str) -> StoredAnswer | None:
        """The stored answer for a client's idempotency key, if a command with that key was recorded."""

    @abstractmethod
    def last_version(self, originator_id: UUID) -> int:
        """The version of an aggregate's last stored event (0: none): whether a copy kept in memory is current."""

    @abstractmethod
    def positions(self) -> dict[str, StreamPosition]: ...

    @abstractmethod
    def save_position(self, position: StreamPosition) -> None: ...

    @abstractmethod
    def park(self, message: ParkedMessage) -> None: ...

    @abstractmethod
    def parked(self, stream: str | None = None) -> list[ParkedMessage]: ...

    @abstractmethod
    def unpark(self, stream: str) -> list[ParkedMessage]:
        """Remove and return a stream's parked messages (an operator retries them)."""

    def select_rows(self, start: int, limit: int) -> list[LogRow]:
        """Up to ``limit`` events of the log from notification id ``start`` on, in order, as plain tuples (the
        relay's read: no ``Notification`` or ``UUID`` objects per event), each with its chain's origin."""
        return [
            (p, id_bytes(oid), v, t, s, chain[:16] if chain else None) for p, oid, v, t, s, chain in self.log_page(start, limit)
        ]

    def data_version(self) -> int:
        """A number that changes whenever another connection committed to the log: a relay reads its log only then.
        Backends override it with something cheaper than the log's head."""
        return self.max_notification_id() or 0

    @abstractmethod
    def halts(self) -> dict[str, StreamHalt]: ...

    @abstractmethod
    def save_halt(self, halt: StreamHalt) -> None:
        """Keep why a stream halted (a stream halted already keeps its ``since``)."""

    @abstractmethod
    def clear_halt(self, stream: str) -> None: ...

    # The node's data keys (``domain.persistence.datakeys``): personal data of the public is sealed under them. Beside
    # the log, never in it, so they travel nowhere; destroying one is an erasure (``domain.privacy``).

    @abstractmethod
    def insert_data_keys(self, rows: Sequence[DataKeyRow]) -> None:
        """Keep new data keys (key id, subject id, wrapped key), in one transaction."""

    @abstractmethod
    def _insert_data_keys(self, cursor: Any, rows: Sequence[DataKeyRow]) -> None: ...

    @abstractmethod
    def data_key(self, key_id: str) -> DataKeyRow | None:
        """One key by its id (None: never made here, or erased)."""

    @abstractmethod
    def subject_key_ids(self, subject_id: str) -> list[str]:
        """Every live key of a subject."""

    @abstractmethod
    def erase_data_keys(self, key_ids: Sequence[str]) -> int:
        """Destroy these keys (their rows overwritten where the backend can: SQLite's secure delete); how many were
        live."""

    # What the sync jobs keep of their own observations (the state of each incoming stream, the health reports
    # children send up, which replicas went down to which child), as JSON text under a kind and a key: small tables
    # written at most every few seconds, read by other processes (`yipanqi sync status`, the gateway).

    @abstractmethod
    def state(self, kind: str) -> dict[str, str]:
        """Every value kept under ``kind``, by key."""

    @abstractmethod
    def put_state(self, kind: str, values: dict[str, str]) -> None:
        """Keep these values under ``kind`` (replacing what their keys held), in one transaction."""

    @abstractmethod
    def drop_state(self, kind: str, key_prefix: str = "") -> None:
        """Forget the values under ``kind`` whose key starts with ``key_prefix`` (all of them by default)."""
