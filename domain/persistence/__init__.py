"""What a node keeps beside its log for sync: positions in other logs and parked messages.

The recorders of this package extend the eventsourcing application recorders, one module per backend, so that
events copied from a child's log and the child's position are written in one database transaction: that is what
makes replication exactly-once. The node's store selects them through ``APPLICATION_RECORDER_TOPIC``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

#: The stream name under which a node keeps its own relay's published position.
RELAY_STREAM = "relay"

#: One stored event as the recorders insert it: originator id, originator version, topic, state (JSON bytes).
EventRow = tuple[UUID | str, int, str, bytes]


@dataclass(frozen=True)
class StreamPosition:
    """How far a node has gone in one stream: applied (a child's log) or published (its own relay)."""

    stream: str
    position: int
    link: str  # hash-chain link after that position, hex
    offset: int = -1  # the Kafka offset of that message: a hint for seeking, never the truth


@dataclass(frozen=True)
class ParkedMessage:
    """A message that could not be applied (undecodable, or an event type this version does not know)."""

    stream: str
    position: int
    reason: str
    envelope: str  # the envelope as JSON text, for operators
    payload: bytes
    parked_at: datetime


class SyncRecorder(ABC):
    """The bookkeeping part of a node's recorder; each backend module implements it.

    Its ``insert_events(stored_events, positions=[StreamPosition(...), ...])`` (the library's method, extended)
    saves the positions in the same transaction as the events; ``insert_rows`` does the same for plain tuples
    (the store's lean append path, without ``StoredEvent`` objects).
    """

    def insert_rows(self, rows: Iterable[EventRow], *, positions: Sequence[StreamPosition] = ()) -> Sequence[int]:
        """Insert events given as ``(originator_id, originator_version, topic, state)`` and the positions, in one
        transaction; return the events' notification ids, in order. ``rows`` may be a lazy iterable (consumed once).
        Backends override it with a leaner insert."""
        from eventsourcing.persistence import StoredEvent

        recorder: Any = self
        return recorder.insert_events([StoredEvent(*row) for row in rows], positions=positions) or []

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
