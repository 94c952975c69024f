"""The relay (outbox): a node's log → Kafka, each stored event unchanged, in order, at least once, in frames.

Each round reads a page of the log and publishes it as frames of up to ``frame_events`` consecutive events (one
Kafka message each, see ``sync.envelope``); a frame always starts right after the position published before it, so
a rewound relay frames the stream anew from the requested position.

The published position lives in the node's database and advances only after the broker acknowledged every message
up to it (idempotent producer, ``acks=all``). A receiver that misses something asks for a re-publish from the
position it holds; the relay rewinds there. Re-publishing is always safe: receivers skip what they hold.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol
from uuid import UUID

import structlog
from eventsourcing.persistence import ApplicationRecorder
from kafka import KafkaProducer
from kafka.errors import KafkaError

from domain.persistence import LogRow, StreamPosition, SyncRecorder
from sync.envelope import GENESIS_LINK, HEADER, Entry, Frame, Kind, chain, heartbeat, initial_position, step
from sync.settings import SyncSettings


class Log(Protocol):
    """What a relay reads of its node's log (the node recorder: ``domain.persistence``)."""

    def select_rows(self, start: int, limit: int) -> list[LogRow]: ...

    def max_notification_id(self) -> int | None: ...


class Relay:
    def __init__(
        self,
        *,
        origin: UUID,
        source: Log,
        books: SyncRecorder,
        producer: KafkaProducer,
        topic: str,
        stream: str,
        settings: SyncSettings,
    ) -> None:
        self.origin = origin
        self.source = source
        self.books = books
        self.producer = producer
        self.topic = topic
        self.stream = stream
        self.settings = settings
        self.published = initial_position(books, stream)
        self.last_sent = 0.0
        self.log = structlog.get_logger().bind(node=str(origin), stream=stream, topic=topic)

    def run_once(self) -> int:
        """Publish the next page of the log, in frames; returns how many events went out."""
        page = self.source.select_rows(self.published.position + 1, self.settings.relay_batch)
        if not page:
            self._heartbeat_if_idle()
            return 0
        head = page[-1][0]
        prev, link = self.published.position, bytes.fromhex(self.published.link)
        try:
            # send() itself can raise (no metadata while the broker is away): treat it like a failed ack.
            futures = []
            for chunk in _chunks(page, self.settings.frame_events, self.settings.frame_bytes):
                frame, link = _frame(self.origin, prev, head, link, chunk)
                futures.append(self._send(frame, b"".join(row[4] for row in chunk)))
                prev = frame.last
            self._await(futures)
        except KafkaError as e:
            # Nothing advances: the next round re-publishes from the durable position; receivers skip duplicates.
            self.log.warning("relay.publish_failed", error=repr(e), position=self.published.position)
            return 0
        self.published = StreamPosition(self.stream, prev, link.hex())
        self.books.save_position(self.published)
        self.log.debug("relay.published", position=prev, events=len(page), frames=len(futures))
        return len(page)

    def rewind(self, position: int, link: str, *, by: str) -> None:
        """A receiver holds only up to ``position`` (ending with ``link``): publish again from there."""
        if position > self.published.position:
            self.log.info("relay.rewind_ignored", requested=position, published=self.published.position, by=by)
            return
        self.log.info("relay.rewind", position=position, published=self.published.position, by=by)
        self.published = StreamPosition(self.stream, position, link)
        self.books.save_position(self.published)

    def _heartbeat_if_idle(self) -> None:
        now = time.monotonic()
        if now - self.last_sent < self.settings.heartbeat_s:
            return
        head = self.source.max_notification_id() or 0
        beat = heartbeat(self.origin, self.published.position, head, self.published.link)
        try:
            self._await([self._send(beat, b"")])
        except KafkaError as e:
            self.log.warning("relay.heartbeat_failed", error=repr(e))

    def _send(self, frame: Frame, value: bytes) -> Any:
        self.last_sent = time.monotonic()
        return self.producer.send(self.topic, value=value, headers=[(HEADER, frame.encode())], partition=0)

    def _await(self, futures: list[Any]) -> None:
        if futures:
            self.producer.flush()
            for future in futures:
                future.get(timeout=30)


def _chunks(events: Sequence[LogRow], most: int, max_bytes: int) -> Iterator[Sequence[LogRow]]:
    """Consecutive runs of at most ``most`` events and ``max_bytes`` stored bytes (an event larger than that alone)."""
    start, size = 0, 0
    for i, row in enumerate(events):
        if i > start and (i - start == most or size + len(row[4]) > max_bytes):
            yield events[start:i]
            start, size = i, 0
        size += len(row[4])
    if start < len(events):
        yield events[start:]


def _frame(origin: UUID, prev: int, head: int, link: bytes, events: Sequence[LogRow]) -> tuple[Frame, bytes]:
    """The frame of ``events`` that follow ``prev`` (whose link is ``link``), and the link after its last event."""
    entries = []
    for position, originator_id, version, topic, state in events:
        link = step(link, position, originator_id, version, topic, state)
        entries.append(Entry(position, originator_id, version, topic, len(state)))
    return Frame(Kind.EVENTS, origin, prev, head, link.hex(), tuple(entries)), link


def make_producer(bootstrap: str, settings: SyncSettings) -> KafkaProducer:
    """Idempotent, acks=all: the broker has each message once, in order, before the position moves."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.linger_ms,
        batch_size=settings.batch_bytes,
        max_request_size=8 * 1024 * 1024,
        compression_type=None if settings.compression == "none" else settings.compression,
        retries=5,
        request_timeout_ms=15_000,
        max_block_ms=30_000,
        # kafka-python backs off reconnects exponentially up to 30 s by default: after a broker restart a relay
        # would sit idle for that long. A local broker is worth re-trying every second.
        reconnect_backoff_max_ms=1000,
    )


def link_at(source: ApplicationRecorder, stream: str, position: int) -> StreamPosition:
    """The stream's position and hash-chain link just after ``position`` (recomputed from the log's start)."""
    link, last, start = GENESIS_LINK, 0, 1
    while start <= position:
        page = source.select_notifications(start=start, limit=1000, stop=position)
        if not page:
            break
        for n in page:
            link = chain(link, n.id, n.originator_id, n.originator_version, n.topic, n.state)
            last = n.id
        start = page[-1].id + 1
    return StreamPosition(stream, last, link)
