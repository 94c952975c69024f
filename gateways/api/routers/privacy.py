"""群众个人信息 through the API: a node's administrators erase personal data of the public it recorded (by person or by
record), apply the retention rule (dry run first), and see where it stands; auditors may see the status. Each erasure
is recorded in the node's log (``gateways.privacy``), named after the administrator's token."""

from __future__ import annotations

from contextlib import closing
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from domain.base import DomainError, NotFound, Role
from domain.store import NodeStore
from domain.timeline import SHANGHAI
from gateways.api.auth import AUDITORS
from gateways.api.context import Bearer, NodeCode, OfficeAct, caller
from gateways.api.direct import DirectRoute
from gateways.api.errors import COMMAND_ERRORS, ApiError
from gateways.privacy import ErasureReport, erase_person, erase_record, erasure_status, retention, retention_years

router = APIRouter(route_class=DirectRoute, prefix="/nodes/{code}/privacy", tags=["个人信息 privacy"], responses=COMMAND_ERRORS)
_ADMINISTRATORS = frozenset({Role.ADMINISTRATOR})


class ErasureRequest(BaseModel):
    """删除: 此人的电话号码或身份证号 (person), 或一条记录的 id (record), 二者选一; 原因必填."""

    model_config = {"extra": "forbid"}
    person: str | None = Field(default=None, min_length=5, max_length=40, description="电话号码或身份证号")
    record: UUID | None = Field(default=None, description="记录 id")
    reason: str = Field(min_length=1, max_length=200, description="删除原因, 如: 本人申请删除")

    @model_validator(mode="after")
    def _one_subject(self) -> ErasureRequest:
        if (self.person is None) == (self.record is None):
            raise ValueError("give exactly one of person (a phone or ID number) or record (a record's id)")
        return self


class RetentionRequest(BaseModel):
    model_config = {"extra": "forbid"}
    years: int | None = Field(default=None, ge=1, le=100, description="记录结束后保存几年 (默认 YIPANQI_RETENTION_YEARS, 3)")
    today: date | None = Field(default=None, strict=True, description="按哪天计算 (默认今天; YYYY-MM-DD)")
    dry_run: bool = Field(default=True, strict=True, description="只报告 (默认); false 才删除")
    reason: str = Field(default="", max_length=200)


class ErasureView(BaseModel):
    erasure_id: UUID | None
    basis: str = Field(description="person 按人, record 按记录, retention 保存期满")
    key_ids: list[str] = Field(description="已销毁的数据密钥")
    events: int = Field(description="这些密钥加密的事件数: 从此在所有副本中不可读")
    already: bool = Field(description="早已删除 (无需再做)")


class RetentionView(BaseModel):
    until: date = Field(description="在此日前结束的记录到期")
    dry_run: bool
    records: int
    events: int
    keys: int
    kept_shared: int = Field(description="与仍在期限内的记录共用而保留的密钥")
    erasure: ErasureView | None


class PrivacyStatus(BaseModel):
    node: str
    sealed_events: int = Field(description="含加密个人信息的事件")
    keys_used: int
    keys_live: int
    erasures: int


class Office(OfficeAct):
    """An administrator's (or, for the status, an auditor's) act on the personal data their node recorded."""

    def run(self, act: Any) -> Any:
        """``act(store)`` on a store of the node's own (the origin's keys are there), its errors as API errors."""
        with closing(NodeStore(self.node.ref, self.gw.settings)) as store:
            try:
                return act(store)
            except NotFound as e:
                raise ApiError(404, str(e)) from None
            except (DomainError, ValueError) as e:
                raise ApiError(422, str(e)) from None


async def _administrator(request: Request, code: NodeCode, credentials: Bearer) -> Office:
    gw, node, who = caller(request, code, credentials)
    gw.access.require_own_office(who, node.ref, _ADMINISTRATORS, "erase personal data", "personal data")
    return Office(gw, node, who)


async def _auditor(request: Request, code: NodeCode, credentials: Bearer) -> Office:
    gw, node, who = caller(request, code, credentials)
    gw.access.require_own_office(who, node.ref, AUDITORS, "see the state of personal data", "personal data")
    return Office(gw, node, who)


def _view(report: ErasureReport) -> ErasureView:
    return ErasureView(
        erasure_id=report.erasure_id, basis=report.basis, key_ids=report.key_ids, events=report.records, already=report.already
    )


@router.post(
    "/erasures",
    response_model=ErasureView,
    summary="删除群众个人信息 (销毁密钥) / erase personal data of the public",
    description="仅本节点管理员。销毁此人 (或此记录) 的数据密钥: 本节点日志、各级上级副本、Kafka、视图和备份中的密文从此都不可读;"
    " 计数、哈希链和重建不受影响。删除本身记入日志。",
)
async def erase(body: ErasureRequest, office: Annotated[Office, Depends(_administrator)]) -> Response:
    by = office.by()

    def act(store: NodeStore) -> ErasureReport:
        if body.person is not None:
            return erase_person(store, by, body.person, body.reason)
        assert body.record is not None  # noqa: S101 - the model requires one of the two
        return erase_record(store, by, body.record, body.reason)

    return _json(_view(await run_in_threadpool(office.run, act)))


@router.post(
    "/retention",
    response_model=RetentionView,
    summary="按保存期限删除 (默认只报告) / apply the retention rule (a dry run unless dry_run is false)",
)
async def apply_retention(body: RetentionRequest, office: Annotated[Office, Depends(_administrator)]) -> Response:
    today = body.today or datetime.now(SHANGHAI).date()
    by = office.by()
    report = await run_in_threadpool(
        office.run,
        lambda store: retention(
            store, by, years=body.years or retention_years(), today=today, dry_run=body.dry_run, reason=body.reason
        ),
    )
    return _json(
        RetentionView(
            until=report.until,
            dry_run=report.dry_run,
            records=len(report.aggregates),
            events=report.records,
            keys=len(report.key_ids),
            kept_shared=report.kept_shared,
            erasure=_view(report.erasure) if report.erasure else None,
        )
    )


@router.get("", response_model=PrivacyStatus, summary="个人信息状态 / where the node's personal data stands")
async def status(office: Annotated[Office, Depends(_auditor)]) -> Response:
    facts = await run_in_threadpool(office.run, erasure_status)
    return _json(PrivacyStatus(node=office.node.ref.code, **facts))


def _json(model: BaseModel) -> Response:
    """The answer as a response of its own (what lets the route resolve requests directly: ``gateways.api.direct``)."""
    return Response(model.model_dump_json(), media_type="application/json")
