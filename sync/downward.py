"""The downward channel: a parent sends each child read-only replicas of the deputies the child needs.

A child needs every deputy, of any level, who lives or works in its subtree (so it can enrol them at its stations)
or is enrolled at one of its subtree's stations (so it can record their visits), unless the deputy is recorded
inside that subtree already. The parent knows both from its own log (its subtree's stations and deputies) and
from its reference store (deputies it received from above).

Each message carries one deputy's whole history, so the newest message is always enough: the child inserts the
versions it lacks into its reference store, verbatim. A parent re-sends everything relevant on start and every
``refresh_s``: a lost message or a broker that forgot everything heals by itself.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.utils import get_topic
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from domain.deputies import Deputy
from domain.stations import Station
from domain.store import NodeStore

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

    def learn(self, event: Any) -> UUID | None:
        """Take in one routing fact; returns the deputy whose targets it may change."""
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

    def read(self, limit: int = 5000) -> list[Any]:
        # Bound the scan by the head read first, so a page without matches still moves the cursor past the rows
        # it looked at (ids up to the head are all committed: commit order is id order in both backends).
        head = self.recorder.max_notification_id() or 0
        if head <= self.position:
            return []
        page = self.recorder.select_notifications(start=self.position + 1, limit=limit, stop=head, topics=self.topics)
        self.position = page[-1].id if len(page) == limit else head
        return list(page)


class DownwardSender:
    """At a parent: sends each child the deputies it needs, on change and every ``refresh_s``."""

    def __init__(
        self,
        *,
        store: NodeStore,
        reference: NodeStore,
        child_of: Callable[[UUID], UUID | None],
        children: Iterable[UUID],
        producer: KafkaProducer,
        topic_for: Callable[[UUID], str],
        refresh_s: float = 30.0,
    ) -> None:
        self.stores = (store, reference)
        self.children = tuple(children)
        self.producer = producer
        self.topic_for = topic_for
        self.refresh_s = refresh_s
        self.routing = RoutingTable(child_of)
        self.cursors = [Cursor(s.recorder, _ROUTING_TOPICS + DEPUTY_TOPICS) for s in self.stores]
        self.sent: set[tuple[UUID, UUID]] = set()  # (child, deputy) pairs sent at least once
        self.next_refresh = 0.0
        self.log = structlog.get_logger().bind(node=str(store.node.node_id), channel="down")

    def run_once(self) -> int:
        """Send replicas that changed or became needed; everything needed again every ``refresh_s``."""
        changed: set[UUID] = set()
        for store, cursor in zip(self.stores, self.cursors, strict=True):
            for notification in _drain(cursor):
                deputy = self.routing.learn(store.mapper.to_domain_event(notification))
                changed.add(deputy or notification.originator_id)
        if time.monotonic() >= self.next_refresh:
            self.next_refresh = time.monotonic() + self.refresh_s
            pairs = {(child, deputy) for deputy, children in self.routing.targets.items() for child in children}
        else:
            pairs = {(c, d) for d in changed for c in self.routing.targets.get(d, ())}
            pairs |= {(c, d) for d, children in self.routing.targets.items() for c in children if (c, d) not in self.sent}
        for child, deputy in pairs:
            self._send(child, deputy)
        if pairs:
            self.sent |= pairs
            self.producer.flush()
            self.log.debug("down.sent", replicas=len(pairs))
        return len(pairs)

    def _send(self, child: UUID, deputy: UUID) -> None:
        events = self._history(deputy)
        value = json.dumps(
            {
                "aggregate": str(deputy),
                "events": [{"v": e.originator_version, "topic": e.topic, "state": e.state.decode()} for e in events],
            },
            ensure_ascii=False,
        ).encode()
        self.producer.send(self.topic_for(child), key=deputy.bytes, value=value, partition=0)

    def _history(self, deputy: UUID) -> list[StoredEvent]:
        for store in self.stores:
            events = store.recorder.select_events(deputy)
            if events:
                return list(events)
        return []


class DownwardReceiver:
    """At a child: applies replicas from its parent into its reference store (read-only copies)."""

    def __init__(self, *, reference: NodeStore, consumer: KafkaConsumer, topic: str) -> None:
        self.reference = reference
        self.consumer = consumer
        self.partition = TopicPartition(topic, 0)
        self.log = structlog.get_logger().bind(node=str(reference.node.node_id), channel="down")

    def handle(self, messages: Iterable[Any]) -> int:
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


def _drain(cursor: Cursor) -> Iterable[Any]:
    while True:
        page = cursor.read()
        yield from page
        if not page:
            return
