"""The relay and the ingest, each on its own, against a real broker (and a real SQLite or PostgreSQL store).

- The relay publishes each stored event's bytes unchanged, with an envelope whose ``prev`` names the position
  published just before (so holes in PostgreSQL's ids are not gaps), and a hash chain; its position is durable and
  a new relay resumes from it.
- The ingest re-records events verbatim with the stream's position in the same transaction; Kafka offsets are only
  hints: reading everything again applies nothing twice, and a wrong hint that skips messages is noticed as a gap
  that halts only that stream and asks the relay, on the control topic, to re-publish from the position held.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

from domain.base import NodeRef
from domain.persistence import StreamHalt, StreamPosition
from domain.store import NodeStore, StoreSettings
from sync.envelope import GENESIS_LINK, HEADER, Frame, Kind, chain, initial_position
from sync.ingest import Inbound, Ingest, StreamState, make_consumer
from sync.relay import Relay, make_producer
from sync.settings import SyncSettings, TopicPlan
from tests.sync_helpers import (
    WULINGYUAN,
    XIEHE,
    ZHONGHU,
    Activity,
    Ledger,
    log_rows,
    ref,
    wait_for,
)

pytestmark = pytest.mark.kafka

CODES = (WULINGYUAN, XIEHE, ZHONGHU)


def create_topics(bootstrap: str, *names: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names])
    finally:
        admin.close()


def events_in(records: list[Any]) -> int:
    return sum(len(Frame.decode(dict(r.headers)[HEADER]).entries) for r in records)


def read_all(bootstrap: str, topic: str, count: int, timeout: float = 30) -> list[Any]:
    """The topic's frames from its start, until they hold ``count`` events."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    while events_in(records) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    consumer.close()
    return records


