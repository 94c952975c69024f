"""Reads straight from a node's log: one aggregate (now or as of a past time), its history, lists of what was
recorded, the node and its children, sync status. Aggregate views over the subtree are in ``routers.views``."""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.utils import get_topic
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from domain.base import Role, as_occurred
from domain.bodies import StandingCommittee
from domain.contacts import ContactActivity
from domain.deputies import Deputy
from domain.livelihood import LivelihoodProject
from domain.personal import mask
from domain.privacy import ERASED, OPENED, SEALED
from domain.stations import Station
from domain.store import NodeStore
from domain.suggestions import Suggestion
from domain.visits import StationVisit
from gateways.api.auth import ROLE_LABELS, Principal
from gateways.api.context import CST, Gateway, HostedNode, Reader, auditor, gateway, hosted_node, principal, reader
from gateways.api.direct import DirectRoute
from gateways.api.encode import aggregate_data, event_row, kind_label, kind_of, plain, state_of
from gateways.api.errors import READ_ERRORS, ApiError
from sync.health import StreamState
from sync.status import node_status, subtree_health

router = APIRouter(route_class=DirectRoute, tags=["查询 reads"], responses=READ_ERRORS)
AggregateId = Annotated[UUID, Path(description="聚合 id / aggregate id")]


class TimeBasis(StrEnum):
    RECORDED = "recorded"  # what its office had recorded then (the event's own timestamp)
    OCCURRED = "occurred"  # what had happened by then (occurred_at)
    KNOWN = "known"  # what this node held then (its store's known time)


AsOf = Annotated[
    datetime | None,
    Query(description="截至某时 (审计): 按 basis 取该时刻的状态; 不带时区按北京时间 / as of a past time (auditors)"),
]
Basis = Annotated[
    TimeBasis,
    Query(
        description="recorded 按记录时间 (录入机关当时所记) / occurred 按发生时间 (当时已发生的) / "
        "known 按知悉时间 (本节点当时所掌握的)"
    ),
]


# ------------------------------------------------------------------------------------------------------ models


class NodeInfo(BaseModel):
    """节点 / a node of the tree."""

    node_id: UUID
    code: str
    name: str
    level: str
    level_label: str
    kind: str
    kind_label: str
    has_congress: bool
    path: str = Field(description="湖南省 › 邵阳市 › 邵东市")
    hosted: bool = Field(description="本网关是否服务该节点 / served by this gateway")
    children: list[NodeInfo] = Field(default_factory=list)


class WhoAmI(BaseModel):
    token_id: str
    subject: str
    role: str
    role_label: str
    node: str
    node_code: str


class AggregateView(BaseModel):
    """聚合的当前 (或截至某时的) 状态 / one aggregate's state."""

    id: UUID
    kind: str
    kind_label: str
    owner: str
    owner_name: str
    replica: bool = Field(description="是否为上级下发的只读副本 / a read-only replica sent down by the parent")
    version: int
    state: str
    state_label: str
    created_on: datetime
    modified_on: datetime
    as_of: datetime | None = None
    basis: str | None = None
    masked: bool = Field(description="个人信息是否已脱敏 / whether personal data of the public is masked")
    personal_data: str = Field(
        default="none",
        description="群众个人信息: opened 已解密 (来源单位录入员/管理员), sealed 密文 (仅来源节点持有密钥),"
        " erased 已删除 (密钥已销毁), none 无 / personal data: opened, sealed (keys at the origin only), erased, none",
    )
    data: dict[str, Any]


class EventView(BaseModel):
    version: int
    type: str
    label: str = Field(description="事件中文名")
    occurred_at: datetime
    recorded_at: datetime
    actor: str = Field(description="记录人 (令牌主体)")
    role: str = Field(description="记录时的角色")
    token: str = Field(description="记录所用令牌的编号 (不含令牌本身; 空: 未经令牌, 如模拟或本机命令行)")
    owner: str
    personal_data: str = Field(default="none", description="opened, sealed, erased, none (见聚合视图 / as in AggregateView)")
    payload: dict[str, Any]


class HistoryView(BaseModel):
    """聚合的全部事件 (已解码, 中文事件名) / every event of one aggregate."""

    id: UUID
    kind: str
    kind_label: str
    owner_name: str
    masked: bool
    events: list[EventView]


