"""The ``yipanqi`` command: a thin entry point over the domain, the stores and the jobs."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console

from domain.base import DomainError, NodeRef
from domain.hierarchy import Hierarchy
from domain.keys import key_id, public_bytes
from domain.persistence.datakeys import MASTER_ENV, master_key, master_path
from domain.persistence.keys import KeyFileError, key_path
from domain.store import NodeStores, StoreSettings
from gateways import render
from gateways.backup import BackupError, backup, restore, restore_from_parent
from gateways.bench import print_result
from gateways.cli_audit import bench_verify_command, verify_command
from gateways.cli_auditlog import audit_command
from gateways.cli_common import fail
from gateways.cli_gateway import (
    bench_dashboard_command,
    bench_gateway_command,
    serve_command,
    token_app,
    topology_check_command,
)
from gateways.cli_privacy import privacy_app
from gateways.cli_projections import bench_projections_command, projections_app, report_command
from gateways.cli_records import correct_command, void_command
from gateways.cli_sync import sync_app
from gateways.recording import SimulationMismatch, record_simulation
from gateways.verification import verify_node

app = typer.Typer(help="一盘棋: 湖南人大代表工作多级同步平台 / Yipanqi deputy-work sync platform", no_args_is_help=True)
node_app = typer.Typer(help="节点 / a node's store", no_args_is_help=True)
bench_app = typer.Typer(help="基准测试 / benchmarks (JSON on the last line)", no_args_is_help=True)
app.add_typer(node_app, name="node")
app.add_typer(bench_app, name="bench")
app.add_typer(sync_app, name="sync")
app.add_typer(token_app, name="token")
app.add_typer(privacy_app, name="privacy")
app.command("serve")(serve_command)
topology_app = typer.Typer(help="部署拓扑 / which nodes each process of a deployment hosts", no_args_is_help=True)
app.add_typer(topology_app, name="topology")
topology_app.command("check")(topology_check_command)
bench_app.command("gateway")(bench_gateway_command)
bench_app.command("dashboard")(bench_dashboard_command)
app.add_typer(projections_app, name="projections")
app.command("report")(report_command)
app.command("correct")(correct_command)
app.command("void")(void_command)
app.command("verify")(verify_command)
app.command("audit")(audit_command)
bench_app.command("projections")(bench_projections_command)
bench_app.command("verify")(bench_verify_command)

# Wide enough for the summary tables when output is not a terminal (rich would assume 80 columns).
console = Console(width=max(120, Console().width))


def _resolve(hierarchy: Hierarchy, code: str):  # noqa: ANN202 - a Division
    try:
        return hierarchy.resolve(code)
    except DomainError as e:
        raise fail(str(e)) from None


@app.command()
def nodes(
    code: Annotated[str | None, typer.Argument(help="区划代码或名称 (current or former code, or name)")] = None,
    depth: Annotated[int, typer.Option(min=0, max=3, help="levels below the node to show")] = 1,
) -> None:
    """显示行政区划树 / show the administrative tree."""
    hierarchy = Hierarchy.load()
    root = _resolve(hierarchy, code) if code else hierarchy.root
    console.print(render.node_tree(hierarchy, root, depth, StoreSettings()))


@node_app.command("init")
def node_init(code: Annotated[str, typer.Argument(help="区划代码 / division code")]) -> None:
    """创建节点的事件存储和签名密钥 / create a node's event store and its signing key.

    The key (Ed25519) goes in YIPANQI_DATA_DIR/keys/<node id>.key, readable by its owner only; its public half is
    registered in the node's log, so the levels above learn it as the log travels up. The master key that wraps the
    node's keys of personal data goes beside it (<node id>.master, mode 0600) unless YIPANQI_MASTER_KEY is set."""
    hierarchy = Hierarchy.load()
    division = _resolve(hierarchy, code)
    settings = StoreSettings()
    with NodeStores(settings) as stores:
        store = stores.open(hierarchy.ref(division))
        where = (
            settings.sqlite_path(division.id)
            if settings.backend(store.node.level) == "sqlite"
            else f"PostgreSQL tables {store.name}_*"
        )
        try:
            key = key_id(public_bytes(store.signing_key()))
            master_key(settings.data_dir, division.id)
        except KeyFileError as e:
            raise fail(str(e)) from None
        master = f"${MASTER_ENV}" if os.environ.get(MASTER_ENV) else master_path(settings.data_dir, division.id)
        console.print(
            f"已初始化 initialised {render.node_label(hierarchy.ref(division))}: {where} ({store.max_position()} events); "
            f"签名密钥 signing key {key} in {key_path(settings.data_dir, division.id)}; "
            f"个人信息主密钥 master key of personal data in {master}",
            highlight=False,
        )


