"""The livelihood view: voted projects' number and investment by region and year, pass rate, progress,
satisfaction.

Counted from each node's, year's and state's figures (``rules.project_figures``): now, the projector's summary
(``project_cells``); as of a cut, from each project's state then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from projections import labels as L
from projections import schema as s
from projections.db import ProjectionDB
from projections.queries.context import Ctx, fetch_rows, paged, rate, states_at_cut, view_answer
from projections.queries.scope import Scope
from projections.rules import PROJECT_FIGURES, project_figures_sql

#: (year, node or child region, state) -> the figures of ``PROJECT_FIGURES``
Figures = dict[tuple[int, str, str], list[int]]
_LIST_COLUMNS = (
    "project_id",
    "title",
    "node_id",
    "progress",
    "budget_yuan",
    "spent_yuan",
    "lead_unit",
    "started_day",
    "supervisions",
)


def livelihood(db: ProjectionDB, scope: Scope, *, offset: int = 0, limit: int = 20, brief: bool = False) -> dict[str, Any]:
    """Number and investment of voted projects by region and year, pass rate of votes, implementation progress,
    satisfaction. Period: the projects' year (the year they are voted for); ``by_year`` shows every year.
    ``brief``: without the list of projects under way (what the 一盘棋 rollup shows)."""
    with db.connect() as conn:
        ctx = Ctx(db, scope, conn)
        figures, implementing = _figures(ctx, lists=not brief)
        page = None if brief else _implementing(ctx, implementing, offset, limit)
    first, last = scope.first_year, scope.last_year
    in_period = {k: v for k, v in figures.items() if first <= k[0] <= last}
    per_node: dict[str | None, dict[str, float]] = defaultdict(lambda: dict.fromkeys(PROJECT_FIGURES, 0))
    per_year: dict[int, dict[str, float]] = defaultdict(lambda: dict.fromkeys(PROJECT_FIGURES, 0))
    states: dict[str, int] = defaultdict(int)
    for (year, node, state), values in figures.items():
        _add(per_year[year], values)
        if first <= year <= last:
            _add(per_node[node], values)
            states[state] += values[0]
    order = list(L.PROJECT_STATE)
    answer = view_answer(
        "livelihood",
        scope,
        totals=_shown(
            dict(zip(PROJECT_FIGURES, map(sum, zip(*in_period.values(), strict=True)), strict=True)) if in_period else {}
        ),
        by_region=[_shown(r) for r in ctx.rollup(per_node, list(PROJECT_FIGURES))],
        by_year=[_shown({"year": y, **per_year[y]}) for y in sorted(per_year)],
        by_state=sorted(
            ({"state": st, "label": L.PROJECT_STATE.get(st, st), "count": n} for st, n in states.items() if n),
            key=lambda r: order.index(r["state"]) if r["state"] in order else 99,
        ),
    )
    return answer if page is None else {**answer, "implementing": page}


def _figures(ctx: Ctx, *, lists: bool) -> tuple[Figures, Sequence[tuple[Any, ...]]]:
    """The region's figures of every year, and its projects under way in the period (``_LIST_COLUMNS``)."""
    found: Figures = defaultdict(lambda: [0] * len(PROJECT_FIGURES))
    if ctx.scope.as_of is None:
        c = s.project_cells
        source, child = ctx.by_child(c)
        sums = [sa.func.sum(c.c[k]) for k in PROJECT_FIGURES]
        stmt = sa.select(c.c.year, child, c.c.state, *sums).select_from(source).where(ctx.in_region(c.c.node_id))
        for year, region, state, *values in fetch_rows(ctx.conn, stmt.group_by(c.c.year, child, c.c.state)):
            _add_to(found[(year, region, state)], values)
        p = s.projects
        under_way = [ctx.years(p.c.year), ctx.in_region(p.c.node_id), p.c.state == "implementing"]
        stmt = sa.select(*[p.c[k] for k in _LIST_COLUMNS]).where(*under_way)
        return found, fetch_rows(ctx.conn, stmt) if lists else []
    p = states_at_cut(ctx, s.project_snapshots)
    figures = [sa.func.sum(f) for f in project_figures_sql(p)]
    key = (p.c.year, p.c.node_id, p.c.state)
    for year, node_id, state, *values in fetch_rows(
        ctx.conn, sa.select(*key, *figures).where(ctx.in_region(p.c.node_id)).group_by(*key)
    ):
        _add_to(found[(year, node_id, state)], values)
    if not lists:
        return found, []
    listed = [p.c[k] if k != "title" else sa.null() for k in _LIST_COLUMNS]  # the title: for the page (``_implementing``)
    under_way = [ctx.years(p.c.year), ctx.in_region(p.c.node_id), p.c.state == "implementing"]
    return found, fetch_rows(ctx.conn, sa.select(*listed).where(*under_way))


def _implementing(ctx: Ctx, rows: Sequence[tuple[Any, ...]], offset: int, limit: int) -> dict[str, Any]:
    """The projects under way, least progressed first."""
    chosen = sorted(rows, key=lambda r: (r[3], r[7] is not None, r[7] or "", r[0]))[offset : offset + limit]
    if ctx.scope.as_of is not None:  # states at a cut: the title is the current row's
        p = s.projects
        titles = dict(
            ctx.conn.execute(sa.select(p.c.project_id, p.c.title).where(p.c.project_id.in_([r[0] for r in chosen]))).all()
        )
        chosen = [(r[0], titles.get(r[0], ""), *r[2:]) for r in chosen]
    items = [
        {
            "project_id": r[0],
            "title": r[1],
            "office": ctx.region_label(r[2])["name"],
            "progress": r[3],
            "budget_wan": round(r[4] / 10000, 2),
            "spent_wan": round(r[5] / 10000, 2),
            "lead_unit": r[6],
            "started": r[7],
            "supervisions": r[8],
        }
        for r in chosen
    ]
    return paged(items, len(rows), offset, limit)


def _add_to(into: list[int], values: Any) -> None:
    for i, v in enumerate(values):
        into[i] += v


def _add(into: dict[str, float], values: list[int]) -> None:
    for k, v in zip(PROJECT_FIGURES, values, strict=True):
        into[k] += v


def _shown(r: dict[str, Any]) -> dict[str, Any]:
    """A row of figures as the view shows it (money in 万元 and 亿元, rates, average progress)."""
    out = dict(r)
    for k in ("proposed", "voted", "passed", "implementing", "completed", "satisfied", "basically_satisfied", "dissatisfied"):
        out[k] = int(out.get(k, 0) or 0)
    budget = int(out.pop("invested_yuan", 0) or 0)
    estimate = int(out.pop("estimate_yuan", 0) or 0)
    out["investment_wan"] = round(budget / 10000, 2)
    out["investment_yi"] = round(budget / 100_000_000, 4)
    out["estimate_wan"] = round(estimate / 10000, 2)
    out["pass_rate"] = rate(out["passed"], out["voted"])
    progress_sum = out.pop("progress_sum", 0) or 0
    out["avg_progress"] = round(progress_sum / out["implementing"], 1) if out["implementing"] else None
    votes = out["satisfied"] + out["basically_satisfied"] + out["dissatisfied"]
    out["satisfaction"] = rate(out["satisfied"] + out["basically_satisfied"], votes)
    return out