class ListItem(BaseModel):
    id: UUID
    kind: str
    owner: str
    owner_name: str
    position: int = Field(description="在本节点日志中的位置 / position in this node's log")
    occurred_at: datetime
    recorded_at: datetime
    state: str
    state_label: str
    summary: dict[str, Any]


class ListPage(BaseModel):
    """一页列表; 用 next_cursor 取下一页 / one page; pass next_cursor as cursor for the next."""

    kind: str
    kind_label: str
    region: str
    items: list[ListItem]
    next_cursor: int | None = Field(description="下一页游标 (null: 已到末尾)")
    scanned_to: int


_STATE_DOC = " / ".join(f"{s.value} {s.label}" for s in StreamState)


class ChildSync(BaseModel):
    node: str
    child: str
    position: int = Field(description="已收到的下级日志位置")
    child_head: int | None = Field(description="下级日志头 (下级存储不在本机时为空)")
    lag_events: int | None
    lag_s: float | None
    state: str = Field(description=_STATE_DOC)
    state_label: str
    reason: str
    since: str | None = Field(description="当前状态开始时间 (非正常状态), ISO 8601")


class RegionSync(BaseModel):
    code: str
    name: str
    streams: int
    following: int
    by_state: dict[str, int] = Field(description="各状态的流数 (不含为 0 的)")


class ProblemStream(BaseModel):
    node: str
    child: str
    state: str
    state_label: str
    held: int
    head: int
    since: str | None
    reason: str


class SubtreeSync(BaseModel):
    """辖区同步健康 / every stream of the node's subtree (each child's relay reports its own subtree up)."""

    streams: int = Field(description="辖区内的流总数 (每个下级节点一条)")
    following: int
    all_following: bool = Field(description="全部正常: 辖区内每条流都已追上其下级日志头")
    verdict: str
    by_state: dict[str, int]
    labels: dict[str, str] = Field(description="各状态的中文名 (by_state 的键)")
    regions: list[RegionSync] = Field(description="按本级的下级区域汇总, 问题最多的在前")
    problems: list[ProblemStream] = Field(description="非正常的流 (至多 50 条)")
    unlisted: int


class SyncStatusView(BaseModel):
    """同步状态 / what the node holds of each child, how far behind, what is parked."""

    node: str
    head: int = Field(description="本节点日志头")
    published: int | None = Field(description="已向上级发布到的位置 (省: 无上级)")
    unpublished: int | None
    projected: int = Field(description="读模型已投影到的日志位置 (小于日志头: 读模型追赶中)")
    children: list[ChildSync]
    subtree: SubtreeSync


# ------------------------------------------------------------------------------------------------------- nodes


def node_info(gw: Gateway, division: Any, depth: int) -> NodeInfo:
    ref = gw.hierarchy.ref(division)
    return NodeInfo(
        node_id=ref.node_id,
        code=ref.code,
        name=ref.name,
        level=ref.level.value,
        level_label=ref.level.label,
        kind=ref.kind.value,
        kind_label=ref.kind.label,
        has_congress=ref.has_congress,
        path=gw.hierarchy.path_label(division),
        hosted=ref.node_id in gw.nodes,
        children=[node_info(gw, c, depth - 1) for c in gw.hierarchy.children(division)] if depth > 0 else [],
    )


@router.get("/whoami", response_model=WhoAmI, summary="当前令牌 / who the token is")
def whoami(who: Annotated[Principal, Depends(principal)]) -> WhoAmI:
    return WhoAmI(
        token_id=who.token_id,
        subject=who.subject,
        role=who.role.value,
        role_label=ROLE_LABELS.get(who.role, who.role.value),
        node=who.node.name,
        node_code=who.node.code,
    )


@router.get("/nodes", response_model=list[NodeInfo], summary="本网关服务的节点 / nodes served here that the token may read")
def list_nodes(gw: Annotated[Gateway, Depends(gateway)], who: Annotated[Principal, Depends(principal)]) -> list[NodeInfo]:
    readable = [n for n in gw.nodes.values() if gw.access.within(n.ref.node_id, who.node.node_id)]
    return [node_info(gw, gw.hierarchy.get(n.ref.node_id), 0) for n in readable]


