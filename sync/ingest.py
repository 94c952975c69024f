"""Ingest: incoming streams → this node's log, verbatim, with each stream's position in the same transaction.

The database position is the truth: a message applies only if its ``prev`` is exactly the position held and its
hash-chain link follows from the link held. Anything at or below the position is a duplicate and is skipped.
Anything else is a gap: that stream halts (others go on) and asks its origin's relay to re-publish from the held
position, repeating the request until the stream follows on again. Kafka offsets are only hints for seeking.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.utils import resolve_topic
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from domain.persistence import ParkedMessage, StreamPosition, SyncRecorder
from sync.envelope import GENESIS_LINK, HEADER, Envelope, EnvelopeError, Kind, chain, republish_request
from sync.settings import SyncSettings


class StreamState(StrEnum):
    FOLLOWING = "following"
    GAP = "gap"  # waiting for the origin to re-publish from our position
    PARKED = "parked"  # a poison message; an operator retries after an upgrade


@dataclass
class Inbound:
    """One incoming stream as this node sees it."""

    stream: str  # the name its position is kept under
    topic: str
    origin: UUID  # the node whose relay publishes it
    control_topic: str  # where to ask that relay to re-publish
    remote_stream: str  # the relay's own name for it
    position: StreamPosition
    state: StreamState = StreamState.FOLLOWING
    reason: str = ""
    head: int = 0
    last_applied_at: float = 0.0  # broker timestamp (s) of the last applied message
    last_request: float = field(default=0.0)

    def status(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "origin": str(self.origin),
            "position": self.position.position,
            "head": max(self.head, self.position.position),
            "lag_events": max(0, self.head - self.position.position),
            "state": self.state.value,
            "reason": self.reason,
        }


class Ingest:
    def __init__(
        self,
        *,
        node: UUID,
        target: SyncRecorder,
        inbound: Sequence[Inbound],
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        settings: SyncSettings,
    ) -> None:
        self.node = node
        self.target = target
        self.inbound = {s.topic: s for s in inbound}
        self.consumer = consumer
        self.producer = producer
        self.settings = settings
        self.log = structlog.get_logger().bind(node=str(node))
        for stream in inbound:
            if target.parked(stream.stream):
                stream.state, stream.reason = StreamState.PARKED, target.parked(stream.stream)[0].reason

    def partitions(self) -> list[TopicPartition]:
        return [TopicPartition(topic, 0) for topic in self.inbound]

    def seek_all(self) -> None:
        """Start each stream at its offset hint; a stale or missing hint only costs re-reading duplicates."""
        for stream in self.inbound.values():
            tp = TopicPartition(stream.topic, 0)
            if stream.position.offset >= 0:
                self.consumer.seek(tp, stream.position.offset + 1)
            else:
                self.consumer.seek_to_beginning(tp)

    def handle(self, records: dict[TopicPartition, list[ConsumerRecord]]) -> int:
        """Apply polled records of this node's streams in one transaction; returns how many events were recorded."""
        events: list[StoredEvent] = []
        moved: dict[str, Inbound] = {}
        for tp, messages in records.items():
            stream = self.inbound.get(tp.topic)
            if stream is None:
                continue
            before = stream.position
            for message in messages:
                event = self._judge(stream, message)
                if event is not None:
                    events.append(event)
            if stream.position != before:
                moved[stream.stream] = stream
        if moved:
            self._commit(events, [s.position for s in moved.values()])
        self._repeat_requests()
        return len(events)

    def _judge(self, stream: Inbound, message: ConsumerRecord) -> StoredEvent | None:
        """Decide one message: apply (returns the event and advances the in-memory position), skip, gap or park."""
        if stream.state is StreamState.PARKED:
            return None
        try:
            envelope = Envelope.decode(_header(message))
        except EnvelopeError as e:
            self._park(
                stream, stream.position.position + 1, f"undecodable envelope at offset {message.offset}: {e}", None, message
            )
            return None
        stream.head = max(stream.head, envelope.head)
        held = stream.position
        if envelope.kind is Kind.HEARTBEAT:
            if envelope.position > held.position:
                self._gap(stream, f"origin has published up to {envelope.position}, we hold {held.position}")
            return None
        if envelope.position <= held.position:
            return None  # duplicate or re-published: we hold it already
        if envelope.prev != held.position:
            self._gap(stream, f"message {envelope.position} follows {envelope.prev}, we hold {held.position}")
            return None
        link = chain(
            held.link, envelope.position, envelope.originator_id, envelope.originator_version, envelope.topic, message.value
        )
        if link != envelope.link:
            self._park(
                stream, envelope.position, "hash chain mismatch: the origin's log differs from what we hold", envelope, message
            )
            return None
        if not _known_topic(envelope.topic):
            self._park(
                stream,
                envelope.position,
                f"unknown event type {envelope.topic}: upgrade, then `yipanqi sync retry`",
                envelope,
                message,
            )
            return None
        if stream.state is StreamState.GAP:
            self.log.info("ingest.resumed", stream=stream.stream, position=held.position)
        stream.state, stream.reason = StreamState.FOLLOWING, ""
        stream.position = StreamPosition(stream.stream, envelope.position, link, message.offset)
        stream.last_applied_at = message.timestamp / 1000
        return StoredEvent(envelope.originator_id, envelope.originator_version, envelope.topic, message.value)

    def _commit(self, events: list[StoredEvent], positions: list[StreamPosition]) -> None:
        try:
            self.target.insert_events(events, positions=positions)
        except IntegrityError:
            # Some events are here already (a node that moved to another parent re-sends its log): keep the
            # identical ones out, and let any that differ fail loudly.
            fresh = [e for e in events if not self._already_held(e)]
            self.target.insert_events(fresh, positions=positions)
        self.log.debug("ingest.committed", events=len(events), positions={p.stream: p.position for p in positions})

    def _already_held(self, event: StoredEvent) -> bool:
        assert isinstance(self.target, ApplicationRecorder)
        held = self.target.select_events(event.originator_id, gt=event.originator_version - 1, lte=event.originator_version)
        if held and held[0].state != event.state:
            raise IntegrityError(f"event {event.originator_id} v{event.originator_version} differs from the one held")
        return bool(held)

    def _gap(self, stream: Inbound, reason: str) -> None:
        if stream.state is not StreamState.GAP:
            self.log.warning("ingest.gap", stream=stream.stream, reason=reason, position=stream.position.position)
            stream.state, stream.reason = StreamState.GAP, reason
            stream.last_request = 0.0

    def _park(self, stream: Inbound, position: int, reason: str, envelope: Envelope | None, message: ConsumerRecord) -> None:
        self.log.error("ingest.parked", stream=stream.stream, position=position, reason=reason)
        self.target.park(
            ParkedMessage(
                stream=stream.stream,
                position=position,
                reason=reason,
                envelope=json.dumps(envelope.as_dict() if envelope else {"offset": message.offset, "topic": message.topic}),
                payload=message.value or b"",
                parked_at=datetime.now(UTC),
            )
        )
        stream.state, stream.reason = StreamState.PARKED, reason

    def _repeat_requests(self) -> None:
        now = time.monotonic()
        for stream in self.inbound.values():
            if stream.state is StreamState.GAP and now - stream.last_request >= self.settings.republish_s:
                stream.last_request = now
                self.request_republish(stream)

    def request_republish(self, stream: Inbound) -> None:
        request = republish_request(stream.remote_stream, stream.position.position, stream.position.link, by=str(self.node))
        self.producer.send(stream.control_topic, value=request, partition=0)
        self.log.info("ingest.republish_requested", stream=stream.stream, position=stream.position.position)

    def retry_parked(self) -> list[str]:
        """Resume streams whose parked messages an operator released (`yipanqi sync retry`)."""
        resumed = []
        for stream in self.inbound.values():
            if stream.state is StreamState.PARKED and not self.target.parked(stream.stream):
                stream.state, stream.reason = StreamState.GAP, "retrying after parked messages were released"
                stream.last_request = 0.0
                resumed.append(stream.stream)
        return resumed

    def statuses(self) -> Iterable[dict[str, Any]]:
        now = time.time()
        for stream in self.inbound.values():
            status = stream.status()
            status["lag_s"] = round(now - stream.last_applied_at, 3) if status["lag_events"] and stream.last_applied_at else 0.0
            yield status


def initial_position(books: SyncRecorder, stream: str) -> StreamPosition:
    return books.positions().get(stream) or StreamPosition(stream, 0, GENESIS_LINK)


def _header(message: ConsumerRecord) -> bytes | None:
    for key, value in message.headers or ():
        if key == HEADER:
            return value
    return None


_KNOWN_TOPICS: set[str] = set()


def _known_topic(topic: str) -> bool:
    """Whether this version of the code can decode the event type (only successes are cached: a retry after an
    upgrade must look again)."""
    if topic in _KNOWN_TOPICS:
        return True
    try:
        resolve_topic(topic)
    except Exception:  # noqa: BLE001 - any failure to resolve means this version cannot decode the event
        return False
    _KNOWN_TOPICS.add(topic)
    return True


def make_consumer(bootstrap: str) -> KafkaConsumer:
    """Assign/seek only: no group, no committed offsets (the database holds the positions)."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=5000,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        request_timeout_ms=30_000,
        consumer_timeout_ms=1000,
        reconnect_backoff_max_ms=1000,  # see make_producer: resume within a second of the broker's return
    )
