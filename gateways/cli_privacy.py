"""``yipanqi privacy``: erase personal data of the public at its origin (by person or by record), apply the retention
rule (with a dry run), and show where a node stands (``gateways.privacy``)."""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from domain.base import Attribution, DomainError, NodeRef, Role
from domain.hierarchy import Hierarchy
from domain.persistence.keys import KeyFileError
from domain.store import NodeStore, NodeStores, StoreSettings
from domain.timeline import SHANGHAI
from gateways.cli_common import fail
from gateways.privacy import ErasureReport, erase_person, erase_record, erasure_status, retention, retention_years

console = Console()
privacy_app = typer.Typer(help="群众个人信息: 删除、保存期限、状态 / personal data of the public: erasure, retention, status")

Node = Annotated[str, typer.Option("--node", help="记录来源单位的区划代码 / the origin office's division code")]
Actor = Annotated[str | None, typer.Option("--by", help="操作人 (默认: 当前系统用户) / who erases")]
Json = Annotated[bool, typer.Option("--json", help="JSON 输出 / print JSON")]


@privacy_app.command("erase")
def erase_command(
    node: Node,
    reason: Annotated[str, typer.Option(help="删除原因 (必填), 如: 本人申请删除 / why (required)")],
    person: Annotated[str | None, typer.Option(help="此人的电话号码或身份证号 / the person's phone or ID number")] = None,
    record: Annotated[str | None, typer.Option(help="一条记录的 id (UUID) / one record's id")] = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """删除群众个人信息 (销毁密钥) / erase personal data by destroying its keys: unreadable in every copy at once."""
    if (person is None) == (record is None):
        raise fail("give exactly one of --person (phone or ID number) or --record (a record's id)")
    record_id = _uuid(record) if record is not None else None
    with _store(node) as store:
        by = _by(actor)
        try:
            if person is not None:
                report = erase_person(store, by, person, reason)
            else:
                assert record_id is not None  # noqa: S101 - one of the two was given
                report = erase_record(store, by, record_id, reason)
        except (DomainError, ValueError, KeyFileError) as e:
            raise fail(str(e)) from None
    _print_erasure(report, store.node, as_json)


@privacy_app.command("retain")
def retain_command(
    node: Node,
    years: Annotated[
        int | None,
        typer.Option(min=1, max=100, help="保存年限: 记录结束后满几年删除 (默认 YIPANQI_RETENTION_YEARS, 3) / years kept"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只报告将删除什么 / report only")] = False,
    today: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="按哪天计算 (默认今天) / the day to count from")
    ] = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """按保存期限删除 / apply the retention rule: erase personal data of records ended more than --years ago."""
    day = today.date() if today else datetime.now(SHANGHAI).date()
    with _store(node) as store:
        try:
            kept = years if years is not None else retention_years()
            report = retention(store, _by(actor), years=kept, today=day, dry_run=dry_run)
        except (DomainError, ValueError, KeyFileError) as e:
            raise fail(str(e)) from None
    facts = {
        "node": store.node.code,
        "until": report.until.isoformat(),
        "dry_run": report.dry_run,
        "records": len(report.aggregates),
        "events": report.records,
        "keys": len(report.key_ids),
        "kept_shared": report.kept_shared,
        "erasure_id": str(report.erasure.erasure_id) if report.erasure else None,
    }
    if as_json:
        typer.echo(json.dumps(facts, ensure_ascii=False))
        return
    verb = "将删除 would erase" if dry_run else "已删除 erased"
    console.print(
        f"{verb}: {facts['records']} 条记录 records ended before {facts['until']}, {facts['events']} 个事件 events, "
        f"{facts['keys']} 个密钥 keys · 保留 kept (shared with a record still in time): {report.kept_shared}",
        highlight=False,
    )


@privacy_app.command("status")
def status_command(node: Node, as_json: Json = False) -> None:
    """个人信息状态 / where a node's personal data stands: sealed events, live keys, erasures."""
    with _store(node) as store:
        try:
            facts = erasure_status(store)
        except KeyFileError as e:
            raise fail(str(e)) from None
    if as_json:
        typer.echo(json.dumps({"node": store.node.code, **facts}, ensure_ascii=False))
        return
    table = Table(title=f"群众个人信息 personal data · {store.node}")
    for label in ("加密事件 sealed events", "使用的密钥 keys used", "存活密钥 keys live", "删除记录 erasures"):
        table.add_column(label, justify="right")
    table.add_row(*(f"{facts[k]:,}" for k in ("sealed_events", "keys_used", "keys_live", "erasures")))
    console.print(table)


def _print_erasure(report: ErasureReport, node: NodeRef, as_json: bool) -> None:
    facts = {
        "node": node.code,
        "erasure_id": str(report.erasure_id),
        "basis": report.basis,
        "keys": report.key_ids,
        "events": report.records,
        "already": report.already,
        "completed_earlier": report.completed,
    }
    if as_json:
        typer.echo(json.dumps(facts, ensure_ascii=False))
        return
    verb = "早已删除 erased before" if report.already else "已删除 erased"
    console.print(
        f"{verb}: {len(report.key_ids)} 个密钥 keys, {report.records} 个事件 events now unreadable everywhere · "
        f"删除记录 erasure {report.erasure_id} · {node}",
        highlight=False,
    )


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise fail(f"--record must be a record's id (UUID), got {text!r}") from None


def _by(actor: str | None) -> Attribution:
    return Attribution(actor or f"cli:{getpass.getuser()}", Role.ADMINISTRATOR, datetime.now(SHANGHAI))


class _store:  # noqa: N801 - a context manager read as a phrase: `with _store(code) as store`
    """The origin node's store (it must exist here: only the origin holds the keys)."""

    def __init__(self, code: str) -> None:
        hierarchy = Hierarchy.load()
        try:
            self.office = hierarchy.ref(hierarchy.resolve(code))
        except DomainError as e:
            raise fail(str(e)) from None
        self.stores = NodeStores(StoreSettings())

    def __enter__(self) -> NodeStore:
        if not self.stores.exists(self.office):
            self.stores.close()
            raise fail(f"{self.office} has no store here (only the origin node holds its keys)")
        return self.stores.open(self.office)

    def __exit__(self, *_: object) -> None:
        self.stores.close()
