"""A township loses its disk mid-run (issue 14 §3): its files are deleted while its county syncs on a real broker; the
township's log is made again from the county's verbatim copy (`yipanqi node restore --from-parent`), verifies, and the
township records and syncs on: every level exact, nothing lost that was published, nothing duplicated."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.store import NodeStores, StoreSettings
from gateways.backup import parts
from tests.sync_helpers import SIM_START, WULINGYUAN, XIEHE, ZHONGHU, Activity, Ledger, ref

pytestmark = pytest.mark.kafka

CODES = (WULINGYUAN, XIEHE, ZHONGHU)


def test_a_township_that_lost_its_disk_is_made_again_from_its_county(sqlite_settings: StoreSettings, processes: Any) -> None:
    procs = processes(sqlite_settings)
    with Activity(sqlite_settings, CODES, days=60, seed=43, scale=0.5) as activity:
        activity.write(day=SIM_START + timedelta(days=30))
        activity.stores.close()  # nothing of this test holds the township's files open when they go
        xiehe = procs.start("xiehe", [XIEHE])
        procs.start("zhonghu", [ZHONGHU])
        procs.start("county", [WULINGYUAN])
        with Ledger(sqlite_settings, CODES) as ledger:
            ledger.wait_converged(90, why=procs.tails)
        with NodeStores(sqlite_settings) as stores:
            published = stores.open(ref(XIEHE)).books.chain_heads()[1]
        xiehe.stop()

        for part in parts(sqlite_settings, ref(XIEHE)):  # the disk is lost: the log, replicas, views, tokens, keys
            for suffix in ("", "-wal", "-shm"):
                Path(f"{part.path}{suffix}").unlink(missing_ok=True)
        keys = sqlite_settings.data_dir / "keys"
        for key in keys.glob(f"{ref(XIEHE).node_id}*"):
            key.unlink()

        done = procs.cli("node", "restore", XIEHE, "--from-parent")
        assert "chains verified" in " ".join(done.stdout.split()), done.stdout + done.stderr
        with NodeStores(sqlite_settings) as stores:
            assert stores.open(ref(XIEHE)).books.chain_heads()[1] == published  # every link as it was
        again = procs.cli("node", "restore", XIEHE, "--from-parent", check=False)
        assert again.returncode == 2 and "restoring from the parent is for a lost log" in " ".join(again.stdout.split())
        county = procs.cli("node", "restore", WULINGYUAN, "--from-parent", check=False)  # its log holds its children's
        assert county.returncode == 2 and "keeps its children's events too" in " ".join(county.stdout.split())

        procs.start("xiehe", [XIEHE])  # the township goes on: it records, its county takes what is new, once
        activity.stores = NodeStores(sqlite_settings)
        assert activity.write() > 0
        activity.stores.close()
        with Ledger(sqlite_settings, CODES) as ledger:
            ledger.wait_converged(120, why=procs.tails)
            ledger.assert_nothing_lost_nothing_duplicated()
    rows = json.loads(procs.cli("sync", "status", "--node", WULINGYUAN, "--json").stdout)
    hosted = [row for row in rows if row["child"].endswith((f"({XIEHE})", f"({ZHONGHU})"))]
    assert len(hosted) == 2 and {row["state"] for row in hosted} == {"following"}, rows  # not stuck, not diverged
