"""The raw ceiling of the sync benchmarks: bare kafka-python moving the same messages as the pipeline, with the
relay's producer and the ingest's consumer settings, produce then consume, on one single-partition topic."""

from __future__ import annotations

import time

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import NewTopic

from sync.envelope import HEADER
from sync.ingest import make_consumer
from sync.relay import make_producer
from sync.settings import SyncSettings


def produce_then_consume(
    bootstrap: str, settings: SyncSettings, topic: str, messages: list[tuple[bytes, bytes]], timeout_s: float = 600
) -> tuple[float, float]:
    """Seconds to produce every (value, envelope header) message and have the broker acknowledge it, then seconds
    to consume them all with assign/seek."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    producer = make_producer(bootstrap, settings)
    try:
        producer.send(topic, value=b"warm-up", headers=[(HEADER, b"")], partition=0).get(timeout=60)  # metadata, ids
        started = time.perf_counter()
        futures = [producer.send(topic, value=v, headers=[(HEADER, h)], partition=0) for v, h in messages]
        producer.flush()
        for future in futures:
            future.get(timeout=60)
        produce_s = time.perf_counter() - started
    finally:
        producer.close(timeout=5)
    consumer = make_consumer(bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 1)  # after the warm-up message
        got, started = 0, time.perf_counter()
        while got < len(messages) and time.perf_counter() - started < timeout_s:
            got += sum(len(batch) for batch in consumer.poll(timeout_ms=500).values())
        consume_s = time.perf_counter() - started
    finally:
        consumer.close()
    if got < len(messages):
        raise RuntimeError(f"raw consumer got {got} of {len(messages)} messages on {topic}")
    return produce_s, consume_s
