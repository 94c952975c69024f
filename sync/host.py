"""One process's sync work: the relays and ingests of every node it hosts, on one producer and two consumers.

A county usually hosts its townships; the demo hosts a whole region. Each hosted node relays its log up to its
parent's ingest and ingests its children's streams, so every level holds its subtree and forwards it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import structlog
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from domain.base import NodeRef
from domain.persistence import StreamPosition
from domain.store import NodeStore, ReferenceStore
from sync.downward import DownwardReceiver, DownwardSender
from sync.envelope import initial_position, republish_request
from sync.ingest import Inbound, Ingest, make_consumer
from sync.relay import Relay, make_producer
from sync.settings import SyncSettings, TopicPlan

UP = "up"
CONTROL_POLL_S = 0.2


class SyncHost:
    def __init__(
        self,
        *,
        bootstrap: str,
        stores: Sequence[NodeStore],
        children: Callable[[NodeRef], Sequence[NodeRef]],
        parent: Callable[[NodeRef], NodeRef | None],
        settings: SyncSettings | None = None,
        is_within: Callable[[UUID, UUID], bool] | None = None,
    ) -> None:
        self.settings = settings or SyncSettings()
        self.plan = TopicPlan(self.settings.topic_prefix)
        self.bootstrap = bootstrap
        self.log = structlog.get_logger().bind(host=True)
        self.next_control_poll = 0.0
        self.stores = {s.node.node_id: s for s in stores}
        self.producer = make_producer(bootstrap, self.settings)
        self.relays: dict[tuple[UUID, str], Relay] = {}
        self.ingests: dict[UUID, Ingest] = {}
        self.senders: list[DownwardSender] = []
        self.receivers: dict[str, DownwardReceiver] = {}
        self.references = {s.node.node_id: ReferenceStore(s.node, s.settings) for s in stores}
        within = is_within or _hierarchy_within()
        self._ensure_topics(stores, children)
        self.consumer = make_consumer(bootstrap)
        self.control = make_consumer(bootstrap)
        for store in stores:
            reference = self.references[store.node.node_id]
            if parent(store.node) is not None:
                self.relays[(store.node.node_id, UP)] = self._relay(store)
                topic = self.plan.down(store.node.node_id)
                self.receivers[topic] = DownwardReceiver(reference=reference, consumer=self.consumer, topic=topic)
            kids = children(store.node)
            if kids:
                self.ingests[store.node.node_id] = self._ingest(store, kids)
                self.senders.append(
                    DownwardSender(
                        store=store,
                        reference=reference,
                        # Cached: the hierarchy is loaded once per process, and walking it for every routing event
                        # cost a parent as much CPU as ingesting (measured with `bench sync`).
                        child_of=functools.cache(functools.partial(_child_containing, within, tuple(k.node_id for k in kids))),
                        children=[kid.node_id for kid in kids],
                        producer=self.producer,
                        topic_for=self.plan.down,
                        refresh_s=self.settings.refresh_s,
                    )
                )
        self.topic_owner = {topic: ingest for ingest in self.ingests.values() for topic in ingest.inbound}
        down = [r.partition for r in self.receivers.values()]
        self.consumer.assign([tp for ingest in self.ingests.values() for tp in ingest.partitions()] + down)
        for ingest in self.ingests.values():
            ingest.seek_all()
        if down:
            self.consumer.seek_to_beginning(*down)  # replicas are small and idempotent: read them all again
        control_partitions = [TopicPartition(self.plan.control(node_id), 0) for node_id in self.stores]
        self.control.assign(control_partitions)
        self.control.seek_to_end(*control_partitions)

    def _relay(self, store: NodeStore) -> Relay:
        return Relay(
            origin=store.node.node_id,
            source=store.recorder,
            books=store.recorder,  # type: ignore[arg-type]
            producer=self.producer,
            topic=self.plan.up(store.node.node_id),
            stream=UP,
            settings=self.settings,
        )

    def _ingest(self, store: NodeStore, kids: Sequence[NodeRef]) -> Ingest:
        books = store.recorder
        inbound = [
            Inbound(
                stream=str(kid.node_id),
                topic=self.plan.up(kid.node_id),
                origin=kid.node_id,
                control_topic=self.plan.control(kid.node_id),
                remote_stream=UP,
                position=initial_position(books, str(kid.node_id)),  # type: ignore[arg-type]
            )
            for kid in kids
        ]
        return Ingest(
            node=store.node.node_id,
            target=books,  # type: ignore[arg-type]
            inbound=inbound,
            consumer=self.consumer,
            producer=self.producer,
            settings=self.settings,
        )

    def run_once(self) -> int:
        """One round: relays publish, ingests apply what arrived, relays obey re-publish requests."""
        self._renew_producer_if_broken()
        moved = sum(relay.run_once() for relay in self.relays.values())
        records = self.consumer.poll(timeout_ms=self.settings.poll_ms if not moved else 0)
        by_ingest: dict[Ingest, dict[TopicPartition, Any]] = {}
        for tp, messages in records.items():
            owner = self.topic_owner.get(tp.topic)
            if owner is not None:
                by_ingest.setdefault(owner, {})[tp] = messages
        for ingest in self.ingests.values():
            moved += ingest.handle(by_ingest.get(ingest, {}))
        for tp, messages in records.items():
            if tp.topic in self.receivers:
                moved += self.receivers[tp.topic].handle(messages)
        moved += sum(sender.run_once() for sender in self.senders)
        self._obey_control()
        return moved

    def run(self, *, until: Callable[[], bool], housekeeping_s: float = 1.0) -> None:
        next_housekeeping = time.monotonic() + housekeeping_s
        while not until():
            self.run_once()
            if time.monotonic() >= next_housekeeping:
                next_housekeeping = time.monotonic() + housekeeping_s
                self.release_retried()
                self._reseek_beyond_end()

    def retry_parked(self) -> list[str]:
        return [stream for ingest in self.ingests.values() for stream in ingest.retry_parked()]

    def statuses(self) -> dict[str, list[dict[str, Any]]]:
        return {str(node_id): list(ingest.statuses()) for node_id, ingest in self.ingests.items()}

    def _renew_producer_if_broken(self) -> None:
        """An idempotent producer whose broker lost its state (restarted empty) can fail for good: kafka-python's
        producer-id reset is refused (tansu answers InitProducerId with an error) and every later send fails. The
        positions are in the databases, so a new producer simply takes over; the relays publish again from them."""
        manager = getattr(self.producer, "_transaction_manager", None)
        if manager is None or not manager.has_fatal_error():
            return
        self.log.warning("producer.renewed", error=repr(manager.last_error))
        broken, self.producer = self.producer, make_producer(self.bootstrap, self.settings)
        for client in (*self.relays.values(), *self.ingests.values(), *self.senders):
            client.producer = self.producer
        with contextlib.suppress(Exception):
            broken.close(timeout=0)

    def _reseek_beyond_end(self) -> None:
        """A partition read beyond its end was deleted and made anew (the broker lost everything). Apache Kafka says
        so (offset out of range) and the consumer resets itself; the embedded tansu broker returns nothing, which
        would leave this process waiting until the new topic outgrew the old offset. Read such partitions from the
        beginning: the databases hold the positions, and the ingests skip what they hold."""
        for consumer in (self.consumer, self.control):
            for tp in consumer.assignment():
                highwater, position = consumer.highwater(tp), consumer.position(tp, timeout_ms=0)
                if highwater is not None and position is not None and position > highwater:
                    self.log.warning("consumer.reseek", topic=tp.topic, position=position, highwater=highwater)
                    consumer.seek_to_beginning(tp)

    def _obey_control(self) -> None:
        # At most every CONTROL_POLL_S: a poll of kafka-python's consumer costs ~2 ms of CPU even when empty, which
        # was 5% of a busy level's CPU when done every round; a re-publish request waits a little longer instead.
        now = time.monotonic()
        if now < self.next_control_poll:
            return
        self.next_control_poll = now + CONTROL_POLL_S
        for tp, messages in self.control.poll(timeout_ms=0).items():
            node_id = UUID(tp.topic.rsplit(".", 1)[1])
            for message in messages:
                try:
                    request = json.loads(message.value)
                    relay = self.relays.get((node_id, request["stream"]))
                    if relay is not None and request.get("kind") == "republish":
                        relay.rewind(int(request["from"]), str(request["link"]), by=str(request.get("by")))
                except (ValueError, KeyError, TypeError) as e:
                    self.log.warning("control.bad_request", node=str(node_id), error=repr(e))

    def _ensure_topics(self, stores: Sequence[NodeStore], children: Callable[[NodeRef], Sequence[NodeRef]]) -> None:
        """Single-partition topics, created up front: an auto-created topic may get the broker's default partitions."""
        nodes = {s.node.node_id for s in stores} | {kid.node_id for s in stores for kid in children(s.node)}
        names = [name for n in nodes for name in (self.plan.up(n), self.plan.down(n), self.plan.control(n))]
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=30_000)
        try:
            existing = set(admin.list_topics())
            missing = [NewTopic(name, num_partitions=1, replication_factor=1) for name in names if name not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics(missing)
        except KafkaError as e:
            self.log.warning("topics.ensure_failed", error=repr(e))
        finally:
            admin.close()

    def release_retried(self) -> None:
        """Streams whose parked messages an operator released (`yipanqi sync retry`) ask for them again."""
        for stream in self.retry_parked():
            self.log.info("ingest.retry", stream=stream)

    def close(self) -> None:
        for client in (self.consumer, self.control):
            client.close()
        self.producer.close(timeout=5)
        for reference in self.references.values():
            reference.close()


def send_republish(settings: SyncSettings, node_id: UUID, position: StreamPosition, *, by: str, stream: str = UP) -> None:
    """Ask a running relay to publish again after ``position`` (what the receiver or an operator holds)."""
    request = republish_request(stream, position.position, position.link, by=by)
    producer = make_producer(settings.kafka, settings)
    try:
        producer.send(TopicPlan(settings.topic_prefix).control(node_id), value=request, partition=0)
        producer.flush()
    finally:
        producer.close(timeout=5)


def _child_containing(within: Callable[[UUID, UUID], bool], children: tuple[UUID, ...], node: UUID) -> UUID | None:
    return next((child for child in children if within(node, child)), None)


def _hierarchy_within() -> Callable[[UUID, UUID], bool]:
    from domain.hierarchy import Hierarchy

    hierarchy = Hierarchy.load()
    return lambda node, region: node in hierarchy and hierarchy.is_within(node, region)