@node_app.command("rotate-key")
def node_rotate_key(code: Annotated[str, typer.Argument(help="区划代码 / division code")]) -> None:
    """更换节点签名密钥 / rotate a node's signing key (the old key endorses the new one; its file is kept as .key.N)."""
    hierarchy = Hierarchy.load()
    ref = hierarchy.ref(_resolve(hierarchy, code))
    with NodeStores(StoreSettings()) as stores:
        try:
            new = stores.open(ref).rotate_key()
        except KeyFileError as e:
            raise fail(str(e)) from None
    console.print(f"已更换 rotated {render.node_label(ref)}: 新密钥 new key {new}", highlight=False)


@node_app.command("backup")
def node_backup(
    code: Annotated[str, typer.Argument(help="区划代码 / division code")],
    out: Annotated[Path, typer.Option("--out", help="备份目录 / the folder the backup goes in (a new folder inside)")],
) -> None:
    """备份节点 / back a node up while it runs: its log, replicas, views, tokens and keys, with a manifest."""
    hierarchy = Hierarchy.load()
    ref = hierarchy.ref(_resolve(hierarchy, code))
    try:
        made = backup(StoreSettings(), ref, out)
    except BackupError as e:
        raise fail(str(e)) from None
    size = sum(f["bytes"] for f in made["files"].values())
    console.print(
        f"已备份 backed up {render.node_label(ref)}: {made['position']} events, {len(made['files'])} files, "
        f"{size / 1e6:.1f} MB → {made['folder']}",
        highlight=False,
    )


@node_app.command("restore")
def node_restore(
    code: Annotated[str, typer.Argument(help="区划代码 / division code")],
    source: Annotated[Path | None, typer.Option("--from", help="一个备份目录 / a backup folder (with its manifest.json)")] = None,
    from_parent: Annotated[
        bool, typer.Option("--from-parent", help="从上级的副本重建日志 / make the lost log again from the parent's copy")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="覆盖已有数据 (先备份) / restore over a node that holds events (backed up first)")
    ] = False,
) -> None:
    """恢复节点 / put a node's backup back, or make its lost log again from its parent's copy (stop the node's
    processes first); then verify its chains."""
    hierarchy = Hierarchy.load()
    ref = hierarchy.ref(_resolve(hierarchy, code))
    settings = StoreSettings()
    if (source is None) != from_parent:
        raise fail("name one of --from FOLDER or --from-parent")
    if source is None:
        _restore_from_parent(hierarchy, ref, settings)
        return
    try:
        done = restore(settings, ref, source, force=force)
    except BackupError as e:
        raise fail(str(e)) from None
    if done["before_restore"]:
        console.print(f"原有数据已先备份 what was there is backed up in {done['before_restore']}", highlight=False)
    ok, verdict = _verified(hierarchy, settings, ref)
    console.print(
        f"已恢复 restored {render.node_label(ref)} to {done['taken_at']}: {done['position']} events; {verdict}. "
        "此后记录而未发布的事件不在备份中 (上级持有已发布的) / what it recorded after the backup is not in it "
        "(its parent holds what was published)",
        highlight=False,
    )
    if not ok:
        raise typer.Exit(code=1)


def _verified(hierarchy: Hierarchy, settings: StoreSettings, ref: NodeRef) -> tuple[bool, str]:
    """A restored node's chains verified: whether they hold, and the verdict to print."""
    with NodeStores(settings) as stores:
        checked = verify_node(hierarchy, stores, ref)
    return checked["ok"], "链校验通过 chains verified" if checked[
        "ok"
    ] else f"[bold red]链校验失败 verification failed[/]: {checked}"


