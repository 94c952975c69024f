"""``yipanqi serve``, ``yipanqi token …`` and ``yipanqi bench gateway``: the gateways' commands."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from domain.base import Attribution, DomainError, NodeRef, Role
from domain.hierarchy import Hierarchy
from domain.store import NodeStore, ReferenceStore, StoreSettings
from gateways import heap
from gateways.bench import print_result
from gateways.cli_common import fail, topology_process
from gateways.topology import TopologyError, load_topology

if TYPE_CHECKING:
    from gateways.api.storage import TokenRecord

token_app = typer.Typer(help="访问令牌 / access tokens (stored hashed beside the node's store)", no_args_is_help=True)
console = Console(width=max(120, Console().width))

ROLES = ("recorder", "viewer", "auditor", "administrator", "deputy")


class StoreKind(StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"


def _node(hierarchy: Hierarchy, code: str):  # noqa: ANN202 - a NodeRef
    try:
        return hierarchy.ref(hierarchy.resolve(code))
    except DomainError as e:
        raise fail(str(e)) from None


def _deputy_known(ref, settings: StoreSettings, deputy_id: UUID) -> bool:  # noqa: ANN001
    for cls in (NodeStore, ReferenceStore):
        store = cls(ref, settings)
        try:
            if store.contains(deputy_id):
                return True
        finally:
            store.close()
    return False


def _issuer(by: str | None) -> Attribution:
    """Who acts on tokens from the host's command line: the person named by ``--by``, else the host's account; an
    administrator's act, with no token of its own."""
    actor = (by or "").strip() or f"cli:{getpass.getuser()}"
    if len(actor) > 100:
        raise fail("--by must be at most 100 characters")
    return Attribution(actor, Role.ADMINISTRATOR, datetime.now(UTC))


By = Annotated[
    str | None, typer.Option("--by", help="经办人 (姓名或账号), 记入节点日志; 默认本机账号 / who does it, recorded in the log")
]


