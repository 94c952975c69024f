"""A node's store checked against its hash chains (and, deep, against its parent's copy of its log), as one result:
what ``yipanqi verify`` prints and ``GET /nodes/{code}/verify`` answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain.base import NodeRef
from domain.hierarchy import Hierarchy
from domain.persistence.verify import ChainCheck, Verification
from domain.store import NodeStores
from gateways import render
from sync.failures import is_store_damage, where


class VerifyError(Exception):
    """The check cannot be made as asked (no store here, no parent to compare with): nothing was read."""


def verify_node(
    hierarchy: Hierarchy,
    stores: NodeStores,
    ref: NodeRef,
    *,
    deep: bool = False,
    progress: Callable[[int, int], Any] | None = None,
) -> dict[str, Any]:
    """The node's chains (``ok``, per origin the first difference), and ``parent`` with ``deep``; a damaged store
    gives ``ok`` false and ``error`` (the file or tables, and the database's error)."""
    if not stores.exists(ref):
        raise VerifyError(f"{render.node_label(ref)} has no store here (`yipanqi node init {ref.code}`)")
    parent = _parent(hierarchy, ref, stores) if deep else None
    started = time.perf_counter()
    try:
        store = stores.open(ref)
        check = store.verify(progress=progress)
        against = store.compare_with(stores.open(parent)) if parent else None
    except Exception as e:
        if not is_store_damage(e):
            raise
        settings = stores.settings.for_level(ref.level)
        found = f"{where(settings, ref.node_id, f'n{ref.node_id.hex}')}: {type(e).__name__}: {e}"
        return {"node": ref.code, "ok": False, "error": found}
    result = verification_dict(hierarchy, ref.code, check, time.perf_counter() - started)
    if parent is not None and against is not None:
        first = min(against.findings, key=lambda f: f.position) if against.findings else None
        result["parent"] = {
            "code": parent.code,
            "held": against.held,
            "compared": against.compared,
            "ok": against.ok,
            "differences": len(against.findings),
            "first": first.as_dict() if first else None,
        }
        result["ok"] = result["ok"] and against.ok
    return result


def _parent(hierarchy: Hierarchy, ref: NodeRef, stores: NodeStores) -> NodeRef:
    """The node's parent, whose store must be reachable from here to compare with."""
    up = hierarchy.parent(hierarchy.get(ref.node_id))
    if up is None:
        raise VerifyError(f"{render.node_label(ref)} has no parent to compare with (deep)")
    parent = hierarchy.ref(up)
    if not stores.exists(parent):
        raise VerifyError(f"the parent {render.node_label(parent)} has no store reachable from here (deep)")
    return parent


def verification_dict(hierarchy: Hierarchy, code: str, check: Verification, seconds: float) -> dict[str, Any]:
    return {
        "node": code,
        "ok": check.ok,
        "events": check.events,
        "unchained": check.unchained,
        "seconds": round(seconds, 3),
        "chains": [_chain(hierarchy, c) for c in sorted(check.chains.values(), key=lambda c: _origin_code(hierarchy, c))],
        "strays": [f.as_dict() for f in check.strays],
    }


def _chain(hierarchy: Hierarchy, chain: ChainCheck) -> dict[str, Any]:
    origin = UUID(bytes=chain.origin)
    first = chain.first
    return {
        "origin": str(origin),
        "code": _origin_code(hierarchy, chain),
        "name": hierarchy.get(origin).name if origin in hierarchy else None,
        "events": chain.events,
        "last_seq": chain.last_seq,
        "sealed": chain.sealed,
        "key_id": chain.current_key or None,
        "ok": first is None,
        "differences": len(chain.findings),
        "first": first.as_dict() if first else None,
    }


def _origin_code(hierarchy: Hierarchy, chain: ChainCheck) -> str:
    origin = UUID(bytes=chain.origin)
    return hierarchy.get(origin).code if origin in hierarchy else str(origin)
