"""A stream can never be stuck without saying so: when a parent knows its child is ahead and the position it holds
does not move for ``stall_s``, the stream is ``stalled`` with the reason the parent can see, the parent recovers by
itself, and status shows it until the stream moves.

The fault is the one seen at the province's size: the parent's consumer stops delivering one partition (a drifted
incremental fetch session did exactly that) while the child goes on publishing. It is injected by pausing the
partition in the parent's consumer, which nothing in the sync code undoes but a new consumer. First only the events
stop (beats still arrive: the parent knows the child's published position); then everything from the child stops
(the parent hears nothing, and must look at the topic itself to tell a stuck consumer from a silent child).
"""

from __future__ import annotations

from typing import Any

import pytest
from kafka import TopicPartition

from domain.store import StoreSettings
from sync.settings import SyncSettings, TopicPlan
from sync.status import node_status
from tests.sync_helpers import WULINGYUAN, XIEHE, ZHONGHU, Activity, Ledger, ThreadHost, hunan, ref, wait_for

pytestmark = pytest.mark.kafka

CODES = (WULINGYUAN, XIEHE, ZHONGHU)


def xiehe_row(settings: StoreSettings) -> dict[str, Any]:
    rows = node_status(hunan(), ref(WULINGYUAN), settings)
    return next(row for row in rows if row["child"] == str(ref(XIEHE)))


def run_stall(sqlite_settings: StoreSettings, sync_settings: SyncSettings, topics: list[str], reason: str) -> None:
    ledger = Ledger(sqlite_settings, CODES)
    hosts: list[ThreadHost] = []
    try:
        with Activity(sqlite_settings, CODES, days=60, seed=41, scale=1.0) as activity:
            activity.write_until(XIEHE, 200)
            hosts += [ThreadHost(sqlite_settings, [XIEHE, ZHONGHU], CODES, sync_settings)]
            county = ThreadHost(sqlite_settings, [WULINGYUAN], CODES, sync_settings)
            hosts.append(county)
            ledger.wait_converged(60)
            wait_for(lambda: xiehe_row(sqlite_settings)["state"] == "following", 30, "XIEHE following")

            paused = county.call(lambda host: (host.consumer.pause(*(TopicPartition(t, 0) for t in topics)), host.consumer)[1])
            activity.write_until(XIEHE, 400)  # the child goes on recording and publishing

            row = wait_for(lambda: (r := xiehe_row(sqlite_settings))["state"] == "stalled" and r, 60, "XIEHE stalled")
            assert reason in row["reason"] and row["since"], row
            # …while the other township's stream is not held up
            zhonghu = next(r for r in node_status(hunan(), ref(WULINGYUAN), sqlite_settings) if r["child"] == str(ref(ZHONGHU)))
            assert zhonghu["state"] == "following", zhonghu

            activity.write()
            ledger.wait_converged(60, why=lambda: str(xiehe_row(sqlite_settings)))
            assert county.call(lambda host: host.consumer) is not paused  # recovered by a new consumer
            wait_for(lambda: xiehe_row(sqlite_settings)["state"] == "following", 30, "XIEHE following again")
        ledger.assert_nothing_lost_nothing_duplicated()
        assert not any(h.errors for h in hosts), [h.errors for h in hosts]
    finally:
        for host in hosts:
            host.close()
        ledger.close()


def test_a_stream_whose_events_stop_arriving_is_stalled_said_and_recovered(
    sqlite_settings: StoreSettings, sync_settings: SyncSettings
) -> None:
    up = TopicPlan(sync_settings.topic_prefix).up(ref(XIEHE).node_id)
    run_stall(sqlite_settings, sync_settings, [up], "child has published up to")


def test_a_child_heard_of_no_more_while_its_topic_grows_is_stalled_not_silent(
    sqlite_settings: StoreSettings, sync_settings: SyncSettings
) -> None:
    plan = TopicPlan(sync_settings.topic_prefix)
    topics = [plan.up(ref(XIEHE).node_id), plan.beat(ref(XIEHE).node_id)]
    run_stall(sqlite_settings, sync_settings, topics, "holds messages up to offset")
