"""``yipanqi bench simulate``: the simulate command's path against the store's own bulk append, in the same run.

1. The command's path, timed whole: ``record_simulation`` of ``--region`` for ``--days`` into fresh SQLite stores
   under a temporary directory (the simulator in its own process, as ``yipanqi simulate`` runs it). Reported:
   events/s, bytes written (``write_bytes`` of /proc/self/io for this process; the simulator's process as the
   kernel accounts it to its parent when it ends), the stores' size, peak RSS of both processes.
2. The store's bulk append, as ``yipanqi bench store`` measures it: events of the same simulation (batches taken
   evenly across the whole run, up to ``--sample`` events) saved with ``NodeStore.save_all`` in transactions of
   ~1,000 events into a fresh store, three rounds, the median; and the same rows with a bare ``executemany``,
   the ceiling. The sample is simulated again for this, untimed.
3. ``ratio`` = 1 ÷ 2; the goal is ≥ 0.5.

The default, the whole province at a quarter of its size for a year (2,084 stores, ~0.6 M events), takes one to
two minutes. The whole province at full size (~2.5 M events; ~2 GB of stores under ``$TMPDIR``)::

    .venv/bin/yipanqi bench simulate --json --region 430000 --days 365 --scale 1

From Python: ``run_simulate_benchmark(region=..., days=..., scale=...)``, or ``gateways.recording.record_simulation``
itself, whose ``Recording`` has the simulator's and the writer's timings.
"""

from __future__ import annotations

import io
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console

from domain.base import DutyAggregate, NodeRef
from domain.hierarchy import Hierarchy
from domain.simulation import simulate
from domain.store import NodeStores, StoreSettings
from gateways.bench.store import BareSQLite, _chunks, _snapshot_pending, measure_append
from gateways.recording import Recording, record_simulation

BENCH_REGION = "430000"
BENCH_SCALE = 0.25
ROUNDS = 3
BATCH = 1000  # events per transaction of the bulk append, as ``yipanqi bench store`` by default
_START = date(2025, 1, 1)


def run_simulate_benchmark(
    *,
    region: str = BENCH_REGION,
    days: int = 365,
    scale: float = BENCH_SCALE,
    seed: int = 1,
    sample: int = 100_000,
    log: Callable[[str], Any] = print,
    console: Console | None = None,
) -> dict[str, Any]:
    hierarchy = Hierarchy.load()
    division = hierarchy.resolve(region)
    nodes = [hierarchy.ref(d) for d in hierarchy.subtree(division)]
    result: dict[str, Any] = {"benchmark": "simulate", "region": division.code, "nodes": len(nodes), "days": days}
    result |= {"scale": scale, "seed": seed, "load_before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="yipanqi-bench-simulate-") as tmp:
        settings = StoreSettings(store="sqlite", store_levels="", data_dir=Path(tmp) / "run")
        log(f"模拟 simulating {division.name} ({len(nodes)} nodes) for {days} days into {settings.data_dir}…")
        recording, measured = _measure_command(hierarchy, division, settings, days, seed, scale, console)
        result |= measured
        log(f"{recording.stats.total:,} events in {recording.wall_s:.1f} s; bulk append of a sample of the same run…")
        bulk = _bulk_append(nodes, Path(tmp) / "bulk", days, seed, scale, sample, recording)
    result |= {"bulk": bulk, "bulk_append_events_per_s": bulk["events_per_s"], "bare_rows_per_s": bulk["bare_rows_per_s"]}
    result["ratio"] = round(result["events_per_s"] / bulk["events_per_s"], 3)
    result |= {"goal_ratio": 0.5, "ok": result["ratio"] >= 0.5, "load_after": [round(x, 2) for x in os.getloadavg()]}
    return result


def _measure_command(
    hierarchy: Hierarchy,
    division: Any,
    settings: StoreSettings,
    days: int,
    seed: int,
    scale: float,
    console: Console | None,
) -> tuple[Recording, dict[str, Any]]:
    """The simulate command's path, timed whole, with what it wrote and how much memory it took."""
    console = console or Console(file=io.StringIO())
    written, children = _write_bytes(), _children_write_bytes()
    cpu = _cpu_s()
    started = time.perf_counter()
    with NodeStores(settings) as stores:
        recording = record_simulation(
            hierarchy, division, stores, days=days, start=_START, seed=seed, scale=scale, console=console
        )
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return recording, {
        "events": recording.stats.total,
        "wall_s": round(wall, 2),
        "events_per_s": round(recording.stats.total / wall),
        "bytes_written": _write_bytes() - written,
        "bytes_written_simulator": _children_write_bytes() - children,
        "stores_bytes": sum(p.stat().st_size for p in settings.data_dir.rglob("*") if p.is_file()),
        "peak_rss_mb": usage[0].ru_maxrss // 1024,
        "peak_rss_simulator_mb": usage[1].ru_maxrss // 1024,
        # CPU seconds of each process: on a shared machine they move less than wall-clock figures.
        "cpu_s": {"recording_process": round(_cpu_s() - cpu, 1), "simulator_process": round(recording.simulator_cpu_s, 1)},
        "recording": recording.as_dict(),
    }


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _write_bytes() -> int:
    """Bytes this process caused to be written to storage (page cache dirtied, /proc/self/io)."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["write_bytes"])


def _children_write_bytes() -> int:
    """The same for child processes that have ended (the kernel counts their blocks to the parent)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock * 512


def _bulk_append(
    nodes: list[NodeRef], where: Path, days: int, seed: int, scale: float, sample: int, recording: Recording
) -> dict[str, Any]:
    """``yipanqi bench store``'s measure on a sample of the same simulation: save_all in ~1,000-event transactions
    and, in turn with it, a bare executemany of the same rows; medians of the rounds."""
    every = max(1, recording.stats.total // sample)  # batches taken evenly across the run
    aggregates = list(_sampled(nodes, days, seed, scale, sample, every))
    measured = measure_append(
        lambda _: list(_chunks(iter(_copies(aggregates)), BATCH)),
        lambda r: StoreSettings(store="sqlite", store_levels="", data_dir=where / f"r{r}"),
        nodes[0],
        BareSQLite,
    )
    kept = ("events", "events_per_s", "bare_rows_per_s", "rounds_events_per_s", "rounds_bare_rows_per_s")
    return {"every_batch": every, **{k: measured[k] for k in kept}}


def _sampled(nodes: list[NodeRef], days: int, seed: int, scale: float, sample: int, every: int) -> Iterator[DutyAggregate]:
    """Every ``every``-th batch's aggregates, detached with their pending events, until ``sample`` events."""
    gathered = 0
    for k, batch in enumerate(simulate(nodes, days=days, start=_START, seed=seed, scale=scale)):
        if gathered >= sample:
            return
        if k % every:
            for aggregate in batch.aggregates:
                aggregate.collect_events()
            continue
        for aggregate in batch.aggregates:
            gathered += len(aggregate.pending_events)
            yield _snapshot_pending(aggregate)


def _copies(aggregates: list[DutyAggregate]) -> Iterator[DutyAggregate]:
    """Fresh copies for a round (saving takes the pending events out of the aggregates)."""
    for aggregate in aggregates:
        copy = object.__new__(type(aggregate))
        copy.__dict__.update(aggregate.__dict__)
        copy.__dict__["_pending_events"] = list(aggregate.pending_events)
        yield copy
