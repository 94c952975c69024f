"""Deputies: who served (now, or at a cut: mandates and flags then), shared by the duty ranking and the coverage
targets whose populations are deputies; and those targets (who is covered, who is missing).

Now, the targets are counted from the projector's person summaries (``coverage_population``, ``coverage_covered``) and
only the page of missing deputies is looked up; as of a cut, from the deputies' rows joined to their persons' first
marks (``person_marks``), in SQL, except the few deputies whose mandates or flags changed after the cut. Either way the
page of missing deputies comes from the areas it falls in alone (areas in code order, each area's deputies by name and
id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from domain.levels import CongressLevel
from domain.terms import term_of, term_years
from projections import schema as s
from projections.queries.context import Ctx, N, fetch_rows
from projections.rules import deputy_mark, report_term_start


@dataclass(slots=True)
class Deputy:
    """A deputy record as a list shows it (unit, person and office filled in for a page by ``fill_details``)."""

    deputy_id: str
    person_id: str
    area: str
    name: str
    unit: str
    node_id: str


#: A serving record at a cut: (deputy id, person id, area, name, office node, grassroots, leading cadre, provincial
#: mandate, county or township mandate).
Serving = tuple[str, str, str, str, str, bool, bool, bool, bool]
_LOCAL = (CongressLevel.COUNTY.value, CongressLevel.TOWNSHIP.value)


def serving_deputies(ctx: Ctx) -> tuple[list[Serving], dict[str, str]]:
    """Deputies of the region (by where they live) with a mandate in force at the cut, with their flags then; and
    deputy id → person id for every deputy known at the cut (a person's other records, at any node)."""
    d = s.deputies
    changed, active = _mandates_at_cut(ctx)
    rows = fetch_rows(ctx.conn, sa.select(*_SERVING_COLUMNS).where(ctx.by_cut(d)))
    person_of = {r[0]: r[1] for r in rows}
    flags = _flags_at_cut(ctx) if ctx.scope.as_of is not None else {}
    region = None if ctx.scope.is_root else ctx.region_nodes()
    served = (_as_served(r, changed, active, flags) for r in rows if region is None or r[2] in region)
    return [r for r in served if r is not None], person_of


#: A deputy's row as ``_as_served`` reads it: (deputy id, person id, area, name, office node, grassroots, leading cadre,
#: serving now, provincial mandate now, county or township mandate now).
_SERVING_COLUMNS = [
    s.deputies.c[name]
    for name in (
        "deputy_id",
        "person_id",
        "area_node_id",
        "name",
        "node_id",
        "grassroots",
        "leading_cadre",
        "serving",
        "serving_provincial",
        "serving_local",
    )
]


def _as_served(
    row: Any, changed: set[str], active: dict[str, tuple[bool, bool]], flags: dict[str, tuple[bool, bool]]
) -> Serving | None:
    """A deputy's row (``_SERVING_COLUMNS``) as it served at the cut, or None if it did not: the mandates then of a
    deputy whose mandates changed after the cut, else those now; the flags then of one whose flags ever changed."""
    deputy_id, person_id, area, name, node_id, grassroots, leading, now, provincial_now, local_now = row[:10]
    if deputy_id in changed:
        mandates = active.get(deputy_id)
        if mandates is None:
            return None
    elif now:
        mandates = (bool(provincial_now), bool(local_now))
    else:
        return None
    grassroots, leading = flags.get(deputy_id, (grassroots, leading))
    return (deputy_id, person_id, area, name, node_id, bool(grassroots), bool(leading), *mandates)


def _mandates_at_cut(ctx: Ctx) -> tuple[set[str], dict[str, tuple[bool, bool]]]:
    """The deputies whose mandates changed after the cut (granted, reviewed or terminated then), and of those the ones
    with mandates in force at the cut (provincial, county or township). Every other deputy served at the cut exactly
    as now: the serving flags the projector keeps on the deputy's row (reading every mandate at a cut of a big
    subtree cost a scan and a Python pass over 100,000+ rows)."""
    d, m = s.deputies, s.mandates
    active: dict[str, tuple[bool, bool]] = {}
    changed: set[str] = set()
    if ctx.scope.as_of is None:
        return changed, active
    in_force = sa.and_(m.c.passed.is_(True), ctx.by_cut(m, "reviewed"), ctx.not_yet(m, "terminated"))
    registered = sa.select(d.c.deputy_id).where(ctx.by_cut(d))  # (a deputy registered after the cut is left out anyway)
    stmt = sa.select(m.c.deputy_id, m.c.congress, in_force).where(
        m.c.deputy_id.in_(_mandates_changed_after_cut(ctx)), m.c.deputy_id.in_(registered)
    )
    provincial, local = CongressLevel.PROVINCIAL.value, frozenset(_LOCAL)
    for deputy_id, congress, then in fetch_rows(ctx.conn, stmt):
        changed.add(deputy_id)
        if then:
            found = active.get(deputy_id, (False, False))
            active[deputy_id] = (found[0] or congress == provincial, found[1] or congress in local)
    return changed, active


def _mandates_changed_after_cut(ctx: Ctx) -> Any:
    m = s.mandates
    later = sa.or_(*[ctx.clock(m, step) > ctx.scope.as_of for step in ("granted", "reviewed", "terminated")])
    return sa.select(m.c.deputy_id).where(later)


def _changed_after_cut(ctx: Ctx) -> Any:
    """The deputies whose row now may not say how they served at the cut: mandates changed after it, or flags changed
    since registration (``_flags_at_cut``); and whose person's marks may not say what covered them then: the records of
    a person at a contact that held at the cut and was voided since (``_voided_since``)."""
    f, d = s.deputy_flags, s.deputies
    at = _voided_since(ctx).subquery("voided")
    voided = sa.select(d.c.person_id).join_from(at, d, d.c.deputy_id == at.c.deputy_id)
    return sa.union(
        _mandates_changed_after_cut(ctx),
        sa.select(f.c.deputy_id).where(f.c.version > 1),
        sa.select(d.c.deputy_id).where(d.c.person_id.in_(voided)),
    )


def _voided_since(ctx: Ctx) -> Any:
    """The deputies at contacts that held at the cut and were voided since, with the contact's year, kind and organiser
    (by the recorded or known clock: marks are first times among the contacts that hold now; by the occurred clock a
    voided contact never held, and none is found)."""
    cd, c = s.contact_deputies, s.contacts
    return (
        sa.select(cd.c.deputy_id, cd.c.year, c.c.kind, c.c.organiser_kind)
        .join_from(cd, c, c.c.contact_id == cd.c.contact_id)
        .where(cd.c.voided_rec.is_not(None), ctx.by_cut(cd), ctx.holds(cd))
    )


def _marked_through_voided(ctx: Ctx) -> dict[str, set[tuple[str, int]]]:
    """Per person, the (mark, year) a contact voided since gave them at the cut (``_voided_since``)."""
    d = s.deputies
    voided = _voided_since(ctx).subquery("voided")
    found: dict[str, set[tuple[str, int]]] = {}
    stmt = sa.select(d.c.person_id, voided.c.year, voided.c.kind, voided.c.organiser_kind).join_from(
        voided, d, d.c.deputy_id == voided.c.deputy_id
    )
    for person, year, kind, organiser_kind in ctx.conn.execute(stmt):
        mark = deputy_mark(kind, organiser_kind)
        if mark is not None:
            found.setdefault(person, set()).add((mark, year))
    return found


def _flags_at_cut(ctx: Ctx) -> dict[str, tuple[bool, bool]]:
    """The flags at the cut of the deputies whose flags were ever set after registration (a partial index of them)."""
    f = s.deputy_flags
    changed = sa.select(f.c.deputy_id).where(f.c.version > 1)
    latest: dict[str, tuple[int, bool, bool]] = {}
    for deputy_id, version, grassroots, leading in ctx.conn.execute(
        sa.select(f.c.deputy_id, f.c.version, f.c.grassroots, f.c.leading_cadre).where(ctx.by_cut(f), f.c.deputy_id.in_(changed))
    ):
        if deputy_id not in latest or version > latest[deputy_id][0]:
            latest[deputy_id] = (version, bool(grassroots), bool(leading))
    return {deputy_id: (g, lc) for deputy_id, (_, g, lc) in latest.items()}


def fill_details(ctx: Ctx, deputies: list[Deputy]) -> None:
    """Fill in the work unit, person and office of a page of deputies (left out of the big scans; they never change)."""
    if deputies:
        d = s.deputies
        found = {
            r[0]: r[1:]
            for r in ctx.conn.execute(
                sa.select(d.c.deputy_id, d.c.unit, d.c.person_id, d.c.node_id).where(
                    d.c.deputy_id.in_([x.deputy_id for x in deputies])
                )
            )
        }
        for x in deputies:
            x.unit, x.person_id, x.node_id = found.get(x.deputy_id, ("", x.person_id, x.node_id))


def marked_persons_at_cut(ctx: Ctx, marks: dict[str, tuple[int, int]], person_of: dict[str, str]) -> dict[str, set[str]]:
    """The people who (through any of their deputy records) have each mark in its years, on this side of the cut: a
    range of the marks' key per mark (one statement each: a statement for them all is a scan on PostgreSQL and a
    deduplicated OR on SQLite, and its rows must be split by mark in Python), whose subjects are looked up without a
    Python step per row."""
    m = s.marks
    first = ctx.clock(m, "first")
    by_cut = sa.true() if ctx.scope.as_of is None else first <= ctx.scope.as_of
    out = {}
    for mark, years in marks.items():
        in_years = m.c.year == years[0] if years[0] == years[1] else m.c.year.between(*years)
        rows = fetch_rows(ctx.conn, sa.select(m.c.subject_id).where(m.c.mark == mark, in_years, by_cut))
        out[mark] = {person_of.get(r[0]) for r in rows}
        out[mark].discard(None)  # type: ignore[arg-type]  # a subject not known at the cut
    return out  # type: ignore[return-value]


#: The coverage targets whose populations are deputies, and the mark (or summary target) each counts.
DEPUTY_TARGETS = {
    "grassroots_provincial_invited": "organ",
    "leading_cadre_group": "group",
    "practical_deed": "deed",
    "constituent_report": "report",
}
#: Who is in each target's population: of a serving record at a cut, and of a deputy's row by its flags and mandates
#: now (in SQL: the current view's page of missing deputies, and the deputies counted as of a cut whose rows say how
#: they served then).
_IN_POPULATION: dict[str, Callable[[Serving], bool]] = {
    "grassroots_provincial_invited": lambda r: r[5] and r[7],
    "leading_cadre_group": lambda r: r[6],
    "practical_deed": lambda r: True,
    "constituent_report": lambda r: r[8],
}
_IN_POPULATION_NOW: dict[str, Callable[[Any], Any]] = {
    "grassroots_provincial_invited": lambda d: sa.and_(d.c.grassroots == sa.true(), d.c.serving_provincial == sa.true()),
    "leading_cadre_group": lambda d: d.c.leading_cadre == sa.true(),
    "practical_deed": lambda d: sa.true(),
    "constituent_report": lambda d: d.c.serving_local == sa.true(),
}
#: Per area (or child region): {"population": n, "covered": n}
PerNode = dict[str | None, dict[str, float]]


def deputy_targets(ctx: Ctx, keys: list[str], offset: int, limit: int) -> dict[str, tuple[PerNode, list[Deputy]]]:
    """Each target's population and covered deputies per area (now: per child region), and the page of the deputies
    missing it (ordered by their area's code, name and id), details filled in."""
    report_years = term_years(CongressLevel.COUNTY, term_of(CongressLevel.COUNTY, ctx.scope.year))
    if ctx.scope.as_of is None:
        out = {}
        for key, (per_child, missing_by_area) in _summaries(ctx, keys).items():
            out[key] = (per_child, _missing_now(ctx, key, missing_by_area, report_years, offset, limit))
    else:
        out = _coverage_at_cut(ctx, keys, report_years, offset, limit)
    for _, page in out.values():
        fill_details(ctx, page)
    return out


def _summaries(ctx: Ctx, keys: list[str]) -> dict[str, tuple[PerNode, list[tuple[str, str, int]]]]:
    """The targets' person summaries in the scope, read at once (population per area, joined to those covered in the
    year, the term's first year for reports): per target its counts per child region, and (code, area, missing) of
    the areas with someone missing, in code order."""
    p, c = s.coverage_population, s.coverage_covered
    years = sa.case((p.c.target == "report", report_term_start(ctx.scope.year)), else_=ctx.scope.year)
    of_area = sa.and_(c.c.target == p.c.target, c.c.year == years, c.c.area_node_id == p.c.area_node_id)
    child = N.c[f"{ctx.child_level}_id"] if ctx.child_level else p.c.area_node_id
    stmt = (
        sa.select(p.c.target, p.c.area_node_id, N.c.code, child, p.c.n, sa.func.coalesce(c.c.n, 0))
        .select_from(p.outerjoin(c, of_area).outerjoin(N, N.c.node_id == p.c.area_node_id))
        .where(p.c.target.in_([DEPUTY_TARGETS[k] for k in keys]), ctx.in_region(p.c.area_node_id), p.c.n > 0)
    )
    key_of = {DEPUTY_TARGETS[k]: k for k in keys}
    per_child: dict[str, PerNode] = {k: {} for k in keys}
    missing: dict[str, list[tuple[str, str, int]]] = {k: [] for k in keys}
    for target, area, code, region, population, covered in fetch_rows(ctx.conn, stmt):
        key = key_of[target]
        counts = per_child[key].setdefault(region or area, {"population": 0, "covered": 0})
        counts["population"] += population
        counts["covered"] += covered
        if population > covered:
            missing[key].append((code or "", area, population - covered))
    return {k: (per_child[k], sorted(missing[k])) for k in keys}


def _areas_of_page(missing_by_area: list[tuple[str, str, int]], offset: int, limit: int) -> tuple[dict[str, str], int]:
    """The areas (→ their code) the page of missing deputies falls in, and how many missing precede the first."""
    wanted, skipped, seen = {}, 0, 0
    for code, area, missing in missing_by_area:
        if seen >= offset + limit:
            break
        if seen + missing > offset:
            wanted[area] = code
        else:
            skipped += missing
        seen += missing
    return wanted, skipped


def _missing_now(
    ctx: Ctx, key: str, missing_by_area: list[tuple[str, str, int]], report_years: tuple[int, int], offset: int, limit: int
) -> list[Deputy]:
    """The page of deputies missing the target, read from the deputies of the areas it falls in."""
    code, skipped = _areas_of_page(missing_by_area, offset, limit)
    if not code or limit <= 0:
        return []
    d, yr, rp = s.deputies, s.person_years.alias("yr"), s.person_years.alias("rp")
    covered = {
        "grassroots_provincial_invited": yr.c.organ_contacts > 0,
        "leading_cadre_group": yr.c.group_activities > 0,
        "practical_deed": yr.c.deeds > 0,
        "constituent_report": sa.exists().where(
            rp.c.person_id == d.c.person_id, rp.c.year.between(*report_years), rp.c.reports > 0
        ),
    }[key]
    in_areas = [d.c.area_node_id.in_(list(code)), d.c.serving == sa.true(), _IN_POPULATION_NOW[key](d)]
    rows = ctx.conn.execute(
        sa.select(d.c.deputy_id, d.c.area_node_id, d.c.name)
        .join_from(d, yr, sa.and_(yr.c.person_id == d.c.person_id, yr.c.year == ctx.scope.year), isouter=True)
        .where(*in_areas, sa.not_(sa.func.coalesce(covered, False)))
    ).all()
    listed = sorted(rows, key=lambda r: (code[r[1]], r[2], r[0]))[offset - skipped : offset - skipped + limit]
    return [Deputy(r[0], "", r[1], r[2], "", "") for r in listed]


def _coverage_at_cut(
    ctx: Ctx, keys: list[str], report_years: tuple[int, int], offset: int, limit: int
) -> dict[str, tuple[PerNode, list[Deputy]]]:
    """The deputy targets from the facts as they stood at the cut (serving mandates, flags and first marks then).

    The deputies whose rows say how they served at the cut (all but ``_changed_after_cut``) are counted per area in
    SQL, joined to their persons' first marks (``person_marks``): a Python pass over 100,000+ deputies and their marks
    cost most of an as-of view of a province. Only the few others are read one by one (``_changed_at_cut``; on a
    connection of their own beside the count they saved no time: an as-of rollup keeps both cores busy, and a view
    that holds one pooled connection while waiting for another can starve concurrent views). The page of missing
    deputies comes from the areas it falls in alone."""
    d = s.deputies
    later = {r[0] for r in fetch_rows(ctx.conn, _changed_after_cut(ctx))}
    per_area = _count_unchanged(ctx, keys, report_years)
    changed = _changed_at_cut(ctx, keys, report_years)
    out = {}
    for i, key in enumerate(keys):
        missing = []  # of the changed deputies
        for served, done in changed:
            if _IN_POPULATION[key](served):
                counts = per_area[key].setdefault(served[2], {"population": 0, "covered": 0})
                counts["population"] += 1
                counts["covered"] += done[i]
                if not done[i]:
                    missing.append(served)
        # the anti-join against the changed deputies is left to Python here: it scans the mandates once per page
        listed = [ctx.by_cut(d), d.c.serving == sa.true(), ctx.in_region(d.c.area_node_id), _IN_POPULATION_NOW[key](d)]
        page = _missing_page(ctx, key, report_years, per_area[key], listed, later, missing, offset, limit)
        out[key] = (per_area[key], page)
    return out


def _count_unchanged(ctx: Ctx, keys: list[str], report_years: tuple[int, int]) -> dict[str, PerNode]:
    """Per target, the population and covered per area of the deputies whose rows say how they served at the cut."""
    d = s.deputies
    source, covered = _covers(ctx, keys, report_years)
    later = _changed_after_cut(ctx).subquery("later")
    unchanged = [
        ctx.by_cut(d),
        d.c.serving == sa.true(),
        ~sa.exists().where(later.c.deputy_id == d.c.deputy_id),  # an anti-join (NOT IN: a subplan per row, and no parallel plan)
        ctx.in_region(d.c.area_node_id),
    ]
    flags = [sa.func.sum(sa.case((c, 1), else_=0)) for key in keys for c in _counted_now(d, key, covered)]
    per_area: dict[str, PerNode] = {key: {} for key in keys}
    stmt = sa.select(d.c.area_node_id, *flags).select_from(source).where(*unchanged).group_by(d.c.area_node_id)
    for area, *found in ctx.conn.execute(stmt):
        for i, key in enumerate(keys):
            if found[2 * i]:
                per_area[key][area] = {"population": int(found[2 * i]), "covered": int(found[2 * i + 1])}
    return per_area


def _counted_now(d: Any, key: str, covered: dict[str, Any]) -> tuple[Any, Any]:
    """A deputy's row in the target's population (by its flags and mandates now), and in it and covered."""
    population = _IN_POPULATION_NOW[key](d)
    return population, sa.and_(population, covered[key])


def _covers(ctx: Ctx, keys: list[str], report_years: tuple[int, int]) -> tuple[Any, dict[str, Any]]:
    """The deputies joined to their persons' first marks (of the year; for reports, of the term), and per target
    whether a row's person had its mark by the cut."""
    d, pm = s.deputies, s.person_marks
    of_year = pm.alias("of_year")
    source = d.outerjoin(of_year, sa.and_(of_year.c.person_id == d.c.person_id, of_year.c.year == ctx.scope.year))
    covered = {}
    for key in keys:
        mark = DEPUTY_TARGETS[key]
        then: Any
        if key == "constituent_report":
            first = ctx.clock(pm, mark)
            of_term = (
                sa.select(pm.c.person_id, sa.func.min(first).label("first"))
                .where(pm.c.year.between(*report_years), first.is_not(None))
                .group_by(pm.c.person_id)
                .subquery("of_term")
            )
            source = source.outerjoin(of_term, of_term.c.person_id == d.c.person_id)
            then = of_term.c.first
        else:
            then = ctx.clock(of_year, mark)
        covered[key] = sa.and_(then.is_not(None), then <= ctx.scope.as_of)
    return source, covered


def _changed_at_cut(ctx: Ctx, keys: list[str], report_years: tuple[int, int]) -> list[tuple[Serving, list[bool]]]:
    """The deputies of the region whose rows do not say how they served at the cut (``_changed_after_cut``), as they
    served then (those who did), with whether each target covered their person by then."""
    d = s.deputies
    changed, active = _mandates_at_cut(ctx)
    flags = _flags_at_cut(ctx)
    where = [ctx.by_cut(d), d.c.deputy_id.in_(_changed_after_cut(ctx)), ctx.in_region(d.c.area_node_id)]
    out = []
    also = _marked_through_voided(ctx)
    for row, done in _with_firsts(ctx, keys, report_years, _SERVING_COLUMNS, where, also):
        served = _as_served(row, changed, active, flags)
        if served is not None:
            out.append((served, done))
    return out


def _with_firsts(
    ctx: Ctx,
    keys: list[str],
    report_years: tuple[int, int],
    columns: list[Any],
    where: list[Any],
    also: dict[str, set[tuple[str, int]]] | None = None,
) -> list[tuple[Any, list[bool]]]:
    """A few deputies' rows (``columns``, the id first, the person second), each with whether each target covered
    their person by the cut: what ``_covers`` says, decided here from the persons' ``person_marks`` rows (joining every
    person's, as the counts do, costs as much for a page as for them all), or by the (mark, year) ``also`` gives the
    person."""
    d, pm = s.deputies, s.person_marks
    year, cut = ctx.scope.year, ctx.scope.as_of
    years = {key: report_years if key == "constituent_report" else (year, year) for key in keys}
    span = (min(y[0] for y in years.values()), max(y[1] for y in years.values()))
    of_person = sa.and_(pm.c.person_id == d.c.person_id, pm.c.year.between(*span))
    firsts = [ctx.clock(pm, DEPUTY_TARGETS[key]) for key in keys]
    stmt = sa.select(*columns, pm.c.year, *firsts).select_from(d.outerjoin(pm, of_person)).where(*where)
    found: dict[str, tuple[Any, list[bool]]] = {}
    n = len(columns)
    for r in ctx.conn.execute(stmt):
        row, marked_in, then = r[:n], r[n], r[n + 1 :]
        entry = found.get(row[0])
        if entry is None:
            entry = found[row[0]] = (row, _also_done(keys, years, (also or {}).get(row[1], ())))
        done = entry[1]
        if marked_in is not None:
            for i, key in enumerate(keys):
                first, last = years[key]
                if first <= marked_in <= last and then[i] is not None and then[i] <= cut:
                    done[i] = True
    return list(found.values())


def _also_done(keys: list[str], years: dict[str, tuple[int, int]], marked: Any) -> list[bool]:
    """Per target, whether one of the (mark, year) ``marked`` covers it in its years."""
    return [any(m == DEPUTY_TARGETS[key] and years[key][0] <= y <= years[key][1] for m, y in marked) for key in keys]


def _missing_page(
    ctx: Ctx,
    key: str,
    report_years: tuple[int, int],
    per_area: PerNode,
    listed: list[Any],
    changed: set[str],
    missing: list[Serving],
    offset: int,
    limit: int,
) -> list[Deputy]:
    """The page of missing deputies (by area code, name and id): the deputies ``listed`` selects in the areas the page
    falls in but the ``changed`` ones, those the target did not cover, with the (changed) ``missing`` already at hand
    there."""
    by_area = sorted(
        (ctx.region_label(area)["code"], area, int(n["population"] - n["covered"]))
        for area, n in per_area.items()
        if area is not None and n["population"] > n["covered"]
    )
    wanted, skipped = _areas_of_page(by_area, offset, limit)
    if not wanted or limit <= 0:
        return []
    d = s.deputies
    columns = [d.c.deputy_id, d.c.person_id, d.c.area_node_id, d.c.name, d.c.node_id]
    where = [*listed, d.c.area_node_id.in_(list(wanted))]
    rows = [row for row, (done,) in _with_firsts(ctx, [key], report_years, columns, where) if not done and row[0] not in changed]
    rows += [r for r in missing if r[2] in wanted]
    rows.sort(key=lambda r: (wanted[r[2]], r[3], r[0]))
    return [Deputy(r[0], r[1], r[2], r[3], "", r[4]) for r in rows[offset - skipped : offset - skipped + limit]]


def first_serving(serving: list[Serving]) -> dict[str, Serving]:
    """Each person's first serving record (by deputy id): the one a person-level list shows."""
    people: dict[str, Any] = {}
    for r in serving:
        found = people.get(r[1])
        if found is None or r[0] < found[0]:
            people[r[1]] = r
    return people