@token_app.command("issue")
def token_issue(
    node: Annotated[str, typer.Option("--node", help="节点区划代码 / the token's node")],
    role: Annotated[
        str,
        typer.Option("--role", help="recorder 录入员 | viewer 查看员 | auditor 审计员 | administrator 管理员 | deputy 代表本人"),
    ],
    subject: Annotated[
        str, typer.Option("--subject", help="使用人 (姓名或账号); deputy 角色为代表 id / who uses it; a deputy's id")
    ],
    note: Annotated[str, typer.Option(help="备注")] = "",
    expires_days: Annotated[int, typer.Option(min=0, help="有效天数 (0: 不过期)")] = 0,
    force: Annotated[bool, typer.Option(help="deputy 角色: 代表尚未同步到本节点时也签发")] = False,
    by: By = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """签发令牌 (只显示一次) / issue a token; it is shown once, only its hash is kept; the issue is recorded in the node's
    log (who issued it, for whom, which role). A deputy credential needs --by: the person who issues it is named."""
    from gateways.tokens import issue_token

    if role not in ROLES:
        raise fail(f"--role must be one of {', '.join(ROLES)} (got {role!r})")
    subject = subject.strip()
    if not subject or len(subject) > 100:
        raise fail("--subject must be 1..100 characters")
    hierarchy = Hierarchy.load()
    ref = _node(hierarchy, node)
    settings = StoreSettings()
    if role == Role.DEPUTY.value:
        try:
            deputy_id = UUID(subject)
        except ValueError:
            raise fail(
                "a deputy token's --subject is the deputy's id (a UUID): the evaluation is recorded as that deputy"
            ) from None
        if not (by or "").strip():
            raise fail("a deputy credential is an audited act: --by names the person who issues it (签发人)")
        subject = str(deputy_id)
        if not force and not _deputy_known(ref, settings, deputy_id):
            raise fail(f"deputy {deputy_id} is unknown at {ref.name}({ref.code}); --force to issue anyway")
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    try:
        token, record = issue_token(settings, ref, _issuer(by), role=role, subject=subject, note=note, expires_at=expires)
    except DomainError as e:
        raise fail(str(e)) from None
    if as_json:
        typer.echo(json.dumps({"token": token, **record.as_dict(), "node": ref.code}, ensure_ascii=False))
        return
    console.print(f"已签发 issued {record.token_id}: {role} · {subject} @ {ref.name}({ref.code})")
    console.print("令牌 (只显示这一次, 请妥善保存) token, shown once:")
    typer.echo(token)


@token_app.command("revoke")
def token_revoke(
    node: Annotated[str, typer.Option("--node", help="节点区划代码")],
    token_id: Annotated[str, typer.Option("--id", help="令牌编号 (token list 可查) / the token's id")],
    reason: Annotated[str, typer.Option(help="吊销原因")] = "",
    by: By = None,
) -> None:
    """吊销令牌 / revoke a token, recorded in the node's log (running gateways stop accepting it within
    YIPANQI_TOKEN_CACHE_S, default 5 s)."""
    from gateways.tokens import revoke_token

    _act_on_token(node, lambda settings, ref: revoke_token(settings, ref, _issuer(by), token_id, reason), "已吊销 revoked")


@token_app.command("role")
def token_role(
    node: Annotated[str, typer.Option("--node", help="节点区划代码")],
    token_id: Annotated[str, typer.Option("--id", help="令牌编号 / the token's id")],
    role: Annotated[str, typer.Option("--role", help="recorder 录入员 | viewer 查看员 | auditor 审计员 | administrator 管理员")],
    by: By = None,
) -> None:
    """变更令牌角色 / give a token another office role, recorded in the node's log (a deputy credential never
    changes role, and no office token becomes one)."""
    from gateways.tokens import change_token_role

    _act_on_token(node, lambda settings, ref: change_token_role(settings, ref, _issuer(by), token_id, role), "已变更 changed")


def _act_on_token(node: str, act: Callable[[StoreSettings, NodeRef], TokenRecord], done: str) -> None:
    hierarchy = Hierarchy.load()
    ref = _node(hierarchy, node)
    try:
        record = act(StoreSettings(), ref)
    except DomainError as e:
        raise fail(str(e)) from None
    console.print(f"{done} {record.token_id}: {record.role} · {record.subject} @ {ref.name}({ref.code})")


@token_app.command("list")
def token_list(
    node: Annotated[str, typer.Option("--node", help="节点区划代码")],
    include_revoked: Annotated[bool, typer.Option("--all", help="包括已吊销和过期的")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """列出令牌 (不含令牌本身) / list a node's tokens (never the tokens themselves)."""
    from gateways.api.storage import gateway_db

    hierarchy = Hierarchy.load()
    ref = _node(hierarchy, node)
    records = [r for r in gateway_db(StoreSettings(), ref).list_tokens() if include_revoked or r.active]
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in records], ensure_ascii=False))
        return
    table = Table(title=f"令牌 tokens — {ref.name}({ref.code})")
    for column in ("编号 id", "角色 role", "使用人 subject", "签发 created", "过期 expires", "状态 state", "备注 note"):
        table.add_column(column)
    for r in records:
        state = "[green]有效[/]" if r.active else ("[red]已吊销[/]" if r.revoked_at else "[yellow]已过期[/]")
        table.add_row(
            r.token_id,
            r.role,
            r.subject,
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            r.expires_at.strftime("%Y-%m-%d") if r.expires_at else "-",
            state,
            r.note,
        )
    console.print(table)


def serve_command(
    node: Annotated[list[str], typer.Option("--node", help="服务的节点代码 (可重复) / node code (repeatable)")] = [],  # noqa: B006
    region: Annotated[str | None, typer.Option(help="服务一个区域的全部节点 / serve a region's whole subtree")] = None,
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="端口 (默认 8000, 或拓扑文件所写)")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
    topology: Annotated[
        Path | None, typer.Option(help="部署拓扑文件 / a topology file: serve what --process names there")
    ] = None,
    process: Annotated[str | None, typer.Option(help="the process of the topology file this one is")] = None,
) -> None:
    """运行网关 / serve the nodes' APIs and dashboards on uvicorn (one process, many nodes); SIGTERM: finish the
    requests in flight, then exit."""
    import uvicorn

    from gateways.api import create_app
    from gateways.logs import configure_logging
    from gateways.ops import await_database

    configure_logging()
    hierarchy = Hierarchy.load()
    codes, port = _served(hierarchy, node, region, port, topology, process)
    if not await_database(StoreSettings(), {hierarchy.ref(hierarchy.resolve(c)).level for c in codes}, lambda: False):
        return
    app = create_app(codes, hierarchy=hierarchy)
    served = ", ".join(f"{n.ref.name}({n.ref.code})" for n in app.state.gateway.nodes.values())
    console.print(f"网关运行中 serving {served} at http://{host}:{port}/docs · 看板 dashboard /nodes/{{code}}/dashboard")
    heap.settle()  # what the gateway loaded at start, out of the collector's sight while it serves
    uvicorn.run(app, host=host, port=port, log_level=log_level, workers=1, access_log=False, timeout_graceful_shutdown=5)


