"""A township cut off while it records 5,000+ events: its county keeps serving the others, and the township catches
up, in order and exactly once, when it comes back."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from domain.store import StoreSettings
from tests.sync_helpers import WULINGYUAN, XIEHE, ZHANGJIAJIE, ZHONGHU, Activity, Ledger, ref, wait_for

pytestmark = pytest.mark.kafka

CODES = (ZHANGJIAJIE, WULINGYUAN, XIEHE, ZHONGHU)


def lost_by_owner(ledger: Ledger, code: str) -> Counter[str]:
    level = ledger.report().levels[code]
    assert not (level.extra or level.duplicated or level.out_of_order), level
    return Counter(ledger.code_of[ledger.owner(row)] for row in level.lost)


def test_child_offline_for_5000_events_catches_up(sqlite_settings: StoreSettings, processes: Any, ledger_for: Any) -> None:
    ledger = ledger_for(sqlite_settings, CODES)
    procs = processes(sqlite_settings)
    with (
        Activity(sqlite_settings, (ZHANGJIAJIE, WULINGYUAN, ZHONGHU), days=40, seed=31, scale=0.3) as others,
        Activity(sqlite_settings, (XIEHE,), days=320, seed=32, scale=10) as offline,
    ):
        others.write(events=1500)
        offline.write(events=300)
        xiehe = procs.start("xiehe", [XIEHE])
        procs.start("zhonghu", [ZHONGHU])
        procs.start("county", [WULINGYUAN])
        procs.start("prefecture", [ZHANGJIAJIE])
        ledger.wait_converged(60, why=procs.tails)

        xiehe.stop()  # cut off
        head_before = ledger.stores.open(ref(XIEHE)).max_position()
        while not offline.done:  # the township goes on recording; its neighbours and their county too
            offline.write(events=500)
            others.write(events=50)
        others.write()
        recorded_offline = ledger.stores.open(ref(XIEHE)).max_position() - head_before
        assert recorded_offline >= 5000

        # Meanwhile the county and the prefecture serve everything but the offline township's new events.
        for level in (WULINGYUAN, ZHANGJIAJIE):
            wait_for(lambda level=level: lost_by_owner(ledger, level) == Counter({XIEHE: recorded_offline}), 60, level)

        # The county says so: the township is silent (its sync does not run), and how much it lacks (its store is
        # reachable from here); the other township follows.
        def statuses() -> dict[str, Any]:
            rows = json.loads(procs.cli("sync", "status", "--node", WULINGYUAN, "--json").stdout)
            return {row["child"]: row for row in rows}

        by_child = wait_for(lambda: (s := statuses())[str(ref(XIEHE))]["state"] == "silent" and s, 30, "XIEHE silent")
        assert by_child[str(ref(ZHONGHU))]["state"] == "following" and by_child[str(ref(ZHONGHU))]["lag_events"] == 0
        assert by_child[str(ref(XIEHE))]["lag_events"] == recorded_offline
        assert "no frame or beat from the child" in by_child[str(ref(XIEHE))]["reason"]

        procs.start("xiehe", [XIEHE])  # back online
        ledger.wait_converged(90, why=procs.tails)
    ledger.assert_nothing_lost_nothing_duplicated(at_least={XIEHE: 5000})
    assert not procs.dead(), procs.dead()
