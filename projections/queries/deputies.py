"""Deputies: who served (now, or at a cut: mandates and flags then), shared by the duty ranking and the coverage
targets whose populations are deputies; and those targets (who is covered, who is missing).

Now, the targets are counted from the projector's person summaries (``coverage_population``, ``coverage_covered``) and
only the page of missing deputies is looked up; as of a cut, from the deputies, mandates and marks known then.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass

import sqlalchemy as sa

from domain.levels import CongressLevel
from domain.terms import term_of, term_years
from projections import schema as s
from projections.queries.context import Ctx, fetch_rows
from projections.rules import report_term_start


@dataclass(slots=True)
class Deputy:
    deputy_id: str
    person_id: str
    area: str
    name: str
    unit: str
    node_id: str
    grassroots: bool
    leading_cadre: bool
    provincial: bool
    local: bool


_LOCAL = (CongressLevel.COUNTY.value, CongressLevel.TOWNSHIP.value)


def serving_deputies(ctx: Ctx) -> tuple[list[Deputy], dict[str, str]]:
    """Deputies of the region (by where they live) with a mandate in force at the cut, with their flags then; and
    deputy id → person id for every deputy known at the cut (a person's other records, at any node).

    Two plain scans (deputies, mandates) joined here: on a big subtree that is several times cheaper than the join
    in SQL, which looks every mandate's deputy up by its text key."""
    d, m = s.deputies, s.mandates
    active: dict[str, set[str]] = defaultdict(set)
    for deputy_id, congress in fetch_rows(
        ctx.conn,
        sa.select(m.c.deputy_id, m.c.congress).where(
            m.c.passed.is_(True), ctx.known(m, "reviewed"), ctx.not_yet(m, "terminated")
        ),
    ):
        active[deputy_id].add(congress)
    person_of: dict[str, str] = {}
    found: dict[str, Deputy] = {}
    region = None if ctx.scope.is_root else ctx.region_nodes()
    provincial, local = CongressLevel.PROVINCIAL.value, frozenset(_LOCAL)
    rows = fetch_rows(
        ctx.conn,
        sa.select(d.c.deputy_id, d.c.person_id, d.c.area_node_id, d.c.name, d.c.node_id, d.c.grassroots, d.c.leading_cadre).where(
            ctx.known(d)
        ),
    )
    for deputy_id, person_id, area, name, node_id, grassroots, leading in rows:
        person_of[deputy_id] = person_id
        congresses = active.get(deputy_id)
        if congresses and (region is None or area in region):
            found[deputy_id] = Deputy(
                deputy_id,
                person_id,
                area,
                name,
                "",
                node_id,
                bool(grassroots),
                bool(leading),
                provincial in congresses,
                not congresses.isdisjoint(local),
            )
    if ctx.scope.as_of is not None and found:
        f = s.deputy_flags
        latest: dict[str, tuple[int, bool, bool]] = {}
        changed = sa.select(f.c.deputy_id).where(f.c.version > 1)  # flags set after registration (a partial index)
        for deputy_id, version, grassroots, leading in ctx.conn.execute(
            sa.select(f.c.deputy_id, f.c.version, f.c.grassroots, f.c.leading_cadre).where(
                ctx.known(f), f.c.deputy_id.in_(changed)
            )
        ).fetchall():
            if deputy_id in found and (deputy_id not in latest or version > latest[deputy_id][0]):
                latest[deputy_id] = (version, bool(grassroots), bool(leading))
        for deputy_id, (_, grassroots, leading) in latest.items():
            found[deputy_id].grassroots, found[deputy_id].leading_cadre = grassroots, leading
    return list(found.values()), person_of


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


def marked_persons(ctx: Ctx, mark: str, years: tuple[int, int], person_of: dict[str, str]) -> set[str]:
    """People who (through any of their deputy records) have the mark in the years, on this side of the cut."""
    m = s.marks
    first = m.c.first_rec if ctx.scope.by == "recorded" else m.c.first_occ
    known = sa.true() if ctx.scope.as_of is None else first <= ctx.scope.as_of
    in_years = m.c.year == years[0] if years[0] == years[1] else m.c.year.between(*years)
    rows = fetch_rows(ctx.conn, sa.select(m.c.subject_id).where(m.c.mark == mark, in_years, known))
    get = person_of.get
    return {p for (subject,) in rows if (p := get(subject)) is not None}


#: The coverage targets whose populations are deputies, and the mark (or summary target) each counts.
DEPUTY_TARGETS = {
    "grassroots_provincial_invited": "organ",
    "leading_cadre_group": "group",
    "practical_deed": "deed",
    "constituent_report": "report",
}
#: Per area: {"population": n, "covered": n}
PerNode = dict[str | None, dict[str, float]]


def deputy_targets(ctx: Ctx, keys: list[str], offset: int, limit: int) -> dict[str, tuple[PerNode, list[Deputy]]]:
    """Each target's population and covered deputies per area, and the page of the deputies missing it (ordered by
    their area's code, name and id), details filled in."""
    report_years = term_years(CongressLevel.COUNTY, term_of(CongressLevel.COUNTY, ctx.scope.year))
    if ctx.scope.as_of is None:
        out = {k: _missing_now(ctx, k, _counts_now(ctx, k), report_years, offset, limit) for k in keys}
    else:
        out = {}
        for key, (per_node, missing) in _coverage_at_cut(ctx, keys, report_years).items():
            code = {n: ctx.region_label(n)["code"] for n in per_node if n}
            first = heapq.nsmallest(offset + limit, missing, key=lambda x: (code.get(x.area, ""), x.name, x.deputy_id))
            out[key] = (per_node, first[offset : offset + limit])
    for _, page in out.values():
        fill_details(ctx, page)
    return out


def _counts_now(ctx: Ctx, key: str) -> PerNode:
    """Population and covered per area, from the person summaries."""
    target = DEPUTY_TARGETS[key]
    year = report_term_start(ctx.scope.year) if target == "report" else ctx.scope.year
    p, c = s.coverage_population, s.coverage_covered
    per_node: PerNode = {}
    for area, n in ctx.conn.execute(
        sa.select(p.c.area_node_id, p.c.n).where(p.c.target == target, p.c.n != 0, ctx.in_region(p.c.area_node_id))
    ):
        per_node[area] = {"population": n, "covered": 0}
    for area, n in ctx.conn.execute(
        sa.select(c.c.area_node_id, c.c.n).where(
            c.c.target == target, c.c.year == year, c.c.n != 0, ctx.in_region(c.c.area_node_id)
        )
    ):
        per_node[area]["covered"] = n
    return per_node


def _missing_now(
    ctx: Ctx, key: str, per_node: PerNode, report_years: tuple[int, int], offset: int, limit: int
) -> tuple[PerNode, list[Deputy]]:
    """The page of deputies missing the target: only the areas it falls in (areas in code order, each area's
    deputies by name and id) are read."""
    code = {n: ctx.region_label(n)["code"] for n in per_node if n}
    areas = sorted((a for a, v in per_node.items() if v["population"] > v["covered"]), key=lambda a: (code.get(a, ""), a))
    wanted, skipped, seen = [], 0, 0
    for area in areas:
        missing = per_node[area]["population"] - per_node[area]["covered"]
        if seen + missing > offset:
            wanted.append(area)
        else:
            skipped += missing
        seen += missing
        if seen >= offset + limit:
            break
    if not wanted:
        return per_node, []
    d, yr, rp = s.deputies, s.person_years.alias("yr"), s.person_years.alias("rp")
    population, covered = {
        "grassroots_provincial_invited": (
            sa.and_(d.c.grassroots == sa.true(), d.c.serving_provincial == sa.true()),
            yr.c.organ_contacts > 0,
        ),
        "leading_cadre_group": (d.c.leading_cadre == sa.true(), yr.c.group_activities > 0),
        "practical_deed": (sa.true(), yr.c.deeds > 0),
        "constituent_report": (
            d.c.serving_local == sa.true(),
            sa.exists().where(rp.c.person_id == d.c.person_id, rp.c.year.between(*report_years), rp.c.reports > 0),
        ),
    }[key]
    rows = ctx.conn.execute(
        sa.select(d.c.deputy_id, d.c.area_node_id, d.c.name)
        .join_from(d, yr, sa.and_(yr.c.person_id == d.c.person_id, yr.c.year == ctx.scope.year), isouter=True)
        .where(d.c.area_node_id.in_(wanted), d.c.serving == sa.true(), population, sa.not_(sa.func.coalesce(covered, False)))
    ).all()
    listed = sorted(rows, key=lambda r: (code.get(r[1], ""), r[2], r[0]))[offset - skipped : offset - skipped + limit]
    return per_node, [Deputy(r[0], "", r[1], r[2], "", "", False, False, False, False) for r in listed]


def _coverage_at_cut(ctx: Ctx, keys: list[str], report_years: tuple[int, int]) -> dict[str, tuple[PerNode, list[Deputy]]]:
    """The deputy targets from the facts as they stood at the cut (serving mandates, flags and first marks then)."""
    year = ctx.scope.year
    wanted = {DEPUTY_TARGETS[k]: (report_years if k == "constituent_report" else (year, year)) for k in keys}
    serving, person_of = serving_deputies(ctx)
    marked = {mark: marked_persons(ctx, mark, years, person_of) for mark, years in wanted.items()}
    out = {}
    for key in keys:
        if key == "grassroots_provincial_invited":
            population = [x for x in serving if x.grassroots and x.provincial]
        elif key == "leading_cadre_group":
            population = [x for x in serving if x.leading_cadre]
        elif key == "practical_deed":
            population = serving
        else:
            population = [x for x in serving if x.local]
        done = marked[DEPUTY_TARGETS[key]]
        missing = [x for x in population if x.person_id not in done]
        everyone = Counter(x.area for x in population)
        uncovered = Counter(x.area for x in missing)
        per_node: PerNode = {area: {"population": n, "covered": n - uncovered.get(area, 0)} for area, n in everyone.items()}
        out[key] = (per_node, missing)
    return out
