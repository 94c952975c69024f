"""The 一盘棋 report of a node for a region: project what the node's log holds, then one screen of every view."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType

from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings
from projections import queries, report
from projections.db import ProjectionDB
from projections.projector import Projector


def yipanqi_report(
    store: NodeStore,
    settings: StoreSettings,
    *,
    region: str | None = None,
    hierarchy: Hierarchy | None = None,
    env_hint: str = "",
    as_of_hint: str = "",
) -> tuple[list[RenderableType], dict[str, Any]]:
    """Catch the node's projection up, then render coverage (with the worst regions and who is missing), stations,
    the suggestions pipeline and livelihood projects, with the commands to look further."""
    hierarchy = hierarchy or Hierarchy.load()
    db = ProjectionDB(store.node, settings, hierarchy=hierarchy).open()
    try:
        stats = Projector(store, db, hierarchy=hierarchy).run()
        scope = queries.make_scope(db, region=region, hierarchy=hierarchy)
        coverage = queries.coverage(db, scope, missing_limit=3)
        stations = queries.stations(db, scope, limit=5)
        suggestions = queries.suggestions(db, scope, limit=3)
        livelihood = queries.livelihood(db, scope, limit=3)
    finally:
        db.dispose()
    node, where = store.node.code, scope.region_code
    run = ".venv/bin/yipanqi report"
    steps = [f"export {env_hint.strip()}"] if env_hint.strip() else []
    steps += [
        f"{run} coverage --node {node} --region {where} --target practical_deed --limit 50   (谁还没办实事 who is missing)",
        f"{run} coverage --node {node} --region {where} --format csv > coverage.csv   (表格 for Excel)",
        f"{run} stations --node {node} --region {where} --idle-days 14",
        f"{run} suggestions --node {node} --region {where}   ·   {run} livelihood --node {node} --region {where}",
        f"{run} duty --node {node} --region {where}   (最不活跃的代表 least active; --deputy <姓名|人员编号> 履职档案)",
        f"{run} coverage --node {node} --region {where} --as-of {as_of_hint or scope.ref_day} --by occurred   (当时的一盘棋)",
        ".venv/bin/yipanqi projections rebuild --node " + node + "   (从日志重建 rebuild from the log)",
    ]
    renderables = report.yipanqi(coverage, stations, suggestions, livelihood, next_steps=steps)
    return renderables, {
        "projected": stats.read,
        "coverage": {t["key"]: t["rate"] for t in coverage["targets"]},
        "stations": stations["totals"],
        "suggestions": suggestions["totals"],
        "livelihood": livelihood["totals"],
        "where": db.where,
    }
