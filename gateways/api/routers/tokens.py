"""A node's access tokens through the API: its administrators issue, re-role and revoke them; each act is recorded
in the node's log (``gateways.tokens``), named after the administrator's own token. The token text is answered once,
on issue, and kept nowhere (not even as an idempotent answer: a retried issue makes a second token, and both show in
the list and the audit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from gateways.api.context import Bearer, NodeCode, OfficeAct, caller
from gateways.api.direct import DirectRoute
from gateways.api.errors import COMMAND_ERRORS, ApiError
from gateways.api.storage import TokenRecord, gateway_db
from gateways.tokens import change_token_role, issue_token, revoke_token

router = APIRouter(route_class=DirectRoute, prefix="/nodes/{code}/tokens", tags=["访问令牌 tokens"], responses=COMMAND_ERRORS)
TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$", description="令牌编号")]
OfficeRole = Literal["recorder", "viewer", "auditor", "administrator"]


class TokenView(BaseModel):
    token_id: str = Field(description="令牌编号 (事件与审计以此指称令牌)")
    node: str
    role: str
    subject: str = Field(description="使用人; deputy 角色为代表 id")
    note: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool


class TokenIssued(TokenView):
    token: str = Field(description="令牌本身: 只在签发时显示这一次, 不保存 / shown this once, stored only hashed")


class TokenIssue(BaseModel):
    """签发令牌: 角色, 使用人 (deputy 角色为本节点已知代表的 id), 备注, 有效天数 (0 不过期)."""

    model_config = {"extra": "forbid"}
    role: Literal["recorder", "viewer", "auditor", "administrator", "deputy"]
    subject: str = Field(min_length=1, max_length=100)
    note: str = Field(default="", max_length=200)
    expires_days: int = Field(default=0, ge=0, le=3650)


class TokenRevoke(BaseModel):
    model_config = {"extra": "forbid"}
    reason: str = Field(default="", max_length=200, description="吊销原因")


class TokenRole(BaseModel):
    model_config = {"extra": "forbid"}
    role: OfficeRole = Field(description="新角色 (代表令牌不可变更角色, 机关令牌不可改为代表)")


class Office(OfficeAct):
    """Who manages the tokens of which node."""

    def view(self, record: TokenRecord) -> dict[str, Any]:
        return {**record.as_dict(), "node": self.node.ref.code}

    def answer(self, record: TokenRecord, status: int = 200, token: str | None = None) -> Response:
        """The record as the API shows it; on issue (``token``), with the token's text, this once."""
        view = TokenView(**self.view(record)) if token is None else TokenIssued(**self.view(record), token=token)
        return Response(view.model_dump_json(), status, media_type="application/json")


async def _issuing(request: Request, code: NodeCode, credentials: Bearer) -> Office:
    gw, node, who = caller(request, code, credentials)
    gw.access.require_token_office(who, node.ref, issuing=True)
    return Office(gw, node, who)


async def _listing(request: Request, code: NodeCode, credentials: Bearer) -> Office:
    gw, node, who = caller(request, code, credentials)
    gw.access.require_token_office(who, node.ref, issuing=False)
    return Office(gw, node, who)


Issuing = Annotated[Office, Depends(_issuing)]


@router.get("", response_model=list[TokenView], summary="本节点的令牌 (不含令牌本身) / the node's tokens, never their text")
def list_tokens(
    office: Annotated[Office, Depends(_listing)],
    include_revoked: Annotated[bool, Query(description="包括已吊销和过期的")] = False,
) -> list[dict[str, Any]]:
    records = gateway_db(office.gw.settings, office.node.ref).list_tokens()
    return [office.view(r) for r in records if include_revoked or r.active]


@router.post(
    "",
    status_code=201,
    response_model=TokenIssued,
    summary="签发令牌 (令牌只显示这一次) / issue a token (its text is shown once)",
    description="仅本节点管理员。签发记入本节点日志 (签发人、使用人、角色), 随日志同步到上级, 审计可查。"
    " deputy 角色: subject 为本节点已知代表的 id, 签发人即管理员本人。",
)
async def issue(body: TokenIssue, office: Issuing) -> Response:
    subject = body.subject.strip()
    if body.role == "deputy":
        try:
            deputy_id = UUID(subject)
        except ValueError:
            raise ApiError(422, "a deputy token's subject is the deputy's id (a UUID)", field="subject") from None
        if not office.node.knows_deputy(deputy_id):
            raise ApiError(404, f"deputy {deputy_id} is unknown at {office.node.ref}", field="subject")
        subject = str(deputy_id)
    expires = datetime.now(UTC) + timedelta(days=body.expires_days) if body.expires_days else None
    token, record = await run_in_threadpool(
        issue_token,
        office.gw.settings,
        office.node.ref,
        office.by(),
        role=body.role,
        subject=subject,
        note=body.note,
        expires_at=expires,
    )
    return office.answer(record, 201, token=token)


@router.post("/{token_id}/revoke", response_model=TokenView, summary="吊销令牌 / revoke a token")
async def revoke(token_id: TokenId, body: TokenRevoke, office: Issuing) -> Response:
    settings, ref = office.gw.settings, office.node.ref
    record = await run_in_threadpool(revoke_token, settings, ref, office.by(), token_id, body.reason)
    office.gw.verifier.forget()  # refused here at once, not after the cache's seconds
    return office.answer(record)


@router.post("/{token_id}/role", response_model=TokenView, summary="变更令牌角色 / give a token another office role")
async def change_role(token_id: TokenId, body: TokenRole, office: Issuing) -> Response:
    settings, ref = office.gw.settings, office.node.ref
    record = await run_in_threadpool(change_token_role, settings, ref, office.by(), token_id, body.role)
    office.gw.verifier.forget()
    return office.answer(record)
