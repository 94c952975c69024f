"""The duty ranking: serving deputies (one row per person) by what they did in the period, least active first.

Now, at the projection's root for one year, the ranking reads the projector's ``people`` and ``duty_years`` and only
the people around the page (every person's yearly counters are in ``person_years``, ordered by their total); for a
region below the root or a term, it ranks the region's people in SQL; as of a cut, it counts the facts known then.
"""

from __future__ import annotations

import heapq
from typing import Any

import sqlalchemy as sa

from projections import schema as s
from projections.db import ProjectionDB
from projections.queries.context import Ctx, fetch_rows, paged, view_answer
from projections.queries.deputies import Deputy, fill_details, first_serving, marked_persons_at_cut, serving_deputies
from projections.queries.scope import Scope
from projections.rules import ACTIVE

_COUNTS = ("contacts", "visits", "suggestions", "opinions")


def duty_ranking(db: ProjectionDB, scope: Scope, *, offset: int = 0, limit: int = 20, least: bool = True) -> dict[str, Any]:
    """Serving deputies of the region (by where they live), one row per person, with what they did in the period at
    any node of the subtree (contacts, station visits, suggestions signed, opinions raised), least active first."""
    names = ["contacts", "visits", "suggestions", "opinions"]
    with db.connect() as conn:
        ctx = Ctx(db, scope, conn)
        if scope.as_of is None and scope.is_root and scope.first_year == scope.last_year:
            page, serving, inactive = _ranking_root(ctx, offset, limit, least)
        elif scope.as_of is None:
            page, serving, inactive = _ranking_now(ctx, offset, limit, least)
        else:
            page, serving, inactive = _ranking_at_cut(ctx, offset, limit, least)
        fill_details(ctx, [x for _, x, _ in page])
    items = [
        {
            "deputy_id": x.deputy_id,
            "name": x.name,
            "person_id": x.person_id,
            "office": ctx.region_label(x.node_id)["name"],
            "where": ctx.where_label(x.area),
            "unit": x.unit,
            **dict(zip(names, c, strict=True)),
            "total": total,
        }
        for total, x, c in page
    ]
    return view_answer(
        "duty",
        scope,
        serving=serving,
        inactive=inactive,
        order="least active first" if least else "most active first",
        deputies=paged(items, serving, offset, limit),
    )


#: One row per person: (contacts + visits + suggestions, their first serving record, [the four counts]).
_Ranked = list[tuple[int, Deputy, list[int]]]


def _ranking_at_cut(ctx: Ctx, offset: int, limit: int, least: bool) -> tuple[_Ranked, int, int]:
    """Counted from the fact tables as they stood at the cut: each table's counts per deputy record added to the
    record's person (a person's records at any node, known at the cut), for the people serving then; the page ranked
    by (total, name, person), with the number of serving people and of inactive ones."""
    serving, person_of = serving_deputies(ctx)
    people = first_serving(serving)
    if not people:
        return [], 0, 0
    if least:
        ranked = _inactive_at_cut(ctx, people, person_of, offset, limit)
        if ranked is not None:
            return ranked
    counts: dict[str, list[int]] = {}  # the people with any fact counted
    get_person = person_of.get
    for i, table in enumerate((s.contact_deputies, s.visit_deputies, s.suggestion_signers, s.opinions)):
        stmt = (
            sa.select(table.c.deputy_id, sa.func.count())
            .where(ctx.years(table.c.year), ctx.by_cut(table), ctx.holds(table), table.c.deputy_id.is_not(None))
            .group_by(table.c.deputy_id)
        )
        for deputy_id, n in fetch_rows(ctx.conn, stmt):
            person = get_person(deputy_id)
            if person in people:
                c = counts.get(person)  # type: ignore[arg-type]
                if c is None:
                    c = counts[person] = [0, 0, 0, 0]  # type: ignore[index]
                c[i] += n
    sign = 1 if least else -1
    totals = [(0, r[3], person) for person, r in people.items() if person not in counts]  # inactive
    inactive = len(totals)
    for person, c in counts.items():
        total = c[0] + c[1] + c[2]
        totals.append((sign * total, people[person][3], person))
        inactive += total == 0
    page = []
    for total, _, person in heapq.nsmallest(offset + limit, totals)[offset:]:  # person ids are unique: no ties
        r = people[person]
        page.append((sign * total, Deputy(r[0], r[1], r[2], r[3], "", r[4]), counts.get(person) or [0, 0, 0, 0]))
    return page, len(totals), inactive


