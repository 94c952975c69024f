"""``GET /nodes/{code}/audit``: the audit log of a node's subtree, page by page, as JSON or CSV (auditors and
administrators only). The scan and its filters are ``gateways.audit``'s, shared with ``yipanqi audit``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from domain.base import Role
from domain.store import NodeStores
from gateways.api.context import Reader, auditor
from gateways.api.direct import DirectRoute
from gateways.api.errors import READ_ERRORS, ApiError, responses
from gateways.audit import NO_TOKEN, AuditFilter, AuditInputError, AuditRow, AuditScan, Clock, csv_chunks
from gateways.verification import VerifyError, verify_node

router = APIRouter(route_class=DirectRoute, tags=["审计 audit"], responses=READ_ERRORS)

#: Events examined per request at most; the cursor says where the scan stopped (a selective filter over a
#: province's log takes a few requests, each answering quickly).
SCAN_BUDGET = 100_000


class AuditFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


class AuditEntry(BaseModel):
    """一条审计记录 / one recorded event: who, when, in which role, with which token."""

    position: int = Field(description="在本节点日志中的位置 (游标) / position in this node's log")
    occurred_at: datetime | None = Field(description="发生时间 (北京时间) / when it happened, as the office recorded it")
    recorded_at: datetime | None = Field(description="记录时间 (北京时间) / when the office's store recorded it")
    owner_code: str = Field(description="记录机关 (拥有节点) 区划代码 / the owner node's code")
    owner_name: str = Field(description="记录机关名称 / the owner node's name")
    actor: str = Field(description="记录人 (令牌主体) / the token's subject")
    role: str = Field(description="记录时的角色 / the role it was recorded in")
    role_label: str = Field(description="角色中文名 / the role in Chinese")
    token: str = Field(description="令牌 id (空: 无令牌写入) / the token's id; empty: written without a token")
    aggregate_id: UUID = Field(description="聚合 id")
    version: int = Field(description="聚合版本 / the aggregate's version after this event")
    type: str = Field(description="事件类型, 如 Suggestion.Evaluated / event type")
    label: str = Field(description="事件中文名, 如 代表评价")
    topic: str = Field(description="事件主题 / the event's full topic")


class AuditPage(BaseModel):
    """一页审计记录, 按日志顺序 (最早在前); 用 next_cursor 取下一页 / one page, oldest first."""

    node: str = Field(description="节点 / the node whose log was read")
    region: str = Field(description="下钻区域代码 / the region kept")
    rows: list[AuditEntry]
    next_cursor: int | None = Field(description="下一页游标 (null: 已扫描到日志头) / cursor of the next page; null: done")
    scanned_to: int = Field(description="本次扫描到的日志位置 / the log position the scan reached")
    examined: int = Field(description="本次检查的事件数 / events examined by this request")
    head: int = Field(description="扫描开始时的日志头 / the log's head when the scan began")


_PAGE_HEADERS = {
    "X-Next-Cursor": {"description": "下一页游标 (空: 已到末尾) / next cursor; empty: done", "schema": {"type": "string"}},
    "X-Scanned-To": {"description": "本次扫描到的日志位置", "schema": {"type": "string"}},
}
_TYPE_DOC = (
    "事件类型, 可重复: Suggestion.Evaluated, domain.suggestions:Suggestion.Evaluated, 代表评价, Voided (各类聚合), "
    "Suggestion (其全部事件) / event types, repeatable"
)


@router.get(
    "/nodes/{code}/audit",
    response_model=AuditPage,
    summary="审计日志 / who recorded what, when, in which role, with which token",
    description="仅限审计员和管理员。本节点日志 (本级及已同步的下级) 中的事件, 按日志顺序, 可按记录人、令牌、角色、聚合、"
    "事件类型、时间筛选; region 下钻到某下级区域。since 含、until 不含; 只写日期表示整日, 不带时区按北京时间。"
    "每次至多检查 100,000 个事件, next_cursor 为空表示已扫描完。format=csv 返回 CSV (UTF-8 带 BOM, 便于 Excel 打开), "
    "游标在 X-Next-Cursor 头中。",
    responses={
        200: {
            "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}},
            "headers": _PAGE_HEADERS,
        }
    },
)
def audit_log(
    r: Annotated[Reader, Depends(auditor)],
    region: Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3})?$", description="下钻区域代码")] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=200, description="记录人 (令牌主体)")] = None,
    token: Annotated[str | None, Query(min_length=1, max_length=64, description=f"令牌 id; {NO_TOKEN}: 无令牌写入的事件")] = None,
    role: Annotated[Role | None, Query(description="记录时的角色")] = None,
    aggregate: Annotated[UUID | None, Query(description="聚合 id")] = None,
    types: Annotated[list[str] | None, Query(alias="type", max_length=50, description=_TYPE_DOC)] = None,
    since: Annotated[str | None, Query(max_length=40, description="起 (含): 2025-03-01 或 2025-03-01T09:30")] = None,
    until: Annotated[str | None, Query(max_length=40, description="止 (不含; 只写日期则含当日)")] = None,
    clock: Annotated[Clock, Query(description="occurred 按发生时间 / recorded 按记录时间")] = Clock.OCCURRED,
    cursor: Annotated[int, Query(ge=0, le=2**62, description="从该日志位置之后开始")] = 0,
    limit: Annotated[int, Query(ge=1, le=500, description="每页条数")] = 100,
    format: Annotated[AuditFormat, Query(description="json 或 csv")] = AuditFormat.JSON,  # noqa: A002 - the query's name
) -> AuditPage | Response:
    area = r.region(region)
    try:
        audit = AuditFilter.parse(
            region=area.node_id,
            actor=actor,
            token=token,
            role=role.value if role else None,
            aggregate=aggregate,
            types=types or (),
            since=since,
            until=until,
            clock=clock.value,
        )
    except AuditInputError as e:
        raise ApiError(422, e.message, field=f"query.{e.field}") from None
    scan = AuditScan(r.node.store, r.gw.hierarchy, audit, after=cursor, budget=SCAN_BUDGET)
    rows: list[AuditRow] = []
    for row in scan:
        rows.append(row)
        if len(rows) >= limit:
            break
    next_cursor = None if scan.done else scan.position
    if format is AuditFormat.CSV:
        headers = {"X-Next-Cursor": "" if next_cursor is None else str(next_cursor), "X-Scanned-To": str(scan.position)}
        return Response("".join(csv_chunks(rows)), media_type="text/csv; charset=utf-8", headers=headers)
    return AuditPage(
        node=f"{r.node.ref.name}({r.node.ref.code})",
        region=area.code,
        rows=[AuditEntry(**row.as_dict()) for row in rows],
        next_cursor=next_cursor,
        scanned_to=scan.position,
        examined=scan.examined,
        head=scan.head,
    )


class ChainDifference(BaseModel):
    kind: str = Field(description="bytes_changed, row_missing, row_inserted, order_changed, seal_contradicted, bad_signature")
    label: str = Field(description="差异中文名")
    seq: int | None = None
    position: int | None = Field(default=None, description="日志位置 (空: 日志末尾)")
    detail: str


class ChainResult(BaseModel):
    origin: str = Field(description="来源节点 id")
    code: str
    name: str | None = None
    events: int
    last_seq: int
    sealed: int = Field(description="签名检查点覆盖到的序号")
    key_id: str | None = None
    ok: bool
    differences: int
    first: ChainDifference | None = Field(default=None, description="首个差异 (无: 一致) / the first difference")


class ParentResult(BaseModel):
    code: str
    held: int = Field(description="上级持有到的位置")
    compared: int
    ok: bool
    differences: int
    first: ChainDifference | None = None


class VerifyResult(BaseModel):
    """哈希链校验结果 / the store against its hash chains (and, deep, the parent's copy)."""

    node: str
    ok: bool
    events: int | None = None
    unchained: int | None = Field(default=None, description="链建立之前存入的事件 (只计数)")
    seconds: float | None = None
    chains: list[ChainResult] = []
    strays: list[ChainDifference] = Field(default=[], description="不属于任何链的行 / rows in no chain")
    parent: ParentResult | None = None
    error: str | None = Field(default=None, description="存储损坏: 文件或表, 及数据库的错误")


@router.get(
    "/nodes/{code}/verify",
    response_model=VerifyResult,
    response_model_exclude_none=True,
    responses=responses(409),  # deep, and the parent's store not reachable from this gateway
    summary="校验哈希链 / verify the store against its hash chains",
    description="仅限审计员和管理员。按存储的字节重算本节点日志中每个来源节点的哈希链, 与行内链接、链头和来源节点签名的"
    "检查点比较; 每条链给出首个差异 (字节被改、行被删、行被插入、顺序改变、检查点矛盾、签名无效)。deep=true 另与上级"
    "持有的副本逐字节比较 (上级存储须在本网关可达)。与 `yipanqi verify --json` 相同。",
)
def verify(
    r: Annotated[Reader, Depends(auditor)],
    deep: Annotated[bool, Query(description="另与上级的副本比较 / also compare with the parent's copy")] = False,
) -> dict[str, Any]:
    with NodeStores(r.gw.settings) as stores:
        try:
            return verify_node(r.gw.hierarchy, stores, r.node.ref, deep=deep)
        except VerifyError as e:
            raise ApiError(409, str(e), field="deep") from None
