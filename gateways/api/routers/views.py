"""The 一盘棋 views over a node's subtree (``projections.queries``), with drill-down by region, periods and as-of.

Every view reads the node's own projection (its log: own and replicated events of the whole subtree). ``region``
drills down to any division within the node's subtree (and so within the token's); the province's node covers
all of Hunan. ``as_of`` gives a view as it stood at a past time, by recorded, occurred or known time. Answers are cached
until the projection moves. Personal data of the public never appears in views (free text is scrubbed anyway).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, TypedDict

import anyio.to_thread
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from domain.base import NodeRef
from domain.personal import mask
from gateways.api.context import Reader, reader
from gateways.api.direct import DirectRoute
from gateways.api.errors import READ_ERRORS, ApiError

router = APIRouter(route_class=DirectRoute, prefix="/nodes/{code}/views", tags=["视图 views"], responses=READ_ERRORS)

Region = Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3})?$", description="下钻区域代码 (本节点子树内)")]
Year = Annotated[int | None, Query(ge=2000, le=2100, description="年度 (默认: 最近有活动的年度)")]
Term = Annotated[int | None, Query(ge=1, le=99, description="届次 (按该区域人大的届期折算年度)")]
AsOf = Annotated[
    str | None,
    Query(
        max_length=40,
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+([+-][0-9:]+|Z)?)?$",
        description="截至某时: 日期 (当日结束) 或时间, 如 2025-06-30 或 2025-06-30T18:00:00+08:00",
    ),
]
Offset = Annotated[int, Query(ge=0, le=100_000, description="分页偏移")]
Limit = Annotated[int, Query(ge=1, le=200, description="每页条数")]


class Clock(StrEnum):
    RECORDED = "recorded"
    OCCURRED = "occurred"
    KNOWN = "known"


By = Annotated[
    Clock,
    Query(
        description="as_of 的时钟: recorded 按记录时间 (录入机关当时所记) / occurred 按发生时间 / "
        "known 按知悉时间 (本节点当时所掌握: 上级节点随同步滞后)"
    ),
]


class ViewAnswer(BaseModel):
    """视图结果 (结构见各视图说明; 全部字段中文标签) / a view's answer."""

    model_config = ConfigDict(extra="allow")


class Target(StrEnum):
    SC_FACE_TO_FACE = "sc_face_to_face"
    GRASSROOTS_PROVINCIAL_INVITED = "grassroots_provincial_invited"
    LEADING_CADRE_GROUP = "leading_cadre_group"
    BODY_RESEARCH = "body_research"
    PRACTICAL_DEED = "practical_deed"
    CONSTITUENT_REPORT = "constituent_report"
    FOLLOW_UP = "follow_up"
    OPINIONS = "opinions"


def run_view(r: Reader, area: NodeRef, key: tuple[Any, ...], params: dict[str, Any], compute: Any) -> bytes:
    """Answer from the cache or compute (masked), translating the queries' errors to 422."""
    from projections.queries import QueryError, make_scope

    views = r.node.views
    fresh = not r.gw.keeper.running
    if fresh:
        views.catch_up(max_batches=None)

    def work() -> Any:
        try:
            scope = make_scope(
                views.db,
                region=area.code,
                year=params.get("year"),
                term=params.get("term"),
                as_of=params.get("as_of"),
                by=params.get("by", "recorded"),
                hierarchy=r.gw.hierarchy,
            )
            return mask(compute(views.db, scope))
        except QueryError as e:
            raise ApiError(422, str(e)) from None

    return views.answer(key, work, fresh=fresh)


async def view(r: Reader, name: str, params: dict[str, Any], compute: Any) -> Response:
    """A view's answer: a cached one on the event loop (no thread for a dictionary lookup), else computed in a
    worker thread (the queries block on the projection's database)."""
    area = r.region(params.get("region"))
    key = (name, tuple(sorted((k, str(v)) for k, v in params.items())))
    body = r.node.views.cached(key) if r.gw.keeper.running else None
    if body is None:
        body = await anyio.to_thread.run_sync(run_view, r, area, key, params, compute)
    return Response(content=body, media_type="application/json")


async def common(
    region: Region = None, year: Year = None, term: Term = None, as_of: AsOf = None, by: By = Clock.RECORDED
) -> dict[str, Any]:
    """The parameters every view takes: where, which year or term, as of when."""
    return {"region": region, "year": year, "term": term, "as_of": as_of, "by": by.value}


