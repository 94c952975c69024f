"""``yipanqi verify``: a node's log checked against the hash chains kept beside it, in Chinese and as JSON."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from domain.base import DomainError, NodeRef
from domain.hierarchy import Hierarchy
from domain.persistence.verify import ChainCheck, Verification
from domain.store import NodeStores, StoreSettings
from gateways import render
from sync.failures import is_store_damage, where

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
    settings = StoreSettings()
    with NodeStores(settings) as stores:
        if not stores.exists(ref):
            console.print(f"[bold red]错误 error:[/] {render.node_label(ref)} has no store here (`yipanqi node init {ref.code}`)")
            raise typer.Exit(code=2)
        parent = _parent(hierarchy, ref, stores) if deep else None
        started = time.perf_counter()
        try:
            store = stores.open(ref)
            check = store.verify(progress=_progress())
            against = store.compare_with(stores.open(parent)) if parent else None
        except Exception as e:
            if not is_store_damage(e):
                raise
            found = f"{where(settings.for_level(ref.level), ref.node_id, f'n{ref.node_id.hex}')}: {type(e).__name__}: {e}"
            if as_json:
                print(json.dumps({"node": ref.code, "ok": False, "error": found}, ensure_ascii=False))
            else:
                console.print(f"[bold red]✗ 存储损坏 the store is damaged:[/] {found}", highlight=False)
            raise typer.Exit(code=1) from None
        seconds = time.perf_counter() - started
    result = verification_dict(hierarchy, ref.code, check, seconds)
    if parent is not None and against is not None:
        first = min(against.findings, key=lambda f: f.position) if against.findings else None
        result["parent"] = {
            "code": parent.code,
            "held": against.held,
            "compared": against.compared,
            "ok": against.ok,
            "differences": len(against.findings),
            "first": first.as_dict() if first else None,
        }
        result["ok"] = result["ok"] and against.ok
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        console.print(_table(result))
        if "parent" in result:
            console.print(_parent_line(result["parent"]), highlight=False)
        console.print(_verdict(result), highlight=False)
    raise typer.Exit(code=0 if result["ok"] else 1)


def _parent(hierarchy: Hierarchy, ref: NodeRef, stores: NodeStores) -> NodeRef:
    """The node's parent, whose store must be reachable from here for --deep."""
    up = hierarchy.parent(hierarchy.get(ref.node_id))
    if up is None:
        console.print(f"[bold red]错误 error:[/] {render.node_label(ref)} has no parent to compare with (--deep)")
        raise typer.Exit(code=2)
    parent = hierarchy.ref(up)
    if not stores.exists(parent):
        console.print(
            f"[bold red]错误 error:[/] the parent {render.node_label(parent)} has no store reachable from here (--deep)"
        )
        raise typer.Exit(code=2)
    return parent


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


def verification_dict(hierarchy: Hierarchy, code: str, check: Verification, seconds: float) -> dict[str, Any]:
    return {
        "node": code,
        "ok": check.ok,
        "events": check.events,
        "unchained": check.unchained,
        "seconds": round(seconds, 3),
        "chains": [_chain(hierarchy, c) for c in sorted(check.chains.values(), key=lambda c: _origin_code(hierarchy, c))],
        "strays": [f.as_dict() for f in check.strays],
    }


def _chain(hierarchy: Hierarchy, chain: ChainCheck) -> dict[str, Any]:
    origin = UUID(bytes=chain.origin)
    first = chain.first
    return {
        "origin": str(origin),
        "code": _origin_code(hierarchy, chain),
        "name": hierarchy.get(origin).name if origin in hierarchy else None,
        "events": chain.events,
        "last_seq": chain.last_seq,
        "sealed": chain.sealed,
        "key_id": chain.current_key or None,
        "ok": first is None,
        "differences": len(chain.findings),
        "first": first.as_dict() if first else None,
    }


def _origin_code(hierarchy: Hierarchy, chain: ChainCheck) -> str:
    origin = UUID(bytes=chain.origin)
    return hierarchy.get(origin).code if origin in hierarchy else str(origin)


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
