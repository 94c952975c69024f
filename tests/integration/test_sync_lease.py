"""One sync process per node: a second process that would host a node already hosted refuses to start, naming the
node and the holder; the lease goes with its holder (even a SIGKILLed one), on SQLite files and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from domain.store import NodeStore, StoreSettings
from sync.lease import HostedElsewhere, NodeLeases
from tests.sync_helpers import XIEHE, ZHONGHU, ref, wait_for


def _settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreSettings:
    if backend == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path)
    return StoreSettings(store="postgres", pg_dsn=request.getfixturevalue("pg_database")["dsn"])


def _free(stores: list[NodeStore]) -> bool:
    try:
        NodeLeases(stores).release()
    except HostedElsewhere:
        return False  # PostgreSQL ends a dead client's session when it notices the connection closed
    return True


def _hold(settings: StoreSettings, ready: Any) -> None:
    store = NodeStore(ref(XIEHE), settings)
    leases = NodeLeases([store])
    ready.set()
    signal.pause()
    leases.release()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_node_is_hosted_by_one_process_at_a_time(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    settings = _settings(backend, tmp_path, request)
    stores = [NodeStore(ref(code), settings) for code in (XIEHE, ZHONGHU)]
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_hold, args=(settings, ready), daemon=True)
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(HostedElsewhere, match=r"协合乡\(430811201\)") as refused:
            NodeLeases(stores)
        if backend == "sqlite":
            assert f"pid {holder.pid}" in str(refused.value)
        assert "430811202" not in str(refused.value)  # the free node is not named
        NodeLeases(stores[1:]).release()  # the other node was free, and its lease was let go with the refusal
        os.kill(holder.pid, signal.SIGKILL)  # the holder dies without a word: its lease goes with it
        holder.join(30)
        wait_for(lambda: _free(stores), 30, "the dead holder's lease released")
    finally:
        if holder.is_alive():
            holder.kill()
        for store in stores:
            store.close()
