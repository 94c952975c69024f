"""The suggestions view: the pipeline by state, region, handling unit and reply category; overdue replies,
follow-ups, priority suggestions.

Everything the view counts is counted from *cells*: the period's suggestions grouped by every attribute the view
counts by (``rules.suggestion_cell``). Now, the cells are the projector's summary (``suggestion_cells``); as of a cut,
they are counted from each suggestion's state then. The lists come from the candidate rows of either source.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

from projections import labels as L
from projections import schema as s
from projections.db import ProjectionDB
from projections.queries.context import Ctx, fetch_rows, paged, rate, states_at_cut, view_answer
from projections.queries.scope import Scope
from projections.rules import GOOD, OPEN_FOLLOW_UP, SUGGESTION_CELL_COLUMNS, WAITING, suggestion_cell, suggestion_unit

#: What a listed suggestion shows (and what the lists filter and order by).
LIST_COLUMNS = (
    "suggestion_id",
    "number",
    "title",
    "state",
    "lead_unit",
    "due_on",
    "last_category",
    "last_evaluation",
    "node_id",
    "leader",
    "supervisions",
    "last_reply_day",
    "day",
    "priority",
)
_CELL_KEY = ("state", "category", "evaluation", "congress", "priority", "evaluated", "replied", "late", "follow", "due_on")


@dataclass(frozen=True, slots=True)
class Cell:
    """The period's suggestions of one node that share every attribute the view counts by."""

    node_id: str
    state: str
    category: str  # '' until replied
    evaluation: str  # '' until evaluated
    congress: str
    priority: bool
    evaluated: bool
    replied: bool
    late: bool  # first replied after the due day
    follow: bool  # under the follow-up target
    due_on: str  # while waiting for a reply, else ''

    def overdue(self, ref_day: str) -> bool:
        return self.state in WAITING and self.due_on != "" and self.due_on < ref_day


@dataclass
class Counted:
    """What one scope's view counts from: cells, units and the candidate rows of its lists."""

    cells: Counter[Cell] = field(default_factory=Counter)
    units: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * 6))  # see ``_unit_row``
    rows: list[dict[str, Any]] = field(default_factory=list)


def suggestion_states(ctx: Ctx) -> Any:
    """The suggestions table now, or each suggestion as it stood at the cut."""
    if ctx.scope.as_of is None:
        return s.suggestions
    return states_at_cut(ctx, s.suggestions, s.suggestion_snapshots, s.SUGGESTION_STATIC)


#: The lists of the view, and the suggestions each may list.
LISTS = {
    "overdue": lambda sg: sg.c.state.in_(WAITING),
    "follow_ups": lambda sg: sg.c.state.in_(OPEN_FOLLOW_UP),
    "priority": lambda sg: sg.c.priority.is_(True),
}


def counted(ctx: Ctx, *, lists: tuple[str, ...] = tuple(LISTS)) -> Counted:
    """The scope's cells, and the candidate rows of the ``lists`` (with the units, for the whole view): from the
    summaries now, else from every suggestion at the cut."""
    return _counted_now(ctx, lists) if ctx.scope.as_of is None else _counted_at_cut(ctx)


def _counted_now(ctx: Ctx, lists: tuple[str, ...]) -> Counted:
    out = Counted()
    c = s.suggestion_cells
    in_scope = [ctx.years(c.c.year), ctx.in_region(c.c.node_id), c.c.n != 0]
    for node_id, *key, n in fetch_rows(ctx.conn, sa.select(c.c.node_id, *[c.c[k] for k in _CELL_KEY], c.c.n).where(*in_scope)):
        out.cells[Cell(node_id, *key[:4], *map(bool, key[4:9]), key[9])] += n
    if not lists:
        return out
    sg = s.suggestions
    candidates = sa.or_(*[LISTS[name](sg) for name in lists])
    stmt = sa.select(*[sg.c[k] for k in LIST_COLUMNS]).where(ctx.years(sg.c.year), ctx.in_region(sg.c.node_id), candidates)
    out.rows = [dict(zip(LIST_COLUMNS, r, strict=True)) for r in fetch_rows(ctx.conn, stmt)]
    if set(lists) != set(LISTS):
        return out
    u = s.suggestion_units
    columns = [u.c.lead_unit, u.c.due_on, u.c.total, u.c.replied, u.c.waiting, u.c.open_follow_up, u.c.satisfied, u.c.evaluated]
    for unit, due_on, *counters in fetch_rows(
        ctx.conn, sa.select(*columns).where(ctx.years(u.c.year), ctx.in_region(u.c.node_id), u.c.total != 0)
    ):
        _add_unit(out.units[unit], due_on, counters, ctx.scope.ref_day)
    return out


