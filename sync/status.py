"""Sync status read from a node's store (another process than the sync job): each child's stream, and the health of
every stream in the node's subtree.

What the running ingest observed (``sync_state`` kind ``stream``: state, the child's head, since when, why) is the
first source; durable facts override it (parked messages, halts). A child's head and lag are also read from the
child's store when it is reachable from here (same data directory or database), which is all there is when the sync
job does not run. Below the children, the health reports they sent up (kind ``report``) say how their subtrees
stand; every stream nobody reports on counts as unknown, so "全部正常" means every stream of the subtree follows.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain.base import NodeRef
from domain.hierarchy import Division, Hierarchy
from domain.persistence import ParkedMessage, StreamHalt
from domain.store import NodeStore, NodeStores, StoreSettings
from sync.failures import StoreFailure, failure_of, is_store_damage, where
from sync.health import STATES, Health, StreamState, StreamStatus
from sync.ingest import DIVERGED

#: An observation older than this was left by a sync job that no longer runs (a running one re-saves every minute).
FRESH_S = 90.0
#: The most problem streams a subtree summary lists.
LISTED = 50


def node_status(hierarchy: Hierarchy, node: NodeRef, settings: StoreSettings) -> list[dict[str, Any]]:
    """One row per child: position held, the child's head, lag, state (with its Chinese label), why, since when."""
    with NodeStores(settings) as stores:
        if not stores.exists(node):
            return []
        return [_row(hierarchy, node, status, lag_s) for status, lag_s in _streams(hierarchy, node, stores)]


def subtree_health(hierarchy: Hierarchy, node: NodeRef, settings: StoreSettings) -> dict[str, Any]:
    """Every stream of the node's subtree: counts per state, per region (the node's children), the problems, and
    the verdict ("全部正常" only when every one follows)."""
    with NodeStores(settings) as stores:
        if not stores.exists(node):
            return _summary(hierarchy, node, Health())
        store = stores.open(node)
        own = [status for status, _ in _streams(hierarchy, node, stores)]
        health = Health.of(own)
        reports = store.books.state("report")
        for status in own:
            report = reports.get(str(status.child))
            if report is not None:
                vouched = status.state not in (StreamState.SILENT, StreamState.UNKNOWN)
                health.include(Health.decode(json.loads(report)), vouched=vouched, why=f"{status.child} is {status.state.value}")
    _count_unreported(hierarchy, node, health)
    return _summary(hierarchy, node, health)


def _streams(hierarchy: Hierarchy, node: NodeRef, stores: NodeStores) -> list[tuple[StreamStatus, float | None]]:
    """Each child's stream, and how old the oldest event we lack is (seconds; when the child's store is here)."""
    store = stores.open(node)
    books = store.books
    positions, halts, observed = books.positions(), books.halts(), books.state("stream")
    parked = {m.stream: m for m in reversed(books.parked())}
    out = []
    for division in hierarchy.children(hierarchy.get(node.node_id)):
        child = hierarchy.ref(division)
        stream = str(child.node_id)
        held = positions[stream].position if stream in positions else 0
        seen = json.loads(observed[stream]) if stream in observed else None
        local, head, failure = _child_store(child, stores)
        status = _judge(node, child, held, seen, head, parked.get(stream), halts.get(stream))
        if failure is not None:
            status = _with(status, StreamState.FAILED, failure.at, failure.reason)
        out.append((status, _oldest_missing_s(local, held) if local is not None and head and head > held else None))
    return out


def _child_store(child: NodeRef, stores: NodeStores) -> tuple[NodeStore | None, int | None, StoreFailure | None]:
    """The child's store and head where it is reachable from here, or why it failed (as its sync process recorded
    it, or as reading it here found: a damaged child store must not stop the status of its siblings)."""
    settings = stores.settings.for_level(child.level)
    failure = failure_of(settings, child.node_id)
    if failure is not None or not stores.exists(child):
        return None, None, failure
    try:
        local = stores.open(child)
        return local, local.max_position(), None
    except Exception as e:
        if not is_store_damage(e):
            raise
        found = StoreFailure(
            str(child.node_id),
            child.code,
            where(settings, child.node_id, f"n{child.node_id.hex}"),
            f"{type(e).__name__}: {e}",
            datetime.now(UTC).isoformat(),
        )
        return None, None, found


def _oldest_missing_s(child: NodeStore, held: int) -> float | None:
    """How long ago the oldest event we lack was recorded (read from the state, without resolving the event's class:
    it may be of a type this version does not know, the very case where an operator needs the status)."""
    missing = child.recorder.select_notifications(start=held + 1, limit=1)
    if not missing:
        return None
    oldest = child.mapper.transcoder.decode(missing[0].state)["timestamp"]
    return round((datetime.now(UTC) - oldest).total_seconds(), 1)