def _restore_from_parent(hierarchy: Hierarchy, ref: NodeRef, settings: StoreSettings) -> None:
    try:
        done = restore_from_parent(settings, hierarchy, ref)
    except BackupError as e:
        raise fail(str(e)) from None
    ok, verdict = _verified(hierarchy, settings, ref)
    head, lost = done["parent_heard_head"], done["never_published"]
    unknown = (
        "上级未得知本节点的日志头: 从未发布的事件无从得知 / the parent never heard this node's head: "
        "what was never published is unknown"
    )
    said = (
        f"上级最后得知的日志头为 {head}: {lost} 条从未发布的事件无法找回 / the parent last heard of head {head}: "
        f"{lost} events never published cannot come back"
        if lost is not None
        else unknown
    )
    console.print(
        f"已从上级 {done['parent']} 重建 made {render.node_label(ref)}'s log again from its parent's copy: "
        f"{done['restored']} events; {verdict}. {said}. {done['sealed_unreadable']} 条事件的群众个人信息密钥随原存储丢失, "
        "已不可读 / events whose keys of personal data were lost with the store: unreadable, as if erased (their "
        "masked text and every count stay).",
        highlight=False,
    )
    if not ok:
        raise typer.Exit(code=1)


@node_app.command("seal")
def node_seal(code: Annotated[str, typer.Argument(help="区划代码 / division code")]) -> None:
    """立即签署链检查点 / sign a checkpoint of the node's own chain now (sync does so every YIPANQI_SEAL_S)."""
    hierarchy = Hierarchy.load()
    ref = hierarchy.ref(_resolve(hierarchy, code))
    with NodeStores(StoreSettings()) as stores:
        store = stores.open(ref)
        try:
            seq = store.seal(store.signing_key())
        except KeyFileError as e:
            raise fail(str(e)) from None
    said = f"签至 sealed up to seq {seq}" if seq else "无新事件 nothing new to seal"
    console.print(f"{render.node_label(ref)}: {said}", highlight=False)


@app.command()
def simulate(
    region: Annotated[str, typer.Option(help="区域代码 / region code (its whole subtree is simulated)")],
    days: Annotated[int, typer.Option(min=1, max=3660, help="simulated days")] = 30,
    start: Annotated[str, typer.Option(help="first simulated day, YYYY-MM-DD")] = "2025-01-01",
    seed: Annotated[int, typer.Option(help="random seed (same seed, same activity)")] = 0,
    scale: Annotated[float, typer.Option(min=0.01, max=10.0, help="multiplies deputies and activity")] = 1.0,
    buffer_mb: Annotated[int, typer.Option(min=1, help="rows buffered at most before the biggest are appended")] = 256,
) -> None:
    """模拟区域履职活动并写入各节点存储 / simulate a region's activity into its nodes' stores.

    Stores holding an earlier run of the same region, start, seed and scale are continued where each node stopped
    (after a crash, or with a larger --days to extend it)."""
    hierarchy = Hierarchy.load()
    division = _resolve(hierarchy, region)
    try:
        first_day = date.fromisoformat(start)
    except ValueError:
        raise fail(f"--start must be a date YYYY-MM-DD (got {start!r})") from None
    try:
        with NodeStores(StoreSettings()) as stores:
            recording = record_simulation(
                hierarchy,
                division,
                stores,
                days=days,
                start=first_day,
                seed=seed,
                scale=scale,
                console=console,
                buffer_bytes=buffer_mb * 2**20,
            )
    except SimulationMismatch as e:
        raise fail(str(e)) from None
    if recording.stats.total:
        console.print(render.simulation_summary(hierarchy.ref(division), recording.stats))
    resumed = (
        f" · 续记 resumed: {recording.resumed_nodes} 个节点已有本次模拟 nodes held some of this run, "
        f"{recording.skipped:,} 事件重算未写 events simulated again, not written"
        if recording.resumed_nodes
        else ""
    )
    console.print(
        f"{recording.stats.total:,} 事件 events in {recording.wall_s:.1f} s ({recording.events_per_s:,.0f}/s), "
        f"{recording.transactions:,} 事务 transactions{resumed}",
        highlight=False,
    )