def _counted_at_cut(ctx: Ctx) -> Counted:
    """Every suggestion of the period as it stood at the cut, counted by the projector's rules."""
    out = Counted()
    sg = suggestion_states(ctx)
    columns = list(dict.fromkeys((*SUGGESTION_CELL_COLUMNS, *LIST_COLUMNS)))
    stmt = sa.select(*[sg.c[k] for k in columns]).where(ctx.years(sg.c.year), ctx.in_region(sg.c.node_id))
    for row in fetch_rows(ctx.conn, stmt):
        x = dict(zip(columns, row, strict=True))
        key = suggestion_cell(x)
        out.cells[Cell(key[1], *key[2:6], *map(bool, key[6:11]), key[11])] += 1
        unit = suggestion_unit(x, key)
        if unit is not None:
            _add_unit(out.units[x["lead_unit"]], key[-1], unit[1], ctx.scope.ref_day)
        out.rows.append(x)
    return out


def _add_unit(row: list[int], due_on: str, counters: Iterable[int], ref_day: str) -> None:
    """Into a unit's [total, replied, overdue, open follow-up, satisfied, evaluated]."""
    total, replied, waiting, open_follow, good, evaluated = counters
    overdue = waiting if due_on != "" and due_on < ref_day else 0
    for i, n in enumerate((total, replied, overdue, open_follow, good, evaluated)):
        row[i] += n


def suggestions(db: ProjectionDB, scope: Scope, *, offset: int = 0, limit: int = 20, brief: bool = False) -> dict[str, Any]:
    """Counts by state, region, handling unit and reply category; satisfaction; overdue replies; open B-class and
    dissatisfied follow-ups; priority suggestions' progress. Period: the year(s) of submission. ``brief``: the
    figures alone (totals, by state and region), without units and lists (what the 一盘棋 rollup shows)."""
    with db.connect() as conn:
        ctx = Ctx(db, scope, conn)
        found = counted(ctx, lists=() if brief else tuple(LISTS))
    cells, ref_day = found.cells, scope.ref_day
    by_region = _by_region(ctx, cells)
    keys = ["total", "replied", "evaluated", "satisfied", "overdue", "open_follow_up", "closed"]
    totals: dict[str, Any] = {k: sum(r[k] for r in by_region) for k in keys}
    totals["reply_rate"] = rate(totals["replied"], totals["total"])
    totals["satisfaction"] = rate(totals["satisfied"], totals["evaluated"])
    totals["replied_late"] = _sum(cells, lambda c: c.late)
    order = list(L.SUGGESTION_STATE)
    by_state = _counted_by(cells, lambda c: c.state, "state", L.SUGGESTION_STATE, order)
    answer = view_answer("suggestions", scope, totals=totals, by_state=by_state, by_region=by_region)
    if brief:
        return answer
    lists = _Lists(ctx, found.rows, offset, limit)
    return {
        **answer,
        "by_unit": _by_unit(found.units),
        "by_category": _by_category(cells),
        "by_congress": _by_congress(cells),
        "satisfaction": _satisfaction(cells),
        "follow_up": {
            "b_open": _sum(cells, lambda c: c.state == "follow_up" and c.category == "B"),
            "c_open": _sum(cells, lambda c: c.state == "follow_up" and c.category == "C"),
            "rehandling": _sum(cells, lambda c: c.state == "rehandling"),
        },
        "overdue": lists.page(lambda x: x["state"] in WAITING and _before(x["due_on"], ref_day), "due_on"),
        "follow_ups": lists.page(lambda x: x["state"] in OPEN_FOLLOW_UP, "last_reply_day"),
        "priority": {
            "by_state": _counted_by(cells, lambda c: c.state if c.priority else _NONE, "state", L.SUGGESTION_STATE, order),
            "list": lists.page(lambda x: bool(x["priority"]), "day"),
        },
    }


def _by_region(ctx: Ctx, cells: Counter[Cell]) -> list[dict[str, Any]]:
    keys = ["total", "replied", "evaluated", "satisfied", "overdue", "open_follow_up", "closed"]
    per_node: dict[str | None, dict[str, float]] = defaultdict(lambda: dict.fromkeys(keys, 0))
    ref_day = ctx.scope.ref_day
    for c, n in cells.items():
        counts = per_node[c.node_id]
        for k, yes in zip(
            keys,
            (
                True,
                c.replied,
                c.evaluated,
                c.evaluation in GOOD,
                c.overdue(ref_day),
                c.state in OPEN_FOLLOW_UP,
                c.state == "closed",
            ),
            strict=True,
        ):
            if yes:
                counts[k] += n
    rows = ctx.rollup(per_node, keys)
    for r in rows:
        for k in keys:
            r[k] = int(r[k])
        r["reply_rate"] = rate(r["replied"], r["total"])
        r["satisfaction"] = rate(r["satisfied"], r["evaluated"])
    return rows


