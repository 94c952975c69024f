"""The 一盘棋 at a glance (the dashboard's one read): every view's figures by region, and the regions furthest behind."""

from __future__ import annotations

from typing import Any

from projections.db import ProjectionDB
from projections.queries.context import together
from projections.queries.coverage import coverage
from projections.queries.livelihood import livelihood
from projections.queries.regions import regions
from projections.queries.scope import Scope
from projections.queries.stations import stations
from projections.queries.suggestions import suggestions


def rollup(db: ProjectionDB, scope: Scope) -> dict[str, Any]:
    """Coverage of every target (its worst regions, the first five missing), and the stations', suggestions' and
    livelihood views' figures by region (their lists left out), with the region's children for drill-down."""
    cov, (st, sg, lv, children) = together(  # coverage fans out itself: it runs in this thread
        lambda: coverage(db, scope, missing_limit=5),
        lambda: stations(db, scope, brief=True),
        lambda: suggestions(db, scope, brief=True),
        lambda: livelihood(db, scope, brief=True),
        lambda: regions(db, scope),
    )
    return {
        "view": "rollup",
        "title": "一盘棋总览",
        "scope": cov["scope"],
        "coverage": cov["targets"],
        "stations": {"totals": st["totals"], "by_region": st["by_region"]},
        "suggestions": {k: sg[k] for k in ("totals", "by_state", "by_region")},
        "livelihood": {k: lv[k] for k in ("totals", "by_region", "by_year", "by_state")},
        "regions": children,
    }
