"""The main job on embedded defaults: a region's nodes record activity, sync carries it up to the province."""

from __future__ import annotations

import shutil
import time
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from domain.hierarchy import Hierarchy
from domain.levels import Level
from domain.simulation import SimulationStats
from domain.store import NodeStore, NodeStores, StoreSettings
from gateways import render
from gateways.cli_sync import broker, build_host, hosted_nodes
from gateways.recording import record_simulation
from sync.settings import SyncSettings

SYNC_EVERY_DAYS = 1  # simulated days recorded between sync rounds while the simulation runs


def run_demo(*, region: str, days: int, data_dir: Path, kafka: str, console: Console) -> dict[str, Any]:
    if data_dir.exists():
        shutil.rmtree(data_dir)
    hierarchy = Hierarchy.load()
    nodes = hosted_nodes(hierarchy, [], region, with_ancestors=True)
    region_ref = hierarchy.ref(hierarchy.resolve(region))
    store_settings = StoreSettings(store="sqlite", data_dir=data_dir)
    console.rule(f"一盘棋 演示 demo: {render.node_label(region_ref)} · {days} 天 · {len(nodes)} 个节点 (含上级 with ancestors)")
    with broker(kafka) as bootstrap:
        host = build_host(hierarchy, nodes, bootstrap, store_settings, SyncSettings(kafka=bootstrap))
        try:
            with NodeStores(store_settings) as stores:
                recording = record_simulation(
                    hierarchy,
                    hierarchy.resolve(region),
                    stores,
                    days=days,
                    start=date(2025, 1, 1),
                    seed=7,
                    scale=1.0,
                    console=console,
                    nodes=nodes,
                    every_days=(SYNC_EVERY_DAYS, host.run_once),
                )
            stats = recording.stats
            _drain(host, stats.total, console)
        finally:
            host.close()
    held = _level_holdings(nodes, store_settings)
    console.print(render.simulation_summary(region_ref, stats))
    console.print(_holdings_table(held, stats))
    console.print(
        f"\n各节点存储 stores: {data_dir}/nodes/*.sqlite\n"
        f"下一步 next: [bold]YIPANQI_DATA_DIR={data_dir} .venv/bin/yipanqi sync status --node 430000[/] · "
        f"[bold]YIPANQI_DATA_DIR={data_dir} .venv/bin/yipanqi history <AGGREGATE_ID>[/]"
    )
    if stats.sample_ids:
        console.print("例如 e.g. " + ", ".join(f"{family.label}: {agg_id}" for family, agg_id in stats.sample_ids.items()))
    yipanqi = _yipanqi(hierarchy, store_settings, region_ref, days, data_dir, console)
    return {"recorded": stats.total, "province": held[Level.PROVINCE], "yipanqi": yipanqi}


def _yipanqi(
    hierarchy: Hierarchy, settings: StoreSettings, region: Any, days: int, data_dir: Path, console: Console
) -> dict[str, Any]:
    """The closing 一盘棋 report: the province's read models (everything synced up), for the simulated region."""
    from datetime import timedelta

    from projections.summary import yipanqi_report

    province = NodeStore(hierarchy.ref(hierarchy.root), settings)
    try:
        middle = (date(2025, 1, 1) + timedelta(days=days // 2)).isoformat()
        renderables, summary = yipanqi_report(
            province,
            settings,
            region=region.code,
            hierarchy=hierarchy,
            env_hint=f"YIPANQI_DATA_DIR={data_dir} ",
            as_of_hint=middle,
        )
    finally:
        province.close()
    console.rule("一盘棋 · 省级读模型 the province's read models")
    for renderable in renderables:
        console.print(renderable)
    return summary


def _drain(host: Any, total: int, console: Console, timeout_s: float = 300.0) -> None:
    province = next(s for s in host.stores.values() if s.node.code == "430000")
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("同步到省 syncing up to the province (事件 events)", total=total)
        deadline = time.monotonic() + timeout_s
        held = 0
        while held < total and time.monotonic() < deadline:
            for _ in range(20):
                host.run_once()
            held = province.max_position()
            progress.update(task, completed=min(held, total))
    if held < total:
        raise RuntimeError(f"the province holds {held} of {total} events after {timeout_s:.0f} s")


def _level_holdings(nodes: list[Any], settings: StoreSettings) -> dict[Level, int]:
    """Events held per level, summed over its nodes (each level's nodes together cover the whole region below)."""
    held: dict[Level, int] = dict.fromkeys(Level, 0)
    for node in nodes:
        store = NodeStore(node, settings)
        try:
            held[node.level] += store.count_events()
        finally:
            store.close()
    return held


def _holdings_table(held: dict[Level, int], stats: SimulationStats) -> Table:
    table = Table(title="逐级汇聚 every level holds its own events and its whole subtree's")
    for column in ("层级 level", "本级记录 recorded here", "应持有 expected (own + below)", "实际持有 held", ""):
        table.add_column(column, justify="right")
    levels = [level for level, _ in stats.levels()]
    for level in levels:
        expected = sum(stats.level_total(lv) for lv in levels if lv.depth >= level.depth)
        ok = "[green]✓[/]" if held[level] == expected else "[red]✗[/]"
        table.add_row(level.label, f"{stats.level_total(level):,}", f"{expected:,}", f"{held[level]:,}", ok)
    return table
