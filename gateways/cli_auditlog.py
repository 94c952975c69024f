"""``yipanqi audit``: the audit log of a node's subtree (who recorded what, when, in which role, with which token)
as a table, JSON lines or CSV. The scan and its filters are ``gateways.audit``'s, shared with the API's
``GET /nodes/{code}/audit``."""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from domain.base import DomainError, Role
from domain.hierarchy import Hierarchy
from domain.store import NodeStores, StoreSettings
from domain.timeline import SHANGHAI
from gateways import render
from gateways.audit import NO_TOKEN, AuditFilter, AuditInputError, AuditRow, AuditScan, Clock, csv_chunks, region_within

console = Console(width=max(120, Console().width))
err = Console(stderr=True)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def audit_command(
    node: Annotated[str, typer.Option(help="区划代码或名称 / the node whose log to read (it holds its whole subtree)")],
    region: Annotated[
        str | None, typer.Option(help="下钻区域代码或名称 / only events recorded within this part of the node's subtree")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="记录人 (令牌主体) / the token subject who recorded")] = None,
    token: Annotated[
        str | None,
        typer.Option(help=f"令牌 id / a token's id (`yipanqi token list`); {NO_TOKEN}: events written without a token"),
    ] = None,
    role: Annotated[Role | None, typer.Option(help="记录时的角色 / the role it was recorded in")] = None,
    aggregate: Annotated[str | None, typer.Option(help="聚合 id / one aggregate's events (UUID)")] = None,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            help="事件类型, 可重复 / event type, repeatable: Suggestion.Evaluated, its topic, 代表评价, Voided (of every "
            "aggregate), Suggestion (all its events)",
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="起 (含) / from (inclusive): 2025-03-01 or 2025-03-01T09:30; no offset: Beijing time")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="止 (不含; 只写日期则含当日) / until (exclusive; a date alone includes that day)")
    ] = None,
    clock: Annotated[
        Clock, typer.Option(help="occurred 按发生时间 / recorded 按记录时间: which time --since/--until compare")
    ] = Clock.OCCURRED,
    limit: Annotated[int | None, typer.Option(min=1, help="至多条数 / at most this many rows (default: all)")] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="table 表格 / json (one object per line) / csv")
    ] = OutputFormat.TABLE,
    bom: Annotated[
        bool, typer.Option("--bom/--no-bom", help="CSV 以 UTF-8 BOM 开头 (Excel 正确显示中文) / CSV starts with a BOM")
    ] = True,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="写入文件 / write to this file (default: standard output)")
    ] = None,
) -> None:
    """审计日志 / who recorded what, when, in which role, with which token, over a node's subtree.

    Reads the node's log oldest first (its own events and those synced from below) and keeps the events that pass
    every filter given. --since is inclusive, --until exclusive; a date alone is a whole day; times without an offset
    are Beijing time, and times are shown in Beijing time. Progress goes to standard error on a long scan. Exit status
    0: done (with or without rows); 2: bad input."""
    hierarchy = Hierarchy.load()
    try:
        ref = hierarchy.ref(hierarchy.resolve(node))
        audit = AuditFilter.parse(
            region=region_within(hierarchy, ref.node_id, region) if region else None,
            actor=actor,
            token=token,
            role=role.value if role else None,
            aggregate=aggregate,
            types=types or (),
            since=since,
            until=until,
            clock=clock.value,
        )
    except (DomainError, AuditInputError) as e:
        console.print(f"[bold red]错误 error:[/] {escape(str(e))}", highlight=False)  # it quotes what was typed
        raise typer.Exit(code=2) from None
    with NodeStores(StoreSettings()) as stores:
        if not stores.exists(ref):
            console.print(f"[bold red]错误 error:[/] {render.node_label(ref)} has no store here (`yipanqi node init {ref.code}`)")
            raise typer.Exit(code=2)
        scan = AuditScan(stores.open(ref), hierarchy, audit, progress=_progress())
        rows = itertools.islice(scan, limit)
        if output is None:
            _write(rows, output_format, sys.stdout, bom=bom)
        else:
            with output.open("w", encoding="utf-8", newline="") as out:
                _write(rows, output_format, out, bom=bom)
        err.print(
            f"{scan.matched:,} 条 rows · 检查 examined {scan.examined:,} 事件 events, "
            f"至位置 up to position {scan.position:,} of {scan.head:,}",
            highlight=False,
        )


def _write(rows: Iterable[AuditRow], output_format: OutputFormat, out: TextIO, *, bom: bool) -> None:
    """Rows as they come (JSON lines and CSV stream; a table is printed once the scan is over)."""
    if output_format is OutputFormat.CSV:
        for chunk in csv_chunks(rows, bom=bom):
            out.write(chunk)
    elif output_format is OutputFormat.JSON:
        for row in rows:
            out.write(json.dumps(row.as_dict(), ensure_ascii=False) + "\n")
    else:
        # Wide enough for whole ids and tokens when not on a terminal (rich would assume 80 columns); a cell that
        # does not fit is folded, never cut: an auditor copies ids and tokens from it.
        Console(file=out, width=max(160, Console().width)).print(_table(rows))
    out.flush()


def _table(rows: Iterable[AuditRow]) -> Table:
    table = Table(title="审计日志 audit log", title_justify="left")
    for column in (
        "位置 position",
        "发生/记录时间 occurred/recorded",
        "记录机关 owner",
        "记录人 actor",
        "角色 role",
        "令牌 token",
        "事件 event",
        "聚合 aggregate · 版本 v",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row.position),
            f"{_local(row.occurred_at)}\n[dim]{_local(row.recorded_at)}[/]",
            escape(f"{row.owner_name}\n{row.owner_code}"),
            escape(row.actor),  # a token's subject, as typed when it was issued: text, never markup
            escape(f"{row.role_label}\n{row.role}" if row.role_label != row.role else row.role),
            escape(row.token) or "—",
            escape(f"{row.label}\n{row.type}"),
            f"{row.aggregate_id}\nv{row.version}",
        )
    return table


def _local(when: datetime | None) -> str:
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if when is not None else "—"


def _progress() -> Callable[[AuditScan], None]:
    """A line on stderr every few seconds of a long scan (none for a quick one)."""
    last = [time.monotonic()]

    def progress(scan: AuditScan) -> None:
        now = time.monotonic()
        if now - last[0] >= 5:
            last[0] = now
            err.print(
                f"审计扫描中 scanning: position {scan.position:,} of {scan.head:,}, {scan.matched:,} 条 rows so far",
                highlight=False,
            )

    return progress
