"""The app factory: ``create_app(["430582", "430582100", ...])`` serves those nodes under ``/nodes/{code}/...``."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from domain.hierarchy import Hierarchy
from domain.store import StoreSettings
from domain.timeline import tolerance_days
from gateways.api.context import Gateway, strict_query
from gateways.api.errors import BodyLimit, install_error_handlers
from gateways.api.metrics import GatewayMetrics, MetricsMiddleware
from gateways.api.routers import (
    audit,
    contacts,
    dashboard,
    deputies,
    livelihood,
    privacy,
    reads,
    stations,
    suggestions,
    tokens,
    views,
)
from gateways.api.security import AnswerOptions, GatewaySettings, HardenedFastAPI, docs_routes, parse_origins
from gateways.ops import readiness

STATIC = Path(__file__).resolve().parent.parent / "static"

DESCRIPTION = """
湖南人大代表工作“一盘棋”平台的节点网关。一个进程可服务多个节点 (如县及其乡镇), 每个节点的接口在 `/nodes/{code}/...` 下。

**令牌**: `Authorization: Bearer yq_...`, 由 `yipanqi token issue --node CODE --role ROLE --subject NAME` 签发, 只存哈希。

| 角色 | 写 | 读视图/列表/聚合/同步 | 历史与截至某时 | 群众个人信息 |
|---|---|---|---|---|
| recorder 录入员 | 本节点拥有的聚合 | 本节点子树 | 否 | 本节点记录的明文, 其余脱敏 |
| viewer 查看员 | 否 | 本节点子树 | 否 | 脱敏 |
| auditor 审计员 | 否 | 本节点子树 | 是 | 脱敏 |
| administrator 管理员 | 本节点拥有的聚合 | 本节点子树 | 是 | 本节点记录的明文, 其余脱敏 |
| deputy 代表本人 | 仅对自己领衔建议的答复作评价 | 自己的建议 | 否 | 脱敏 |

省级令牌可读全省。节点只写自己拥有的聚合 (否则 403); 下级的令牌不能读写其他下级的数据。
群众个人信息 (电话、身份证号、反映人姓名及自由文本中的号码) 在来源节点写入前即加密, 日志、Kafka 与各级副本只存脱敏内容和密文;
只有来源单位的录入员和管理员经本节点网关可见原文 (`personal_data: opened`), 其余一律脱敏 (如 138****5678)。
管理员可按人或按记录删除 (`POST /nodes/{code}/privacy/erasures`, 销毁密钥, 各级副本同时不可读), 或按保存期限删除。

**命令** 均为 POST, 可带 `Idempotency-Key` 头: 同一键的重试返回首次应答, 不重复记录; 同键不同请求体返回 422。
每条事件记录记录人 (令牌主体) 与角色, 以及发生时间 (`occurred_at`, 默认当前)。

**错误** 一律为 JSON: `{"error", "rule", "field"?, "aggregate"?, "state"?}` —— 400 格式错误, 401 令牌无效, 403 无权限,
404 不存在, 409 聚合状态不允许此步骤或已存在, 422 输入不合规则。

