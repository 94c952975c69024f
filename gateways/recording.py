"""Recording simulated activity into node stores, with progress for people watching."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from domain.base import NodeRef
from domain.hierarchy import Hierarchy
from domain.simulation import SimulationStats, simulate
from domain.store import NodeStores


def record_simulation(
    hierarchy: Hierarchy,
    region: Any,
    stores: NodeStores,
    *,
    days: int,
    start: date,
    seed: int,
    scale: float,
    console: Console,
    nodes: list[NodeRef] | None = None,
    every_batches: tuple[int, Callable[[], Any]] | None = None,
) -> SimulationStats:
    """Simulate ``days`` of the region's activity and save each node's batch in one transaction.

    ``nodes`` defaults to the region's subtree; ``every_batches=(n, f)`` calls ``f`` after every n-th batch (the
    demo syncs while it records).
    """
    nodes = nodes or [hierarchy.ref(d) for d in hierarchy.subtree(region)]
    stats = SimulationStats()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[events]:,} 事件 events"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"模拟 {len(nodes)} 个节点", total=days, events=0)
        for i, batch in enumerate(simulate(nodes, days=days, start=start, seed=seed, scale=scale)):
            stats.add(batch)
            stores.open(batch.node).save_all(batch.aggregates)
            if every_batches and i % every_batches[0] == 0:
                every_batches[1]()
            if batch.day is not None:
                progress.update(task, completed=(batch.day - start).days + 1, events=stats.total)
            else:
                progress.update(task, events=stats.total)
    return stats