def _judge(
    node: NodeRef,
    child: NodeRef,
    held: int,
    seen: dict[str, Any] | None,
    local_head: int | None,
    parked: ParkedMessage | None,
    halt: StreamHalt | None,
) -> StreamStatus:
    head = max(local_head or 0, seen["head"] if seen else 0, held)
    status = StreamStatus(node.node_id, child.node_id, StreamState.FOLLOWING, held, head)
    if parked is not None:
        state = StreamState.DIVERGED if parked.reason.startswith(DIVERGED) else StreamState.PARKED
        return _with(status, state, parked.parked_at.isoformat(), f"@{parked.position}: {parked.reason}")
    if halt is not None:
        return _with(status, StreamState.GAP, halt.since.isoformat(), f"{halt.reason} (since {halt.since:%Y-%m-%d %H:%M:%S %Z})")
    if seen is not None and _age(seen["at"]) < FRESH_S:
        return _with(status, StreamState(seen["state"]), seen.get("since"), seen.get("reason", ""))
    stopped = f"同步未运行 the sync job has not run here since {seen['at']}" if seen else "同步从未运行 no sync job has run here"
    if local_head is None:
        return _with(status, StreamState.UNKNOWN, None, f"{stopped}; the child's store is not reachable from here")
    return _with(status, StreamState.BEHIND if head > held else StreamState.FOLLOWING, None, stopped if head > held else "")


def _with(status: StreamStatus, state: StreamState, since: str | None, reason: str) -> StreamStatus:
    return StreamStatus(status.parent, status.child, state, status.held, status.head, since, reason)


def _age(iso: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()


def _row(hierarchy: Hierarchy, node: NodeRef, status: StreamStatus, lag_s: float | None) -> dict[str, Any]:
    child = hierarchy.ref(hierarchy.get(status.child))
    known = status.state is not StreamState.UNKNOWN
    return {
        "node": f"{node.name}({node.code})",
        "child": f"{child.name}({child.code})",
        "position": status.held,
        "child_head": status.head if known else None,
        "lag_events": max(0, status.head - status.held) if known else None,
        "lag_s": lag_s if lag_s is not None else (0.0 if known and status.head <= status.held else None),
        "state": status.state.value,
        "state_label": status.state.label,
        "reason": status.reason,
        "since": status.since,
    }


def _count_unreported(hierarchy: Hierarchy, node: NodeRef, health: Health) -> None:
    """Streams of the subtree that no report covers (a part of the tree whose sync never reported) are unknown."""
    for division in hierarchy.subtree(hierarchy.get(node.node_id)):
        expected = len(hierarchy.children(division))
        reported = sum(health.counts.get(division.id, Counter()).values())
        if expected > reported:
            health.counts.setdefault(division.id, Counter())[StreamState.UNKNOWN] += expected - reported


def _summary(hierarchy: Hierarchy, node: NodeRef, health: Health) -> dict[str, Any]:
    total = health.total()
    regions: dict[UUID, Counter[StreamState]] = {}
    root = hierarchy.get(node.node_id)
    for parent, counts in health.counts.items():
        region = _region_of(hierarchy, root, parent)
        regions.setdefault(region, Counter()).update(counts)
    streams = sum(total.values())
    following = total.get(StreamState.FOLLOWING, 0)
    return {
        "streams": streams,
        "following": following,
        "all_following": streams > 0 and following == streams,
        "verdict": _verdict(total, streams),
        "by_state": {s.value: total.get(s, 0) for s in STATES},
        "labels": {s.value: s.label for s in STATES},
        "regions": sorted(
            (_region_row(hierarchy, region, counts) for region, counts in regions.items()),
            key=lambda r: (r["following"] - r["streams"], r["code"]),
        ),
        "problems": [_problem(hierarchy, p) for p in health.problems[:LISTED]],
        "unlisted": max(0, len(health.problems) - LISTED) + health.truncated,
    }


def _verdict(total: Counter[StreamState], streams: int) -> str:
    if not streams:
        return "无下级 no streams"
    if total.get(StreamState.FOLLOWING, 0) == streams:
        return "全部正常 all streams follow"
    return " · ".join(f"{total[s]} {s.label}" for s in STATES if s is not StreamState.FOLLOWING and total.get(s))


def _region_of(hierarchy: Hierarchy, root: Division, parent: UUID) -> UUID:
    """The child of ``root`` whose subtree holds ``parent`` (``root`` itself for its own streams)."""
    division: Division | None = hierarchy.get(parent)
    while division is not None and division.id != root.id:
        up = hierarchy.parent(division)
        if up is not None and up.id == root.id:
            return division.id
        division = up
    return root.id


def _region_row(hierarchy: Hierarchy, region: UUID, counts: Counter[StreamState]) -> dict[str, Any]:
    ref = hierarchy.ref(hierarchy.get(region))
    streams = sum(counts.values())
    return {
        "code": ref.code,
        "name": ref.name,
        "streams": streams,
        "following": counts.get(StreamState.FOLLOWING, 0),
        "by_state": {s.value: counts[s] for s in STATES if counts.get(s)},
    }


def _problem(hierarchy: Hierarchy, p: StreamStatus) -> dict[str, Any]:
    def label(node_id: UUID) -> str:
        ref = hierarchy.ref(hierarchy.get(node_id))
        return f"{ref.name}({ref.code})"

    return {
        "node": label(p.parent),
        "child": label(p.child),
        "state": p.state.value,
        "state_label": p.state.label,
        "held": p.held,
        "head": p.head,
        "since": p.since,
        "reason": p.reason,
    }