The node gateway of Yipanqi: commands, queries over the node's subtree, history and as-of, sync status, dashboard.
"""

TAGS = [
    {"name": "代表 deputies", "description": "登记代表、代表资格、代表类别、代表小组; 常委会组成人员"},
    {"name": "联络站 stations", "description": "设立、代表进站/出站、并站、撤销"},
    {"name": "进站接待 station visits", "description": "进站履职、群众反映问题、当场解决或转办、办结"},
    {"name": "联系活动 contacts", "description": "两个联系: 机关联系代表, 代表联系群众, 12345"},
    {"name": "代表建议 suggestions", "description": "提出→交办→办理→答复→评价 (仅领衔代表)→跟踪督办→办结"},
    {"name": "民生实事 livelihood projects", "description": "群众提→征集初定→代表议→大会决→政府办→人大督→代表评"},
    {"name": "查询 reads", "description": "聚合状态与历史、截至某时、列表、同步状态"},
    {"name": "视图 views", "description": "一盘棋视图: 覆盖率、联络站、建议、民生实事, 按区域下钻"},
    {"name": "看板 dashboard", "description": "一盘棋看板页面及其数据"},
    {"name": "运维 ops", "description": "存活、就绪与 Prometheus 指标 (无需令牌) / liveness, readiness, metrics (no token)"},
]


class Health(BaseModel):
    status: str


def create_app(
    codes: Iterable[str],
    *,
    settings: StoreSettings | None = None,
    hierarchy: Hierarchy | None = None,
    max_body_bytes: int | None = None,
    cors_origins: Iterable[str] | None = None,
) -> FastAPI:
    """``max_body_bytes``: the largest request body taken (413 beyond it; default ``YIPANQI_MAX_BODY_BYTES``, 1 MiB:
    the largest command, a suggestion with its full text, is a few kilobytes). ``cors_origins``: the origins whose
    pages may call the API from a browser (default ``YIPANQI_CORS_ORIGINS``, comma-separated; empty: none)."""
    origins = GatewaySettings().origins() if cors_origins is None else parse_origins(cors_origins)
    gw = Gateway(
        hierarchy or Hierarchy.load(),
        settings or StoreSettings(),
        codes,
        future_tolerance=tolerance_days(os.environ.get("YIPANQI_FUTURE_TOLERANCE_DAYS")),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        gw.keeper.start()  # keeps the hosted nodes' projections current
        try:
            yield
        finally:
            gw.keeper.stop()

    served = ", ".join(f"{n.ref.name}({n.ref.code})" for n in gw.nodes.values())
    app = HardenedFastAPI(  # security headers on every answer; HEAD as GET (gateways/api/security.py)
        title=f"一盘棋 节点网关 Yipanqi gateway — {served}",
        description=DESCRIPTION,
        version="1.0",
        openapi_tags=TAGS,
        dependencies=[Depends(strict_query)],
        lifespan=lifespan,
        docs_url=None,  # served from local assets below (docs_routes): no CDN
        redoc_url=None,
    )
    app.add_middleware(
        BodyLimit, limit=int(os.environ.get("YIPANQI_MAX_BODY_BYTES", 1 << 20)) if max_body_bytes is None else max_body_bytes
    )
    app.add_middleware(AnswerOptions, routes=app.router.routes)  # OPTIONS: 204 with Allow
    if origins:  # outside AnswerOptions: it answers the preflights of the allowed origins
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Idempotent-Replayed", "Retry-After"],
            max_age=600,
        )
    # The stores stay open for the app's life (an ASGI lifespan may run more than once under test clients):
    # ``app.state.gateway.close()`` closes them; a server process simply exits.
    app.state.gateway = gw
    install_error_handlers(app)

    metrics = GatewayMetrics(gw)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.router.routes)  # outermost: every answer
    app.state.metrics = metrics

    @app.get("/healthz", response_model=Health, tags=["运维 ops"], summary="存活 (常量应答) / liveness, a constant")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["运维 ops"],
        summary="就绪: 各节点存储可读, 投影不落后于日志太多 / readiness: stores answer, projections within bounds",
        responses={503: {"description": "not ready: the failing checks say why"}},
    )
    def readyz() -> Response:
        status, body = readiness(metrics.checks())
        return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type="application/json")

    @app.get(
        "/metrics",
        tags=["运维 ops"],
        summary="Prometheus 指标 / metrics in the Prometheus text format",
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "the metrics"}},
    )
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # Starlette matches a request against the routes one by one, in this order: the busiest first (station visits
    # are what townships record every day; the views are what offices read), which saves the busy requests the
    # scan of dozens of patterns.
    app.include_router(stations.visits)
    app.include_router(views.router)
    app.include_router(reads.router)
    app.include_router(audit.router)
    for module in (deputies, stations, contacts, suggestions, livelihood, tokens, privacy):
        app.include_router(module.router)
    app.include_router(dashboard.router)
    docs_routes(app)  # /docs, /redoc and their assets under /static/docs (before /static)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