@router.get("/nodes/{code}", response_model=NodeInfo, summary="节点及其下级 / the node and its children")
def get_node(
    r: Annotated[Reader, Depends(reader)], depth: Annotated[int, Query(ge=0, le=2, description="下级层数")] = 1
) -> NodeInfo:
    return node_info(r.gw, r.gw.hierarchy.get(r.node.ref.node_id), depth)


# -------------------------------------------------------------------------------------------------- aggregates


def _replay(store: NodeStore, events: list[Any], as_of: datetime, basis: TimeBasis) -> tuple[Any, list[Any]]:
    """The aggregate from its events (in ``store``) up to ``as_of``: by recorded time (what was believed then: a
    correction or void recorded later is not in it), by the time this node came to hold them (known: what it held then,
    likewise; one stored before known times were kept counts as known when it was recorded, as in the views), or by
    occurred time (the corrected world: ``domain.base.as_occurred``)."""
    if basis is TimeBasis.OCCURRED:
        kept = as_occurred(events, as_of)
    else:
        if basis is TimeBasis.KNOWN and events:
            known = store.aggregate_known_at(events[0].originator_id)
            times = [k or e.timestamp for k, e in zip(known, events, strict=True)]
        else:
            times = [e.timestamp for e in events]
        kept = [event for event, _ in itertools.takewhile(lambda pair: pair[1] <= as_of, zip(events, times, strict=True))]
    aggregate = None
    for event in kept:
        aggregate = event.mutate(aggregate)
    return aggregate, kept


def _opened(store: NodeStore, events: list[Any], unmasked: bool) -> tuple[list[Any], list[str]]:
    """The events with the personal data they seal opened where the reader may see it (and this node, its origin,
    holds the keys); each event's status (``domain.privacy``: opened, sealed, erased; ``none``: nothing sealed)."""
    out, statuses = [], []
    for event in events:
        if not getattr(event, "sealed", ""):
            out.append(event)
            statuses.append("none")
        elif unmasked:
            opened, status = store.reveal(event)
            out.append(opened)
            statuses.append(status)
        else:
            out.append(event)
            statuses.append(SEALED)
    return out, statuses


def _summary(statuses: list[str]) -> str:
    """One word for a record: erased if any of its data was, else sealed if any stays sealed, else opened."""
    return next((s for s in (ERASED, SEALED, OPENED) if s in statuses), "none")


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=CST)


async def _reader_for_aggregate(
    node: Annotated[HostedNode, Depends(hosted_node)],
    who: Annotated[Principal, Depends(principal)],
    gw: Annotated[Gateway, Depends(gateway)],
) -> Reader:
    if who.role is not Role.DEPUTY:
        gw.access.require_read(who, node.ref)
    elif who.node.node_id != node.ref.node_id:
        raise ApiError(403, "a deputy reads only the suggestions they lead or co-signed, at their office's node")
    return Reader(gw, node, who)


def _find(r: Reader, aggregate_id: UUID) -> tuple[Any, bool]:
    """An aggregate of the node's log or its replicas, with whether it is a replica."""
    found = r.node.find(aggregate_id)
    if found is None:
        raise ApiError(404, f"no aggregate {aggregate_id} at {r.node.ref.name}({r.node.ref.code})", field="aggregate_id")
    return found


