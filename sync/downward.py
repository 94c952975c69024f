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
_ROUTING_TOPICS = (
    get_topic(Deputy.Registered),
    get_topic(Station.Established),
    get_topic(Station.DeputyEnrolled),
    get_topic(Station.Absorbed),
)


@dataclass
class RoutingTable:
    """Who owns and where lives each deputy, which node owns each station, and who is enrolled where."""

    deputy_owner: dict[UUID, UUID] = field(default_factory=dict)
    deputy_home: dict[UUID, UUID] = field(default_factory=dict)
    station_owner: dict[UUID, UUID] = field(default_factory=dict)
    enrolled_at: dict[UUID, set[UUID]] = field(default_factory=lambda: defaultdict(set))  # deputy -> station owners

    def learn(self, event: Any) -> None:
        if isinstance(event, Deputy.Registered):
            self.deputy_owner[event.originator_id] = event.owner
            self.deputy_home[event.originator_id] = event.home_node
        elif isinstance(event, Station.Established):
            self.station_owner[event.originator_id] = event.owner
        elif isinstance(event, Station.DeputyEnrolled):
            self.enrolled_at[event.deputy_id].add(event.owner)
        elif isinstance(event, Station.Absorbed):
            for deputy_hex in event.deputies:
                self.enrolled_at[UUID(deputy_hex)].add(event.owner)

    def needed_by(self, within: Callable[[UUID], bool]) -> set[UUID]:
        """Deputies a subtree (``within`` tells its nodes) needs and does not record itself."""
        return {
            deputy
            for deputy, owner in self.deputy_owner.items()
            if not within(owner)
            and (within(self.deputy_home[deputy]) or any(within(n) for n in self.enrolled_at.get(deputy, ())))
        }


class Cursor:
    """Reads one log's notifications of some topics, from where it stopped last time (in memory: replicas are
    re-derivable, so a restart simply reads again)."""

    def __init__(self, recorder: ApplicationRecorder, topics: Iterable[str]) -> None:
        self.recorder = recorder
        self.topics = tuple(topics)
        self.position = 0

    def read(self, limit: int = 5000) -> list[Any]:
        page = self.recorder.select_notifications(start=self.position + 1, limit=limit, topics=self.topics)
        if page:
            self.position = page[-1].id
        return list(page)


class DownwardSender:
    """At a parent: sends each child the deputies it needs, on change and every ``refresh_s``."""

    def __init__(
        self,
        *,
        store: NodeStore,
        reference: NodeStore,
        children: dict[UUID, Callable[[UUID], bool]],
        producer: KafkaProducer,
        topic_for: Callable[[UUID], str],
        refresh_s: float = 30.0,
    ) -> None:
        self.stores = (store, reference)
        self.children = children
        self.producer = producer
        self.topic_for = topic_for
        self.refresh_s = refresh_s
        self.routing = RoutingTable()
        self.cursors = [Cursor(s.recorder, _ROUTING_TOPICS + DEPUTY_TOPICS) for s in self.stores]
        self.sent: dict[UUID, dict[UUID, int]] = {child: {} for child in children}  # child -> deputy -> version sent
        self.next_refresh = 0.0
        self.log = structlog.get_logger().bind(node=str(store.node.node_id), channel="down")

    def run_once(self) -> int:
        changed: set[UUID] = set()
        learned = False
        for store, cursor in zip(self.stores, self.cursors, strict=True):
            for notification in _drain(cursor):
                learned = True
                event = store.mapper.to_domain_event(notification)
                self.routing.learn(event)
                if notification.topic in DEPUTY_TOPICS:
                    changed.add(notification.originator_id)
        refresh = time.monotonic() >= self.next_refresh
        if not (changed or refresh or learned):
            return 0
        if refresh:
            self.next_refresh = time.monotonic() + self.refresh_s
        sent = 0
        for child, within in self.children.items():
            already = self.sent[child]
            for deputy in self.routing.needed_by(within):
                if refresh or deputy in changed or deputy not in already:
                    already[deputy] = self._send(child, deputy)
                    sent += 1
        if sent:
            self.producer.flush()
            self.log.debug("down.sent", replicas=sent, refresh=refresh)
        return sent

    def _send(self, child: UUID, deputy: UUID) -> int:
        events = self._history(deputy)
        value = json.dumps(
            {
                "aggregate": str(deputy),
                "events": [{"v": e.originator_version, "topic": e.topic, "state": e.state.decode()} for e in events],
            },
            ensure_ascii=False,
        ).encode()
        self.producer.send(self.topic_for(child), key=deputy.bytes, value=value, partition=0)
        return events[-1].originator_version if events else 0

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
