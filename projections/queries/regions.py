"""Drill-down: a region's children, and ranking regions by a view's metric."""

from __future__ import annotations

from typing import Any

from projections.db import ProjectionDB
from projections.queries.context import Ctx
from projections.queries.scope import Scope


def regions(db: ProjectionDB, scope: Scope) -> dict[str, Any]:
    """The scope region's children, for drill-down (every view's ``--region`` accepts their codes)."""
    with db.connect() as conn:
        ctx = Ctx(db, scope, conn)
        return {"region": ctx.region_label(scope.region_id), "children": ctx.children()}


def rank_regions(rows: list[dict[str, Any]], metric: str, *, n: int = 3, lowest: bool = True) -> list[dict[str, Any]]:
    """Top or bottom regions of a view's ``by_region`` by one of its metrics (regions without it are left out)."""
    present = [r for r in rows if r.get(metric) is not None]
    return sorted(present, key=lambda r: (r[metric], r.get("code", "")), reverse=not lowest)[:n]
