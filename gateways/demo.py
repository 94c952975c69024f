"""The main job on embedded defaults: several prefectures' nodes record activity (a scaled-down simulation), sync
carries it up to the province, and the 一盘棋 view at the province compares them."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from domain.base import NodeRef
from domain.hierarchy import Hierarchy
from domain.levels import Level
from domain.simulation import SimulationStats
from domain.store import NodeStore, NodeStores, StoreSettings
from gateways import render
from gateways.cli_sync import broker, build_host
from gateways.recording import record_simulation
from sync.health import StreamState
from sync.settings import SyncSettings

DEMO_STALL_S = 120.0
FLUSH_EVERY_DAYS = 5  # the simulation's buffers go to the stores this often, so sync carries them up as it records


#: 邵阳市 (the prefecture of the seed bulletins' figures), 湘潭市 and 张家界市: 370 nodes with the province.
DEMO_REGIONS = ("430500", "430300", "430800")


def run_demo(*, regions: Sequence[str], days: int, scale: float, data_dir: Path, kafka: str, console: Console) -> dict[str, Any]:
    if data_dir.exists():
        shutil.rmtree(data_dir)
    hierarchy = Hierarchy.load()
    nodes = _nodes(hierarchy, regions)
    province = hierarchy.ref(hierarchy.root)
    store_settings = StoreSettings(store="sqlite", data_dir=data_dir)
    names = "、".join(hierarchy.ref(hierarchy.resolve(r)).name for r in regions)
    console.rule(f"一盘棋 演示 demo: {names} · {days} 天 · 规模 scale {scale:g} · {len(nodes)} 个节点 (含省 with the province)")
    with broker(kafka) as bootstrap:
        # The offices record in bursts beside the sync thread, in one process sharing its cores: a relay may wait
        # its turn longer than a production host's 20 s without anything being wrong.
        settings = SyncSettings(kafka=bootstrap, stall_s=DEMO_STALL_S, report_s=1.0, heartbeat_s=2.0)
        host = build_host(hierarchy, nodes, bootstrap, store_settings, settings)
        stop = threading.Event()
        syncing = threading.Thread(target=host.run, kwargs={"until": stop.is_set}, name="sync", daemon=True)
        syncing.start()  # as a `yipanqi sync run` process would, beside the offices recording
        try:
            with NodeStores(store_settings) as stores:
                recording = record_simulation(
                    hierarchy,
                    hierarchy.root,
                    stores,
                    days=days,
                    start=date(2025, 1, 1),
                    seed=7,
                    scale=scale,
                    console=console,
                    nodes=nodes,
                    every_days=(FLUSH_EVERY_DAYS, lambda: None),
                )
            stats = recording.stats
            _drain(host, stats.total, console)
        finally:
            stop.set()
            syncing.join(60)
            host.close()
    held = _level_holdings(nodes, store_settings)
    console.print(render.simulation_summary(province, stats))
    console.print(_holdings_table(held, stats))
    console.print(
        f"\n各节点存储 stores: {data_dir}/nodes/*.sqlite\n"
        f"下一步 next: [bold]YIPANQI_DATA_DIR={data_dir} .venv/bin/yipanqi sync status --node 430000 --subtree[/] · "
        f"[bold]YIPANQI_DATA_DIR={data_dir} .venv/bin/yipanqi history <AGGREGATE_ID>[/]"
    )
    if stats.sample_ids:
        console.print("例如 e.g. " + ", ".join(f"{family.label}: {agg_id}" for family, agg_id in stats.sample_ids.items()))
    yipanqi = _yipanqi(hierarchy, store_settings, province, days, data_dir, console)
    return {"recorded": stats.total, "province": held[Level.PROVINCE], "yipanqi": yipanqi}


def _nodes(hierarchy: Hierarchy, regions: Sequence[str]) -> list[NodeRef]:
    """The regions' whole subtrees and the province above them, parents before children."""
    divisions = {}
    for code in regions:
        root = hierarchy.resolve(code)
        divisions.update({d.id: d for d in (*hierarchy.ancestors(root), *hierarchy.subtree(root))})
    return sorted((hierarchy.ref(d) for d in divisions.values()), key=lambda n: (n.level.depth, n.code))


def _yipanqi(
    hierarchy: Hierarchy, settings: StoreSettings, region: Any, days: int, data_dir: Path, console: Console
) -> dict[str, Any]:
    """The closing 一盘棋 report: the province's read models (everything synced up), its regions compared."""
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
            time.sleep(0.2)
            held = province.max_position()
            progress.update(task, completed=min(held, total))
    if held < total:
        raise RuntimeError(f"the province holds {held} of {total} events after {timeout_s:.0f} s")
    _settle(host, province.node.node_id)


def _settle(host: Any, province: Any, timeout_s: float = 30.0) -> None:
    """Until the beats have told the province that every stream below it follows (what `sync status --subtree`
    shows after the demo): a few beats' time, each level reporting on change at most every ``report_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = host.ingests[province].health().total()
        if not counts.get(StreamState.BEHIND) and not counts.get(StreamState.STALLED):
            return
        time.sleep(0.5)


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