def _inactive_at_cut(
    ctx: Ctx, people: dict[str, Any], person_of: dict[str, str], offset: int, limit: int
) -> tuple[_Ranked, int, int] | None:
    """The page least active first when it holds inactive people only (no contact, visit or suggestion in the period
    at the cut: none of their records has the ``ACTIVE`` mark then), by name and person; else None. Only the page's
    people's opinions are counted."""
    years = (ctx.scope.first_year, ctx.scope.last_year)
    active = marked_persons_at_cut(ctx, {ACTIVE: years}, person_of)[ACTIVE]
    idle = [(r[3], person) for person, r in people.items() if person not in active]
    if offset + limit > len(idle) or _active_through_voided(ctx, person_of) & {person for _, person in idle}:
        return None
    chosen = {person: [0, 0, 0, 0] for _, person in heapq.nsmallest(offset + limit, idle)[offset:]}
    records = [deputy_id for deputy_id, person in person_of.items() if person in chosen]
    o = s.opinions
    if records:
        stmt = (
            sa.select(o.c.deputy_id, sa.func.count())
            .where(ctx.years(o.c.year), ctx.by_cut(o), ctx.holds(o), o.c.deputy_id.in_(records))
            .group_by(o.c.deputy_id)
        )
        for deputy_id, n in ctx.conn.execute(stmt):
            chosen[person_of[deputy_id]][3] += n
    page = []
    for person, c in chosen.items():
        r = people[person]
        page.append((0, Deputy(r[0], r[1], r[2], r[3], "", r[4]), c))
    return page, len(people), len(idle)


def _active_through_voided(ctx: Ctx, person_of: dict[str, str]) -> set[str]:
    """The people at the cut at a contact, on duty at a visit, or signing a suggestion, voided since: active then by
    the recorded or known clock, though no ``ACTIVE`` mark says so (marks are derived again from the facts that hold
    now, ``projector.deputies``)."""
    found: set[str] = set()
    for t in (s.contact_deputies, s.visit_deputies, s.suggestion_signers):
        voided = [ctx.years(t.c.year), t.c.voided_rec.is_not(None), ctx.by_cut(t), ctx.holds(t)]
        found.update(person_of[d] for (d,) in ctx.conn.execute(sa.select(t.c.deputy_id).where(*voided)) if d in person_of)
    return found


def _ranking_now(ctx: Ctx, offset: int, limit: int, least: bool) -> tuple[_Ranked, int, int]:
    """The page of the ranking, ranked in SQL from each person's yearly counters (``person_years``, kept by the
    projector); with the number of serving people and of inactive ones (counted apart: a window over every person
    would make SQLite sort them all, where the page needs only a top-N sort)."""
    d = s.deputies
    region = [] if ctx.scope.is_root else [d.c.area_node_id.in_(ctx.region_nodes())]
    people = (
        sa.select(d.c.person_id, sa.func.min(d.c.deputy_id).label("deputy_id"))
        .where(d.c.serving == sa.true(), *region)
        .group_by(d.c.person_id)
        .subquery("people")
    )
    y = _person_counts(ctx)
    counts = [sa.func.coalesce(y.c[c], 0) for c in ("contacts", "visits", "suggestions", "opinions")]
    total = counts[0] + counts[1] + counts[2]
    of_person = y.c.person_id == people.c.person_id
    rows = fetch_rows(
        ctx.conn,
        sa.select(people.c.deputy_id, people.c.person_id, d.c.area_node_id, d.c.name, d.c.node_id, *counts, total)
        .join_from(people, d, d.c.deputy_id == people.c.deputy_id)
        .join(y, of_person, isouter=True)
        .order_by(total if least else total.desc(), d.c.name, people.c.person_id)
        .offset(offset)
        .limit(limit),
    )
    idle = sa.func.sum(sa.case((total == 0, 1), else_=0))
    serving, inactive = ctx.conn.execute(
        sa.select(sa.func.count(), idle).select_from(people).join(y, of_person, isouter=True)
    ).one()
    ranked = [(r[9], Deputy(r[0], r[1], r[2], r[3], "", r[4]), [int(n) for n in r[5:9]]) for r in rows]
    return ranked, serving or 0, int(inactive or 0)