def end_offset(bootstrap: str, topic: str) -> int:
    """The offset the next message will get, by reading (tansu's ListOffsets can lag behind the log's end)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    end, quiet = 0, 0
    while quiet < 3:
        batch = [m for b in consumer.poll(timeout_ms=300).values() for m in b]
        quiet = 0 if batch else quiet + 1
        end = max([end, *(m.offset + 1 for m in batch)])
    consumer.close()
    return end


def relay_for(store: NodeStore, settings: SyncSettings, producer: Any) -> Relay:
    return Relay(
        origin=store.node.node_id,
        source=store.recorder,
        books=store.recorder,  # type: ignore[arg-type]
        producer=producer,
        topic=TopicPlan(settings.topic_prefix).up(store.node.node_id),
        beat_topic=TopicPlan(settings.topic_prefix).beat(store.node.node_id),
        stream="up",
        settings=settings,
    )


def ingest_for(parent: NodeStore, children: list[NodeRef], settings: SyncSettings, consumer: Any, producer: Any) -> Ingest:
    plan = TopicPlan(settings.topic_prefix)
    inbound = [
        Inbound(
            stream=str(c.node_id),
            topic=plan.up(c.node_id),
            beat_topic=plan.beat(c.node_id),
            origin=c.node_id,
            control_topic=plan.control(c.node_id),
            remote_stream="up",
            position=initial_position(parent.recorder, str(c.node_id)),  # type: ignore[arg-type]
        )
        for c in children
    ]
    ingest = Ingest(
        node=parent.node.node_id, target=parent.recorder, inbound=inbound, consumer=consumer, producer=producer, settings=settings
    )
    consumer.assign(ingest.partitions())
    ingest.seek_all()
    return ingest


def drive(ingest: Ingest, consumer: Any, until: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, [s.status() for s in ingest.inbound.values()]
        ingest.handle(consumer.poll(timeout_ms=200))


def check_published(store: NodeStore, records: list[Any]) -> None:
    """Each frame: consecutive events' stored bytes unchanged, an envelope naming each event (and the node's own chain
    it is in) and the position published before the frame, and the hash-chain link after its last event."""
    notifications = iter(store.iter_notifications())
    prev, link, count = 0, GENESIS_LINK, 0
    for record in records:
        frame = Frame.decode(dict(record.headers)[HEADER])
        assert (frame.kind, frame.origin, frame.prev) == (Kind.EVENTS, store.node.node_id, prev)
        for entry, state in zip(frame.entries, frame.split(record.value), strict=True):
            n = next(notifications)
            link = chain(link, n.id, n.originator_id, n.originator_version, n.topic, n.state)
            assert state == n.state
            own = store.node.node_id.bytes
            assert entry == (n.id, n.originator_id.bytes, n.originator_version, n.topic, len(n.state), own)
            count += 1
        assert frame.link == link and frame.head >= frame.last
        prev = frame.last
    assert next(notifications, None) is None and count == store.count_events()
    assert store.recorder.positions()["up"] == StreamPosition("up", prev, link)


def test_relay_publishes_stored_bytes_unchanged_and_resumes_from_its_durable_position(
    sqlite_settings: StoreSettings, sync_settings: SyncSettings
) -> None:
    topic = TopicPlan(sync_settings.topic_prefix).up(ref(XIEHE).node_id)
    create_topics(sync_settings.kafka, topic)
    settings = sync_settings.model_copy(update={"relay_batch": 50, "frame_events": 8})  # frames cut by count and page
    with Activity(sqlite_settings, (XIEHE,), days=20, seed=81, scale=1.0) as activity:
        activity.write(events=200)
        store = NodeStore(ref(XIEHE), sqlite_settings)
        producer = make_producer(sync_settings.kafka, settings)
        try:
            relay = relay_for(store, settings, producer)
            while relay.run_once():
                pass
            first = store.max_position()
            check_published(store, read_all(sync_settings.kafka, topic, first))

            # A new relay (a restart) resumes after the durable position: nothing is sent twice.
            activity.write()
            relay = relay_for(store, settings, producer)
            assert relay.published.position == first
            while relay.run_once():
                pass
            records = read_all(sync_settings.kafka, topic, store.count_events())
            check_published(store, records)
            assert events_in(records) == store.count_events() > first
            assert {len(Frame.decode(dict(r.headers)[HEADER]).entries) for r in records} >= {8, 2}
        finally:
            producer.close()
            store.close()


@pytest.mark.postgres
def test_holes_in_postgresql_ids_are_not_gaps(pg_database: dict[str, Any], sync_settings: SyncSettings, tmp_path: Any) -> None:
    """A failed insert consumes ids of PostgreSQL's sequence: the log has holes, the envelopes bridge them."""
    store_settings = StoreSettings(store="postgres", pg_dsn=pg_database["dsn"], data_dir=tmp_path)
    plan = TopicPlan(sync_settings.topic_prefix)
    create_topics(sync_settings.kafka, plan.up(ref(XIEHE).node_id), plan.control(ref(XIEHE).node_id))
    with Activity(store_settings, (XIEHE,), days=20, seed=82, scale=1.0) as activity:
        store = NodeStore(ref(XIEHE), store_settings)
        for _ in range(3):
            activity.write(events=60)
            held = list(store.recorder.select_notifications(start=1, limit=1))
            with pytest.raises(IntegrityError):  # a conflicting write: rolled back, its ids are gone
                store.recorder.insert_events(held * 3)
        activity.write(events=60)
        ids = [n.id for n in store.iter_notifications()]
        assert ids != list(range(1, len(ids) + 1)), "expected holes in the notification ids"

        county = NodeStore(ref(WULINGYUAN), store_settings)
        producer = make_producer(sync_settings.kafka, sync_settings)
        consumer = make_consumer(sync_settings.kafka)
        try:
            relay = relay_for(store, sync_settings, producer)
            while relay.run_once():
                pass
            check_published(store, read_all(sync_settings.kafka, plan.up(ref(XIEHE).node_id), len(ids)))
            ingest = ingest_for(county, [ref(XIEHE)], sync_settings, consumer, producer)
            [inbound] = ingest.inbound.values()
            drive(ingest, consumer, lambda: inbound.position.position == ids[-1])
            assert inbound.state is StreamState.FOLLOWING
            assert log_rows(county) == log_rows(store)  # verbatim, in order, once
            # The halts `sync status` reads keep their first `since` on PostgreSQL too, and go when cleared.
            first = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
            county.recorder.save_halt(StreamHalt(inbound.stream, "a gap", first))
            county.recorder.save_halt(StreamHalt(inbound.stream, "still a gap", datetime.now(UTC)))
            assert county.recorder.halts() == {inbound.stream: StreamHalt(inbound.stream, "still a gap", first)}
            county.recorder.clear_halt(inbound.stream)
            assert county.recorder.halts() == {}
        finally:
            consumer.close()
            producer.close()
            county.close()
            store.close()


