"""A damaged store stops only its own node: one township's SQLite file overwritten, in a process that hosts it with
another township. The process says which node and which file failed, and goes on: the other township's events reach
the county; `sync status` at the county names the failed child, its file and the error (and does not crash reading
the damaged child store); `yipanqi verify` says the store is damaged, any other command that opens it that it is
damaged (no traceback)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.store import NodeStore, StoreSettings
from tests.sync_helpers import WULINGYUAN, XIEHE, ZHONGHU, Activity, owner_of, ref, wait_for

pytestmark = pytest.mark.kafka

CODES = (WULINGYUAN, XIEHE, ZHONGHU)


def held_of(settings: StoreSettings, code: str, owner: str) -> int:
    store = NodeStore(ref(code), settings)
    try:
        return sum(1 for n in store.iter_notifications() if owner_of(bytes(n.state)) == ref(owner).node_id)
    finally:
        store.close()


def test_a_damaged_township_store_stops_that_township_alone(sqlite_settings: StoreSettings, processes: Any) -> None:
    with Activity(sqlite_settings, CODES, days=10, seed=71, scale=0.1) as activity:
        activity.write()
    own = held_of(sqlite_settings, ZHONGHU, ZHONGHU)
    damaged = sqlite_settings.sqlite_path(ref(XIEHE).node_id)
    with damaged.open("r+b") as f:
        f.write(b"this is not a database any more!" * 4)  # over SQLite's header
    procs = processes(sqlite_settings)
    townships = procs.start("townships", [XIEHE, ZHONGHU]).wait_ready(60)
    procs.start("county", [WULINGYUAN]).wait_ready(60)

    wait_for(lambda: held_of(sqlite_settings, WULINGYUAN, ZHONGHU) >= own, 60, "中湖乡's events at the county", why=procs.tails)
    log = townships.output()
    assert "sync.node_failed" in log and str(damaged) in log and XIEHE in log, log[-3000:]
    rows = {row["child"]: row for row in json.loads(procs.cli("sync", "status", "--node", WULINGYUAN, "--json").stdout)}
    failed = rows[str(ref(XIEHE))]
    assert failed["state"] == "failed" and str(damaged) in failed["reason"], failed
    assert rows[str(ref(ZHONGHU))]["state"] == "following"
    assert "存储损坏" in procs.cli("sync", "status", "--node", WULINGYUAN).stdout
    verify = procs.cli("verify", "--node", XIEHE, "--json", check=False)
    assert verify.returncode == 1 and str(damaged) in json.loads(verify.stdout)["error"]
    # any other command on the damaged store says so, with no traceback
    backfill = procs.cli("sync", "backfill", "--node", XIEHE, check=False)
    said = backfill.stdout + backfill.stderr
    assert backfill.returncode == 2 and "存储损坏" in said and "Traceback" not in said, said
    assert townships.alive and not procs.dead(), procs.dead()
