"""The 一盘棋 dashboard page of each node (its data: ``/nodes/{code}/views/rollup`` and ``/nodes/{code}/sync/status``).

The page itself carries no data and needs no token; the office's token is given once (``#token=...`` in the
address, or typed in) and kept in the browser. Charts: Apache ECharts, served by the gateway from ``/static``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from gateways.api.context import HostedNode, hosted_node
from gateways.api.direct import DirectRoute

router = APIRouter(route_class=DirectRoute, tags=["看板 dashboard"])
PAGE = Path(__file__).resolve().parents[2] / "static" / "dashboard.html"


@router.get(
    "/nodes/{code}/dashboard",
    response_class=HTMLResponse,
    responses={
        **{
            status: {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            }
            for status, text in ((404, "不存在的节点 / no such node served here"), (422, "代码格式错误 / malformed code"))
        },
        200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "看板网页 / the page"},
    },
    summary="一盘棋看板 (网页) / the dashboard page",
    description="省级节点的看板显示全省; 点击区域下钻; 可选年度和截至日期 (按记录或发生时间)。",
)
def dashboard(node: Annotated[HostedNode, Depends(hosted_node)]) -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))