class PageParams(TypedDict):
    """Exactly these keys: a view spreads them into a query that also takes flags (``brief``)."""

    offset: int
    limit: int


async def page(offset: Offset = 0, limit: Limit = 20) -> PageParams:
    return {"offset": offset, "limit": limit}


Rd = Annotated[Reader, Depends(reader)]
Common = Annotated[dict[str, Any], Depends(common)]
Page = Annotated[PageParams, Depends(page)]


@router.get(
    "/coverage", response_model=ViewAnswer, summary="联系覆盖 (一盘棋指标) / coverage against each target, who is missing"
)
async def coverage(
    r: Rd,
    common: Common,
    target: Annotated[list[Target] | None, Query(description="只看这些指标 (可重复)")] = None,
    missing_offset: Offset = 0,
    missing_limit: Limit = 20,
) -> Response:
    from projections import queries as Q

    targets = tuple(t.value for t in target) if target else None
    missing = {"missing_offset": missing_offset, "missing_limit": missing_limit}
    params = {**common, "target": ",".join(targets or ()), **missing}
    return await view(r, "coverage", params, lambda db, scope: Q.coverage(db, scope, targets=targets, **missing))


@router.get("/stations", response_model=ViewAnswer, summary="联络站 / visits, people received, issues; idle stations")
async def stations(
    r: Rd,
    common: Common,
    page: Page,
    idle_days: Annotated[int, Query(ge=1, le=3650, description="多少天无接待算闲置")] = 30,
) -> Response:
    from projections import queries as Q

    params = {**common, **page, "idle_days": idle_days}
    return await view(r, "stations", params, lambda db, scope: Q.stations(db, scope, idle_days=idle_days, **page))


@router.get(
    "/suggestions", response_model=ViewAnswer, summary="代表建议办理 / by state, region, unit, category; overdue; follow-ups"
)
async def suggestions(r: Rd, common: Common, page: Page) -> Response:
    from projections import queries as Q

    return await view(r, "suggestions", {**common, **page}, lambda db, scope: Q.suggestions(db, scope, **page))


@router.get("/livelihood", response_model=ViewAnswer, summary="民生实事 / number, investment, pass rate, progress, satisfaction")
async def livelihood(r: Rd, common: Common, page: Page) -> Response:
    from projections import queries as Q

    return await view(r, "livelihood", {**common, **page}, lambda db, scope: Q.livelihood(db, scope, **page))


@router.get("/regions", response_model=ViewAnswer, summary="下钻区域 / the region's children")
async def regions(r: Rd, region: Region = None) -> Response:
    from projections import queries as Q

    return await view(r, "regions", {"region": region}, Q.regions)


@router.get(
    "/duty-record", response_model=ViewAnswer, summary="代表履职档案 / everything one deputy did, at any node of the subtree"
)
async def duty_record(
    r: Rd,
    who: Annotated[str, Query(min_length=1, max_length=64, description="代表 id、人员编号或姓名")],
    common: Common,
    limit: Limit = 50,
) -> Response:
    from projections import queries as Q

    params = {**common, "who": who, "limit": limit}
    return await view(r, "duty-record", params, lambda db, scope: Q.duty_record(db, scope, who, limit=limit))


@router.get(
    "/duty-ranking", response_model=ViewAnswer, summary="履职排行 / serving deputies by what they did (least active first)"
)
async def duty_ranking(
    r: Rd,
    common: Common,
    page: Page,
    least: Annotated[bool, Query(description="true: 最少的在前")] = True,
) -> Response:
    from projections import queries as Q

    params = {**common, **page, "least": least}
    return await view(r, "duty-ranking", params, lambda db, scope: Q.duty_ranking(db, scope, least=least, **page))


class RollupAnswer(BaseModel):
    """一盘棋总览: 各指标覆盖率及最落后的区域、联络站、建议办理流程、民生实事、下钻区域."""

    model_config = ConfigDict(extra="allow")
    view: str = Field(description="rollup")


@router.get(
    "/rollup",
    response_model=RollupAnswer,
    summary="一盘棋总览 (省级即全省) / every view's totals by region, the regions furthest behind",
)
async def rollup_view(r: Rd, common: Common) -> Response:
    from projections import queries as Q

    return await view(r, "rollup", common, Q.rollup)
