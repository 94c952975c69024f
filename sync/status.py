"""Sync status read from the stores: what each node holds of each child, how far behind, what is parked, and which
streams wait on a gap (the ingest keeps that beside the positions: this runs in another process).

A child's head and lag are known when its store is reachable from here (same data directory or database);
otherwise they show as unknown, and the position held and anything parked are still shown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.base import NodeRef
from domain.hierarchy import Hierarchy
from domain.persistence import ParkedMessage, StreamHalt
from domain.store import NodeStore, NodeStores, StoreSettings

STATE_LABELS = {
    "following": "正常",
    "behind": "追赶中",
    "gap": "缺口, 等待重发",
    "parked": "已搁置",
    "unknown": "无本地存储",
}


def node_status(hierarchy: Hierarchy, node: NodeRef, settings: StoreSettings) -> list[dict[str, Any]]:
    with NodeStores(settings) as stores:
        if not stores.exists(node):
            return []
        store = stores.open(node)
        positions = store.recorder.positions()
        parked = {m.stream: m for m in reversed(store.recorder.parked())}
        halts = store.recorder.halts()
        rows = []
        for division in hierarchy.children(hierarchy.get(node.node_id)):
            child = hierarchy.ref(division)
            stream = str(child.node_id)
            held = positions[stream].position if stream in positions else 0
            lag = _lag(stores.open(child), held) if stores.exists(child) else None
            row = {
                "node": f"{node.name}({node.code})",
                "child": f"{child.name}({child.code})",
                "position": held,
                "child_head": lag[0] if lag else None,
                "lag_events": lag[1] if lag else None,
                "lag_s": lag[2] if lag else None,
                "state": "following",
                "reason": "",
                "since": None,
            }
            if lag is None:
                row["state"] = "unknown"
            halted = _halted(stream, parked, halts)
            if halted:
                row.update(halted)
            elif lag and lag[1]:
                row["state"] = "behind"
            row["state_label"] = STATE_LABELS[row["state"]]
            rows.append(row)
        return rows


def _halted(stream: str, parked: dict[str, ParkedMessage], halts: dict[str, StreamHalt]) -> dict[str, Any] | None:
    """A stream held up by poison (parked) or waiting for a re-publish (gap): state, reason and since when."""
    if stream in parked:
        message = parked[stream]
        return {"state": "parked", "reason": f"@{message.position}: {message.reason}", "since": message.parked_at.isoformat()}
    if stream in halts:
        halt = halts[stream]
        reason = f"{halt.reason} (since {halt.since:%Y-%m-%d %H:%M:%S %Z})"
        return {"state": "gap", "reason": reason, "since": halt.since.isoformat()}
    return None


def _lag(child: NodeStore, held: int) -> tuple[int, int, float]:
    """The child's head, how many of its events we lack, and how old the oldest of them is (seconds)."""
    head = child.max_position()
    missing = child.recorder.select_notifications(start=held + 1, limit=1)
    if not missing:
        return head, 0, 0.0
    count = sum(1 for _ in child.iter_notifications(start=held + 1))
    # The state's recording time, without resolving the event's class: the oldest missing event may be of a type
    # this version does not know (the very case where an operator needs the status: a parked stream).
    oldest = child.mapper.transcoder.decode(missing[0].state)["timestamp"]
    return head, count, round((datetime.now(UTC) - oldest).total_seconds(), 1)
