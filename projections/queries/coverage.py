"""The 一盘棋 coverage view: every target of the glossary, with its worst regions and who is missing."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from domain.levels import CongressLevel, Level
from domain.terms import term_of, term_years
from projections import labels as L
from projections import schema as s
from projections.db import ProjectionDB
from projections.queries.context import Ctx, N, paged, rate, together, view_answer
from projections.queries.deputies import DEPUTY_TARGETS, deputy_targets
from projections.queries.scope import QueryError, Scope
from projections.queries.suggestions import LISTS, NODE_COUNTS, Counted, counted, page_of, states_source
from projections.rules import OPEN_FOLLOW_UP, organiser_marks


def _deputy_targets(ctx: Ctx, keys: list[str], missing_offset: int, missing_limit: int) -> dict[str, dict[str, Any]]:
    scope = ctx.scope
    report_term = term_of(CongressLevel.COUNTY, scope.year)
    first, last = term_years(CongressLevel.COUNTY, report_term)
    out = {}
    for key, (per_node, page) in deputy_targets(ctx, keys, missing_offset, missing_limit).items():
        items = [
            {
                "deputy_id": x.deputy_id,
                "name": x.name,
                "unit": x.unit,
                "office": ctx.region_label(x.node_id)["name"],
                "where": ctx.where_label(x.area),
                "person_id": x.person_id,
            }
            for x in page
        ]
        period = f"第{report_term}届({first}–{last}年)" if key == "constituent_report" else f"{scope.year}年"
        out[key] = _summarise(ctx, key, per_node, items, missing_offset, missing_limit, period)
    return out


def _summarise(
    ctx: Ctx,
    key: str,
    per_node: dict[str | None, dict[str, float]],
    items: list[dict[str, Any]],
    offset: int,
    limit: int,
    period: str,
) -> dict[str, Any]:
    population = int(sum(v["population"] for v in per_node.values()))
    covered = int(sum(v["covered"] for v in per_node.values()))
    regions = ctx.rollup(per_node, ["population", "covered"])
    for r in regions:
        r["population"], r["covered"] = int(r["population"]), int(r["covered"])
        r["missing"] = r["population"] - r["covered"]
        r["rate"] = rate(r["covered"], r["population"])
    ranked = sorted((r for r in regions if r["population"]), key=lambda r: (r["rate"], -r["missing"], r["code"]))
    label, source = L.TARGETS[key]
    return {
        "key": key,
        "label": label,
        "short": L.TARGET_SHORT[key],
        "source": source,
        "period": period,
        "population": population,
        "covered": covered,
        "missing": population - covered,
        "rate": rate(covered, population),
        "by_region": regions,
        "worst_regions": ranked[:3],
        "missing_list": paged(items, population - covered, offset, limit),
    }


def _sc_target(ctx: Ctx, missing_offset: int, missing_limit: int) -> dict[str, Any]:
    mem = s.sc_members.alias("sm")
    mk = s.marks.alias("mk")
    scope = ctx.scope
    first = ctx.clock(mk, "first")
    by_cut = sa.true() if scope.as_of is None else first <= scope.as_of
    conds = [ctx.by_cut(mem, "appointed"), ctx.not_yet(mem, "left"), ctx.in_region(mem.c.node_id)]
    covered: Any = sa.exists().where(
        mk.c.mark == "f2f", mk.c.year == scope.year, mk.c.subject_id == mem.c.node_id + ":" + mem.c.member_id, by_cut
    )
    met = voided_since(ctx, "f2f")
    if met:  # marks are first times among the contacts that hold now
        covered = sa.or_(covered, (mem.c.node_id + ":" + mem.c.member_id).in_(sorted(met)))
    flag = sa.case((covered, 1), else_=0)
    source, child = ctx.by_child(mem)
    per_node = {
        region: {"population": n, "covered": c or 0}
        for region, n, c in ctx.conn.execute(
            sa.select(child, sa.func.count(), sa.func.sum(flag)).select_from(source).where(*conds).group_by(child)
        )
    }
    rows = sorted(
        ctx.conn.execute(
            sa.select(mem.c.member_id, mem.c.name, mem.c.post, mem.c.node_id).where(*conds, sa.not_(covered))
        ).fetchall(),
        key=lambda r: (ctx.region_label(r[3])["code"], r[0]),
    )[missing_offset : missing_offset + missing_limit]
    items = [
        {"member_id": r[0], "name": r[1], "post": r[2], "office": f"{ctx.region_label(r[3])['name']}人大常委会"} for r in rows
    ]
    return _summarise(ctx, "sc_face_to_face", per_node, items, missing_offset, missing_limit, f"{scope.year}年")


def _body_target(ctx: Ctx, missing_offset: int, missing_limit: int) -> dict[str, Any]:
    """SCs (constituted at the node) and township presidiums (a township congress with deputies on record)."""
    scope = ctx.scope
    sc = s.standing_committees
    d = s.deputies
    bodies: dict[str, str] = {}
    for (node_id,) in ctx.conn.execute(sa.select(sc.c.node_id).where(ctx.by_cut(sc), ctx.in_region(sc.c.node_id)).distinct()):
        bodies[node_id] = "常委会"
    # township presidiums: one look into the deputies' office index per township with a congress
    recorded = sa.exists().where(d.c.node_id == N.c.node_id, ctx.by_cut(d))
    townships = sa.select(N.c.node_id).where(N.c.level == Level.TOWNSHIP.value, N.c.has_congress.is_(True), recorded)
    for (node_id,) in ctx.conn.execute(townships.where(ctx.in_region(N.c.node_id))):
        bodies.setdefault(node_id, "人大主席团")
    mk = s.marks
    first = ctx.clock(mk, "first")
    done = {
        r[0]
        for r in ctx.conn.execute(
            sa.select(mk.c.subject_id).where(
                mk.c.mark == "research",
                mk.c.year == scope.year,
                sa.true() if scope.as_of is None else first <= scope.as_of,
            )
        )
    }
    done.update(voided_since(ctx, "research"))
    per_node: dict[str | None, dict[str, float]] = {n: {"population": 1, "covered": 1 if n in done else 0} for n in bodies}
    missing = sorted((n for n in bodies if n not in done), key=lambda n: (ctx.region_label(n)["code"], n))
    items = [
        {
            "body": f"{ctx.region_label(n)['name']}{'人大' + bodies[n] if bodies[n] == '常委会' else bodies[n]}",
            "node": ctx.region_label(n),
        }
        for n in missing[missing_offset : missing_offset + missing_limit]
    ]
    return _summarise(ctx, "body_research", per_node, items, missing_offset, missing_limit, f"{scope.year}年")


def voided_since(ctx: Ctx, mark: str) -> set[str]:
    """The subjects of ``mark`` (``f2f``: "<node>:<member>"; ``research``: a body's node) met at the cut by the scope's
    contacts of the year that were voided since: no mark says so (marks are first times among the contacts that hold
    now; by the occurred clock a voided contact never held, and none is found). Now: none."""
    if ctx.scope.as_of is None:
        return set()
    c = s.contacts
    held = [c.c.year == ctx.scope.year, c.c.voided_rec.is_not(None), ctx.by_cut(c), ctx.holds(c), ctx.in_region(c.c.node_id)]
    columns = [c.c.node_id, c.c.kind, c.c.organiser_kind, c.c.organiser_id, c.c.face_to_face]
    return {
        subject for r in ctx.conn.execute(sa.select(*columns).where(*held)) for m, subject in organiser_marks(*r) if m == mark
    }


def _follow_up_target(ctx: Ctx, missing_offset: int, missing_limit: int) -> dict[str, Any]:
    with states_source(ctx, follow_only=True) as source:
        return follow_up_target(ctx, counted(ctx, source), missing_offset, missing_limit)


def follow_up_target(ctx: Ctx, found: Counted, missing_offset: int, missing_limit: int) -> dict[str, Any]:
    """B/C replies and dissatisfied suggestions (ever) of the period: covered once no longer under follow-up. From the
    suggestions ``found`` (all of the period's, or those under the target alone) and the states they were read from."""
    per_node = _follow_up_now(ctx) if ctx.scope.as_of is None else _follow_up_counted(found)
    listed = page_of(ctx, found, LISTS["follow_ups"], missing_offset, missing_limit)
    items = [
        {
            "suggestion_id": x["suggestion_id"],
            "number": x["number"],
            "title": x["title"],
            "state": L.SUGGESTION_STATE.get(x["state"], x["state"]),
            "category": x["last_category"],
            "lead_unit": x["lead_unit"],
            "office": ctx.region_label(x["node_id"])["name"],
            "last_reply_day": x["last_reply_day"],
        }
        for x in listed
    ]
    return _summarise(ctx, "follow_up", per_node, items, missing_offset, missing_limit, period_label(ctx.scope))


def _follow_up_now(ctx: Ctx) -> dict[str | None, dict[str, float]]:
    """The cells under follow-up, summed per child region and state."""
    per_node: dict[str | None, dict[str, float]] = {}
    c = s.suggestion_cells
    source, child = ctx.by_child(c)
    under = [ctx.years(c.c.year), ctx.in_region(c.c.node_id), c.c.follow.is_(True)]
    stmt = sa.select(child, c.c.state, sa.func.sum(c.c.n)).select_from(source).where(*under).group_by(child, c.c.state)
    for region, state, n in ctx.conn.execute(stmt):
        counts = per_node.setdefault(region, {"population": 0, "covered": 0})
        counts["population"] += n
        counts["covered"] += 0 if state in OPEN_FOLLOW_UP else n
    return {node: counts for node, counts in per_node.items() if counts["population"]}


def _follow_up_counted(found: Counted) -> dict[str | None, dict[str, float]]:
    """From the states at the cut under follow-up, counted per node."""
    follow, followed = NODE_COUNTS.index("follow"), NODE_COUNTS.index("followed")
    return {node: {"population": c[follow], "covered": c[followed]} for node, c in found.nodes.items() if c[follow]}


def period_label(scope: Scope) -> str:
    return f"{scope.first_year}年" if scope.first_year == scope.last_year else f"{scope.first_year}–{scope.last_year}年"


def _opinions_block(ctx: Ctx, missing_offset: int, missing_limit: int) -> dict[str, Any]:
    """Opinions raised in the period, handled and fed back (now: the projector's ``opinion_years``); the page of those
    still waiting for feedback, oldest first (now: from the index of open opinions)."""
    o, c = s.opinions, s.contacts
    per_node: dict[str | None, dict[str, float]] = {}
    if ctx.scope.as_of is None:
        y = s.opinion_years
        source, child = ctx.by_child(y)
        sums = [sa.func.sum(y.c.raised), sa.func.sum(y.c.handled), sa.func.sum(y.c.fed_back)]
        in_scope = [ctx.years(y.c.year), ctx.in_region(y.c.node_id)]
        counts = sa.select(child, *sums).select_from(source).where(*in_scope).group_by(child)
    else:
        flags = [sa.func.sum(sa.case((ctx.by_cut(o, step), 1), else_=0)) for step in ("handled", "fed")]
        in_period = [ctx.by_cut(o), ctx.holds(o), ctx.years(o.c.year), ctx.in_region(o.c.node_id)]
        counts = sa.select(o.c.node_id, sa.func.count(), flags[0], flags[1]).where(*in_period).group_by(o.c.node_id)
    for node_id, raised, handled, fed in ctx.conn.execute(counts):
        if raised:
            row = per_node.setdefault(node_id, {"population": 0, "covered": 0, "handled": 0})
            row["population"] += raised
            row["handled"] += handled or 0
            row["covered"] += fed or 0
    open_now = o.c.fed_rec.is_(None) if ctx.scope.as_of is None else ctx.not_yet(o, "fed")
    ot = s.opinion_texts
    waiting = (
        sa.select(o.c.contact_id, o.c.number, ot.c.text, o.c.day, o.c.node_id, c.c.title, ctx.by_cut(o, "handled"))
        .join_from(o, c, c.c.contact_id == o.c.contact_id, isouter=True)
        .join(ot, sa.and_(ot.c.contact_id == o.c.contact_id, ot.c.number == o.c.number))
        .where(ctx.by_cut(o), ctx.holds(o), ctx.years(o.c.year), ctx.in_region(o.c.node_id), open_now)
        .order_by(o.c.day, o.c.contact_id, o.c.number)
    )
    items = [
        {
            "contact_id": r[0],
            "number": r[1],
            "opinion": r[2],
            "raised_on": r[3],
            "office": ctx.region_label(r[4])["name"],
            "contact": r[5],
            "status": "已办理待反馈" if r[6] else "待办理",
        }
        for r in ctx.conn.execute(waiting.offset(missing_offset).limit(missing_limit))
    ]
    block = _summarise(ctx, "opinions", per_node, items, missing_offset, missing_limit, period_label(ctx.scope))
    block["handled"] = int(sum(v["handled"] for v in per_node.values()))
    block["fed_back"] = block["covered"]
    block["raised"] = block["population"]
    return block


COVERAGE_TARGETS = (
    "sc_face_to_face",
    "grassroots_provincial_invited",
    "leading_cadre_group",
    "body_research",
    "practical_deed",
    "constituent_report",
    "follow_up",
    "opinions",
)


_OTHER_TARGETS = {
    "sc_face_to_face": _sc_target,
    "body_research": _body_target,
    "follow_up": _follow_up_target,
    "opinions": _opinions_block,
}


def coverage(
    db: ProjectionDB,
    scope: Scope,
    *,
    targets: tuple[str, ...] | None = None,
    missing_offset: int = 0,
    missing_limit: int = 20,
) -> dict[str, Any]:
    """The glossary's targets with coverage, the worst regions and who is missing (paginated)."""
    wanted = targets or COVERAGE_TARGETS
    unknown = [t for t in wanted if t not in COVERAGE_TARGETS]
    if unknown:
        raise QueryError(f"unknown target(s) {unknown}; choose from {', '.join(COVERAGE_TARGETS)}")
    page = {"missing_offset": missing_offset, "missing_limit": missing_limit}
    deputy_keys = [k for k in wanted if k in DEPUTY_TARGETS]
    others = [k for k in wanted if k not in DEPUTY_TARGETS]

    def by_deputy() -> dict[str, dict[str, Any]]:  # the deputies' targets: most of the work, half of it in Python
        with db.connect() as conn:
            return _deputy_targets(Ctx(db, scope, conn), deputy_keys, **page) if deputy_keys else {}

    def the_others() -> dict[str, dict[str, Any]]:
        with db.connect() as conn:
            ctx = Ctx(db, scope, conn)
            return {key: _OTHER_TARGETS[key](ctx, **page) for key in others}

    deputies, (rest,) = together(by_deputy, the_others)
    found = {**deputies, **rest}
    out = [found[key] for key in wanted]
    return view_answer("coverage", scope, targets=out)