@router.get(
    "/nodes/{code}/aggregates/{aggregate_id}",
    response_model=AggregateView,
    summary="聚合状态 (可截至某时) / one aggregate, now or as of a time",
    description="as_of 仅限审计员和管理员。代表本人 (deputy) 只能查看自己领衔或附议的建议。",
)
def get_aggregate(
    aggregate_id: AggregateId,
    r: Annotated[Reader, Depends(_reader_for_aggregate)],
    as_of: AsOf = None,
    basis: Basis = TimeBasis.RECORDED,
) -> AggregateView:
    aggregate, replica = _find(r, aggregate_id)
    if r.who.role is Role.DEPUTY:
        own = isinstance(aggregate, Suggestion) and r.who.subject in {
            str(aggregate.lead_deputy_id),
            *map(str, aggregate.co_deputy_ids),
        }
        if not own:
            raise ApiError(403, "a deputy reads only the suggestions they lead or co-signed")
    if as_of is not None:
        r.gw.access.require_read(r.who, r.node.ref, audit=True)
        store = r.node.reference if replica else r.node.store
        aggregate, kept = _replay(store, store.history(aggregate_id), _aware(as_of), basis)
        if aggregate is None:
            raise ApiError(
                404, f"aggregate {aggregate_id} did not exist yet at {as_of.isoformat()} ({basis.value})", field="as_of"
            )
    unmasked = r.unmasked(aggregate.owner)
    store = r.node.reference if replica else r.node.store
    personal = "none"
    if not replica:
        events = kept if as_of is not None else store.history(aggregate_id)
        opened, statuses = _opened(store, events, unmasked)
        personal = _summary(statuses)
        if personal == "opened":
            aggregate = functools.reduce(lambda a, e: e.mutate(a), opened, None)
    state, state_label = state_of(aggregate)
    data = aggregate_data(aggregate)
    return AggregateView(
        id=aggregate.id,
        kind=kind_of(aggregate),
        kind_label=kind_label(aggregate),
        owner=str(aggregate.owner),
        owner_name=r.gw.node_label(aggregate.owner),
        replica=replica,
        version=aggregate.version,
        state=state,
        state_label=state_label,
        created_on=aggregate.created_on,
        modified_on=aggregate.modified_on,
        as_of=_aware(as_of) if as_of else None,
        basis=basis.value if as_of else None,
        masked=not unmasked,
        personal_data=personal,
        data=data if unmasked else mask(data),
    )


@router.get(
    "/nodes/{code}/aggregates/{aggregate_id}/history",
    response_model=HistoryView,
    summary="聚合历史 (审计) / every event of one aggregate",
    description="仅限审计员和管理员。事件已解码, 带中文事件名、记录人及其角色、发生时间与记录时间。",
)
def get_history(
    aggregate_id: AggregateId,
    r: Annotated[Reader, Depends(auditor)],
    as_of: AsOf = None,
    basis: Basis = TimeBasis.RECORDED,
) -> HistoryView:
    aggregate, replica = _find(r, aggregate_id)
    store = r.node.reference if replica else r.node.store
    events = store.history(aggregate_id)
    if as_of is not None:
        _, events = _replay(store, events, _aware(as_of), basis)
    unmasked = r.unmasked(aggregate.owner)
    opened, statuses = _opened(store, events, unmasked) if not replica else (events, ["none"] * len(events))
    rows = [{**event_row(e), "personal_data": status} for e, status in zip(opened, statuses, strict=True)]
    return HistoryView(
        id=aggregate.id,
        kind=kind_of(aggregate),
        kind_label=kind_label(aggregate),
        owner_name=r.gw.node_label(aggregate.owner),
        masked=not unmasked,
        events=[EventView(**(row if unmasked else {**row, "payload": mask(row["payload"])})) for row in rows],
    )


# ------------------------------------------------------------------------------------------------------- lists

_CREATED = {
    "deputies": (Deputy, Deputy.Registered, ("person_id", "name", "gender", "unit", "grassroots", "leading_cadre")),
    "standing-committees": (StandingCommittee, StandingCommittee.Constituted, ("term", "level")),
    "stations": (Station, Station.Established, ("name", "address")),
    "visits": (StationVisit, StationVisit.Recorded, ("station_id", "visit_date", "deputy_ids", "people_received")),
    "contacts": (ContactActivity, ContactActivity.Recorded, ("kind", "channel", "title", "held_on", "organiser", "public_count")),
    "suggestions": (
        Suggestion,
        Suggestion.Submitted,
        ("number", "congress", "term", "session", "title", "category", "lead_deputy_id"),
    ),
    "livelihood-projects": (LivelihoodProject, LivelihoodProject.Proposed, ("year", "title", "category", "proposed_by")),
}


class ListKind(StrEnum):
    DEPUTIES = "deputies"
    STANDING_COMMITTEES = "standing-committees"
    STATIONS = "stations"
    VISITS = "visits"
    CONTACTS = "contacts"
    SUGGESTIONS = "suggestions"
    LIVELIHOOD_PROJECTS = "livelihood-projects"


_PAGE = 1000
_SCAN_BUDGET = 50  # pages of the log scanned per request at most; the cursor says where the scan stopped