@app.command()
def history(
    aggregate_id: Annotated[str, typer.Argument(help="aggregate id (UUID)")],
    node: Annotated[str | None, typer.Option(help="node code whose store to read (default: search every store)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per event")] = False,
) -> None:
    """显示一个聚合的全部事件 / every event of one aggregate, in order."""
    try:
        wanted = UUID(aggregate_id)
    except ValueError:
        raise fail(f"aggregate id must be a UUID (got {aggregate_id!r})") from None
    hierarchy = Hierarchy.load()
    candidates = [_resolve(hierarchy, node)] if node else hierarchy.subtree(hierarchy.root)
    settings = StoreSettings()
    with NodeStores(settings) as stores:
        for division in candidates:
            if not stores.exists(hierarchy.ref(division)):
                continue
            store = stores.open(hierarchy.ref(division))
            events = store.history(wanted)
            if events:
                known = store.aggregate_known_at(wanted)  # when this node came to hold each event
                if as_json:
                    for event, known_at in zip(events, known, strict=True):
                        row = {**render.event_dict(event), "known_at": known_at}
                        typer.echo(json.dumps(row, ensure_ascii=False, default=str))
                else:
                    console.print(render.history_table(hierarchy, wanted, events, store.node, known))
                return
    raise fail(f"no events of aggregate {wanted} in {'that node' if node else 'any node store'}")


@app.command()
def demo(
    region: Annotated[
        list[str], typer.Option("--region", help="区域代码 / a prefecture (repeatable; default 邵阳市, 湘潭市, 张家界市)")
    ] = [],  # noqa: B006
    days: Annotated[int, typer.Option(min=1, max=3660)] = 60,
    scale: Annotated[float, typer.Option(min=0.01, max=10.0, help="multiplies deputies and activity")] = 0.15,
    data_dir: Annotated[Path, typer.Option(help="where the demo's SQLite stores go (recreated)")] = Path("var/demo"),
    kafka: Annotated[str, typer.Option(help="Kafka bootstrap address (default: the embedded broker)")] = "",
) -> None:
    """演示: 几个市州的各节点记录履职活动, 逐级同步到省, 全省一盘棋对比 / the main job on embedded defaults."""
    from gateways.demo import DEMO_REGIONS, run_demo
    from gateways.logs import configure_logging

    configure_logging(level="WARNING")
    run_demo(regions=region or DEMO_REGIONS, days=days, scale=scale, data_dir=data_dir, kafka=kafka, console=console)