def test_ingest_trusts_the_database_not_kafka_offsets(sqlite_settings: StoreSettings, sync_settings: SyncSettings) -> None:
    plan = TopicPlan(sync_settings.topic_prefix)
    townships = [ref(XIEHE), ref(ZHONGHU)]
    create_topics(sync_settings.kafka, *(t for r in townships for t in (plan.up(r.node_id), plan.control(r.node_id))))
    activity = Activity(sqlite_settings, CODES, days=30, seed=83, scale=1.0)
    activity.write(events=2000)
    county = NodeStore(ref(WULINGYUAN), sqlite_settings)
    children = [NodeStore(r, sqlite_settings) for r in townships]
    producer = make_producer(sync_settings.kafka, sync_settings)
    consumers: list[Any] = []
    ledger = Ledger(sqlite_settings, CODES)
    small_frames = sync_settings.model_copy(update={"frame_events": 2})  # 20 new events: 10 frames, 6 of them skipped

    def fresh_ingest() -> Ingest:
        consumers.append(make_consumer(sync_settings.kafka))
        return ingest_for(county, townships, sync_settings, consumers[-1], producer)

    def publish() -> list[int]:
        for child in children:
            relay = relay_for(child, small_frames, producer)
            while relay.run_once():
                pass
        return [c.max_position() for c in children]

    def holds(ingest: Ingest, heads: list[int]) -> bool:
        return [s.position.position for s in ingest.inbound.values()] == heads

    try:
        heads = publish()
        ingest = fresh_ingest()
        drive(ingest, consumers[-1], lambda: holds(ingest, heads))
        ledger.assert_nothing_lost_nothing_duplicated()
        before = ledger.logs()[WULINGYUAN]

        # The offset hints are lost: everything is read again, nothing is applied twice.
        for stream in ingest.inbound.values():
            county.recorder.save_position(StreamPosition(stream.stream, stream.position.position, stream.position.link, -1))
        ingest = fresh_ingest()
        events = 0
        deadline = time.monotonic() + 15
        while events < sum(heads) and time.monotonic() < deadline:
            polled = consumers[-1].poll(timeout_ms=200)
            events += sum(events_in(batch) for batch in polled.values())
            assert ingest.handle(polled) == 0
        assert events >= sum(heads)
        assert ledger.logs()[WULINGYUAN] == before

        # New events are published; a wrong hint skips some of 协合乡's frames. Its next one does not follow on from
        # the position the database holds: that stream halts and asks its relay to publish again after that
        # position, with that position's link; 中湖乡's stream goes on.
        activity.write_until(XIEHE, 20)
        activity.write_until(ZHONGHU, 20)
        held = county.recorder.positions()[str(townships[0].node_id)]
        control = KafkaConsumer(bootstrap_servers=sync_settings.kafka, enable_auto_commit=False)
        ask = TopicPartition(plan.control(townships[0].node_id), 0)
        end = end_offset(sync_settings.kafka, plan.up(townships[0].node_id))  # 协合乡's next message lands there
        county.recorder.save_position(StreamPosition(held.stream, held.position, held.link, end + 5))  # skips six
        new_heads = publish()
        control.assign([ask])
        control.seek_to_end()
        control.position(ask)
        ingest = fresh_ingest()
        xiehe, zhonghu = (ingest.inbound[plan.up(r.node_id)] for r in townships)

        def gap_and_zhonghu_follows() -> bool:
            ingest.handle(consumers[-1].poll(timeout_ms=200))
            return xiehe.state is StreamState.GAP and zhonghu.position.position == new_heads[1]

        wait_for(gap_and_zhonghu_follows, 15, "a gap in 协合乡's stream only")
        assert zhonghu.state is StreamState.FOLLOWING and "we hold" in xiehe.reason
        assert (xiehe.position.position, xiehe.position.link) == (held.position, held.link)
        requests: list[Any] = []
        wait_for(
            lambda: requests.extend(m for b in control.poll(timeout_ms=200).values() for m in b) or requests, 15, "a request"
        )
        control.close()
        request = json.loads(requests[0].value)
        assert (request["kind"], request["stream"], request["from"], request["link"]) == (
            "republish",
            "up",
            held.position,
            held.link,
        )

        # The relay answers (rewinds to what the county holds); the stream follows on; nothing twice.
        relay = relay_for(children[0], sync_settings, producer)
        relay.rewind(request["from"], request["link"], by="test")
        while relay.run_once():
            pass
        drive(ingest, consumers[-1], lambda: holds(ingest, new_heads) and xiehe.state is StreamState.FOLLOWING)
        report = ledger.assert_nothing_lost_nothing_duplicated()
        assert ledger.logs()[WULINGYUAN][: len(before)] == before
        assert report.levels[WULINGYUAN].held > len(before)
    finally:
        ledger.close()
        activity.close()
        for consumer in consumers:
            consumer.close()
        producer.close()
        for store in (county, *children):
            store.close()
