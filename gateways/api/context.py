"""The gateway's state (hosted nodes, their stores, tokens) and the dependencies every route uses.

One process serves many nodes: each hosted node has its store, its reference store (replicas sent down by its
parent) and its group commit (``gateways.api.commit``: commands on one node are decided one at a time in this
process and committed together; a write from another process to the same aggregate is caught by the store's
version check and answered 409).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, TypeVar
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from fastapi import Depends, Header, Path, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from domain.base import Attribution, DomainError, DutyAggregate, NodeRef, Role
from domain.deputies import Deputy
from domain.hierarchy import Hierarchy
from domain.persistence import StoredAnswer
from domain.store import NodeStore, ReferenceStore, StoreSettings
from domain.timeline import FUTURE_TOLERANCE, SHANGHAI, latest
from gateways.api.auth import Access, AuthError, Principal, TokenVerifier
from gateways.api.commit import GroupCommit, Queued
from gateways.api.encode import KINDS, kind_label, kind_of, state_of
from gateways.api.errors import ApiError, ErrorBody, domain_error_body, domain_error_status
from gateways.api.models import Body, Correction, Void
from gateways.api.projection import Keeper, NodeViews
from gateways.api.storage import gateway_db

CST = timezone(timedelta(hours=8), "CST")
A = TypeVar("A", bound=DutyAggregate)

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
    views: NodeViews
    commits: GroupCommit
    _deputies: set[UUID] = field(default_factory=set)
    _readonly: OrderedDict[UUID, Any] = field(default_factory=OrderedDict)

    def current(self, aggregate_id: UUID) -> Any | None:
        """An aggregate of the node's own log to *read* in a command (never to change): kept between commands and
        brought up to date with the events stored after it (read only if its last version moved), instead of
        replayed each time."""
        cached = self._readonly.get(aggregate_id)
        if cached is None:
            try:
                cached = self.store.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        elif self.store.recorder.last_version(aggregate_id) > cached.version:  # type: ignore[attr-defined]
            for stored in self.store.recorder.select_events(aggregate_id, gt=cached.version):
                cached = self.store.mapper.to_domain_event(stored).mutate(cached)  # type: ignore[attr-defined]
        self._readonly[aggregate_id] = cached
        self._readonly.move_to_end(aggregate_id)
        while len(self._readonly) > 2000:
            self._readonly.popitem(last=False)
        return cached

    def knows_deputy(self, deputy_id: UUID) -> bool:
        """Whether a deputy is registered in the node's log or its replicas. Once stored, a registration stays (the
        logs are append-only), so a deputy found is remembered and not read again."""
        if deputy_id in self._deputies:
            return True
        self.commits.settle(deputy_id)
        for store in (self.store, self.reference):
            first = store.recorder.select_events(deputy_id, limit=1)
            if first and first[0].topic == _DEPUTY_REGISTERED:
                if len(self._deputies) >= 100_000:
                    self._deputies.clear()
                self._deputies.add(deputy_id)
                return True
        return False

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

    def __init__(
        self,
        hierarchy: Hierarchy,
        settings: StoreSettings,
        codes: Iterable[str],
        *,
        future_tolerance: timedelta = FUTURE_TOLERANCE,
        clock: Callable[[], datetime] = lambda: datetime.now(SHANGHAI),
    ) -> None:
        """``future_tolerance`` and ``clock``: how far after ``clock()`` a fact may be dated (``domain.timeline``)."""
        self.hierarchy = hierarchy
        self.future_tolerance = future_tolerance
        self.clock = clock
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
            legacy = gateway_db(settings, ref).legacy_answers()
            if legacy:  # kept beside the tokens by an earlier version: into the store, once
                store.append_rows([], beside=legacy)
            self.nodes[ref.node_id] = HostedNode(
                ref=ref,
                store=store,
                reference=ReferenceStore(ref, settings),
                views=NodeViews(store, settings, hierarchy),
                commits=GroupCommit(store),
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
            hosted.commits.close()
            hosted.views.close()
            hosted.store.close()
            hosted.reference.close()


async def gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


_DEPUTY_REGISTERED = get_topic(Deputy.Registered)
_bearer = HTTPBearer(auto_error=False, description="令牌 / token from `yipanqi token issue` (Authorization: Bearer yq_...)")


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _verify(gw: Gateway, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None or not credentials.credentials:
        raise AuthError(401, "an Authorization: Bearer token is required", field="Authorization")
    return gw.verifier.verify(credentials.credentials)


async def principal(gw: Annotated[Gateway, Depends(gateway)], credentials: Bearer) -> Principal:
    return _verify(gw, credentials)


def caller(
    request: Request, code: str, credentials: HTTPAuthorizationCredentials | None
) -> tuple[Gateway, HostedNode, Principal]:
    """The gateway, the node addressed (404 first) and who calls (401): resolved in one dependency rather than a
    tree of them, since every route needs all three and each dependency costs the server time per request."""
    gw: Gateway = request.app.state.gateway
    node = gw.node(code)
    return gw, node, _verify(gw, credentials)


@dataclass(frozen=True)
class OfficeAct:
    """An office's act on its own node (its tokens, its personal data of the public): the gateway, the node, and
    who acts, whose token names the act."""

    gw: Gateway
    node: HostedNode
    who: Principal

    def by(self) -> Attribution:
        """The act, named after the acting token."""
        return Attribution(self.who.subject, self.who.role, datetime.now(UTC), token=self.who.token_id)


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


async def reader(request: Request, code: NodeCode, credentials: Bearer) -> Reader:
    gw, node, who = caller(request, code, credentials)
    gw.access.require_read(who, node.ref)
    return Reader(gw, node, who)


async def auditor(request: Request, code: NodeCode, credentials: Bearer) -> Reader:
    gw, node, who = caller(request, code, credentials)
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
    _main: DutyAggregate | None = None  # the aggregate the command acted on

    # ---------------------------------------------------------------------------------------- attribution

    def by(self, occurred_at: datetime | None = None) -> Attribution:
        """The event's attribution: the token's subject, role and id; when it happened (default: now), dated no later than
        now plus the tolerance."""
        now = self.gw.clock()
        when = occurred_at or now
        if when.tzinfo is None:
            when = when.replace(tzinfo=CST)  # Hunan's offices write local time
        self._by = Attribution(
            self.who.subject, self.who.role, when, latest(now, self.gw.future_tolerance), token=self.who.token_id
        )
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
        self.node.commits.settle(aggregate_id)
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
        if aggregate.void_reason:  # before any command's own checks: whatever it asks, the record is void
            raise aggregate.voided()
        return aggregate

    def deputy(self, deputy_id: UUID, what: str = "deputy_id") -> Deputy:
        """A deputy known here: recorded in this node's log (its own or its subtree's) or replicated from above."""
        self.node.commits.settle(deputy_id)
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
        if not self.node.knows_deputy(deputy_id):
            raise ApiError(
                404,
                f"deputy {deputy_id} is unknown at {self.node.ref.name}({self.node.ref.code}): neither recorded in its "
                "subtree nor sent down by its parent",
                field=what,
            )

    def create(self, aggregate: DutyAggregate) -> Any:
        """A new aggregate to save; if its id is taken (same natural key, or a retry), saving answers 409."""
        self.node.commits.settle(aggregate.id)
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

    async def run(
        self, body: BaseModel | None, action: Callable[[Command], DutyAggregate], *, creating: bool = False
    ) -> Response:
        """Decide (on the event loop, without yielding: see ``gateways.api.commit``), then await the group commit
        of the events and the answer."""
        self.creating = creating
        request_hash = hashlib.sha256(
            f"{self.request.method} {self.request.url.path}\n{body.model_dump_json() if body else ''}".encode()
        ).hexdigest()
        commits = self.node.commits
        if self.key:
            # A retry of an answer committed by this process is answered from memory. Any other request with a key is
            # not looked up first: it is decided like a new command, and its answer, inserted in the transaction of
            # its events, collides with a stored one (from another process, or older), so that nothing of it is
            # written and the stored answer is sent (``_after_conflict``). That saves every first request a read.
            commits.settle(self._key_written)
            earlier = commits.answered(*self._key_written)
            if earlier is not None:
                return self._replay(earlier, request_hash)
        queued = self._decide(action, set(type(body).model_fields) if body else set(), request_hash)
        if not queued.rows and queued.stored is None:
            return _json(queued.body, queued.status)  # refused, and no answer to keep: nothing to commit
        try:
            await commits.commit(queued)
        except IntegrityError:
            return self._after_conflict(request_hash)
        return _json(queued.body, queued.status)

    async def step(
        self,
        cls: type[A],
        aggregate_id: UUID,
        body: Body,
        decide: Callable[[A, Attribution], object],
        *,
        what: str,
        number: int | None = None,
    ) -> Response:
        """The usual command: one of the node's aggregates of kind ``cls`` (``what`` names the field that gave its
        id), one decision on it at the body's time, saved; ``number``: the issue or opinion it concerns."""

        def act(c: Command) -> DutyAggregate:
            aggregate = c.load(cls, aggregate_id, what=what)
            decide(aggregate, c.by(body.occurred_at))
            c.number = number
            return aggregate  # type: ignore[return-value]

        return await self.run(body, act)

    async def correct(self, cls: type[DutyAggregate], aggregate_id: UUID, body: Correction, *, what: str) -> Response:
        """更正 one of the node's own records (see ``DutyAggregate.correct``)."""
        changes = body.changes.model_dump(exclude_none=True)
        since = getattr(body, "effective_from", None)  # only a deputy's attributes carry one

        def decide(aggregate: DutyAggregate, by: Attribution) -> None:
            aggregate.correct(
                self.node.ref, by, fact=body.fact, number=body.number, changes=changes, reason=body.reason, effective_from=since
            )

        return await self.step(cls, aggregate_id, body, decide, what=what, number=body.number)

    async def void(self, cls: type[DutyAggregate], aggregate_id: UUID, body: Void, *, what: str) -> Response:
        """作废 one of the node's own records (see ``DutyAggregate.void``)."""
        return await self.step(cls, aggregate_id, body, lambda a, by: a.void(self.node.ref, by, reason=body.reason), what=what)

    @property
    def _key_written(self) -> tuple[str, str]:
        return (self.who.token_id, self.key or "")

    def _decide(self, action: Callable[[Command], DutyAggregate], fields: set[str], request_hash: str) -> Queued:
        """The command's events as rows and its answer: a rejected command has no rows, only an answer."""
        rows: list[Any] = []
        try:
            main = self._main = action(self)
            self.touch(main)
            events = [
                {"type": type(e).__qualname__, "label": getattr(e, "label", "")} for a in self.pending for e in a.pending_events
            ]
            rows = self.node.store.take_rows(self.pending)
            status, content = (201 if self.creating else 200), self._result(main, events).model_dump_json(exclude_none=True)
        except DomainError as e:
            status = domain_error_status(e, creating=self.creating)
            content = domain_error_body(e, status, fields).model_dump_json(exclude_none=True)
        except ApiError as e:
            status, content = e.status, e.body.model_dump_json(exclude_none=True)
        body = content.encode()
        writes: set[Any] = {a.id for a in self.pending}
        stored = None
        if self.key:
            stored = StoredAnswer(self.who.token_id, self.key, request_hash, status, body)
            writes.add(self._key_written)
        return Queued(rows, status, body, stored, frozenset(writes))

    def _result(self, main: DutyAggregate, events: list[dict[str, str]]) -> CommandResult:
        state, state_label = state_of(main)
        return CommandResult(
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

    def _after_conflict(self, request_hash: str) -> Response:
        """The commit failed on a version or a key another writer took meanwhile (e.g. another gateway process)."""
        if self.key:
            earlier = self.node.store.recorder.answer(self.who.token_id, self.key)  # type: ignore[attr-defined]
            if earlier is not None:  # a concurrent retry of this very request was recorded first
                return self._replay(earlier, request_hash)
        created = self._main if self.creating else None
        if created is None or created.version != 1 or not self.node.store.contains(created.id):
            raise ApiError(409, "the aggregate changed meanwhile (concurrent write); retry")  # transient: not recorded
        error = self._exists_already(created.id)
        body = error.body.model_dump_json(exclude_none=True).encode()
        if self.key:
            answer = StoredAnswer(self.who.token_id, self.key, request_hash, error.status, body)
            with contextlib.suppress(IntegrityError):  # taken meanwhile: that answer stands, this one is not kept
                self.node.store.append_rows([], beside=[answer])
        return _json(body, error.status)

    def _replay(self, earlier: StoredAnswer, request_hash: str) -> Response:
        if earlier.request_hash != request_hash:
            raise ApiError(
                422,
                "this Idempotency-Key was used for a different request; use a new key for a new request",
                field="Idempotency-Key",
            )
        return _json(earlier.body, earlier.status, {"Idempotent-Replayed": "true"})


def _json(body: bytes, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def _label(cls: type) -> str:
    return next((label for c, label in KINDS.values() if c is cls), cls.__name__)


async def writer(request: Request, code: NodeCode, credentials: Bearer, key: IdempotencyKey = None) -> Command:
    gw, node, who = caller(request, code, credentials)
    gw.access.require_write(who, node.ref)
    return Command(gw, node, who, key, request)


async def deputy_writer(request: Request, code: NodeCode, credentials: Bearer, key: IdempotencyKey = None) -> Command:
    gw, node, who = caller(request, code, credentials)
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
    "caller",
    "deputy_writer",
    "gateway",
    "principal",
    "reader",
    "writer",
]
