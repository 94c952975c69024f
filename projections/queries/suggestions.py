"""The suggestions view: the pipeline by state, region, handling unit and reply category; overdue replies,
follow-ups, priority suggestions.

Everything the view counts is counted from *cells*: the period's suggestions grouped by every attribute the view
counts by (``rules.suggestion_cell``). Now, the cells are the projector's summary (``suggestion_cells``); as of a cut,
they are counted from each suggestion's state then. Either way they are tallied per node and per kind (``Counted``).
A page of a list is ordered in SQL along an index now, in Python from the states at the cut; only its rows are read
in full.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from projections import labels as L
from projections import schema as s
from projections.db import ProjectionDB
from projections.queries.context import Ctx, fetch_rows, paged, rate, states_at_cut, temporary, view_answer
from projections.queries.scope import Scope
from projections.rules import (
    GOOD,
    OPEN_FOLLOW_UP,
    SUGGESTION_CELL_COLUMNS,
    VOIDED,
    WAITING,
    has_unit,
    suggestion_cell_sql,
    suggestion_unit_sql,
)

#: What a listed suggestion shows.
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
#: Per node: the period's suggestions, replied, evaluated, satisfied, overdue, under follow-up now, closed; under the
#: follow-up target (ever), and those of them no longer under follow-up.
NODE_COUNTS = ("total", "replied", "evaluated", "satisfied", "overdue", "open_follow_up", "closed", "follow", "followed")
_UNITS = 15  # the busiest handling units shown
#: A kind of suggestion (``Counted.kinds``): state, category, evaluation, congress, priority, evaluated, late, overdue.
Kinds = Counter[tuple[Any, ...]]


@dataclass
class Counted:
    """What one scope's view counts from: per node and per kind of suggestion, per handling unit; as of a cut, every
    suggestion's state then."""

    nodes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * len(NODE_COUNTS)))  # or regions
    kinds: Kinds = field(default_factory=Counter)
    units: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * 6))  # see ``_add_unit``
    source: Any = s.suggestions  # where a page of a list is read: the suggestions now, their states at a cut

    def tally(self, ref_day: str, node: str, key: tuple[Any, ...], n: int) -> None:
        """Count ``n`` suggestions of ``node`` with the cell ``key`` (``_CELL_KEY``)."""
        state, category, evaluation, congress, priority, evaluated, replied, late, follow, due_on = key
        overdue = state in WAITING and due_on != "" and due_on < ref_day
        under = state in OPEN_FOLLOW_UP
        flags = (True, replied, evaluated, evaluation in GOOD, overdue, under, state == "closed", follow, follow and not under)
        counts = self.nodes[node]
        for i, yes in enumerate(flags):
            if yes:
                counts[i] += n
        self.kinds[(state, category, evaluation, congress, bool(priority), bool(evaluated), bool(late), overdue)] += n


def suggestion_states(ctx: Ctx, *, static: tuple[str, ...] = ()) -> Any:
    """The suggestions table now, or each suggestion as it stood at the cut (with these ``static`` columns of its
    current row besides those its snapshots keep)."""
    if ctx.scope.as_of is None:
        return s.suggestions
    at_cut = states_at_cut(ctx, s.suggestion_snapshots)
    if not static:
        return at_cut
    sg = s.suggestions
    joined = sa.select(at_cut, *[sg.c[c] for c in static]).join_from(at_cut, sg, sg.c.suggestion_id == at_cut.c.suggestion_id)
    return joined.subquery("with_static")