@router.get(
    "/nodes/{code}/lists/{kind}",
    response_model=ListPage,
    summary="已记录的聚合列表 (分页) / what was recorded, page by page",
    description="从本节点日志 (本级及已同步的下级) 中按记录顺序列出; region 过滤到某下级区域, q 按名称/标题筛选。"
    " replicas=true 列出上级下发的代表副本。",
)
def list_recorded(
    kind: Annotated[
        ListKind, Path(description="deputies, standing-committees, stations, visits, contacts, suggestions, livelihood-projects")
    ],
    r: Annotated[Reader, Depends(reader)],
    region: Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3})?$", description="下钻区域代码")] = None,
    q: Annotated[str | None, Query(max_length=50, description="名称/标题包含")] = None,
    cursor: Annotated[int, Query(ge=0, le=2**62, description="从该日志位置之后开始")] = 0,
    limit: Annotated[int, Query(ge=1, le=200, description="每页条数")] = 50,
    replicas: Annotated[bool, Query(description="列出上级下发的代表副本 (而非本节点日志) / list the replicas instead")] = False,
) -> ListPage:
    cls, created, fields = _CREATED[kind.value]
    area = r.region(region)
    topics = [get_topic(created)]
    store = r.node.reference if replicas else r.node.store
    items: list[ListItem] = []
    position, pages, end = cursor, 0, False
    while len(items) < limit and pages < _SCAN_BUDGET:
        page = store.recorder.select_notifications(start=position + 1, limit=_PAGE, topics=topics)
        pages += 1
        for notification in page:
            position = notification.id
            event: Any = store.mapper.to_domain_event(notification)
            if not r.gw.access.within(event.owner, area.node_id):
                continue
            if q and q not in f"{getattr(event, 'name', '')}{getattr(event, 'title', '')}":
                continue
            items.append(_item(r, store, event, notification.id, fields, kind.value))
            if len(items) >= limit:
                break
        if not page or (len(page) < _PAGE and position == page[-1].id):
            end = True
            break
    return ListPage(
        kind=kind.value,
        kind_label=kind_label_of(cls),
        region=area.code,
        items=items,
        next_cursor=None if end else position,
        scanned_to=position,
    )


def kind_label_of(cls: type) -> str:
    from gateways.api.encode import KINDS

    return next((label for c, label in KINDS.values() if c is cls), cls.__name__)


def _item(r: Reader, store: Any, event: Any, position: int, fields: tuple[str, ...], kind: str) -> ListItem:
    try:
        aggregate = store.repository.get(event.originator_id)
        state, state_label = state_of(aggregate)
    except Exception:  # noqa: BLE001 - a list still shows an aggregate whose later events this version cannot read
        state, state_label = "unknown", "未知"
    summary = {f: plain(getattr(event, f, None)) for f in fields}
    if not r.unmasked(event.owner):
        summary = mask(summary)
    return ListItem(
        id=event.originator_id,
        kind=kind,
        owner=str(event.owner),
        owner_name=r.gw.node_label(event.owner),
        position=position,
        occurred_at=event.occurred_at,
        recorded_at=event.timestamp,
        state=state,
        state_label=state_label,
        summary=summary,
    )


# -------------------------------------------------------------------------------------------------------- sync


def sync_status_of(gw: Gateway, node: HostedNode) -> SyncStatusView:
    rows = node_status(gw.hierarchy, node.ref, gw.settings)
    head = node.store.max_position()
    up = node.store.recorder.positions().get("up")  # type: ignore[attr-defined]
    has_parent = gw.hierarchy.parent(gw.hierarchy.get(node.ref.node_id)) is not None
    published = (up.position if up else 0) if has_parent else None
    return SyncStatusView(
        node=f"{node.ref.name}({node.ref.code})",
        head=head,
        published=published,
        unpublished=max(head - published, 0) if published is not None else None,
        projected=node.views.position(),
        children=[ChildSync(**row) for row in rows],
        subtree=SubtreeSync(**subtree_health(gw.hierarchy, node.ref, gw.settings)),
    )


@router.get(
    "/nodes/{code}/sync/status",
    response_model=SyncStatusView,
    summary="同步状态 / sync status of the node and its children",
)
def sync_status(r: Annotated[Reader, Depends(reader)]) -> SyncStatusView:
    return sync_status_of(r.gw, r.node)


def _now() -> datetime:
    return datetime.now(UTC)
