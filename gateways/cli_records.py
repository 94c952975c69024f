"""``yipanqi correct`` and ``yipanqi void``: an office corrects (更正) or voids (作废) one of its own records from the
command line, through the same domain commands as the gateway's ``.../corrections`` and ``.../voids`` routes (the
owner office only, the same rules, the same events), written straight into the node's store."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import typer
from eventsourcing.application import AggregateNotFoundError
from rich.console import Console

from domain.base import Attribution, DomainError, DutyAggregate, NodeRef, Role
from domain.hierarchy import Hierarchy
from domain.store import NodeStores, StoreSettings
from domain.timeline import SHANGHAI, latest, tolerance_days
from gateways.cli_common import fail

console = Console()

Node = Annotated[str, typer.Option("--node", help="登记单位的区划代码 / the owner office's division code")]
Reason = Annotated[str, typer.Option(help="理由 / why (required)")]
Actor = Annotated[str | None, typer.Option(help="记录人 (默认: 当前系统用户) / who records it")]


def correct_command(
    aggregate_id: Annotated[str, typer.Argument(help="记录 id (UUID)")],
    node: Node,
    fact: Annotated[
        str,
        typer.Option(
            help="更正哪项事实: visit, issue; record, opinion (联系活动); submission, assignment, reply; candidate, deliberation,"
            " vote, implementation, progress, evaluation; category, registration, mandate (代表); establishment (联络站);"
            " appointment (常委会任命)"
        ),
    ],
    changes: Annotated[list[str], typer.Option("--set", help="字段=新值 (可重复; 值按 JSON 读, 否则为文本): people_received=30")],
    reason: Reason,
    number: Annotated[int, typer.Option(min=1, help="第几项 (问题、意见、答复、进度报告、代表资格、任命的序号)")] = 1,
    effective_from: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="代表类别: 新值自哪天起成立 / from which day (YYYY-MM-DD)")
    ] = None,
    actor: Actor = None,
) -> None:
    """更正一条本单位的记录 / correct named fields of one fact of a record this office owns."""
    values = dict(_assignment(text) for text in changes)
    since = effective_from.date() if effective_from else None
    _act(
        node,
        aggregate_id,
        actor,
        lambda a, office, by: a.correct(
            office, by, fact=fact, number=number, changes=values, reason=reason, effective_from=since
        ),
        "已更正 corrected",
    )


def void_command(
    aggregate_id: Annotated[str, typer.Argument(help="记录 id (UUID)")], node: Node, reason: Reason, actor: Actor = None
) -> None:
    """作废一条本单位登记有误的记录 / void a record this office entered in error."""
    _act(node, aggregate_id, actor, lambda a, office, by: a.void(office, by, reason=reason), "已作废 voided")


def _assignment(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise fail(f"--set takes field=value (got {text!r})")
    try:
        value = json.loads(raw, parse_float=Decimal)  # 30, true, 150.5 (an exact amount); anything else is text
    except json.JSONDecodeError:
        value = raw
    return name.strip(), value


def _act(
    code: str, aggregate_id: str, actor: str | None, command: Callable[[Any, NodeRef, Attribution], None], done: str
) -> None:
    try:
        wanted = UUID(aggregate_id)
    except ValueError:
        raise fail(f"the record id must be a UUID (got {aggregate_id!r})") from None
    hierarchy = Hierarchy.load()
    try:
        office = hierarchy.ref(hierarchy.resolve(code))
    except DomainError as e:
        raise fail(str(e)) from None
    now = datetime.now(SHANGHAI)
    by = Attribution(
        actor or f"cli:{getpass.getuser()}",
        Role.RECORDER,
        now,
        latest(now, tolerance_days(os.environ.get("YIPANQI_FUTURE_TOLERANCE_DAYS"))),
    )
    with NodeStores(StoreSettings()) as stores:
        if not stores.exists(office):
            raise fail(f"{office} has no store here")
        store = stores.open(office)
        try:
            record: DutyAggregate = store.get(wanted)
        except AggregateNotFoundError:
            raise fail(f"no record {wanted} at {office}") from None
        try:
            command(record, office, by)
        except DomainError as e:
            raise fail(str(e)) from None
        store.save(record)
    console.print(f"{done}: {record.label} {wanted} · 版本 version {record.version} · {office}", highlight=False)
