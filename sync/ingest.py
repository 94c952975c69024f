"""Ingest: incoming streams → this node's log, verbatim, with each stream's position in the same transaction.

The database position is the truth: a frame applies only if its ``prev`` is exactly the position held (or the held
position is one of its events: then only the events after it apply) and its hash-chain link follows from the link
held, event by event. A frame at or below the position is a duplicate and is skipped. Anything else is a gap: that
stream halts (others go on) and asks its origin's relay to re-publish from the held position, repeating the request
until the stream follows on again. Kafka offsets are only hints for seeking.
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
from eventsourcing.persistence import ApplicationRecorder, IntegrityError
from eventsourcing.utils import resolve_topic
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from domain.persistence import EventRow, ParkedMessage, StreamHalt, StreamPosition, SyncRecorder
from sync.envelope import HEADER, EnvelopeError, Frame, Kind, links, republish_request
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
        halts = target.halts()  # a gap outlives a restart: keep asking, and keep saying since when
        for stream in inbound:
            if target.parked(stream.stream):
                stream.state, stream.reason = StreamState.PARKED, target.parked(stream.stream)[0].reason
            elif stream.stream in halts:
                stream.state, stream.reason = StreamState.GAP, halts[stream.stream].reason

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
        rows: list[EventRow] = []
        moved: dict[str, Inbound] = {}
        for tp, messages in records.items():
            stream = self.inbound.get(tp.topic)
            if stream is None:
                continue
            before = stream.position
            for message in messages:
                rows += self._judge(stream, message)
            if stream.position != before:
                moved[stream.stream] = stream
        if moved:
            self._commit(rows, [s.position for s in moved.values()])
        self._repeat_requests()
        return len(rows)

    def _judge(self, stream: Inbound, message: ConsumerRecord) -> list[EventRow]:
        """Decide one frame: apply the events we lack (returns them and advances the in-memory position), skip a
        duplicate, halt on a gap, or park poison."""
        if stream.state is StreamState.PARKED:
            return []
        held = stream.position
        try:
            frame = Frame.decode(_header(message))
            states = frame.split(message.value)
        except EnvelopeError as e:
            self._park(stream, held.position + 1, f"undecodable envelope at offset {message.offset}: {e}", message)
            return []
        stream.head = max(stream.head, frame.head)
        if frame.kind is Kind.HEARTBEAT:
            if frame.prev > held.position:
                self._gap(stream, f"origin has published up to {frame.prev}, we hold {held.position}")
            return []
        if frame.last <= held.position:
            return []  # duplicate or re-published: we hold it already
        skip = _held_prefix(frame, held.position)
        if skip is None:
            self._gap(stream, f"frame {frame.entries[0].position}..{frame.last} follows {frame.prev}, we hold {held.position}")
            return []
        return self._apply(stream, message, frame, skip, states)

    def _apply(self, stream: Inbound, message: ConsumerRecord, frame: Frame, skip: int, states: list[bytes]) -> list[EventRow]:
        """The frame's events after the first ``skip`` (held already), chained on from the link held."""
        entries, states = frame.entries[skip:], states[skip:]
        chained = list(links(bytes.fromhex(stream.position.link), entries, states))
        if chained[-1].hex() != frame.link:
            reason = "hash chain mismatch: the origin's log differs from what we hold"
            self._park(stream, entries[0].position, reason, message, frame)
            return []
        known = next((i for i, e in enumerate(entries) if not _known_topic(e.topic)), len(entries))
        if known:
            if stream.state is StreamState.GAP:
                self.log.info("ingest.resumed", stream=stream.stream, position=stream.position.position)
                self.target.clear_halt(stream.stream)
            stream.state, stream.reason = StreamState.FOLLOWING, ""
            # A frame applied in part is read again after a restart (its offset minus one is the hint).
            offset = message.offset if known == len(entries) else message.offset - 1
            stream.position = StreamPosition(stream.stream, entries[known - 1].position, chained[known - 1].hex(), offset)
            stream.last_applied_at = message.timestamp / 1000
        if known < len(entries):
            bad = entries[known]
            reason = f"unknown event type {bad.topic}: upgrade, then `yipanqi sync retry`"
            self._park(stream, bad.position, reason, message, frame, states[known])
        applied = zip(entries[:known], states[:known], strict=True)
        # Ids as 32 hex digits: what the recorders store or parse without a UUID object per event.
        return [(e.originator_id.hex(), e.originator_version, e.topic, state) for e, state in applied]

    def _commit(self, rows: list[EventRow], positions: list[StreamPosition]) -> None:
        try:
            self.target.insert_rows(rows, positions=positions)
        except IntegrityError:
            # Some events are here already (a node that moved to another parent re-sends its log): keep the
            # identical ones out, and let any that differ fail loudly.
            fresh = [row for row in rows if not self._already_held(row)]
            self.target.insert_rows(fresh, positions=positions)
        self.log.debug("ingest.committed", events=len(rows), positions={p.stream: p.position for p in positions})

    def _already_held(self, row: EventRow) -> bool:
        assert isinstance(self.target, ApplicationRecorder)
        originator_id, version, _, state = row
        held = self.target.select_events(UUID(str(originator_id)), gt=version - 1, lte=version)
        if held and held[0].state != state:
            raise IntegrityError(f"event {originator_id} v{version} differs from the one held")
        return bool(held)

    def _gap(self, stream: Inbound, reason: str) -> None:
        if stream.state is not StreamState.GAP:
            self.log.warning("ingest.gap", stream=stream.stream, reason=reason, position=stream.position.position)
            self._halt(stream, reason)

    def _halt(self, stream: Inbound, reason: str) -> None:
        """Halt the stream until its origin re-publishes from the position held (asked for at once)."""
        stream.state, stream.reason = StreamState.GAP, reason
        stream.last_request = 0.0
        self.target.save_halt(StreamHalt(stream.stream, reason, datetime.now(UTC)))

    def _park(
        self,
        stream: Inbound,
        position: int,
        reason: str,
        message: ConsumerRecord,
        frame: Frame | None = None,
        payload: bytes | None = None,
    ) -> None:
        """Park a poison message (``payload``: the bad event's bytes, else the whole value); the stream halts."""
        self.log.error("ingest.parked", stream=stream.stream, position=position, reason=reason)
        where = {"offset": message.offset, "topic": message.topic}
        self.target.park(
            ParkedMessage(
                stream=stream.stream,
                position=position,
                reason=reason,
                envelope=json.dumps({**where, **frame.as_dict()} if frame else where),
                payload=payload if payload is not None else message.value or b"",
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
                self._halt(stream, "retrying after parked messages were released")
                resumed.append(stream.stream)
        return resumed

    def statuses(self) -> Iterable[dict[str, Any]]:
        now = time.time()
        for stream in self.inbound.values():
            status = stream.status()
            status["lag_s"] = round(now - stream.last_applied_at, 3) if status["lag_events"] and stream.last_applied_at else 0.0
            yield status


def _held_prefix(frame: Frame, held: int) -> int | None:
    """How many of the frame's events we hold already: none if it follows on from ``held``, some if ``held`` is
    one of its events (a frame re-read after a partial apply, or framed differently before a re-publish); None if
    the frame does not touch ``held`` (a gap)."""
    if frame.prev == held:
        return 0
    positions = [e.position for e in frame.entries]
    return positions.index(held) + 1 if frame.prev < held and held in positions else None


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
        max_poll_records=200,  # frames: up to ~10k events per poll and transaction
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        request_timeout_ms=30_000,
        consumer_timeout_ms=1000,
        reconnect_backoff_max_ms=1000,  # see make_producer: resume within a second of the broker's return
    )
