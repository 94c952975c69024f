"""The gateway's state (hosted nodes, their stores, tokens) and the dependencies every route uses.

One process serves many nodes: each hosted node has its store, its reference store (replicas sent down by its
parent), its gateway tables and a write lock (commands on one node run one at a time in this process: load, decide,
save; a write from another process to the same aggregate is caught by the store's version check and answered 409).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from fastapi import Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from domain.base import Attribution, DomainError, DutyAggregate, NodeRef, Role
from domain.deputies import Deputy
from domain.hierarchy import Hierarchy
from domain.store import NodeStore, ReferenceStore, StoreSettings
from gateways.api.auth import Access, AuthError, Principal, TokenVerifier
from gateways.api.encode import KINDS, kind_label, kind_of, plain, state_of
from gateways.api.errors import ApiError, ErrorBody, domain_error_body, domain_error_status
from gateways.api.projection import Keeper, NodeViews
from gateways.api.storage import GatewayDB, gateway_db

CST = timezone(timedelta(hours=8), "CST")

NodeCode = Annotated[
    str,
    Path(
        description="节点区划代码 (省/市州/县市区 6 位, 乡镇街道 9 位; 曾用代码亦可) / the node's division code",
        pattern=r"^[0-9]{6}([0-9]{3})?$",
        examples=["430582"],
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="幂等键: 同一键重试返回首次应答且不重复记录; 同键不同请求体返回 422 / retry key",
    ),
]


@dataclass
class HostedNode:
    ref: NodeRef
    store: NodeStore
    reference: ReferenceStore
    db: GatewayDB
    views: NodeViews
    lock: threading.Lock = field(default_factory=threading.Lock)
    _readonly: OrderedDict[UUID, Any] = field(default_factory=OrderedDict)

    def current(self, aggregate_id: UUID) -> Any | None:
        """An aggregate of the node's own log to *read* in a command (never to change): kept between commands and
        brought up to date with the events stored after it (one indexed read), instead of replayed each time."""
        cached = self._readonly.get(aggregate_id)
        if cached is None:
            try:
                cached = self.store.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        else:
            for stored in self.store.recorder.select_events(aggregate_id, gt=cached.version):
                cached = self.store.mapper.to_domain_event(stored).mutate(cached)  # type: ignore[attr-defined]
        self._readonly[aggregate_id] = cached
        self._readonly.move_to_end(aggregate_id)
        while len(self._readonly) > 2000:
            self._readonly.popitem(last=False)
        return cached

    def find(self, aggregate_id: UUID) -> tuple[Any, bool] | None:
        """An aggregate from the node's log, else from its replicas; with whether it is a replica."""
        for store, replica in ((self.store, False), (self.reference, True)):
            try:
                return store.repository.get(aggregate_id), replica
            except AggregateNotFoundError:
                continue
        return None


class Gateway:
    """Everything the routes share."""

    def __init__(self, hierarchy: Hierarchy, settings: StoreSettings, codes: Iterable[str]) -> None:
        self.hierarchy = hierarchy
        self.settings = settings
        self.access = Access(hierarchy)
        self.verifier = TokenVerifier(hierarchy, settings)
        self.nodes: dict[UUID, HostedNode] = {}
        for code in codes:
            division = hierarchy.resolve(code)
            if division.id in self.nodes:
                continue
            ref = hierarchy.ref(division)
            store = NodeStore(ref, settings)
            self.nodes[ref.node_id] = HostedNode(
                ref=ref,
                store=store,
                reference=ReferenceStore(ref, settings),
                db=gateway_db(settings, ref.node_id),
                views=NodeViews(store, settings, hierarchy),
            )
        if not self.nodes:
            raise ValueError("a gateway serves at least one node")
        self.keeper = Keeper([n.views for n in self.nodes.values()])

    def node(self, code: str) -> HostedNode:
        try:
            division = self.hierarchy.by_code(code)
        except DomainError:
            raise ApiError(404, f"no division has code {code}", field="code") from None
        hosted = self.nodes.get(division.id)
        if hosted is None:
            served = ", ".join(f"{n.ref.name}({n.ref.code})" for n in self.nodes.values())
            raise ApiError(
                404, f"{division.name}({division.code}) is not served by this gateway (served: {served})", field="code"
            )
        return hosted

    def node_label(self, node_id: UUID) -> str:
        try:
            ref = self.hierarchy.ref(self.hierarchy.get(node_id))
            return f"{ref.name}({ref.code})"
        except DomainError:
            return str(node_id)

    def close(self) -> None:
        self.keeper.stop()
        for hosted in self.nodes.values():
            hosted.views.close()
            hosted.store.close()
            hosted.reference.close()


