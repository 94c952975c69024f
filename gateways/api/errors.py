"""Every error a gateway answers, as one JSON shape that names the field, the rule or the state. Never a 500 body
without one: unexpected failures are logged and answered as 503 with a reference, so a client can retry."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError, OperationalError, PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.base import DomainError, NotFound
from gateways.api.auth import AuthError

log = structlog.get_logger("gateway")

ERROR_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    503: "unavailable",
}


class FieldProblem(BaseModel):
    field: str = Field(description="出错的字段 (位置.名称) / the field, e.g. body.visit_date")
    rule: str = Field(description="违反的规则 / what is wrong with it")


class ErrorBody(BaseModel):
    """错误 / an error: what kind, the rule broken, and the field, aggregate or state it concerns."""

    error: str = Field(description="错误类别 / bad_request, unauthorized, forbidden, not_found, conflict, invalid, unavailable")
    rule: str = Field(description="违反的规则或原因 / the rule or reason, in words")
    field: str | None = Field(default=None, description="涉及的字段 / the field concerned, if one")
    aggregate: str | None = Field(default=None, description="涉及的聚合 / the aggregate concerned (type and id)")
    state: str | None = Field(default=None, description="聚合当时的状态 / the aggregate's state when the command was refused")
    fields: list[FieldProblem] | None = Field(default=None, description="输入校验问题 / input problems, one per field")


class ApiError(Exception):
    """Raised by routes: an answer with a status and an ErrorBody."""

    def __init__(
        self, status: int, rule: str, *, field: str | None = None, aggregate: str | None = None, state: str | None = None
    ):
        super().__init__(rule)
        self.status = status
        self.body = ErrorBody(error=ERROR_KINDS.get(status, "error"), rule=rule, field=field, aggregate=aggregate, state=state)


def error_response(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=body.model_dump(exclude_none=True), headers=headers)


def domain_error_status(error: DomainError, *, creating: bool) -> int:
    """NotFound → 404; refusing to create (the input breaks a rule) → 422; refusing a step on an existing aggregate
    (its state does not allow it) → 409."""
    if isinstance(error, NotFound):
        return 404
    return 422 if creating or error.state == "new" else 409


def domain_error_body(error: DomainError, status: int, fields: set[str] | None = None) -> ErrorBody:
    field = None
    if fields:
        first = error.rule.split(" ", 1)[0].strip(":,")
        field = first if first in fields else None
    return ErrorBody(error=ERROR_KINDS[status], rule=error.rule, aggregate=error.aggregate, state=error.state, field=field)


def _validation_body(exc: RequestValidationError) -> tuple[int, ErrorBody]:
    problems = []
    malformed = False
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        if err.get("type") == "json_invalid":
            malformed = True
        problems.append(FieldProblem(field=loc or "body", rule=str(err.get("msg", "invalid"))))
    status = 400 if malformed else 422
    first = problems[0] if problems else FieldProblem(field="body", rule="invalid request")
    rule = "the request body is not valid JSON" if malformed else f"{first.field}: {first.rule}"
    return status, ErrorBody(error=ERROR_KINDS[status], rule=rule, field=first.field, fields=problems)


class BodyLimit:
    """Refuses a request body over ``limit`` bytes (413), in the gateway's error shape: a declared length at once,
    without reading the body; a body streamed without one as soon as it passes the limit. (Starlette's own limiter
    answers in plain text.)"""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["yipanqi.max_body_bytes"] = self.limit
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            body = ErrorBody(error=ERROR_KINDS[413], rule=_too_large(scope))
            await error_response(413, body, {"Connection": "close"})(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise StarletteHTTPException(413)  # answered by the handler below, in the same shape
            return message

        await self.app(scope, limited, send)


def _too_large(scope: Scope) -> str:
    return f"the request body is larger than this gateway takes ({scope.get('yipanqi.max_body_bytes', 0):,} bytes)"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.body, headers)

    @app.exception_handler(AuthError)
    async def _auth_error(_: Request, exc: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, ErrorBody(error=ERROR_KINDS[exc.status], rule=exc.rule, field=exc.field), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        status, body = _validation_body(exc)
        return error_response(status, body)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        status = domain_error_status(exc, creating=False)
        return error_response(status, domain_error_body(exc, status))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code if exc.status_code in ERROR_KINDS else 400
        rule = str(exc.detail) if exc.detail else ERROR_KINDS.get(status, "error")
        if exc.status_code == 404 and rule == "Not Found":
            rule = "no such route (see /docs)"
        if exc.status_code == 413:
            rule = _too_large(request.scope)
        return error_response(status, ErrorBody(error=ERROR_KINDS.get(status, "error"), rule=rule), getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        return error_response(409, ErrorBody(error="conflict", rule="the aggregate changed meanwhile (concurrent write); retry"))

    @app.exception_handler(PersistenceError)
    async def _persistence(_: Request, exc: PersistenceError) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.error("gateway.store_error", ref=ref, error=repr(exc))
        kind = "busy" if isinstance(exc, OperationalError) else "failed"
        body = ErrorBody(error="unavailable", rule=f"the node's store is {kind}; retry later (ref {ref})")
        return error_response(503, body, {"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.exception("gateway.unexpected", ref=ref, error=repr(exc))
        body = ErrorBody(error="unavailable", rule=f"unexpected failure, logged as {ref}; retry later or report it")
        return error_response(503, body, {"Retry-After": "1"})


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the error answers a route gives."""
    described = {
        400: "请求格式错误 / malformed request",
        401: "缺少或无效的令牌 / missing, unknown, revoked or expired token",
        403: "无权限 / the token's node or role may not do this",
        404: "不存在 / no such node, aggregate or deputy here",
        409: "状态冲突 / the aggregate's state does not allow this step, or it exists already",
        413: "请求体过大 / the request body is larger than the gateway takes (YIPANQI_MAX_BODY_BYTES)",
        422: "输入不合规则 / the input breaks a field or domain rule",
        503: "暂不可用 / the store is busy or failed; retry",
    }
    return {s: {"model": ErrorBody, "description": described[s]} for s in statuses}


COMMAND_ERRORS = responses(400, 401, 403, 404, 409, 413, 422)
READ_ERRORS = responses(400, 401, 403, 404, 422)