def _by_unit(units: dict[str, list[int]]) -> list[dict[str, Any]]:
    busiest = sorted(units.items(), key=lambda u: (-u[1][0], u[0]))[:15]
    return [
        {"unit": unit, "total": n, "replied": rp, "overdue": od, "open_follow_up": fu, "satisfaction": rate(sat, ev)}
        for unit, (n, rp, od, fu, sat, ev) in busiest
    ]


def _by_category(cells: Counter[Cell]) -> list[dict[str, Any]]:
    found = _count(cells, lambda c: c.category or None)
    return [
        {"category": c or "", "label": L.REPLY_CATEGORY.get(c, "未答复") if c else "未答复", "count": n}
        for c, n in sorted(found.items(), key=lambda r: r[0] or "~")
    ]


def _by_congress(cells: Counter[Cell]) -> list[dict[str, Any]]:
    order = list(L.CONGRESS)
    return [
        {"congress": c, "label": L.CONGRESS.get(c, c), "count": n}
        for c, n in sorted(_count(cells, lambda c: c.congress).items(), key=lambda r: order.index(r[0]) if r[0] in order else 9)
    ]


def _satisfaction(cells: Counter[Cell]) -> list[dict[str, Any]]:
    order = list(L.EVALUATION)
    found = _count(cells, lambda c: (c.evaluation or None) if c.evaluated else _NONE)
    return [
        {"evaluation": e, "label": L.EVALUATION.get(e, e), "count": n}
        for e, n in sorted(found.items(), key=lambda r: order.index(r[0]) if r[0] in order else 9)
    ]


class _Lists:
    """Pages of the view's lists, from the candidate rows (each list: a filter and the column it is ordered by)."""

    def __init__(self, ctx: Ctx, rows: list[dict[str, Any]], offset: int, limit: int) -> None:
        self.ctx, self.rows, self.offset, self.limit = ctx, rows, offset, limit

    def page(self, keep: Callable[[dict[str, Any]], bool], order: str) -> dict[str, Any]:
        chosen = sorted(
            (x for x in self.rows if keep(x)), key=lambda x: (x[order] is not None, x[order] or "", x["suggestion_id"])
        )
        ref = date.fromisoformat(self.ctx.scope.ref_day)
        items = [
            {
                "suggestion_id": x["suggestion_id"],
                "number": x["number"],
                "title": x["title"],
                "state": x["state"],
                "state_label": L.SUGGESTION_STATE.get(x["state"], x["state"]),
                "lead_unit": x["lead_unit"],
                "due_on": x["due_on"],
                "days_overdue": (ref - date.fromisoformat(x["due_on"])).days if x["due_on"] else None,
                "category": x["last_category"],
                "evaluation": L.EVALUATION.get(x["last_evaluation"], x["last_evaluation"]) if x["last_evaluation"] else None,
                "office": self.ctx.region_label(x["node_id"])["name"],
                "leader": x["leader"],
                "supervisions": x["supervisions"],
            }
            for x in chosen[self.offset : self.offset + self.limit]
        ]
        return paged(items, len(chosen), self.offset, self.limit)


def _before(day: str | None, ref_day: str) -> bool:
    return day is not None and day < ref_day


_NONE = object()  # a cell a count leaves out


def _sum(cells: Counter[Cell], keep: Callable[[Cell], bool]) -> int:
    return sum(n for c, n in cells.items() if keep(c))


def _count(cells: Counter[Cell], key: Callable[[Cell], Any]) -> Counter[Any]:
    found: Counter[Any] = Counter()
    for c, n in cells.items():
        k = key(c)
        if k is not _NONE:
            found[k] += n
    return found


def _counted_by(
    cells: Counter[Cell], key: Callable[[Cell], Any], name: str, labels: dict[str, str], order: list[str]
) -> list[dict[str, Any]]:
    """Counts by one attribute, labelled, in the labels' order."""
    rows = [{name: k, "label": labels.get(k, k), "count": n} for k, n in _count(cells, key).items() if n]
    return sorted(rows, key=lambda r: order.index(r[name]) if r[name] in order else 99)