def _with_static(ctx: Ctx, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of states at a cut, with the static columns of a listed row its snapshot does not keep."""
    sg = s.suggestions
    ids = [x["suggestion_id"] for x in rows]
    stmt = sa.select(sg.c.suggestion_id, sg.c.number, sg.c.title).where(sg.c.suggestion_id.in_(ids))
    found = {r[0]: r[1:] for r in ctx.conn.execute(stmt)} if ids else {}
    return [{**x, "number": found[x["suggestion_id"]][0], "title": found[x["suggestion_id"]][1]} for x in rows]


@dataclass(frozen=True)
class Listing:
    """One of the view's lists: which suggestions it lists (their states, or all; and a further condition), and the
    column it is ordered by (then the id)."""

    states: tuple[str, ...] | None
    where: Callable[[Any, str], ColumnElement[bool]]
    order: str


LISTS = {
    "overdue": Listing(WAITING, lambda sg, ref: sg.c.due_on < ref, "due_on"),
    "follow_ups": Listing(OPEN_FOLLOW_UP, lambda sg, _: sa.true(), "last_reply_day"),
    "priority": Listing(None, lambda sg, _: sa.and_(sg.c.priority.is_(True), sg.c.state != VOIDED), "day"),
}


def counted(ctx: Ctx, source: Any, *, units: bool = False) -> Counted:
    """The scope's counts (and its busiest units): from the summaries now, else from the states at the cut in
    ``source`` (``states_source``)."""
    return _counted_now(ctx, units) if ctx.scope.as_of is None else _counted_at_cut(ctx, source, units)


@contextlib.contextmanager
def states_source(ctx: Ctx, *, follow_only: bool = False) -> Iterator[Any]:
    """Where the view counts and lists from: the suggestions table now; as of a cut, a temporary table of the
    period's suggestions as they stood then (read once, then grouped and listed in the database). ``follow_only``:
    only those under the follow-up target (its counts, ``follow`` and ``followed``, and the follow-up list are whole;
    the rest are not)."""
    if ctx.scope.as_of is None:
        yield s.suggestions
        return
    sg = suggestion_states(ctx)
    columns = [c for c in dict.fromkeys((*SUGGESTION_CELL_COLUMNS, *LIST_COLUMNS)) if c in sg.c]
    rows = sa.select(*[sg.c[k] for k in columns]).where(ctx.years(sg.c.year), ctx.in_region(sg.c.node_id))
    with temporary(ctx, "suggestions_at_cut", rows.where(_under_follow_up(sg)) if follow_only else rows) as table:
        yield table


def _under_follow_up(sg: Any) -> ColumnElement[bool]:
    """In SQL, what ``rules.suggestion_cell`` counts under the follow-up target: the rows the target reads (the rule
    still decides each)."""
    return sa.or_(sg.c.dissatisfied > 0, sg.c.solved_day.is_not(None), sg.c.state.in_(OPEN_FOLLOW_UP))


def _counted_now(ctx: Ctx, units: bool) -> Counted:
    out = Counted()
    c = s.suggestion_cells
    source, child = ctx.by_child(c)
    keys = [c.c[k] for k in _CELL_KEY]
    in_scope = [ctx.years(c.c.year), ctx.in_region(c.c.node_id)]
    stmt = sa.select(child, *keys, sa.func.sum(c.c.n)).select_from(source).where(*in_scope).group_by(child, *keys)
    ref_day = ctx.scope.ref_day
    for region, *key, n in fetch_rows(ctx.conn, stmt):
        if n:
            out.tally(ref_day, region, tuple(key), n)
    if units:
        out.units = _busiest_units(ctx)
    return out


def _busiest_units(ctx: Ctx) -> dict[str, list[int]]:
    """The units with the most suggestions of the period, summed in SQL (overdue as in ``_add_unit``)."""
    u = s.suggestion_units
    overdue = sa.case((sa.and_(u.c.due_on != "", u.c.due_on < ctx.scope.ref_day), u.c.waiting), else_=0)
    sums = [sa.func.sum(x) for x in (u.c.total, u.c.replied, overdue, u.c.open_follow_up, u.c.satisfied, u.c.evaluated)]
    stmt = (
        sa.select(u.c.lead_unit, *sums)
        .where(ctx.years(u.c.year), ctx.in_region(u.c.node_id))
        .group_by(u.c.lead_unit)
        .having(sums[0] > 0)
        .order_by(sums[0].desc(), u.c.lead_unit)
        .limit(_UNITS)
    )
    return {unit: [int(n) for n in counters] for unit, *counters in ctx.conn.execute(stmt)}


def page_of(ctx: Ctx, found: Counted, listing: Listing, offset: int, limit: int) -> list[dict[str, Any]]:
    """The rows (``LIST_COLUMNS``) of a page of a list, from ``found.source`` (the suggestions now, along their
    indexes; the states at a cut): one ordered range per state, merged."""
    ref_day = ctx.scope.ref_day
    sg = found.source
    columns = [k for k in LIST_COLUMNS if k in sg.c]

    def order(x: dict[str, Any]) -> tuple[Any, ...]:
        return (x[listing.order] is not None, x[listing.order] or "", x["suggestion_id"])

    rows: list[dict[str, Any]] = []
    for states in [(state,) for state in listing.states] if listing.states else [()]:
        stmt = (
            sa.select(*[sg.c[k] for k in columns])
            .where(ctx.years(sg.c.year), ctx.in_region(sg.c.node_id), *[sg.c.state == x for x in states])
            .where(listing.where(sg, ref_day))
            .order_by(sg.c[listing.order].asc().nulls_first(), sg.c.suggestion_id)
            .limit(offset + limit)
        )
        rows.extend(dict(zip(columns, r, strict=True)) for r in ctx.conn.execute(stmt))
    page = sorted(rows, key=order)[offset : offset + limit]
    return page if len(columns) == len(LIST_COLUMNS) else _with_static(ctx, page)


def _counted_at_cut(ctx: Ctx, at_cut: Any, units: bool) -> Counted:
    """The states at the cut grouped by the projector's rules in SQL (``rules.suggestion_cell_sql``), and by handling
    unit if ``units``."""
    out = Counted(source=at_cut)
    ref_day = ctx.scope.ref_day
    cell = suggestion_cell_sql(at_cut)
    for _, node_id, *key, n in fetch_rows(ctx.conn, sa.select(*cell, sa.func.count()).group_by(*cell)):
        out.tally(ref_day, node_id, tuple(key), n)
    if units:
        sums = [sa.func.sum(c) for c in suggestion_unit_sql(at_cut)]
        by_unit = sa.select(at_cut.c.lead_unit, cell[-1], *sums).where(has_unit(at_cut)).group_by(at_cut.c.lead_unit, cell[-1])
        for lead_unit, due_on, *counters in fetch_rows(ctx.conn, by_unit):
            _add_unit(out.units[lead_unit], due_on, [int(c) for c in counters], ref_day)
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
    with counted_states(db, scope, units=not brief) as (ctx, found):
        answer = brief_answer(ctx, found)
        if brief:
            return answer
        kinds = found.kinds
        lists = _Lists(ctx, found, offset, limit)
        totals_of = {
            "overdue": _sum(kinds, lambda k: k[7]),
            "follow_ups": _sum(kinds, lambda k: k[0] in OPEN_FOLLOW_UP),
            "priority": _sum(kinds, lambda k: k[4]),
        }
        return {
            **answer,
            "by_unit": _by_unit(found.units),
            "by_category": _by_category(kinds),
            "by_congress": _by_congress(kinds),
            "satisfaction": _satisfaction(kinds),
            "follow_up": {
                "b_open": _sum(kinds, lambda k: k[0] == "follow_up" and k[1] == "B"),
                "c_open": _sum(kinds, lambda k: k[0] == "follow_up" and k[1] == "C"),
                "rehandling": _sum(kinds, lambda k: k[0] == "rehandling"),
            },
            "overdue": lists.page("overdue", totals_of["overdue"]),
            "follow_ups": lists.page("follow_ups", totals_of["follow_ups"]),
            "priority": {
                "by_state": _counted_by(
                    kinds, lambda k: k[0] if k[4] else _NONE, "state", L.SUGGESTION_STATE, list(L.SUGGESTION_STATE)
                ),
                "list": lists.page("priority", totals_of["priority"]),
            },
        }


@contextlib.contextmanager
def counted_states(db: ProjectionDB, scope: Scope, *, units: bool = False) -> Iterator[tuple[Ctx, Counted]]:
    """The scope's suggestions counted (``counted``), on a connection of their own that stays open (with the states at
    a cut in it) while the caller reads pages of lists from them."""
    with db.connect() as conn:
        ctx = Ctx(db, scope, conn)
        with states_source(ctx) as source:
            yield ctx, counted(ctx, source, units=units)


def brief_answer(ctx: Ctx, found: Counted) -> dict[str, Any]:
    """The view's figures alone: totals, by state and by region."""
    kinds = found.kinds
    by_region = _by_region(ctx, found.nodes)
    totals: dict[str, Any] = {k: sum(r[k] for r in by_region) for k in NODE_COUNTS[:7]}
    totals["reply_rate"] = rate(totals["replied"], totals["total"])
    totals["satisfaction"] = rate(totals["satisfied"], totals["evaluated"])
    totals["replied_late"] = _sum(kinds, lambda k: k[6])
    by_state = _counted_by(kinds, lambda k: k[0], "state", L.SUGGESTION_STATE, list(L.SUGGESTION_STATE))
    entries = _evaluation_entries(ctx)
    for r in by_region:
        r["evaluations_self"], r["evaluations_office"] = (
            entries.get(r["region_id"], (0, 0)) if entries is not None else (None, None)
        )
    for k in ("evaluations_self", "evaluations_office"):
        totals[k] = sum(r[k] for r in by_region) if entries is not None else None
    return view_answer("suggestions", ctx.scope, totals=totals, by_state=by_state, by_region=by_region)


