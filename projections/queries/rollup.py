"""The 一盘棋 at a glance (the dashboard's one read): every view's figures by region, and the regions furthest behind."""

from __future__ import annotations

from typing import Any

from projections.db import ProjectionDB
from projections.queries.context import together
from projections.queries.coverage import COVERAGE_TARGETS, coverage, follow_up_target
from projections.queries.livelihood import livelihood
from projections.queries.regions import regions
from projections.queries.scope import Scope
from projections.queries.stations import stations
from projections.queries.suggestions import brief_answer, counted_states

_MISSING_LIMIT = 5  # of each target's missing list


def rollup(db: ProjectionDB, scope: Scope) -> dict[str, Any]:
    """Coverage of every target (its worst regions, the first five missing), and the stations', suggestions' and
    livelihood views' figures by region (their lists left out), with the region's children for drill-down."""
    others = tuple(t for t in COVERAGE_TARGETS if t != "follow_up")
    cov, (st, (sg, follow_up), lv, children) = together(  # coverage fans out itself: it runs in this thread
        lambda: coverage(db, scope, targets=others, missing_limit=_MISSING_LIMIT),
        lambda: stations(db, scope, brief=True),
        lambda: _suggestions(db, scope),
        lambda: livelihood(db, scope, brief=True),
        lambda: regions(db, scope),
    )
    found = {t["key"]: t for t in cov["targets"]}
    found["follow_up"] = follow_up
    return {
        "view": "rollup",
        "title": "一盘棋总览",
        "scope": cov["scope"],
        "coverage": [found[key] for key in COVERAGE_TARGETS],
        "stations": {"totals": st["totals"], "by_region": st["by_region"]},
        "suggestions": {k: sg[k] for k in ("totals", "by_state", "by_region")},
        "livelihood": {k: lv[k] for k in ("totals", "by_region", "by_year", "by_state")},
        "regions": children,
    }


def _suggestions(db: ProjectionDB, scope: Scope) -> tuple[dict[str, Any], dict[str, Any]]:
    """The suggestions' figures and the follow-up target, from one reading of the suggestions (as of a cut, their
    states then: the costliest read of an as-of rollup, once instead of twice)."""
    with counted_states(db, scope) as (ctx, found):
        return brief_answer(ctx, found), follow_up_target(ctx, found, 0, _MISSING_LIMIT)
