"""The downward channel sends changes, not the world: a replica goes down when a deputy the child needs changes (or
becomes needed), never again otherwise — not after a restart of either side, not with time. A child whose
reference store is new asks for every replica again (in its beat) and gets them, even when the broker lost the down
topic too."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from domain.base import Attribution, Role
from domain.store import NodeStore, ReferenceStore, StoreSettings
from sync.settings import SyncSettings, TopicPlan
from tests.sync_helpers import WULINGYUAN, XIEHE, ZHONGHU, Activity, Ledger, ThreadHost, ref, wait_for

pytestmark = pytest.mark.kafka

CODES = (WULINGYUAN, XIEHE, ZHONGHU)


def down_end(sync: SyncSettings) -> int:
    """Messages ever sent down to XIEHE (the end offset of its down topic)."""
    tp = TopicPartition(TopicPlan(sync.topic_prefix).down(ref(XIEHE).node_id), 0)
    consumer = KafkaConsumer(bootstrap_servers=sync.kafka)
    try:
        return int(consumer.end_offsets([tp])[tp])
    finally:
        consumer.close()


def replicas(settings: StoreSettings) -> dict[UUID, int]:
    """XIEHE's reference store: each replicated deputy's last version."""
    store = ReferenceStore(ref(XIEHE), settings)
    try:
        versions: dict[UUID, int] = {}
        for n in store.iter_notifications():
            versions[n.originator_id] = max(versions.get(n.originator_id, 0), n.originator_version)
        return versions
    finally:
        store.close()


def settled(settings: StoreSettings) -> dict[UUID, int]:
    """XIEHE's replicas once the downward channel has nothing more in flight (unchanged for two seconds)."""

    def steady() -> dict[UUID, int] | None:
        before = replicas(settings)
        time.sleep(2)
        after = replicas(settings)
        return after if len(after) > 10 and after == before else None

    return wait_for(steady, 60, "XIEHE's replicas settled")


def start(settings: StoreSettings, sync: SyncSettings) -> list[ThreadHost]:
    return [ThreadHost(settings, [WULINGYUAN], CODES, sync), ThreadHost(settings, [XIEHE, ZHONGHU], CODES, sync)]


def stop(hosts: list[ThreadHost]) -> None:
    for host in hosts:
        host.close()


def test_replicas_go_down_when_they_change_and_only_then(sqlite_settings: StoreSettings, sync_settings: SyncSettings) -> None:
    ledger = Ledger(sqlite_settings, CODES)
    with Activity(sqlite_settings, CODES, days=20, seed=9, scale=1.0) as activity:
        activity.write()
    hosts = start(sqlite_settings, sync_settings)
    try:
        ledger.wait_converged(60)
        first = settled(sqlite_settings)
        sent = down_end(sync_settings)
        # One message per replica; twice at most, for those the parent had sent when the child's first beat (a new
        # reference store asks for every replica) reached it: all of them, none, or some (the first sending takes turns).
        assert len(first) <= sent <= 2 * len(first), (sent, len(first))
        time.sleep(3)  # nothing changes: nothing more goes down
        assert down_end(sync_settings) == sent
        stop(hosts)
        hosts = start(sqlite_settings, sync_settings)  # both sides restart: still nothing to send
        ledger.wait_converged(60)
        time.sleep(3)
        assert down_end(sync_settings) == sent

        deputy = next(d for d in first if _owner(sqlite_settings, d) == ref(WULINGYUAN).node_id)
        county = NodeStore(ref(WULINGYUAN), sqlite_settings)
        try:
            changed: Any = county.get(deputy)
            changed.set_flags(_by(), grassroots=not changed.grassroots, leading_cadre=changed.leading_cadre)
            county.save_all([changed])
        finally:
            county.close()
        wait_for(lambda: replicas(sqlite_settings)[deputy] == first[deputy] + 1, 30, "the change replicated down")
        time.sleep(2)
        assert down_end(sync_settings) == sent + 1  # the one that changed, once
    finally:
        stop(hosts)
        ledger.close()


def test_a_new_reference_store_gets_every_replica_again_even_without_the_down_topic(
    sqlite_settings: StoreSettings, sync_settings: SyncSettings
) -> None:
    ledger = Ledger(sqlite_settings, CODES)
    with Activity(sqlite_settings, CODES, days=20, seed=10, scale=1.0) as activity:
        activity.write()
    hosts = start(sqlite_settings, sync_settings)
    try:
        ledger.wait_converged(60)
        before = settled(sqlite_settings)
        stop(hosts)
        # The township lost its reference store, and the broker its down topic.
        Path(sqlite_settings.sqlite_path(ref(XIEHE).node_id, "r")).unlink()
        admin = KafkaAdminClient(bootstrap_servers=sync_settings.kafka)
        admin.delete_topics([TopicPlan(sync_settings.topic_prefix).down(ref(XIEHE).node_id)], timeout_ms=30_000)
        admin.close()
        time.sleep(2)
        hosts = start(sqlite_settings, sync_settings)
        wait_for(lambda: replicas(sqlite_settings) == before, 60, "every replica back at XIEHE")
    finally:
        stop(hosts)
        ledger.close()


def _owner(settings: StoreSettings, deputy: UUID) -> UUID:
    store = ReferenceStore(ref(XIEHE), settings)
    try:
        return store.get(deputy).owner
    finally:
        store.close()


def _by() -> Attribution:
    return Attribution("clerk-test", Role.RECORDER, datetime.now(UTC))
