"""``yipanqi sync …``: run, inspect and repair inter-level sync."""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import structlog
import typer
from rich.console import Console
from rich.table import Table

from domain.base import DomainError, NodeRef
from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings
from gateways.cli_common import fail, topology_process
from gateways.logs import configure_logging
from gateways.ops import Check, OpsServer, await_database, safely, wait_for
from sync.brokers import EmbeddedBroker, broker_reachable
from sync.failures import StoreFailure, is_store_damage, open_store, where
from sync.host import UP, SyncHost, send_republish
from sync.metrics import sync_registry
from sync.relay import link_at
from sync.settings import SyncSettings
from sync.status import node_status, subtree_health

BROKER_RETRY_S = 5.0  # between tries while the broker does not answer
LOOP_STUCK_S = 60.0  # a main loop that has not turned for this long is not alive (/healthz)
STATE_STYLES = {
    "following": "green",
    "behind": "yellow",
    "stalled": "red",
    "gap": "yellow",
    "parked": "red",
    "diverged": "bold red",
    "failed": "bold red",
    "silent": "red",
    "unknown": "dim",
}

sync_app = typer.Typer(help="同步 / inter-level sync through Kafka", no_args_is_help=True)
console = Console(width=max(120, Console().width))


def hosted_nodes(hierarchy: Hierarchy, codes: Sequence[str], region: str | None, with_ancestors: bool) -> list[NodeRef]:
    """The nodes one process hosts: named ones, a region's whole subtree, optionally with its ancestors."""
    try:
        divisions = [hierarchy.resolve(code) for code in codes]
        if region:
            root = hierarchy.resolve(region)
            divisions += list(hierarchy.subtree(root))
            if with_ancestors:
                divisions += list(hierarchy.ancestors(root))
    except DomainError as e:
        raise fail(str(e)) from None
    if not divisions:
        raise fail("name at least one --node CODE or a --region CODE")
    unique = {d.id: d for d in divisions}
    return [hierarchy.ref(d) for d in sorted(unique.values(), key=lambda d: (hierarchy.ref(d).level.depth, d.code))]


def build_host(
    hierarchy: Hierarchy, nodes: Sequence[NodeRef], bootstrap: str, store_settings: StoreSettings, settings: SyncSettings
) -> SyncHost:
    opened = [open_store(node, store_settings, structlog.get_logger("sync")) for node in nodes]
    stores = [store for store in opened if isinstance(store, NodeStore)]
    for failure in opened:
        if isinstance(failure, StoreFailure):
            console.print(
                f"[bold red]{failure.code}: {failure.reason}[/] — 其余节点照常同步 the other nodes sync on", highlight=False
            )
    if not stores:
        raise fail("no node's store can be used here: nothing to sync")

    def children(node: NodeRef) -> list[NodeRef]:
        return [hierarchy.ref(c) for c in hierarchy.children(hierarchy.get(node.node_id))]

    def parent(node: NodeRef) -> NodeRef | None:
        up = hierarchy.parent(hierarchy.get(node.node_id))
        return hierarchy.ref(up) if up is not None else None

    return SyncHost(bootstrap=bootstrap, stores=stores, children=children, parent=parent, settings=settings)


@contextmanager
def broker(bootstrap: str) -> Iterator[str]:
    """The named broker, or the embedded one (demo default), said out loud."""
    if bootstrap:
        yield bootstrap
        return
    console.print("[yellow]未指定 Kafka: 启动内嵌 tansu broker (no --kafka / YIPANQI_KAFKA: starting the embedded broker)[/]")
    with EmbeddedBroker() as embedded:
        yield embedded.bootstrap


def await_broker(bootstrap: str, until: Callable[[], bool], *, every: float = BROKER_RETRY_S) -> bool:
    """Wait until the broker answers, saying so at each retry (a process started while the broker is down, or
    before it, waits instead of failing); False if told to stop first."""

    def answers() -> str | None:
        return None if broker_reachable(bootstrap) else "no answer to a metadata request"

    def say(waited: int) -> None:
        console.print(f"[yellow]Kafka {bootstrap} 不可达, {every:.0f} 秒后重试 (broker unreachable for {waited} s; retrying)[/]")

    log = structlog.get_logger("sync").bind(bootstrap=bootstrap)
    return wait_for(answers, log, "sync.broker", until, every=every, say=say)


