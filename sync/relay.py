"""The relay (outbox): a node's log → Kafka, each stored event unchanged, in order, at least once.

The published position lives in the node's database and advances only after the broker acknowledged every message
up to it (idempotent producer, ``acks=all``). A receiver that misses something asks for a re-publish from the
position it holds; the relay rewinds there. Re-publishing is always safe: receivers skip what they hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import ApplicationRecorder, Notification
from kafka import KafkaProducer
from kafka.errors import KafkaError

from domain.persistence import StreamPosition, SyncRecorder
from sync.envelope import GENESIS_LINK, HEADER, Envelope, Kind, chain, heartbeat
from sync.settings import SyncSettings

Accept = Callable[[Notification], bool]


class Relay:
    def __init__(
        self,
        *,
        origin: UUID,
        source: ApplicationRecorder,
        books: SyncRecorder,
        producer: KafkaProducer,
        topic: str,
        stream: str,
        settings: SyncSettings,
        accept: Accept | None = None,
    ) -> None:
        self.origin = origin
        self.source = source
        self.books = books
        self.producer = producer
        self.topic = topic
        self.stream = stream
        self.settings = settings
        self.accept = accept
        self.published = books.positions().get(stream) or StreamPosition(stream, 0, GENESIS_LINK)
        self.cursor = self.published.position  # last position read; ahead of `published` over filtered events
        self.last_sent = 0.0
        self.log = structlog.get_logger().bind(node=str(origin), stream=stream, topic=topic)

    def run_once(self) -> int:
        """Publish the next page of the log; returns how many events went out."""
        page = self.source.select_notifications(start=self.cursor + 1, limit=self.settings.relay_batch)
        if not page:
            self._heartbeat_if_idle()
            return 0
        head = page[-1].id
        prev, link = self.published.position, self.published.link
        envelopes = []
        for notification in page:
            if self.accept is not None and not self.accept(notification):
                continue
            link = chain(
                link,
                notification.id,
                notification.originator_id,
                notification.originator_version,
                notification.topic,
                notification.state,
            )
            envelope = Envelope(
                Kind.EVENT,
                self.origin,
                notification.id,
                prev,
                head,
                notification.originator_id,
                notification.originator_version,
                notification.topic,
                link,
            )
            envelopes.append(envelope)
            prev = notification.id
        try:
            # send() itself can raise (no metadata while the broker is away): treat it like a failed ack.
            states = {n.id: n.state for n in page}
            self._await([self._send(envelope, states[envelope.position]) for envelope in envelopes])
        except KafkaError as e:
            # Nothing advances: the next round re-publishes from the durable position; receivers skip duplicates.
            self.log.warning("relay.publish_failed", error=repr(e), position=self.published.position)
            self.cursor = self.published.position
            return 0
        if envelopes:
            self.published = StreamPosition(self.stream, prev, link)
            self.books.save_position(self.published)
            self.log.debug("relay.published", position=prev, events=len(envelopes))
        self.cursor = head
        return len(envelopes)

    def rewind(self, position: int, link: str, *, by: str) -> None:
        """A receiver holds only up to ``position`` (ending with ``link``): publish again from there."""
        if position > self.published.position:
            self.log.info("relay.rewind_ignored", requested=position, published=self.published.position, by=by)
            return
        self.log.info("relay.rewind", position=position, published=self.published.position, by=by)
        self.published = StreamPosition(self.stream, position, link)
        self.books.save_position(self.published)
        self.cursor = position

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

    def _send(self, envelope: Envelope, value: bytes) -> Any:
        self.last_sent = time.monotonic()
        return self.producer.send(self.topic, value=value, headers=[(HEADER, envelope.encode())], partition=0)

    def _await(self, futures: list[Any]) -> None:
        if futures:
            self.producer.flush()
            for future in futures:
                future.get(timeout=30)


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