@bench_app.command("store")
def bench_store(
    events: Annotated[int, typer.Option(min=1000, help="events appended per backend")] = 50_000,
    batch: Annotated[int, typer.Option(min=1, help="events per transaction (approximate: whole aggregates)")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON line last")] = False,
    pg_dsn: Annotated[str | None, typer.Option(help="PostgreSQL server to use (default: a throwaway one)")] = None,
) -> None:
    """事件存储基准 / our store vs a bare batched insert, SQLite and PostgreSQL."""
    from gateways.bench.store import run_store_benchmark

    result = run_store_benchmark(events=events, batch=batch, pg_dsn=pg_dsn, log=console.print)
    print_result(result, as_json=as_json, console=console)


@bench_app.command("simulate")
def bench_simulate(
    region: Annotated[str, typer.Option(help="区域代码 / region simulated (whole province: 430000)")] = "430000",
    days: Annotated[int, typer.Option(min=1, max=3660, help="simulated days")] = 365,
    scale: Annotated[float, typer.Option(min=0.01, max=10.0, help="multiplies deputies and activity")] = 0.25,
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    sample: Annotated[int, typer.Option(min=1000, help="events of the run appended in bulk for the comparison")] = 100_000,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON line last")] = False,
) -> None:
    """模拟写入基准 / the simulate command's path vs the store's bulk append of the same run's events."""
    from gateways.bench.simulate import run_simulate_benchmark

    result = run_simulate_benchmark(region=region, days=days, scale=scale, seed=seed, sample=sample, log=console.print)
    print_result(result, as_json=as_json, console=console)


@bench_app.command("province")
def bench_province(
    region: Annotated[str, typer.Option(help="区域 / the region simulated (default: all of Hunan)")] = "430000",
    scale: Annotated[float, typer.Option(min=0.01, max=10.0, help="multiplies deputies and activity")] = 1.0,
    days: Annotated[int, typer.Option(min=1, max=3660, help="simulated days")] = 365,
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    processes: Annotated[int, typer.Option(min=1, max=32, help="sync processes for the counties and townships")] = 4,
    kafka: Annotated[str | None, typer.Option(help="Apache Kafka bootstrap (default: a throwaway broker)")] = None,
    pg_dsn: Annotated[str | None, typer.Option(help="PostgreSQL server DSN (default: a throwaway database)")] = None,
    raw_events: Annotated[int, typer.Option(min=1000, help="events the bare kafka-python runs move")] = 200_000,
    idle: Annotated[float, typer.Option(min=1, help="seconds with nothing to do, to measure idle CPU")] = 30.0,
    dashboard_runs: Annotated[int, typer.Option(min=1, max=20, help="renders of the province's dashboard")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON line last")] = False,
) -> None:
    """全省基准 / all of Hunan from empty stores: simulate, sync on Apache Kafka, verify, project, query."""
    from gateways.bench.province import run_province_benchmark

    result = run_province_benchmark(
        region=region,
        scale=scale,
        days=days,
        seed=seed,
        processes=processes,
        kafka=kafka,
        pg_dsn=pg_dsn,
        raw_events=raw_events,
        idle_s=idle,
        dashboard_runs=dashboard_runs,
        log=console.print,
    )
    print_result(result, as_json=as_json, console=console)


@bench_app.command("sync")
def bench_sync(
    events: Annotated[
        int, typer.Option(min=1000, help="events pre-recorded at the townships and timed to the province")
    ] = 100_000,
    kafka: Annotated[str | None, typer.Option(help="bootstrap address (default YIPANQI_KAFKA; empty: embedded broker)")] = None,
    townships: Annotated[int, typer.Option(min=1, max=20, help="township stores under the county")] = 4,
    lag_seconds: Annotated[float, typer.Option(min=1, help="how long the steady-rate lag phase writes")] = 30.0,
    lag_rate: Annotated[float, typer.Option(min=1, help="events per second written at the townships for the lag")] = 500.0,
    compression: Annotated[str | None, typer.Option(help="override YIPANQI_COMPRESSION: none, gzip, lz4, zstd")] = None,
    linger_ms: Annotated[int | None, typer.Option(help="override YIPANQI_LINGER_MS")] = None,
    batch_bytes: Annotated[int | None, typer.Option(help="override YIPANQI_BATCH_BYTES")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON line last")] = False,
) -> None:
    """同步基准 / township → county → prefecture → province through Kafka vs bare kafka-python."""
    from gateways.bench.sync import run_sync_benchmark

    overrides = {
        f"YIPANQI_{name.upper()}": str(value)
        for name, value in (("compression", compression), ("linger_ms", linger_ms), ("batch_bytes", batch_bytes))
        if value is not None
    }
    result = run_sync_benchmark(
        events=events,
        kafka=kafka,
        townships=townships,
        lag_seconds=lag_seconds,
        lag_rate=lag_rate,
        overrides=overrides,
        log=console.print,
    )
    print_result(result, as_json=as_json, console=console)


def main() -> None:
    """``yipanqi``: the commands above; a store found damaged is named as such (exit status 2), not a traceback."""
    try:
        app()
    except Exception as e:
        from sync.failures import is_store_damage

        if not is_store_damage(e):
            raise
        console.print(
            f"[bold red]错误 error:[/] 存储损坏 a store is damaged: {type(e).__name__}: {e}"
            " (`yipanqi verify --node CODE` names the file; `yipanqi sync status` the node)",
            highlight=False,
        )
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
