"""Recording simulated activity: every event once, in bulk; resumed after a crash and extended to more days with
exactly the events of a straight run; other parameters refused; progress; the demo's callback; both backends."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console

from domain.base import NodeRef
from domain.hierarchy import Hierarchy
from domain.persistence import StreamPosition
from domain.simulation import VERSION, simulate
from domain.store import NodeStore, NodeStores, StoreSettings
from gateways import recording
from gateways.recording import SIMULATION_STREAM, Recording, RunParameters, SimulationMismatch, record_simulation

START = date(2025, 1, 1)
WULINGYUAN = "430811"  # 武陵源区: 2 streets, 2 towns and townships
SHAODONG = "430582"  # 邵东市: 25 township-level units
RUN: dict[str, Any] = {"start": START, "seed": 4, "scale": 0.3}

#: An event as a store holds it, without the store's recording time: (aggregate id, version, topic, payload).
Row = tuple[str, int, str, bytes]


@pytest.fixture(scope="module")
def hunan() -> Hierarchy:
    return Hierarchy.load()


def subtree(hunan: Hierarchy, code: str) -> list[NodeRef]:
    return [hunan.ref(d) for d in hunan.subtree(hunan.by_code(code))]


def quiet() -> Console:
    return Console(file=io.StringIO(), width=150)


def record(hunan: Hierarchy, settings: StoreSettings, code: str, days: int, **kwargs: Any) -> Recording:
    with NodeStores(settings) as stores:
        return record_simulation(
            hunan, hunan.by_code(code), stores, days=days, console=kwargs.pop("console", quiet()), **RUN, **kwargs
        )


def _row(originator_id: Any, version: int, topic: str, state: bytes) -> Row:
    payload = orjson.loads(state)
    del payload["timestamp"]  # the store's recording time: the only thing a simulation does not decide
    if "sealed" in payload:  # personal data sealed under a fresh key and nonce (domain.privacy): sealed, but not the same bytes
        payload["sealed"] = payload["sealed"].startswith("pd1:")
    return (originator_id.hex if hasattr(originator_id, "hex") else str(originator_id), version, topic, orjson.dumps(payload))


def expected(nodes: list[NodeRef], days: int) -> dict[str, list[Row]]:
    """Per node code, the rows a straight run of ``days`` simulates, in order."""
    out: dict[str, list[Row]] = {n.code: [] for n in nodes}
    with tempfile.TemporaryDirectory() as scratch, recording._encoder(nodes[0], Path(scratch)) as encoder:
        for batch in simulate(nodes, days=days, **RUN):
            out[batch.node.code] += [_row(*r) for r in encoder.take_rows(batch.aggregates)]
    return out


def stored(settings: StoreSettings, nodes: list[NodeRef]) -> dict[str, list[Row]]:
    out = {}
    with NodeStores(settings) as stores:
        for node in nodes:
            store = stores.open(node)
            out[node.code] = [_row(n.originator_id, n.originator_version, n.topic, n.state) for n in store.iter_notifications()]
    return out


def records(settings: StoreSettings, nodes: list[NodeRef]) -> dict[str, StreamPosition | None]:
    with NodeStores(settings) as stores:
        return {n.code: stores.open(n).recorder.positions().get(SIMULATION_STREAM) for n in nodes}  # type: ignore[attr-defined]


@pytest.fixture
def sqlite(tmp_path: Path) -> StoreSettings:
    return StoreSettings(store="sqlite", store_levels="", data_dir=tmp_path)


# ------------------------------------------------------------------------------------------------- recording


@pytest.mark.parametrize("processes", [1, 2])
def test_a_run_records_every_simulated_event_once_with_how_far_each_node_is(
    hunan: Hierarchy, sqlite: StoreSettings, processes: int
) -> None:
    nodes = subtree(hunan, WULINGYUAN)
    # A small buffer: nodes are appended many times during the run, not only at the end.
    result = record(hunan, sqlite, WULINGYUAN, 40, processes=processes, buffer_bytes=200_000)
    want = expected(nodes, 40)
    assert stored(sqlite, nodes) == want
    assert result.stats.total == sum(map(len, want.values())) > 800 and result.skipped == 0
    assert result.transactions > 2 * len(nodes) and result.processes == processes
    params = RunParameters.of(WULINGYUAN, nodes, start=START, seed=4, scale=0.3)
    assert records(sqlite, nodes) == {n.code: params.record(40, len(want[n.code])) for n in nodes}


def test_extending_a_run_gives_exactly_the_events_of_a_straight_run(hunan: Hierarchy, sqlite: StoreSettings) -> None:
    nodes = subtree(hunan, SHAODONG)
    first = record(hunan, sqlite, SHAODONG, 30)
    again = record(hunan, sqlite, SHAODONG, 30)  # every store holds these days: nothing to simulate
    extended = record(hunan, sqlite, SHAODONG, 60)
    want = expected(nodes, 60)
    assert stored(sqlite, nodes) == want
    assert again.stats.total == 0 and again.wall_s == 0 and again.resumed_nodes == len(nodes)
    assert extended.skipped == first.stats.total and first.stats.total + extended.stats.total == sum(map(len, want.values()))


def test_a_shorter_run_on_a_longer_one_records_nothing(hunan: Hierarchy, sqlite: StoreSettings) -> None:
    nodes = subtree(hunan, WULINGYUAN)
    record(hunan, sqlite, WULINGYUAN, 50)
    assert record(hunan, sqlite, WULINGYUAN, 20).stats.total == 0
    assert stored(sqlite, nodes) == expected(nodes, 50)


@pytest.mark.parametrize("crash_after", [1, 9, 20])
def test_a_run_resumed_after_a_crash_writes_nothing_twice_and_misses_nothing(
    hunan: Hierarchy, sqlite: StoreSettings, monkeypatch: pytest.MonkeyPatch, crash_after: int
) -> None:
    nodes = subtree(hunan, WULINGYUAN)
    append = NodeStore.append_rows
    calls = 0

    def crashing(self: NodeStore, rows: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > crash_after:
            raise KeyboardInterrupt  # the process dies between two transactions
        return append(self, rows, **kwargs)

    monkeypatch.setattr(NodeStore, "append_rows", crashing)
    with pytest.raises(KeyboardInterrupt):
        record(hunan, sqlite, WULINGYUAN, 60, buffer_bytes=100_000, processes=1)
    monkeypatch.setattr(NodeStore, "append_rows", append)
    held = records(sqlite, nodes)
    assert sum(1 for r in held.values() if r is not None) > 0 and any(r is None or r.position < 60 for r in held.values())
    resumed = record(hunan, sqlite, WULINGYUAN, 60, buffer_bytes=100_000)
    assert stored(sqlite, nodes) == expected(nodes, 60)
    assert resumed.skipped > 0 and resumed.resumed_nodes == sum(1 for r in held.values() if r is not None)


# -------------------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"seed": 5}, "seed 4 there, 5 here"),
        ({"scale": 0.4}, "scale 0.3 there, 0.4 here"),
        ({"start": date(2025, 2, 1)}, "start 2025-01-01 there, 2025-02-01 here"),
    ],
)
def test_other_parameters_on_stores_holding_a_run_are_refused_naming_the_difference(
    hunan: Hierarchy, sqlite: StoreSettings, change: dict[str, Any], named: str
) -> None:
    nodes = subtree(hunan, WULINGYUAN)
    record(hunan, sqlite, WULINGYUAN, 10)
    before = stored(sqlite, nodes)
    with NodeStores(sqlite) as stores, pytest.raises(SimulationMismatch, match=named):
        record_simulation(hunan, hunan.by_code(WULINGYUAN), stores, days=20, console=quiet(), **{**RUN, **change}, processes=2)
    assert stored(sqlite, nodes) == before


def test_another_node_list_is_refused(hunan: Hierarchy, sqlite: StoreSettings) -> None:
    record(hunan, sqlite, WULINGYUAN, 10)
    region = hunan.by_code(WULINGYUAN)
    with_parents = [hunan.ref(hunan.root), hunan.ref(hunan.by_code("430800")), *subtree(hunan, WULINGYUAN)]
    with NodeStores(sqlite) as stores, pytest.raises(SimulationMismatch, match=r"nodes 5:\w+ there, 7:\w+ here"):
        record_simulation(hunan, region, stores, days=10, console=quiet(), nodes=with_parents, **RUN)


def test_a_simulator_that_no_longer_makes_the_stored_events_is_refused(hunan: Hierarchy, sqlite: StoreSettings) -> None:
    nodes = subtree(hunan, WULINGYUAN)
    record(hunan, sqlite, WULINGYUAN, 10)
    held = records(sqlite, nodes)[nodes[2].code]
    assert held is not None
    tampered = StreamPosition(SIMULATION_STREAM, held.position, held.link.replace(" events=", " events=1"))
    with NodeStores(sqlite) as stores:
        stores.open(nodes[2]).recorder.save_position(tampered)  # type: ignore[attr-defined]
    with pytest.raises(SimulationMismatch, match=rf"{nodes[2].code}.*the simulator \(version {VERSION}\) now makes"):
        record(hunan, sqlite, WULINGYUAN, 20, processes=2)


def test_events_stored_without_a_record_of_the_run_are_refused(hunan: Hierarchy, sqlite: StoreSettings) -> None:
    """Stores written by a version that kept no record: appending the run again would duplicate their events."""
    refuse_unrecorded_events(hunan, sqlite)


def refuse_unrecorded_events(hunan: Hierarchy, settings: StoreSettings) -> None:
    nodes = subtree(hunan, WULINGYUAN)
    with NodeStores(settings) as stores:
        for batch in simulate(nodes, days=5, **RUN):
            stores.open(batch.node).save_all(batch.aggregates)
    with pytest.raises(SimulationMismatch, match="holds some of these events already, without a record"):
        record(hunan, settings, WULINGYUAN, 5)


# ----------------------------------------------------------------------------------------- progress and demo


def test_progress_is_readable_when_the_output_is_not_a_terminal(
    hunan: Hierarchy, sqlite: StoreSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "_LOG_EVERY_S", 0.0)
    out = io.StringIO()
    result = record(hunan, sqlite, WULINGYUAN, 12, console=Console(file=out, width=150))
    lines = out.getvalue().splitlines()
    assert len(lines) >= 12, lines  # a line per simulated day here (every 0 s), and the last one
    assert lines[-1].startswith("模拟 5 个节点: 12/12 天 days · ")
    assert f"{result.stats.total:,} 事件 events · " in lines[-1] and "/s · 0:00:" in lines[-1] and "ETA 0:00:00" in lines[-1]
    assert "\x1b[" not in out.getvalue()


def test_every_k_days_everything_simulated_so_far_is_in_the_stores_before_the_callback(
    hunan: Hierarchy, sqlite: StoreSettings
) -> None:
    nodes = subtree(hunan, WULINGYUAN)
    seen: list[int] = []

    def count() -> None:
        with NodeStores(sqlite) as stores:
            seen.append(sum(stores.open(n).max_position() for n in nodes))

    with NodeStores(sqlite) as stores:
        record_simulation(
            hunan, hunan.by_code(WULINGYUAN), stores, days=20, console=quiet(), every_days=(5, count), processes=2, **RUN
        )
    per_day = _events_by_day(nodes, 20)
    assert seen == [sum(n for d, n in per_day.items() if d < k) for k in (0, 5, 10, 15, 20)]


def _events_by_day(nodes: list[NodeRef], days: int) -> dict[int, int]:
    """Events per simulated day (-1: the master data)."""
    out: dict[int, int] = {}
    for batch in simulate(nodes, days=days, **RUN):
        d = -1 if batch.day is None else (batch.day - START).days
        out[d] = out.get(d, 0) + sum(len(a.collect_events()) for a in batch.aggregates)
    return out


def test_bad_input_is_refused_clearly(hunan: Hierarchy, sqlite: StoreSettings) -> None:
    with pytest.raises(ValueError, match="days must be >= 0"):
        record(hunan, sqlite, WULINGYUAN, -1)
    with pytest.raises(ValueError, match="every_days > 0"):
        record(hunan, sqlite, WULINGYUAN, 5, every_days=(0, lambda: None))


# ------------------------------------------------------------------------------------------------ PostgreSQL


@pytest.mark.postgres
def test_mixed_layout_upper_levels_on_postgres_records_and_extends(
    hunan: Hierarchy, tmp_path: Path, pg_database: dict[str, Any]
) -> None:
    settings = StoreSettings(
        store="sqlite", store_levels="province=postgres,prefecture=postgres", data_dir=tmp_path, pg_dsn=pg_database["dsn"]
    )
    nodes = [hunan.ref(hunan.root), hunan.ref(hunan.by_code("430800")), *subtree(hunan, WULINGYUAN)]
    region = hunan.by_code(WULINGYUAN)
    with NodeStores(settings) as stores:
        record_simulation(hunan, region, stores, days=15, console=quiet(), nodes=nodes, buffer_bytes=500_000, **RUN)
    with NodeStores(settings) as stores:
        record_simulation(hunan, region, stores, days=30, console=quiet(), nodes=nodes, **RUN)
    assert stored(settings, nodes) == expected(nodes, 30)
    assert not any(p.name.startswith(str(nodes[0].node_id)) for p in (tmp_path / "nodes").iterdir()), "province on SQLite"
    assert {r.position for r in records(settings, nodes).values() if r is not None} == {30}


@pytest.mark.postgres
def test_on_postgres_events_stored_without_a_record_of_the_run_are_refused(
    hunan: Hierarchy, tmp_path: Path, pg_database: dict[str, Any]
) -> None:
    refuse_unrecorded_events(
        hunan, StoreSettings(store="postgres", store_levels="", data_dir=tmp_path, pg_dsn=pg_database["dsn"])
    )


def test_stores_are_opened_a_few_times_not_once_per_day(
    hunan: Hierarchy, sqlite: StoreSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: dict[str, int] = {}
    open_store = NodeStores.open

    def counting(self: NodeStores, node: NodeRef) -> NodeStore:
        opened[node.code] = opened.get(node.code, 0) + (node.node_id not in self._open)
        return open_store(self, node)

    monkeypatch.setattr(NodeStores, "open", counting)
    record(hunan, StoreSettings(store="sqlite", store_levels="", data_dir=sqlite.data_dir, open_stores=2), SHAODONG, 120)
    assert len(opened) == 26 and max(opened.values()) <= 4, opened


def test_kill_9_mid_run_then_the_same_command_completes_it_exactly(hunan: Hierarchy, tmp_path: Path) -> None:
    """The user's path: ``yipanqi simulate`` killed with SIGKILL while it appends, then run again."""
    nodes = subtree(hunan, SHAODONG)
    command = [sys.executable, "-m", "gateways.cli", "simulate", "--region", SHAODONG, "--days", "200"]
    command += ["--seed", "4", "--scale", "0.3", "--buffer-mb", "1"]
    env = {**os.environ, "YIPANQI_DATA_DIR": str(tmp_path), "YIPANQI_STORE": "sqlite", "YIPANQI_STORE_LEVELS": ""}
    env["TMPDIR"] = str(tmp_path)  # what a killed run cannot remove stays in the test's directory
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not _recorded(tmp_path) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    run.kill()
    assert run.wait() == -signal.SIGKILL, f"the run ended before the kill: {run.stderr.read()!r}"  # type: ignore[union-attr]
    held = [position for _, position in _recorded(tmp_path)]
    assert held and (len(held) < len(nodes) or min(held) < 200), "nothing left to resume"
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "续记 resumed" in done.stdout
    settings = StoreSettings(store="sqlite", store_levels="", data_dir=tmp_path)
    assert stored(settings, nodes) == expected(nodes, 200)


def _recorded(data_dir: Path) -> list[tuple[str, int]]:
    """(store file, days) of the stores that keep a record of a simulation, read as another process would."""
    found = []
    for path in (data_dir / "nodes").glob("*.sqlite") if (data_dir / "nodes").exists() else ():
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            try:
                row = db.execute("SELECT position FROM sync_positions WHERE stream = ?", (SIMULATION_STREAM,)).fetchone()
            except sqlite3.OperationalError:  # the table is not there yet
                row = None
        if row:
            found.append((path.name, row[0]))
    return found