def _served(
    hierarchy: Hierarchy,
    codes: list[str],
    region: str | None,
    port: int | None,
    topology: Path | None,
    process: str | None,
) -> tuple[list[str], int]:
    """The codes to serve and the port: from the command line, or from the topology file's process."""
    found = topology_process(hierarchy, topology, process, "serve", named=bool(codes or region))
    if found is not None:
        return [n.code for n in found.hosted(hierarchy)], port or found.port or 8000
    codes = list(codes)
    if region:
        codes += [d.code for d in hierarchy.subtree(hierarchy.get(_node(hierarchy, region).node_id))]
    if not codes:
        raise fail("name at least one --node CODE or a --region CODE")
    for code in codes:
        _node(hierarchy, code)
    return codes, port or 8000


def topology_check_command(
    path: Annotated[Path, typer.Argument(help="拓扑文件 / the topology file (deploy/topology.example.toml)")],
) -> None:
    """检查部署拓扑 / read a topology file as its processes will: what each hosts, and what is wrong."""
    hierarchy = Hierarchy.load()
    try:
        processes = load_topology(path, hierarchy)
    except TopologyError as e:
        raise fail(str(e)) from None
    table = Table(title=f"部署拓扑 topology {path}")
    for column in ("进程 process", "角色 role", "节点 nodes", "区域 region", "端口 port"):
        table.add_column(column)
    for process in processes.values():
        nodes = process.hosted(hierarchy)
        port = process.port if process.role == "serve" else process.metrics_port
        table.add_row(process.name, process.role, str(len(nodes)), process.region or "-", str(port or "-"))
    console.print(table)


def bench_gateway_command(
    seconds: Annotated[float, typer.Option(min=1, max=120, help="每项测量的最长时间 / time limit per measurement")] = 8.0,
    requests: Annotated[int, typer.Option(min=100, max=200_000, help="每项测量的请求上限 / request cap per measurement")] = 4000,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="并发连接数")] = 8,
    days: Annotated[int, typer.Option(min=1, max=365, help="模拟数据天数")] = 30,
    rounds: Annotated[int, typer.Option(min=1, max=9, help="轮数: 裸端点/命令/查询交替, 取中位数 / alternating rounds")] = 3,
    store: Annotated[StoreKind, typer.Option(help="节点存储 / the nodes' stores")] = StoreKind.SQLITE,
    pg_dsn: Annotated[
        str | None, typer.Option(help="PostgreSQL 服务器 (建临时库; 默认 deploy/postgres.sh 启动的测试服务器)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON line last")] = False,
) -> None:
    """网关基准 / commands, province rollup and a bare endpoint on one uvicorn worker, from a separate load process."""
    from gateways.bench.gateway import run_gateway_benchmark

    result = run_gateway_benchmark(
        seconds=seconds,
        requests=requests,
        concurrency=concurrency,
        days=days,
        rounds=rounds,
        store=store.value,
        pg_dsn=pg_dsn,
        log=console.print,
    )
    print_result(result, as_json=as_json, console=console)


def bench_dashboard_command(
    node: Annotated[
        str | None, typer.Option(help="已有节点 (按 YIPANQI_* 存储设置) / an existing node; default: a simulated slice")
    ] = None,
    runs: Annotated[int, typer.Option(min=1, max=50, help="渲染次数 / renders each, ours and bare")] = 5,
    days: Annotated[int, typer.Option(min=1, max=365, help="模拟数据天数 (无 --node 时)")] = 60,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON line last")] = False,
) -> None:
    """看板基准 / the dashboard rendered in headless Chromium, uncached, against the same page and bytes served bare."""
    from gateways.bench.dashboard import run_dashboard_benchmark

    try:
        result = run_dashboard_benchmark(node=node, runs=runs, days=days, log=console.print)
    except RuntimeError as e:
        console.print(f"[red]看板基准失败 / dashboard benchmark failed: {e}[/red]")
        raise typer.Exit(1) from e
    print_result(result, as_json=as_json, console=console)
