"""The relay (outbox): a node's log → Kafka, each stored event unchanged, in order, at least once, in frames.

Each round reads a page of the log and publishes it as frames of up to ``frame_events`` consecutive events (one
Kafka message each, see ``sync.envelope``); a frame always starts right after the position published before it, so
a rewound relay frames the stream anew from the requested position.

The published position lives in the node's database and advances only after the broker acknowledged every message
up to it (idempotent producer, ``acks=all``). A receiver that misses something asks for a re-publish from the
position it holds; the relay rewinds there. Re-publishing is always safe: receivers skip what they hold.

A relay reads its log only when it may have something to send: right after it published (there may be more), when
its host applied new events to the node's log (``dirty``), and otherwise every ``check_s`` (events written by other
processes: a gateway, an import), or every ``poll_ms`` for a while after it last published. An idle node costs a
cheap read a second. Its beat (``sync.envelope.Beat``) goes to its own compacted beat topic: when what it says
changed (at most every ``report_s``) and at least every ``heartbeat_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import structlog
from eventsourcing.persistence import ApplicationRecorder
from kafka import KafkaProducer
from kafka.errors import KafkaError

from domain.persistence import LogRow, StreamPosition, SyncRecorder, as_uuid
from sync.envelope import GENESIS_LINK, HEADER, Beat, Entry, Frame, Kind, chain, initial_position, step
from sync.settings import SyncSettings

#: How long a relay keeps looking at its log every ``poll_ms`` after it last published.
ACTIVE_S = 10.0


class Log(Protocol):
    """What a relay reads of its node's log (the node recorder: ``domain.persistence``)."""

    def select_rows(self, start: int, limit: int) -> list[LogRow]: ...

    def max_notification_id(self) -> int | None: ...

    def data_version(self) -> int: ...


class Relay:
    def __init__(
        self,
        *,
        origin: UUID,
        source: Log,
        books: SyncRecorder,
        producer: KafkaProducer,
        topic: str,
        beat_topic: str,
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
        self.beat_topic = beat_topic
        self.published = initial_position(books, stream)
        self.dirty = True  # read the log at once after a start
        self.version = -1  # the log's data version when it was last read
        self.head, self.head_version = 0, -2  # the log's head, and the data version it was read at
        self.next_check = 0.0
        self.active_until = 0.0
        self.last_beat = float("-inf")
        self.said: tuple[Any, ...] = ()
        self.log = structlog.get_logger().bind(node=str(origin), stream=stream, topic=topic)

    def due(self, now: float) -> bool:
        return self.dirty or now >= self.next_check

    def run_once(self) -> int:
        """Publish the next page of the log, in frames; returns how many events went out."""
        version = self.source.data_version()
        if not self.dirty and version == self.version:
            sent: int | None = 0  # nobody wrote to the log since we last read it
        else:
            self.dirty = False
            sent = self._publish()
        # A failed publish is tried again at the next check even if nobody writes to the log meanwhile: once, a relay
        # whose last page failed when the broker lost its data sat on it until its node recorded something new.
        self.version = version if sent is not None else -1
        sent = sent or 0
        now = time.monotonic()
        if sent:
            self.active_until = now + ACTIVE_S
            self.dirty = sent >= self.settings.relay_batch  # a full page: there is more
        self.next_check = now + self.settings.poll_ms / 1000 if now < self.active_until else tick(now, self.settings.check_s)
        return sent

    def _publish(self) -> int | None:
        """Publish the next page; how many events went out, or None if the broker did not take them all."""
        page = self.source.select_rows(self.published.position + 1, self.settings.relay_batch)
        if not page:
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
            return None
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

    def beat(self, now: float, *, health: Callable[[], dict[str, Any] | None], resend: str | None) -> None:
        """Say where this relay stands, on the node's beat topic: when it changed (at most every ``report_s``) and at
        least every ``heartbeat_s``. Not awaited: a lost beat is followed by the next one."""
        if now - self.last_beat < self.settings.report_s:
            return
        if self.head_version != self.version:  # the log changed since its head was last read
            self.head, self.head_version = self.source.max_notification_id() or 0, self.version
        head = self.head
        said = (self.published.position, head, health(), resend)
        if said == self.said and now - self.last_beat < self.settings.heartbeat_s:
            return
        beat = Beat(self.origin, self.published.position, head, datetime.now(UTC).isoformat(), said[2], resend)
        try:
            self.producer.send(self.beat_topic, key=self.origin.bytes, value=beat.encode(), partition=0)
        except KafkaError as e:
            self.log.warning("relay.beat_failed", error=repr(e))
            return
        self.last_beat, self.said = now, said

    def _send(self, frame: Frame, value: bytes) -> Any:
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
    for position, originator_id, version, topic, state, in_chain in events:
        link = step(link, position, originator_id, version, topic, state)
        entries.append(Entry(position, originator_id, version, topic, len(state), in_chain))
    return Frame(Kind.EVENTS, origin, prev, head, link.hex(), tuple(entries)), link


def tick(now: float, every: float) -> float:
    """The next multiple of ``every``: idle relays and senders look at their logs on the same ticks, so a process
    hosting hundreds of nodes wakes once per tick, not once per node."""
    return (now // every + 1) * every


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
        metrics_enabled=False,  # per-record bookkeeping nobody reads
    )


def warm_metadata(producer: KafkaProducer, topics: Sequence[str], timeout_s: float = 120.0) -> None:
    """Fetch the metadata of every topic this producer will write, in one request. Otherwise kafka-python blocks the
    first send to each topic for a metadata round trip of its own: a process hosting 200 nodes stood still for over a
    minute at its start. (kafka-python 3.0.12 internals: the sender's pending topics and the cluster metadata.)"""
    metadata = producer._metadata  # type: ignore[attr-defined]
    for topic in topics:
        producer._sender.add_topic(topic)  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout_s
    while missing := [t for t in topics if metadata.partitions_for_topic(t) is None]:
        if time.monotonic() > deadline:
            raise KafkaError(f"no metadata for {len(missing)} topics after {timeout_s:.0f} s, e.g. {missing[0]}")
        done = threading.Event()
        metadata.request_update().add_both(lambda *_, done=done: done.set())
        producer._sender.wakeup()  # type: ignore[attr-defined]
        done.wait(min(5.0, max(0.1, deadline - time.monotonic())))


def link_at(source: ApplicationRecorder, stream: str, position: int) -> StreamPosition:
    """The stream's position and hash-chain link just after ``position`` (recomputed from the log's start)."""
    link, last, start = GENESIS_LINK, 0, 1
    while start <= position:
        page = source.select_notifications(start=start, limit=1000, stop=position)
        if not page:
            break
        for n in page:
            link = chain(link, n.id, as_uuid(n.originator_id), n.originator_version, n.topic, n.state)
            last = n.id
        start = page[-1].id + 1
    return StreamPosition(stream, last, link)