def _person_counts(ctx: Ctx) -> Any:
    """Each person's counters in the scope's years: their one row of a year (looked up by key), or a term's sums."""
    y = s.person_years
    names = ("contacts", "visits", "suggestions", "opinions")
    if ctx.scope.first_year == ctx.scope.last_year:
        return sa.select(y.c.person_id, *[y.c[c] for c in names]).where(y.c.year == ctx.scope.first_year).subquery("y")
    sums = [sa.func.sum(y.c[c]).label(c) for c in names]
    return sa.select(y.c.person_id, *sums).where(ctx.years(y.c.year)).group_by(y.c.person_id).subquery("y")


def _ranking_root(ctx: Ctx, offset: int, limit: int, least: bool) -> tuple[_Ranked, int, int]:
    """The page at the projection's root for one year: inactive people (no contact, visit or suggestion that year;
    by name) first when least active first, last otherwise; the active ones ranked by their yearly total."""
    pe, dy = s.people, s.duty_years
    serving = ctx.conn.execute(sa.select(sa.func.count()).select_from(pe)).scalar() or 0
    active = ctx.conn.execute(sa.select(dy.c.active).where(dy.c.year == ctx.scope.year)).scalar() or 0
    inactive = serving - active
    if least:
        page = _inactive(ctx, offset, limit) if offset < inactive else []
        page += _active(ctx, max(0, offset - inactive), limit - len(page), least)
    else:
        page = _active(ctx, offset, limit, least) if offset < active else []
        page += _inactive(ctx, max(0, offset - active), limit - len(page))
    return page, serving, inactive


def _row(r: Any) -> tuple[int, Deputy, list[int]]:
    """(deputy id, person, area, name, node, contacts, visits, suggestions, opinions) as a ranked row."""
    counts = [int(n or 0) for n in r[5:9]]
    return counts[0] + counts[1] + counts[2], Deputy(r[0], r[1], r[2], r[3], "", r[4]), counts


def _ranked_columns(pe: Any, y: Any) -> list[Any]:
    return [pe.c.deputy_id, pe.c.person_id, pe.c.area_node_id, pe.c.name, pe.c.node_id, *[y.c[c] for c in _COUNTS]]


def _inactive(ctx: Ctx, offset: int, limit: int) -> _Ranked:
    """People without a contact, visit or suggestion in the year, by name (read in name order until the page is
    full: most people are active)."""
    if limit <= 0:
        return []
    pe, y = s.people, s.person_years
    of_year = sa.and_(y.c.person_id == pe.c.person_id, y.c.year == ctx.scope.year)
    rows = ctx.conn.execute(
        sa.select(*_ranked_columns(pe, y))
        .join_from(pe, y, of_year, isouter=True)
        .where(sa.func.coalesce(y.c.total, 0) == 0)
        .order_by(pe.c.name, pe.c.person_id)
        .offset(offset)
        .limit(limit)
    ).all()
    return [_row(r) for r in rows]


def _active(ctx: Ctx, offset: int, limit: int, least: bool) -> _Ranked:
    """Active people ranked by their total (ties by name and person): the total at the page's last place, read
    along the index of totals, bounds the few rows read and sorted."""
    if limit <= 0:
        return []
    pe, y = s.people, s.person_years
    active = [y.c.year == ctx.scope.year, y.c.total > 0]
    along = y.c.total if least else y.c.total.desc()
    bound = ctx.conn.execute(
        sa.select(y.c.total)
        .join_from(y, pe, pe.c.person_id == y.c.person_id)
        .where(*active)
        .order_by(along)
        .offset(offset + limit - 1)
        .limit(1)
    ).scalar()
    if bound is not None:
        active.append(y.c.total <= bound if least else y.c.total >= bound)
    rows = ctx.conn.execute(
        sa.select(*_ranked_columns(pe, y)).join_from(y, pe, pe.c.person_id == y.c.person_id).where(*active)
    ).all()
    order = (lambda r: (r[0], r[1].name, r[1].person_id)) if least else (lambda r: (-r[0], r[1].name, r[1].person_id))
    return sorted(map(_row, rows), key=order)[offset : offset + limit]