async def gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


_DEPUTY_REGISTERED = get_topic(Deputy.Registered)
_bearer = HTTPBearer(auto_error=False, description="令牌 / token from `yipanqi token issue` (Authorization: Bearer yq_...)")


async def principal(
    gw: Annotated[Gateway, Depends(gateway)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise AuthError(401, "an Authorization: Bearer token is required", field="Authorization")
    return gw.verifier.verify(credentials.credentials)


async def strict_query(request: Request) -> None:
    """Refuse query parameters a route does not take: a misspelt filter is an error, never silently ignored."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = {p.alias for p in _all_query_params(dependant)}
    unknown = sorted(k for k in request.query_params if k not in known)
    if unknown:
        raise ApiError(
            422,
            f"unknown query parameter {unknown[0]!r} (this route takes: {', '.join(sorted(known)) or 'none'})",
            field=f"query.{unknown[0]}",
        )


def _all_query_params(dependant: Any) -> list[Any]:
    params = list(dependant.query_params)
    for sub in dependant.dependencies:
        params += _all_query_params(sub)
    return params


async def hosted_node(code: NodeCode, gw: Annotated[Gateway, Depends(gateway)]) -> HostedNode:
    return gw.node(code)


@dataclass
class Reader:
    """A read at one node by one principal."""

    gw: Gateway
    node: HostedNode
    who: Principal

    def unmasked(self, owner: UUID | None) -> bool:
        return self.gw.access.sees_personal_data(self.who, owner)

    def region(self, code: str | None) -> NodeRef:
        """A drill-down region: within this node's subtree (and so within the token's)."""
        if not code:
            return self.node.ref
        try:
            division = self.gw.hierarchy.by_code(code)
        except DomainError:
            raise ApiError(404, f"no division has code {code}", field="region") from None
        if not self.gw.access.within(division.id, self.node.ref.node_id):
            raise ApiError(403, f"{division.name}({code}) is outside {self.node.ref.name}'s subtree", field="region")
        return self.gw.hierarchy.ref(division)


async def reader(
    node: Annotated[HostedNode, Depends(hosted_node)],
    who: Annotated[Principal, Depends(principal)],
    gw: Annotated[Gateway, Depends(gateway)],
) -> Reader:
    gw.access.require_read(who, node.ref)
    return Reader(gw, node, who)


async def auditor(
    node: Annotated[HostedNode, Depends(hosted_node)],
    who: Annotated[Principal, Depends(principal)],
    gw: Annotated[Gateway, Depends(gateway)],
) -> Reader:
    gw.access.require_read(who, node.ref, audit=True)
    return Reader(gw, node, who)


# ---------------------------------------------------------------------------------------------------- commands


class CommandResult(BaseModel):
    """命令结果 / what a command recorded."""

    id: UUID
    kind: str
    kind_label: str
    node: str
    version: int
    state: str
    state_label: str
    events: list[dict[str, str]]
    number: int | None = None
    recorded_by: str


@dataclass
class Command:
    """A write at one node: who, the node, the Idempotency-Key, and the aggregates to save."""

    gw: Gateway
    node: HostedNode
    who: Principal
    key: str | None
    request: Request
    creating: bool = False
    pending: list[DutyAggregate] = field(default_factory=list)
    number: int | None = None  # the number of an issue or opinion a command added
    _by: Attribution | None = None

    # ---------------------------------------------------------------------------------------- attribution

    def by(self, occurred_at: datetime | None = None) -> Attribution:
        """The event's attribution: the token's subject and role; when it happened (default: now)."""
        when = occurred_at or datetime.now(UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=CST)  # Hunan's offices write local time
        self._by = Attribution(self.who.subject, self.who.role, when)
        return self._by

    def new_id(self, kind: str) -> UUID | None:
        """An id for an aggregate without a natural key: derived from the Idempotency-Key when there is one, so a
        retry after a lost answer cannot create a second aggregate."""
        if not self.key:
            return None
        return uuid5(self.node.ref.node_id, f"{kind}/{self.who.token_id}/{self.key}")

    # ---------------------------------------------------------------------------------------------- loading

    def load(self, cls: type[Any], aggregate_id: UUID, *, what: str = "aggregate", read_only: bool = False) -> Any:
        """One of this node's own aggregates, of the expected kind, to act on (``read_only``: only to read, e.g. the
        station a visit is recorded at; it may then come from the node's cache of current aggregates)."""
        if read_only:
            current = self.node.current(aggregate_id)
            if current is not None and isinstance(current, cls) and current.owner == self.node.ref.node_id:
                return current
        found = self.node.find(aggregate_id)
        if found is None:
            raise ApiError(404, f"no {_label(cls)} {aggregate_id} at {self.node.ref.name}({self.node.ref.code})", field=what)
        aggregate, replica = found
        if not isinstance(aggregate, cls):
            raise ApiError(
                404, f"{aggregate_id} is a {kind_label(aggregate)}, not a {_label(cls)}", field=what, aggregate=str(aggregate_id)
            )
        if replica or aggregate.owner != self.node.ref.node_id:
            raise ApiError(
                403,
                f"{_label(cls)} {aggregate_id} is owned by {self.gw.node_label(aggregate.owner)}: only its owner records it",
                field=what,
                aggregate=str(aggregate_id),
            )
        return aggregate

    def deputy(self, deputy_id: UUID, what: str = "deputy_id") -> Deputy:
        """A deputy known here: recorded in this node's log (its own or its subtree's) or replicated from above."""
        found = self.node.find(deputy_id)
        if found is None or not isinstance(found[0], Deputy):
            raise ApiError(
                404,
                f"deputy {deputy_id} is unknown at {self.node.ref.name}({self.node.ref.code}): neither recorded in its "
                "subtree nor sent down by its parent",
                field=what,
            )
        return found[0]

    def deputy_exists(self, deputy_id: UUID, what: str = "deputy_ids") -> None:
        """Like ``deputy`` for a check of existence only: reads one stored event, not the whole aggregate."""
        for store in (self.node.store, self.node.reference):
            first = store.recorder.select_events(deputy_id, limit=1)
            if first and first[0].topic == _DEPUTY_REGISTERED:
                return
        raise ApiError(
            404,
            f"deputy {deputy_id} is unknown at {self.node.ref.name}({self.node.ref.code}): neither recorded in its "
            "subtree nor sent down by its parent",
            field=what,
        )

    def create(self, aggregate: DutyAggregate) -> Any:
        """A new aggregate to save; if its id is taken (same natural key, or a retry), saving answers 409."""
        self.pending.append(aggregate)
        return aggregate

    def _exists_already(self, aggregate_id: UUID) -> ApiError:
        existing = self.node.store.get(aggregate_id)
        return ApiError(
            409,
            f"{kind_label(existing)} {aggregate_id} exists already (same natural key)",
            aggregate=str(aggregate_id),
            state=state_of(existing)[0],
        )

    def touch(self, *aggregates: DutyAggregate) -> None:
        for aggregate in aggregates:
            if aggregate not in self.pending:
                self.pending.append(aggregate)

    # ---------------------------------------------------------------------------------------------- running

    def run(
        self,
        body: BaseModel | None,
        action: Callable[[Command], DutyAggregate],
        *,
        creating: bool = False,
        fields: set[str] | None = None,
    ) -> JSONResponse:
        self.creating = creating
        request_hash = hashlib.sha256(
            f"{self.request.method} {self.request.url.path}\n{body.model_dump_json() if body else ''}".encode()
        ).hexdigest()
        if self.key:
            earlier = self.node.db.lookup_answer(self.who.token_id, self.key)
            if earlier is not None:
                return self._replay(earlier, request_hash)
        # One command at a time per node in this process: load, decide, save, remember the answer.
        with self.node.lock:
            if self.key:
                earlier = self.node.db.lookup_answer(self.who.token_id, self.key)  # a concurrent retry got here first
                if earlier is not None:
                    return self._replay(earlier, request_hash)
            try:
                status, content = self._execute(action, fields or set())
            except ApiError as e:
                if e.status == 409 and "concurrent" in e.body.rule:
                    raise  # transient: not the request's answer, the client retries with the same key
                status, content = e.status, e.body.model_dump(exclude_none=True)
            if self.key:
                self.node.db.record_answer(self.who.token_id, self.key, request_hash, status, content)
        return JSONResponse(content, status_code=status)

    def _replay(self, earlier: Any, request_hash: str) -> JSONResponse:
        if earlier.request_hash != request_hash:
            raise ApiError(
                422,
                "this Idempotency-Key was used for a different request; use a new key for a new request",
                field="Idempotency-Key",
            )
        return JSONResponse(earlier.body, status_code=earlier.status_code, headers={"Idempotent-Replayed": "true"})

    def _execute(self, action: Callable[[Command], DutyAggregate], fields: set[str]) -> tuple[int, dict[str, Any]]:
        try:
            main = action(self)
        except DomainError as e:
            status = domain_error_status(e, creating=self.creating)
            return status, domain_error_body(e, status, fields).model_dump(exclude_none=True)
        self.touch(main)
        events = [
            {"type": type(e).__qualname__, "label": getattr(e, "label", "")} for a in self.pending for e in a.pending_events
        ]
        try:
            self.node.store.save_all(self.pending)
        except IntegrityError:
            if self.creating and self.node.store.contains(main.id) and main.version == 1:
                raise self._exists_already(main.id) from None
            raise ApiError(409, "the aggregate changed meanwhile (concurrent write); retry") from None
        state, state_label = state_of(main)
        result = CommandResult(
            id=main.id,
            kind=kind_of(main),
            kind_label=kind_label(main),
            node=f"{self.node.ref.name}({self.node.ref.code})",
            version=main.version,
            state=state,
            state_label=state_label,
            events=events,
            number=self.number,
            recorded_by=self.who.label,
        )
        return (201 if self.creating else 200), plain(result.model_dump(exclude_none=True))


def _label(cls: type) -> str:
    return next((label for c, label in KINDS.values() if c is cls), cls.__name__)


async def writer(
    request: Request,
    node: Annotated[HostedNode, Depends(hosted_node)],
    who: Annotated[Principal, Depends(principal)],
    gw: Annotated[Gateway, Depends(gateway)],
    key: IdempotencyKey = None,
) -> Command:
    gw.access.require_write(who, node.ref)
    return Command(gw, node, who, key, request)


async def deputy_writer(
    request: Request,
    node: Annotated[HostedNode, Depends(hosted_node)],
    who: Annotated[Principal, Depends(principal)],
    gw: Annotated[Gateway, Depends(gateway)],
    key: IdempotencyKey = None,
) -> Command:
    gw.access.require_deputy(who, node.ref)
    return Command(gw, node, who, key, request)


__all__ = [
    "Command",
    "CommandResult",
    "ErrorBody",
    "Gateway",
    "HostedNode",
    "Reader",
    "Role",
    "auditor",
    "deputy_writer",
    "gateway",
    "principal",
    "reader",
    "writer",
]
