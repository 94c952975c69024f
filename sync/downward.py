"""The downward channel: a parent sends each child read-only replicas of the deputies the child needs.

A child needs every deputy, of any level, who lives or works in its subtree (so it can enrol them at its stations)
or is enrolled at one of its subtree's stations (so it can record their visits), unless the deputy is recorded
inside that subtree already. The parent knows both from its own log (its subtree's stations and deputies) and
from its reference store (deputies it received from above).

Each message carries one deputy's whole history, keyed by the deputy, on a compacted topic: the newest message is
always enough, and the topic keeps the latest per deputy. The child inserts the versions it lacks into its reference
store, verbatim. A replica goes down when it changes or becomes needed, never again otherwise: the parent keeps which
version of each deputy it sent to each child (``sync_state``, kind ``sent``), so a restart sends nothing twice and
the channel's bytes follow what changed. A child whose reference store is new (first start, or lost) reads its down
topic from the beginning and asks, in its beat, for every replica again (a broker that lost everything lost the
down topic too); the parent answers each such request once.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.utils import get_topic
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from domain.deputies import Deputy
from domain.persistence import SyncRecorder
from domain.stations import Station
from domain.store import NodeStore
from sync.relay import tick
from sync.settings import SyncSettings

DEPUTY_TOPICS = tuple(
    get_topic(cls)
    for cls in vars(Deputy).values()
    if isinstance(cls, type) and issubclass(cls, Deputy.Event) and cls is not Deputy.Event
)
_ROUTING_TOPICS = (get_topic(Station.DeputyEnrolled), get_topic(Station.Absorbed))


@dataclass
class RoutingTable:
    """For each deputy known at a parent, which of its children need a replica.

    ``child_of(node)`` names the child whose subtree holds ``node`` (None when no child's does). A child needs a
    deputy who lives or works in its subtree or is enrolled at one of its subtree's stations, unless the deputy is
    recorded inside that subtree already.
    """

    child_of: Callable[[UUID], UUID | None]
    owner: dict[UUID, UUID] = field(default_factory=dict)
    home: dict[UUID, UUID] = field(default_factory=dict)
    enrolled_at: dict[UUID, set[UUID]] = field(default_factory=lambda: defaultdict(set))  # deputy -> station owners
    targets: dict[UUID, set[UUID]] = field(default_factory=dict)  # deputy -> children that need it
    versions: dict[UUID, int] = field(default_factory=dict)  # deputy -> version of its last event

    def learn(self, event: Any) -> UUID | None:
        """Take in one routing fact; returns the deputy whose targets it may change."""
        if isinstance(event, Deputy.Event):
            self.versions[event.originator_id] = max(self.versions.get(event.originator_id, 0), event.originator_version)
        if isinstance(event, Deputy.Registered):
            self.owner[event.originator_id] = event.owner
            self.home[event.originator_id] = event.home_node
            return self._retarget(event.originator_id)
        if isinstance(event, Station.DeputyEnrolled):
            self.enrolled_at[event.deputy_id].add(event.owner)
            return self._retarget(event.deputy_id)
        if isinstance(event, Station.Absorbed):
            for deputy_hex in event.deputies:
                self.enrolled_at[UUID(deputy_hex)].add(event.owner)
                self._retarget(UUID(deputy_hex))
        return None

    def _retarget(self, deputy: UUID) -> UUID:
        if deputy in self.owner:
            places = {self.home[deputy], *self.enrolled_at.get(deputy, ())}
            self.targets[deputy] = {c for c in map(self.child_of, places) if c is not None} - {self.child_of(self.owner[deputy])}
        return deputy


class Cursor:
    """Reads one log's notifications of some topics, from where it stopped last time (in memory: replicas are
    re-derivable, so a restart simply reads again)."""

    def __init__(self, recorder: ApplicationRecorder, topics: Iterable[str]) -> None:
        self.recorder = recorder
        self.topics = tuple(topics)
        self.position = 0
        self.version = -1  # the log's data version at the last read that found nothing new

    def read(self, limit: int = 5000) -> list[Any]:
        version = self.recorder.data_version()  # type: ignore[attr-defined]
        if version == self.version:
            return []
        # Bound the scan by the head read first, so a page without matches still moves the cursor past the rows
        # it looked at (ids up to the head are all committed: commit order is id order in both backends).
        head = self.recorder.max_notification_id() or 0
        if head <= self.position:
            self.version = version
            return []
        page = self.recorder.select_notifications(start=self.position + 1, limit=limit, stop=head, topics=self.topics)
        self.position = page[-1].id if len(page) == limit else head
        return list(page)


class DownwardSender:
    """At a parent: sends each child the deputies it needs, when they change or become needed."""

    def __init__(
        self,
        *,
        store: NodeStore,
        reference: NodeStore,
        child_of: Callable[[UUID], UUID | None],
        children: Iterable[UUID],
        producer: KafkaProducer,
        topic_for: Callable[[UUID], str],
        settings: SyncSettings,
    ) -> None:
        self.stores = (store, reference)
        self.books = store.books
        self.children = tuple(children)
        self.producer = producer
        self.topic_for = topic_for
        self.settings = settings
        self.routing = RoutingTable(child_of)
        self.cursors = [Cursor(s.recorder, _ROUTING_TOPICS + DEPUTY_TOPICS) for s in self.stores]
        self.sent = {_pair(key): int(v) for key, v in self.books.state("sent").items()}  # (child, deputy) -> version
        self.answered = self.books.state("resend")  # child -> the last resend request answered
        self.unsent: set[UUID] = set()  # deputies whose replicas the broker did not take: sent again at the next check
        self.dirty = True
        self.next_check = 0.0
        self.log = structlog.get_logger().bind(node=str(store.node.node_id), channel="down")

    def due(self, now: float) -> bool:
        return self.dirty or now >= self.next_check

    def run_once(self, resend: dict[UUID, str] | None = None) -> int:
        """Send the replicas that changed or became needed (everything a child asked for again); returns how many."""
        self.dirty = False
        self.next_check = tick(time.monotonic(), self.settings.check_s)
        changed, self.unsent = self._read() | self.unsent, set()
        changed |= self._answer(resend or {})
        pairs = [
            (c, d)
            for d in changed
            for c in self.routing.targets.get(d, ())
            if self.sent.get((c, d), 0) < self.routing.versions.get(d, 0)
        ]
        delivered = self._deliver(pairs)
        if delivered:
            self.sent.update(delivered)
            self.books.put_state("sent", {f"{c.hex}:{d.hex}": str(v) for (c, d), v in delivered.items()})
            self.log.debug("down.sent", replicas=len(delivered))
        return len(delivered)

    def _deliver(self, pairs: list[tuple[UUID, UUID]]) -> dict[tuple[UUID, UUID], int]:
        """Send the replicas and wait for the broker: the versions it acknowledged. A replica it did not take is not
        marked sent and goes again at the next check (a broker that went away or lost its data)."""
        sent: dict[tuple[UUID, UUID], tuple[int, Any]] = {}
        try:
            for child, deputy in pairs:
                sent[(child, deputy)] = self._send(child, deputy)
            if sent:
                self.producer.flush(timeout=30)
        except KafkaError as e:
            self.log.warning("down.send_failed", error=repr(e), replicas=len(pairs))
        delivered = {}
        for pair, (version, future) in sent.items():
            try:
                future.get(timeout=0)
                delivered[pair] = version
            except KafkaError:
                pass
        if len(delivered) < len(pairs):
            self.unsent = {deputy for child, deputy in pairs if (child, deputy) not in delivered}
            self.log.warning("down.unsent", replicas=len(pairs) - len(delivered))
        return delivered

    def _read(self) -> set[UUID]:
        """Deputies whose history or routing changed since the last read (all of them after a start, over as many
        turns as it takes: a page per log per turn, so a province reading millions of events holds up nothing)."""
        changed: set[UUID] = set()
        for store, cursor in zip(self.stores, self.cursors, strict=True):
            page = cursor.read()
            for notification in page:
                deputy = self.routing.learn(store.mapper.to_domain_event(notification))
                changed.add(deputy or notification.originator_id)
            self.dirty |= bool(page)  # there may be more
        return changed

    def _answer(self, resend: dict[UUID, str]) -> set[UUID]:
        """Children that asked for every replica again (a new reference store): forget what they were sent, once."""
        again = {
            child: epoch for child, epoch in resend.items() if child in self.children and self.answered.get(child.hex) != epoch
        }
        if not again:
            return set()
        for child, epoch in again.items():
            self.log.info("down.resend", child=str(child), asked=epoch)
            self.books.drop_state("sent", f"{child.hex}:")
            self.sent = {pair: v for pair, v in self.sent.items() if pair[0] != child}
            self.answered[child.hex] = epoch
        self.books.put_state("resend", {child.hex: epoch for child, epoch in again.items()})
        return {d for d, children in self.routing.targets.items() if children & again.keys()}

    def _send(self, child: UUID, deputy: UUID) -> tuple[int, Any]:
        """Send the deputy's whole history to the child; returns the version sent and the send's future."""
        events = self._history(deputy)
        value = json.dumps(
            {
                "aggregate": str(deputy),
                "events": [{"v": e.originator_version, "topic": e.topic, "state": e.state.decode()} for e in events],
            },
            ensure_ascii=False,
        ).encode()
        future = self.producer.send(self.topic_for(child), key=deputy.bytes, value=value, partition=0)
        return (events[-1].originator_version if events else 0), future

    def _history(self, deputy: UUID) -> list[StoredEvent]:
        for store in self.stores:
            events = store.recorder.select_events(deputy)
            if events:
                return list(events)
        return []


class DownwardReceiver:
    """At a child: applies replicas from its parent into its reference store (read-only copies), and remembers how
    far it read the down topic (a hint: replicas are idempotent)."""

    def __init__(self, *, reference: NodeStore, books: SyncRecorder, consumer: KafkaConsumer, topic: str) -> None:
        self.reference = reference
        self.books = books
        self.consumer = consumer
        self.partition = TopicPartition(topic, 0)
        self.log = structlog.get_logger().bind(node=str(reference.node.node_id), channel="down")
        # A new reference store (first start, or lost) asks for every replica again, until the process ends.
        self.resend = datetime.now(UTC).isoformat() if not reference.recorder.max_notification_id() else None

    def seek(self) -> None:
        offset = self.books.state("down").get("offset")
        if offset is None or self.resend:
            self.consumer.seek_to_beginning(self.partition)
        else:
            self.consumer.seek(self.partition, int(offset) + 1)

    def handle(self, messages: Sequence[Any]) -> int:
        applied = 0
        for message in messages:
            try:
                payload = json.loads(message.value)
                aggregate = UUID(payload["aggregate"])
                events = [StoredEvent(aggregate, int(e["v"]), str(e["topic"]), e["state"].encode()) for e in payload["events"]]
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                self.log.error("down.undecodable", offset=message.offset, error=repr(e))
                continue
            applied += self._apply(aggregate, events)
        if messages:
            self.books.put_state("down", {"offset": str(messages[-1].offset)})
        return applied

    def _apply(self, aggregate: UUID, events: list[StoredEvent]) -> int:
        held = self.reference.recorder.select_events(aggregate, desc=True, limit=1)
        version = held[0].originator_version if held else 0
        missing = [e for e in events if e.originator_version > version]
        if not missing:
            return 0
        try:
            self.reference.recorder.insert_events(missing)
        except IntegrityError:
            return 0  # another message got there first
        return len(missing)


def _pair(key: str) -> tuple[UUID, UUID]:
    child, deputy = key.split(":")
    return UUID(child), UUID(deputy)
