"""``yipanqi verify``: a node's log checked against the hash chains kept beside it, in Chinese and as JSON."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from domain.base import DomainError
from domain.hierarchy import Hierarchy
from domain.store import NodeStores, StoreSettings
from gateways.verification import VerifyError, verify_node

console = Console(width=max(120, Console().width))
err = Console(stderr=True)


def verify_command(
    node: Annotated[str, typer.Option(help="区划代码或名称 / the node whose store to check")],
    as_json: Annotated[bool, typer.Option("--json", help="the result as one JSON object")] = False,
    deep: Annotated[bool, typer.Option("--deep", help="also compare the log with the parent's copy of it")] = False,
) -> None:
    """校验节点存储的哈希链 / verify a node's store against its hash chains (and, --deep, its parent's copy).

    Every origin's chain is recomputed from the stored bytes and compared with the links kept in the events' rows,
    the chain heads and the origins' signed checkpoints; per chain the first difference is named (bytes changed, row
    missing, row inserted, order changed, seal contradicted, bad signature). --deep: every event up to the position
    the parent holds must be in the parent's store byte for byte. Exit status 0: no difference; 1: differences
    found; 2: bad input."""
    hierarchy = Hierarchy.load()
    try:
        ref = hierarchy.ref(hierarchy.resolve(node))
    except DomainError as e:
        console.print(f"[bold red]错误 error:[/] {e}")
        raise typer.Exit(code=2) from None
    with NodeStores(StoreSettings()) as stores:
        try:
            result = verify_node(hierarchy, stores, ref, deep=deep, progress=_progress())
        except VerifyError as e:
            console.print(f"[bold red]错误 error:[/] {e}")
            raise typer.Exit(code=2) from None
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    elif "error" in result:
        console.print(f"[bold red]✗ 存储损坏 the store is damaged:[/] {result['error']}", highlight=False)
    else:
        console.print(_table(result))
        if "parent" in result:
            console.print(_parent_line(result["parent"]), highlight=False)
        console.print(_verdict(result), highlight=False)
    raise typer.Exit(code=0 if result["ok"] else 1)


def _parent_line(parent: dict[str, Any]) -> str:
    head = (
        f"上级副本 parent's copy ({parent['code']}, holds up to position {parent['held']:,}; {parent['compared']:,} compared): "
    )
    if parent["ok"]:
        return head + "[green]一致 identical[/]"
    first = parent["first"]
    where = f"first at position {first['position']}: {first['label']} — {first['detail']}"
    return head + f"[bold red]{parent['differences']} 处差异 differences[/], {where}"


def bench_verify_command(
    events: Annotated[int, typer.Option(min=10_000, help="events in the store (a province's log: ≥ 1,000,000)")] = 1_000_000,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON line last")] = False,
) -> None:
    """校验基准 / verify a province-sized log against its chains vs a bare sha256 pass over the same bytes."""
    from gateways.bench import print_result
    from gateways.bench.verify import run_verify_benchmark

    print_result(run_verify_benchmark(events=events, log=err.print), as_json=as_json, console=console)


def _table(result: dict[str, Any]) -> Table:
    table = Table(title=f"哈希链校验 hash chains of {result['node']}", title_justify="left")
    columns = ("来源节点 origin", "事件 events", "末序号 last seq", "签至 sealed", "结果 result", "首个差异 first difference")
    for column in columns:
        table.add_column(column)
    for chain in result["chains"]:
        first = chain["first"]
        where = (
            f"{first['label']} {first['kind']}: seq {first['seq']}"
            + (f", 位置 position {first['position']}" if first["position"] else ", 日志末尾 at the log's end")
            + f" — {first['detail']}"
            if first
            else ""
        )
        verdict = "[green]一致 intact[/]" if chain["ok"] else f"[bold red]{chain['differences']} 处差异 differences[/]"
        sealed = str(chain["sealed"]) if chain["sealed"] else "—"
        name = f"{chain['code']} {chain['name'] or ''}"
        table.add_row(name, f"{chain['events']:,}", str(chain["last_seq"]), sealed, verdict, where)
    for stray in result["strays"]:
        table.add_row("—", "", "", "", f"[bold red]{stray['label']}[/]", f"位置 position {stray['position']}: {stray['detail']}")
    return table


def _verdict(result: dict[str, Any]) -> str:
    before = f"; {result['unchained']:,} 个事件早于链 stored before chaining began" if result["unchained"] else ""
    if result["ok"]:
        head = f"[green]✓ 全部一致 intact[/]: {result['events']:,} 事件 events, {len(result['chains'])} 条链 chains"
    else:
        bad = sum(1 for c in result["chains"] if not c["ok"]) + bool(result["strays"])
        head = f"[bold red]✗ 发现差异 differences found[/] in {bad} 条链 chain(s) of {len(result['chains'])}"
    return f"{head}{before} ({result['seconds']:.1f} s)"


def _progress() -> Any:
    """A line on stderr every few seconds of a long check (none for a quick one)."""
    last = [time.monotonic()]

    def progress(read: int, of: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 5:
            last[0] = now
            err.print(f"校验中 verifying: {read:,} 事件 events read, up to position {of:,}", highlight=False)

    return progress