@sync_app.command("run")
def run(
    node: Annotated[list[str], typer.Option("--node", help="hosted node code (repeatable)")] = [],  # noqa: B006
    region: Annotated[str | None, typer.Option(help="host a region's whole subtree")] = None,
    with_ancestors: Annotated[bool, typer.Option(help="also host the region's ancestors up to the province")] = False,
    kafka: Annotated[str | None, typer.Option(help="bootstrap address (default YIPANQI_KAFKA; empty: embedded broker)")] = None,
    seconds: Annotated[float, typer.Option(help="stop after this long (0: run until stopped)")] = 0.0,
    topology: Annotated[Path | None, typer.Option(help="部署拓扑文件 / a topology file: host what --process names there")] = None,
    process: Annotated[str | None, typer.Option(help="the process of the topology file this one is")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="/metrics, /healthz, /readyz on this port (default YIPANQI_METRICS_PORT; 0: off)"),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="the metrics server's address")] = "127.0.0.1",
) -> None:
    """运行同步 / relay and ingest for the hosted nodes until stopped (SIGTERM/SIGINT: the current transaction ends)."""
    configure_logging()
    settings = SyncSettings()
    hierarchy = Hierarchy.load()
    nodes, port = _hosting(hierarchy, node, region, with_ancestors, topology, process, metrics_port)
    stopping = {"now": False}

    def stop(*_: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.monotonic() + seconds if seconds else float("inf")
    until = lambda: stopping["now"] or time.monotonic() > deadline  # noqa: E731
    store_settings = StoreSettings()
    if not await_database(store_settings, {n.level for n in nodes}, until):
        return
    with broker(kafka if kafka is not None else settings.kafka) as bootstrap:
        if not await_broker(bootstrap, until):
            return
        host = build_host(hierarchy, nodes, bootstrap, store_settings, settings)
        failed = f" ({len(nodes) - len(host.stores)} failed: see above)" if len(host.stores) < len(nodes) else ""
        console.print(f"同步运行中 syncing {len(host.stores)} nodes via {bootstrap}{failed}")
        try:
            with _ops(host, hierarchy, metrics_host, port):
                host.run(until=until)
        finally:
            host.close()
        structlog.get_logger("sync").info("sync.stopped", nodes=len(host.stores))


def _position(store: NodeStore) -> str:
    return f"position {store.max_position()}"


def _hosting(
    hierarchy: Hierarchy,
    codes: Sequence[str],
    region: str | None,
    with_ancestors: bool,
    topology: Path | None,
    process: str | None,
    metrics_port: int | None,
) -> tuple[list[NodeRef], int]:
    """The nodes to host and the metrics port: from the command line, or from the topology file's process."""
    found = topology_process(hierarchy, topology, process, "sync", named=bool(codes or region))
    nodes = hosted_nodes(hierarchy, codes, region, with_ancestors) if found is None else found.hosted(hierarchy)
    if metrics_port is None:  # the command line's, else the topology's, else the environment's
        metrics_port = (found and found.metrics_port) or int(os.environ.get("YIPANQI_METRICS_PORT", "0") or 0)
    return nodes, metrics_port


@contextmanager
def _ops(host: SyncHost, hierarchy: Hierarchy, address: str, port: int) -> Iterator[None]:
    """The process's /metrics, /healthz and /readyz (``gateways.ops``) while it syncs; nothing on port 0."""
    if not port:
        yield
        return

    def code(node_id: UUID) -> str:
        try:
            return hierarchy.get(node_id).code
        except DomainError:
            return str(node_id)

    def alive() -> Check:
        age = time.monotonic() - host.last_round
        return Check("loop", age < LOOP_STUCK_S, f"last round {age:.1f} s ago")

    def checks() -> list[Check]:
        stores = [safely(f"store {code(n)}", functools.partial(_position, s)) for n, s in list(host.stores.items())]
        broken = [c for c in stores if not c.ok]
        said = f"{len(stores) - len(broken)} of {len(stores)} open" + (
            f"; {broken[0].name}: {broken[0].detail}" if broken else ""
        )
        left_out = sorted(code(n) for n in list(host.failures))  # damaged at start or since: the others sync on
        if left_out:
            said += f"; left out (damaged, `yipanqi sync status` says why): {', '.join(left_out[:10])}"
        summary = Check("stores", not broken, said)
        reachable = broker_reachable(host.bootstrap, timeout=2.0)
        return [summary, Check("broker", reachable, host.bootstrap + ("" if reachable else " does not answer"))]

    with OpsServer(address, port, sync_registry(host, code), alive, checks) as server:
        console.print(f"运维端点 ops endpoints at http://{address}:{server.port}/metrics, /healthz, /readyz")
        yield


@sync_app.command("status")
def status(
    node: Annotated[list[str], typer.Option("--node", help="node code (repeatable; default: the province)")] = [],  # noqa: B006
    subtree: Annotated[bool, typer.Option("--subtree", help="every stream below the node, per region, and the problems")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """同步状态 / per child: position, lag in events and seconds, state and why; --subtree: the whole subtree's health."""
    import json

    hierarchy = Hierarchy.load()
    nodes = hosted_nodes(hierarchy, node or ["430000"], None, False)
    settings = StoreSettings()
    if subtree:
        summaries = [{"node": f"{n.name}({n.code})", **_readable(subtree_health, hierarchy, n, settings)} for n in nodes]
        if as_json:
            typer.echo(json.dumps(summaries, ensure_ascii=False, default=str))
        for summary in [] if as_json else summaries:
            console.print(_health_table(summary))
        return
    rows = [row for n in nodes for row in _readable(node_status, hierarchy, n, settings)]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, default=str))
        return
    table = Table(title="同步状态 sync status")
    for column in (
        "节点 node",
        "下级 child",
        "已收 held",
        "下级日志 child head",
        "滞后 lag (events)",
        "滞后 lag (s)",
        "状态 state",
        "原因 reason",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["node"],
            row["child"],
            str(row["position"]),
            _or_unknown(row["child_head"]),
            _or_unknown(row["lag_events"]),
            _or_unknown(row["lag_s"]),
            _state(row["state"], row["state_label"]),
            row["reason"],
        )
    console.print(table)


def _readable(
    read: Callable[[Hierarchy, NodeRef, StoreSettings], Any], hierarchy: Hierarchy, node: NodeRef, settings: StoreSettings
) -> Any:
    """``read`` of one node's store; a damaged store is said (which node, which file, which error), not a traceback."""
    try:
        return read(hierarchy, node, settings)
    except Exception as e:
        if not is_store_damage(e):
            raise
        level = settings.for_level(node.level)
        raise fail(f"{node.code}: {where(level, node.node_id, f'n{node.node_id.hex}')}: {type(e).__name__}: {e}") from None


def _or_unknown(value: object) -> str:
    return "?" if value is None else str(value)


def _state(state: str, label: str) -> str:
    return f"[{STATE_STYLES[state]}]{label} {state}[/]"


def _health_table(summary: dict[str, Any]) -> Table:
    from sync.health import StreamState

    table = Table(
        title=f"{summary['node']} 辖区同步健康 subtree sync health: {summary['verdict']} ({summary['streams']} streams)"
    )
    table.add_column("区域 region")
    table.add_column("流 streams", justify="right")
    table.add_column("正常 following", justify="right")
    table.add_column("其他 others")
    for region in summary["regions"]:
        others = ", ".join(_state(s, f"{n} {StreamState(s).label}") for s, n in region["by_state"].items() if s != "following")
        table.add_row(f"{region['name']}({region['code']})", str(region["streams"]), str(region["following"]), others)
    for problem in summary["problems"]:
        table.add_row(
            f"  {problem['node']} ← {problem['child']}",
            "",
            "",
            f"{_state(problem['state'], problem['state_label'])} {problem['reason']}",
        )
    if summary["unlisted"]:
        table.add_row(f"  … {summary['unlisted']} more", "", "", "")
    return table


@sync_app.command("retry")
def retry(
    node: Annotated[str, typer.Option("--node", help="the node whose parked messages to release")],
    child: Annotated[str | None, typer.Option(help="only this child's stream")] = None,
) -> None:
    """重试搁置消息 / release parked messages after an upgrade: the running ingest asks for them again."""
    hierarchy = Hierarchy.load()
    (ref,) = hosted_nodes(hierarchy, [node], None, False)
    store = NodeStore(ref, StoreSettings())
    try:
        streams = [str(hierarchy.resolve(child).id)] if child else sorted({m.stream for m in store.books.parked()})
        released = [m for s in streams for m in store.books.unpark(s)]
    finally:
        store.close()
    if not released:
        console.print("没有搁置的消息 nothing is parked")
        return
    for message in released:
        console.print(f"已释放 released {message.stream} @ {message.position}: {message.reason}")


@sync_app.command("backfill")
def backfill(
    node: Annotated[str, typer.Option("--node", help="the node whose log to publish again")],
    start: Annotated[int, typer.Option("--from", min=0, help="publish again after this position (0: the whole log)")] = 0,
) -> None:
    """回填 / publish a node's log again after a position (e.g. for a new parent); receivers skip what they hold.

    The position is saved for the relay's next start, and sent on the control channel to a relay running now.
    """
    hierarchy = Hierarchy.load()
    (ref,) = hosted_nodes(hierarchy, [node], None, False)
    settings = SyncSettings()
    store = NodeStore(ref, StoreSettings())
    try:
        published = store.books.positions().get(UP)
        if published is None or start > published.position:
            held = published.position if published else 0
            raise fail(f"--from {start} is beyond what {ref} has published ({held})")
        position = link_at(store.books, UP, start)
        store.books.save_position(position)
    finally:
        store.close()
    if settings.kafka:
        send_republish(settings, ref.node_id, position, by="operator")
    console.print(f"{ref}: 将从 {start} 之后重新发布 will publish again after position {start}")
