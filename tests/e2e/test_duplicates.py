"""Duplicated, replayed and reordered frames change nothing.

A township's stream is captured from a real relay (the frames it would send, here of up to 4 events), and copies
are produced into the county's inbound topic with raw kafka-python, out of order and with duplicates, as a
misbehaving network would. The township's relay believes it published all of it, so the county has to notice the
holes itself and have the relay re-publish; the running relay frames the stream anew (up to 100 events a frame)
from the position the county holds, so frames of the two framings straddle each other's boundaries. Then, after
the county has applied it, the whole stream is replayed again (reversed, shuffled, with more duplicates), and an
operator replays the township's whole log with `yipanqi sync backfill`. Every level still ends with exactly its
subtree's own events, each once, in order.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from domain.store import NodeStore, StoreSettings
from sync.relay import Relay
from sync.settings import SyncSettings, TopicPlan
from tests.sync_helpers import WULINGYUAN, XIEHE, ZHONGHU, Activity, RecordingProducer, ref, wait_for

pytestmark = pytest.mark.kafka

CODES = (WULINGYUAN, XIEHE, ZHONGHU)


def capture(store: NodeStore, settings: SyncSettings, topic: str) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """What the township's relay sends for its whole log, in frames of up to 4 events (its published position
    advances as if the broker had it all)."""
    producer = RecordingProducer()
    relay = Relay(
        origin=store.node.node_id,
        source=store.recorder,
        books=store.recorder,  # type: ignore[arg-type]
        producer=producer,  # type: ignore[arg-type]
        topic=topic,
        beat_topic=f"{topic}.beat",
        stream="up",
        settings=settings.model_copy(update={"frame_events": 4}),
    )
    while relay.run_once():
        pass
    return [(m.value, m.headers) for m in producer.sent if m.value]  # events only (no heartbeats)


def scrambled(messages: list[Any], rng: random.Random) -> list[Any]:
    """Every frame at least once: windows shuffled, some frames twice or three times, some replayed late."""
    out = []
    for start in range(0, len(messages), 25):
        window = messages[start : start + 25]
        window = window + rng.sample(window, k=len(window) // 4)
        rng.shuffle(window)
        out.extend(window)
    out.extend(rng.sample(messages, k=len(messages) // 5))
    return out


def produce(bootstrap: str, topic: str, messages: list[Any]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for value, headers in messages:
        producer.send(topic, value=value, headers=headers, partition=0)
    producer.flush()
    producer.close()


def test_duplicated_replayed_and_reordered_messages_change_nothing(
    sqlite_settings: StoreSettings, sync_settings: SyncSettings, processes: Any, ledger_for: Any
) -> None:
    rng = random.Random(51)
    topic = TopicPlan(sync_settings.topic_prefix).up(ref(XIEHE).node_id)
    admin = KafkaAdminClient(bootstrap_servers=sync_settings.kafka)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()

    ledger = ledger_for(sqlite_settings, CODES)
    with Activity(sqlite_settings, CODES, days=40, seed=52, scale=1.0) as activity:
        activity.write(events=2500)
        township = NodeStore(ref(XIEHE), sqlite_settings)
        stream = capture(township, sync_settings, topic)
        township.close()
        assert len(stream) > 100
        produce(sync_settings.kafka, topic, scrambled(stream, rng))  # what the county will find in the topic

        procs = processes(sqlite_settings)
        townships = procs.start("townships", [XIEHE, ZHONGHU])
        county = procs.start("county", [WULINGYUAN])
        ledger.wait_converged(60, why=procs.tails)
        # The county saw the holes and asked; the relay went back to what the county held and published again.
        assert '"ingest.gap"' in county.output() and '"relay.rewind"' in townships.output()

        # The whole stream again, reversed, with more duplicates, interleaved with new activity.
        produce(sync_settings.kafka, topic, list(reversed(stream)) + rng.sample(stream, k=len(stream) // 2))
        activity.write_until(XIEHE, 30)
        produce(sync_settings.kafka, topic, scrambled(stream, rng))
        activity.write_until(XIEHE, 30)
        # An operator replays the township's whole log (`yipanqi sync backfill`) while everything runs.
        procs.cli("sync", "backfill", "--node", XIEHE, "--from", "0")
        activity.write()
    ledger.wait_converged(60, why=procs.tails)
    ledger.assert_nothing_lost_nothing_duplicated()
    # The backfill reached the running relay. It may do so after the logs converged (it re-sends only what every
    # level holds already), so wait for it rather than race it.
    wait_for(lambda: '"by": "operator"' in townships.output(), 30, "the relay's rewind for the backfill", why=procs.tails)
    assert not procs.dead(), procs.dead()