def _evaluation_entries(ctx: Ctx) -> dict[str, tuple[int, int]] | None:
    """Per child region: the evaluations the lead deputies made with their own credentials, and those their offices
    entered from signed forms (代录), of the period's suggestions (the summary ``suggestion_entries``); ``None`` as of
    a cut (counted now only)."""
    if ctx.scope.as_of is not None:
        return None
    e = s.suggestion_entries
    table, child = ctx.by_child(e)
    stmt = (
        sa.select(child, sa.func.sum(e.c.evaluations_self), sa.func.sum(e.c.evaluations_office))
        .select_from(table)
        .where(ctx.years(e.c.year), ctx.in_region(e.c.node_id))
        .group_by(child)
    )
    return {region: (int(own or 0), int(entered or 0)) for region, own, entered in ctx.conn.execute(stmt)}


def _by_region(ctx: Ctx, nodes: dict[str, list[int]]) -> list[dict[str, Any]]:
    keys = list(NODE_COUNTS[:7])
    rows = ctx.rollup({node: dict(zip(keys, counts, strict=False)) for node, counts in nodes.items()}, keys)
    for r in rows:
        for k in keys:
            r[k] = int(r[k])
        r["reply_rate"] = rate(r["replied"], r["total"])
        r["satisfaction"] = rate(r["satisfied"], r["evaluated"])
    return rows


