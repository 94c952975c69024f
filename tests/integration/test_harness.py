"""The test harness itself: the fixtures give a working PostgreSQL database and Kafka broker.

If these fail, every other integration test's failure is suspect, so they check
exactly what the rest relies on: non-BMP text survives PostgreSQL, and Kafka
keeps order and offsets for an idempotent acks=all producer read by assign/seek.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from sync.brokers import BrokerNotFound, EmbeddedBroker, broker_reachable

# U+26C21 is outside the BMP (4 bytes in UTF-8, a surrogate pair in UTF-16).
PLACE = "𦰡溪瑶族乡"


@pytest.mark.postgres
def test_pg_database_keeps_non_bmp_text(pg_database: dict[str, Any]) -> None:
    with psycopg.connect(pg_database["dsn"]) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (pg_database["dbname"],)
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
        conn.execute("CREATE TABLE place (id serial PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO place (name) VALUES (%s)", (PLACE,))
        conn.commit()

    # A second connection built from the parts, as eventsourcing's POSTGRES_* settings do.
    parts = {k: pg_database[k] for k in ("host", "port", "user", "password", "dbname")}
    with psycopg.connect(**parts) as conn:
        row = conn.execute("SELECT name, length(name), octet_length(name), name = %s FROM place", (PLACE,)).fetchone()
    assert row == (PLACE, 5, 16, True)


def _create_topic(bootstrap: str, topic: str) -> None:
    # Explicit single-partition topic: auto-created topics differ between brokers
    # (tansu makes several partitions).
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True)
    finally:
        admin.close()


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> list[int]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    try:
        futures = [producer.send(topic, key=b"harness", value=v) for v in values]
        producer.flush(timeout=30)
        return [f.get(timeout=30).offset for f in futures]
    finally:
        producer.close()


def _read(bootstrap: str, topic: str, start: int, count: int, timeout: float = 30.0) -> list[ConsumerRecord]:
    # Read until we have `count` records rather than trusting end_offsets, which
    # tansu reports wrongly after multi-record batches.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, start)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


@pytest.mark.kafka
def test_kafka_roundtrip_in_order(kafka_bootstrap: str) -> None:
    topic = f"harness-{uuid.uuid4().hex[:12]}"
    _create_topic(kafka_bootstrap, topic)
    values = [f"{i:03d} {PLACE}".encode() for i in range(100)]

    offsets = _produce(kafka_bootstrap, topic, values)
    assert offsets == list(range(100))

    records = _read(kafka_bootstrap, topic, start=0, count=100)
    assert [r.value for r in records] == values
    assert [r.offset for r in records] == list(range(100))
    assert records[7].value.decode() == f"007 {PLACE}"

    # seek into the middle of what was produced as a single batch
    tail = _read(kafka_bootstrap, topic, start=60, count=40)
    assert [r.offset for r in tail][:40] == list(range(60, 100))
    assert [r.value for r in tail][:40] == values[60:]


def test_embedded_broker_serves_and_restart_empties_it() -> None:
    try:
        broker = EmbeddedBroker()
    except BrokerNotFound as exc:
        pytest.skip(str(exc))
    topic = f"embedded-{uuid.uuid4().hex[:12]}"
    with broker:
        bootstrap = broker.bootstrap
        assert broker_reachable(bootstrap)
        _create_topic(bootstrap, topic)
        values = [f"{i} {PLACE}".encode() for i in range(10)]
        assert _produce(bootstrap, topic, values) == list(range(10))
        assert [r.value for r in _read(bootstrap, topic, 0, 10)] == values

        broker.restart()
        assert broker.bootstrap == bootstrap  # same address, so clients can reconnect
        assert broker_reachable(bootstrap)
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            assert topic not in admin.list_topics()
        finally:
            admin.close()
        # and it serves again from an empty log
        _create_topic(bootstrap, topic)
        assert _produce(bootstrap, topic, [b"after restart"]) == [0]
        assert [r.value for r in _read(bootstrap, topic, 0, 1)] == [b"after restart"]

    assert not broker.running
    assert not broker_reachable(bootstrap, timeout=1.0)