def _by_unit(units: dict[str, list[int]]) -> list[dict[str, Any]]:
    busiest = sorted(units.items(), key=lambda u: (-u[1][0], u[0]))[:_UNITS]
    return [
        {"unit": unit, "total": n, "replied": rp, "overdue": od, "open_follow_up": fu, "satisfaction": rate(sat, ev)}
        for unit, (n, rp, od, fu, sat, ev) in busiest
    ]


def _by_category(kinds: Kinds) -> list[dict[str, Any]]:
    found = _count(kinds, lambda k: k[1] or None)
    return [
        {"category": c or "", "label": L.REPLY_CATEGORY.get(c, "未答复") if c else "未答复", "count": n}
        for c, n in sorted(found.items(), key=lambda r: r[0] or "~")
    ]


def _by_congress(kinds: Kinds) -> list[dict[str, Any]]:
    order = list(L.CONGRESS)
    found = _count(kinds, lambda k: k[3])
    return [
        {"congress": c, "label": L.CONGRESS.get(c, c), "count": n}
        for c, n in sorted(found.items(), key=lambda r: order.index(r[0]) if r[0] in order else 9)
    ]


def _satisfaction(kinds: Kinds) -> list[dict[str, Any]]:
    order = list(L.EVALUATION)
    found = _count(kinds, lambda k: (k[2] or None) if k[5] else _NONE)
    return [
        {"evaluation": e, "label": L.EVALUATION.get(e, e), "count": n}
        for e, n in sorted(found.items(), key=lambda r: order.index(r[0]) if r[0] in order else 9)
    ]


class _Lists:
    """Pages of the view's lists, shown."""

    def __init__(self, ctx: Ctx, found: Counted, offset: int, limit: int) -> None:
        self.ctx, self.found, self.offset, self.limit = ctx, found, offset, limit

    def page(self, name: str, total: int) -> dict[str, Any]:
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
            for x in page_of(self.ctx, self.found, LISTS[name], self.offset, self.limit)
        ]
        return paged(items, total, self.offset, self.limit)


_NONE = object()  # a kind a count leaves out


def _sum(kinds: Kinds, keep: Callable[[tuple[Any, ...]], bool]) -> int:
    return sum(n for k, n in kinds.items() if keep(k))


def _count(kinds: Kinds, key: Callable[[tuple[Any, ...]], Any]) -> Counter[Any]:
    found: Counter[Any] = Counter()
    for kind, n in kinds.items():
        k = key(kind)
        if k is not _NONE:
            found[k] += n
    return found


def _counted_by(
    kinds: Kinds, key: Callable[[tuple[Any, ...]], Any], name: str, labels: dict[str, str], order: list[str]
) -> list[dict[str, Any]]:
    """Counts by one attribute, labelled, in the labels' order."""
    rows = [{name: k, "label": labels.get(k, k), "count": n} for k, n in _count(kinds, key).items() if n]
    return sorted(rows, key=lambda r: order.index(r[name]) if r[name] in order else 99)
