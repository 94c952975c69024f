"""The query API over a node's read models: one function per view, plain JSON-friendly dicts out.

Every view takes a :class:`Scope`: the region (any division in the node's subtree; rolled up by the ``nodes``
dimension's ancestor columns), the period (a year, or a congress term as calendar years), and optionally an as-of
cut — the view *as it stood* at time T, either by recorded time (the owner office's store timestamp: what the system
knew then) or by occurred time (what had happened by then). As-of views filter the fact and transition tables by
the chosen clock and take each lifecycle aggregate's latest snapshot at or before the cut; they agree with a
projection built from only the events on the right side of the cut (see tests/integration/test_projections_asof.py).

Views: :func:`coverage` (the glossary's targets, each with who is missing), :func:`stations`, :func:`suggestions`,
:func:`livelihood`, :func:`duty_record` / :func:`duty_ranking` (履职档案), and :func:`regions` (drill-down).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from domain.base import DomainError
from domain.hierarchy import Hierarchy
from domain.levels import CongressLevel, Level
from domain.terms import ANCHORS, CONGRESS_AT, TERM_YEARS, term_of, term_years
from projections import labels as L
from projections import schema as s
from projections.db import ProjectionDB
from projections.timeutil import day_of_us, iso, parse_moment, us

Clock = Literal["recorded", "occurred"]
_LEVELS = list(Level)
N = s.nodes


class QueryError(ValueError):
    """Bad input for a view: unknown region, a region outside the node's subtree, a bad date or term."""


# ===================================================================================================== scope


@dataclass(frozen=True)
class Scope:
    node_id: str  # whose projection
    region_id: str
    region_code: str
    region_name: str
    region_level: str
    first_year: int
    last_year: int
    year: int  # the year the yearly targets are counted in
    term: int | None
    congress: str  # the congress whose term ``term`` counts
    as_of: int | None  # UTC microseconds, or None: everything projected so far
    by: Clock
    ref_day: str  # "today" for overdue replies and idle stations: the as-of day, else the latest activity day

    @property
    def is_root(self) -> bool:
        return self.region_id == self.node_id

    @property
    def child_level(self) -> str | None:
        depth = Level(self.region_level).depth
        return _LEVELS[depth + 1].value if depth + 1 < len(_LEVELS) else None

    def describe(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = iso(self.as_of)
        data["period"] = self.period_label
        data["as_of_label"] = self.as_of_label
        return data

    @property
    def period_label(self) -> str:
        if self.term is not None:
            return f"第{self.term}届({L.CONGRESS[self.congress]}, {self.first_year}–{self.last_year}年)"
        return f"{self.year}年"

    @property
    def as_of_label(self) -> str:
        if self.as_of is None:
            return "截至目前 as projected"
        how = "按记录时间 by recorded time" if self.by == "recorded" else "按发生时间 by occurred time"
        return f"截至 as of {iso(self.as_of)} ({how})"


def make_scope(
    db: ProjectionDB,
    *,
    region: str | None = None,
    year: int | None = None,
    term: int | None = None,
    as_of: str | int | None = None,
    by: str = "recorded",
    hierarchy: Hierarchy | None = None,
    ref_day: str | None = None,
) -> Scope:
    """Validate what a person asked for and fix the period: ``year`` wins; else ``term`` (of the region's congress);
    else the as-of year; else the latest year with activity in the projection."""
    hierarchy = hierarchy or db.hierarchy or Hierarchy.load()
    if by not in ("recorded", "occurred"):
        raise QueryError(f"--by must be recorded or occurred (got {by!r})")
    try:
        division = hierarchy.resolve(region) if region else hierarchy.get(db.node.node_id)
    except DomainError as e:
        raise QueryError(str(e)) from None
    if not hierarchy.is_within(division, db.node.node_id):
        raise QueryError(
            f"{division.name}({division.code}) is outside the subtree of {db.node.name}({db.node.code}), whose projection "
            f"this is: ask {division.name}'s own node or an ancestor of it (--node)"
        )
    cut: int | None
    if as_of is None or as_of == "":
        cut = None
    elif isinstance(as_of, int):
        cut = as_of
    else:
        try:
            cut = us(parse_moment(as_of))
        except ValueError as e:
            raise QueryError(f"--as-of: {e}") from None
    ref = hierarchy.ref(division)
    congress = CONGRESS_AT[ref.level]
    if ref_day is None:
        with db.connect() as conn:
            latest = conn.execute(sa.select(s.projection_meta.c.value).where(s.projection_meta.c.key == "latest_day")).scalar()
            if latest is None:  # built before the projector kept it: look it up once
                latest = max(
                    (
                        d
                        for d in (
                            conn.execute(sa.select(sa.func.max(t.c.day))).scalar() for t in (s.contacts, s.visits, s.suggestions)
                        )
                        if d
                    ),
                    default=None,
                )
        ref_day = day_of_us(cut) if cut is not None else latest or date.today().isoformat()
    if year is not None:
        if not 2000 <= year <= 2100:
            raise QueryError(f"--year must be 2000..2100 (got {year})")
        first, last, chosen = year, year, year
        if term is not None and not term_years(congress, term)[0] <= year <= term_years(congress, term)[1]:
            raise QueryError(f"{year} is not in the {term}th term of the {congress} congress {term_years(congress, term)}")
    elif term is not None:
        if not 1 <= term <= 99:
            raise QueryError(f"--term must be 1..99 (got {term})")
        first, last = term_years(congress, term)
        anchor = int(ref_day[:4])
        chosen = min(max(anchor, first), last)
    else:
        chosen = int(ref_day[:4])
        first = last = chosen
    return Scope(
        node_id=db.node.node_id.hex,
        region_id=division.id.hex,
        region_code=ref.code,
        region_name=ref.name,
        region_level=ref.level.value,
        first_year=first,
        last_year=last,
        year=chosen,
        term=term,
        congress=congress.value,
        as_of=cut,
        by=by,  # type: ignore[arg-type]
        ref_day=ref_day,
    )


# ================================================================================================= helpers


@dataclass
class _Dimension:
    """The node dimension of one database, and each region's children (in code order) as they are asked for."""

    digest: str
    nodes: dict[str, Any]
    children: dict[str, list[Any]]


_NODES: dict[str, _Dimension] = {}


def _nodes(db: ProjectionDB, conn: Connection) -> _Dimension:
    """The node dimension, cached per database while its digest (the hierarchy it was built from) stays the same."""
    digest = conn.execute(sa.select(s.projection_meta.c.value).where(s.projection_meta.c.key == "nodes")).scalar() or ""
    cached = _NODES.get(db.lock_key)
    if cached is None or cached.digest != digest:
        cached = _NODES[db.lock_key] = _Dimension(digest, {r.node_id: r for r in conn.execute(sa.select(N)).all()}, {})
    return cached


class _Ctx:
    """SQL pieces for one scope."""

    def __init__(self, db: ProjectionDB, scope: Scope, conn: Connection) -> None:
        self.db, self.scope, self.conn = db, scope, conn
        self.dimension = _nodes(db, conn)
        self.nodes = self.dimension.nodes
        self.child_level = scope.child_level

    # clocks -------------------------------------------------------------------------------------------------

    def clock(self, table: Any, prefix: str = "") -> ColumnElement[Any]:
        if prefix:
            return table.c[f"{prefix}_{'rec' if self.scope.by == 'recorded' else 'occ'}"]
        return table.c["recorded_at" if self.scope.by == "recorded" else "occurred_at"]

    def known(self, table: Any, prefix: str = "") -> ColumnElement[bool]:
        """The row (or its transition ``prefix``) is on this side of the as-of cut."""
        if self.scope.as_of is None:
            return sa.true() if not prefix else self.clock(table, prefix).is_not(None)
        return self.clock(table, prefix) <= self.scope.as_of

    def not_yet(self, table: Any, prefix: str) -> ColumnElement[bool]:
        """The row's transition ``prefix`` had not happened at the cut (or never did)."""
        col = self.clock(table, prefix)
        return col.is_(None) if self.scope.as_of is None else sa.or_(col.is_(None), col > self.scope.as_of)

    # regions ------------------------------------------------------------------------------------------------

    def in_region(self, node_col: ColumnElement[Any]) -> ColumnElement[bool]:
        if self.scope.is_root:
            return sa.true()
        column = N.c[f"{self.scope.region_level}_id"]
        return node_col.in_(sa.select(N.c.node_id).where(column == self.scope.region_id))

    def region_nodes(self) -> set[str]:
        """The nodes of the scope's region (itself included)."""
        column = f"{self.scope.region_level}_id"
        return {n for n, r in self.nodes.items() if getattr(r, column) == self.scope.region_id}

    def child_of(self, node_id: str | None) -> str | None:
        """The child region (of the scope's region) a node lies in; the node itself under a township region."""
        row = self.nodes.get(node_id) if node_id else None
        if row is None:
            return None
        if self.child_level is None:
            return row.node_id
        return getattr(row, f"{self.child_level}_id") or (row.node_id if row.node_id == self.scope.region_id else None)

    def region_label(self, node_id: str | None) -> dict[str, Any]:
        row = self.nodes.get(node_id) if node_id else None
        if row is None:
            return {"region_id": node_id, "code": "", "name": "(区划外 unplaced)" if node_id else "(本级 own level)"}
        return {"region_id": row.node_id, "code": row.code, "name": row.name}

    def where_label(self, node_id: str | None) -> str:
        row = self.nodes.get(node_id) if node_id else None
        if row is None:
            return ""
        parts = [getattr(row, f"{lv.value}_name") for lv in _LEVELS[1:] if getattr(row, f"{lv.value}_name")]
        return "".join(parts) or row.name

    def children(self) -> list[dict[str, Any]]:
        """The scope region's children (drill-down), in code order."""
        if self.child_level is None:
            return [self.region_label(self.scope.region_id)]
        region = self.scope.region_id
        rows = self.dimension.children.get(region)
        if rows is None:
            found = [r for r in self.nodes.values() if r.parent_id == region]
            rows = self.dimension.children[region] = sorted(found, key=lambda r: r.code)
        return [self.region_label(r.node_id) for r in rows]

    def rollup(self, per_node: dict[str | None, dict[str, float]], keys: list[str]) -> list[dict[str, Any]]:
        """Sum per-node counters into the scope's children (every child listed, zeros included)."""
        out: dict[str | None, dict[str, float]] = {c["region_id"]: dict.fromkeys(keys, 0) for c in self.children()}
        own: dict[str, float] = dict.fromkeys(keys, 0)
        for node_id, values in per_node.items():
            child = self.child_of(node_id)
            target = out.get(child) if child is not None else None
            if target is None:
                target = own
            for k in keys:
                target[k] += values.get(k, 0) or 0
        rows = [{**self.region_label(rid), **vals} for rid, vals in out.items()]
        if any(own.values()):
            rows.append({**self.region_label(self.scope.region_id), "name": f"{self.scope.region_name}本级", **own})
        return rows

    def years(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        if self.scope.first_year == self.scope.last_year:
            return column == self.scope.first_year
        return column.between(self.scope.first_year, self.scope.last_year)


def _rows(conn: Connection, stmt: Any) -> list[tuple[Any, ...]]:
    """Every row of a big result as the driver's plain tuples (no per-row work in SQLAlchemy: several times faster
    for tens of thousands of rows; booleans come back as the driver gives them)."""
    result = conn.execute(stmt)
    try:
        return result.cursor.fetchall()  # type: ignore[union-attr]
    finally:
        result.close()


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _page(items: list[Any], total: int, offset: int, limit: int) -> dict[str, Any]:
    return {"total": total, "offset": offset, "limit": limit, "items": items}


def _view(name: str, scope: Scope, **sections: Any) -> dict[str, Any]:
    return {"view": name, "title": L.VIEWS[name], "scope": scope.describe(), **sections}


# ================================================================================================ coverage


@dataclass(slots=True)
class _Deputy:
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


def _serving(ctx: _Ctx) -> tuple[list[_Deputy], dict[str, str]]:
    """Deputies of the region (by where they live) with a mandate in force at the cut, with their flags then; and
    deputy id → person id for every deputy known at the cut (a person's other records, at any node).

    Two plain scans (deputies, mandates) joined here: on a big subtree that is several times cheaper than the join
    in SQL, which looks every mandate's deputy up by its text key."""
    d, m = s.deputies, s.mandates
    active: dict[str, set[str]] = defaultdict(set)
    for deputy_id, congress in _rows(
        ctx.conn,
        sa.select(m.c.deputy_id, m.c.congress).where(
            m.c.passed.is_(True), ctx.known(m, "reviewed"), ctx.not_yet(m, "terminated")
        ),
    ):
        active[deputy_id].add(congress)
    person_of: dict[str, str] = {}
    found: dict[str, _Deputy] = {}
    region = None if ctx.scope.is_root else ctx.region_nodes()
    provincial, local = CongressLevel.PROVINCIAL.value, frozenset(_LOCAL)
    rows = _rows(
        ctx.conn,
        sa.select(d.c.deputy_id, d.c.person_id, d.c.area_node_id, d.c.name, d.c.node_id, d.c.grassroots, d.c.leading_cadre).where(
            ctx.known(d)
        ),
    )
    for deputy_id, person_id, area, name, node_id, grassroots, leading in rows:
        person_of[deputy_id] = person_id
        congresses = active.get(deputy_id)
        if congresses and (region is None or area in region):
            found[deputy_id] = _Deputy(
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
        for deputy_id, version, grassroots, leading in ctx.conn.execute(
            sa.select(f.c.deputy_id, f.c.version, f.c.grassroots, f.c.leading_cadre).where(ctx.known(f))
        ).fetchall():
            if deputy_id in found and (deputy_id not in latest or version > latest[deputy_id][0]):
                latest[deputy_id] = (version, bool(grassroots), bool(leading))
        for deputy_id, (_, grassroots, leading) in latest.items():
            found[deputy_id].grassroots, found[deputy_id].leading_cadre = grassroots, leading
    return list(found.values()), person_of


def _details(ctx: _Ctx, deputies: list[_Deputy]) -> None:
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


def _marked_persons(ctx: _Ctx, mark: str, years: tuple[int, int], person_of: dict[str, str]) -> set[str]:
    """People who (through any of their deputy records) have the mark in the years, on this side of the cut."""
    m = s.marks
    first = m.c.first_rec if ctx.scope.by == "recorded" else m.c.first_occ
    known = sa.true() if ctx.scope.as_of is None else first <= ctx.scope.as_of
    in_years = m.c.year == years[0] if years[0] == years[1] else m.c.year.between(*years)
    rows = _rows(ctx.conn, sa.select(m.c.subject_id).where(m.c.mark == mark, in_years, known))
    get = person_of.get
    return {p for (subject,) in rows if (p := get(subject)) is not None}


_MARK_OF = {
    "grassroots_provincial_invited": "organ",
    "leading_cadre_group": "group",
    "practical_deed": "deed",
    "constituent_report": "report",
}
#: Per area: {"population": n, "covered": n}; and the deputy records missing (any order).
_Coverage = tuple[dict[str | None, dict[str, float]], list[_Deputy]]


def _coverage_at_cut(ctx: _Ctx, keys: list[str], report_years: tuple[int, int]) -> dict[str, _Coverage]:
    """The deputy targets from the facts as they stood at the cut (serving mandates, flags and first marks then)."""
    year = ctx.scope.year
    wanted = {_MARK_OF[k]: (report_years if k == "constituent_report" else (year, year)) for k in keys}
    serving, person_of = _serving(ctx)
    marked = {mark: _marked_persons(ctx, mark, years, person_of) for mark, years in wanted.items()}
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
        done = marked[_MARK_OF[key]]
        missing = [x for x in population if x.person_id not in done]
        everyone = Counter(x.area for x in population)
        uncovered = Counter(x.area for x in missing)
        per_node: dict[str | None, dict[str, float]] = {
            area: {"population": n, "covered": n - uncovered.get(area, 0)} for area, n in everyone.items()
        }
        out[key] = (per_node, missing)
    return out


def _coverage_now(ctx: _Ctx, keys: list[str], report_years: tuple[int, int]) -> dict[str, _Coverage]:
    """The deputy targets now, from the summaries the projector keeps: serving flags on ``deputies`` and each person's
    yearly counters (``person_years``). Populations are counted on ``deputies`` alone; only the records missing a
    target come back as rows (the one query that looks each serving deputy's person up)."""
    d, yr, rp = s.deputies, s.person_years.alias("yr"), s.person_years.alias("rp")

    def did(counter: Any) -> ColumnElement[bool]:
        return sa.func.coalesce(counter, 0) > 0

    reported = sa.exists().where(rp.c.person_id == d.c.person_id, rp.c.year.between(*report_years), rp.c.reports > 0)
    targets = {  # population, covered
        "grassroots_provincial_invited": (
            sa.and_(d.c.grassroots == sa.true(), d.c.serving_provincial == sa.true()),
            did(yr.c.organ_contacts),
        ),
        "leading_cadre_group": (d.c.leading_cadre == sa.true(), did(yr.c.group_activities)),
        "practical_deed": (sa.true(), did(yr.c.deeds)),
        "constituent_report": (d.c.serving_local == sa.true(), reported),
    }
    serving = [d.c.serving == sa.true()] + ([] if ctx.scope.is_root else [d.c.area_node_id.in_(ctx.region_nodes())])
    per_node: dict[str, dict[str | None, dict[str, float]]] = {k: {} for k in keys}
    members = [sa.func.sum(sa.case((targets[k][0], 1), else_=0)) for k in keys]
    for area, *counts in ctx.conn.execute(sa.select(d.c.area_node_id, *members).where(*serving).group_by(d.c.area_node_id)):
        for key, n in zip(keys, counts, strict=True):
            if n:
                per_node[key][area] = {"population": n, "covered": n}
    # One bit per target a record lacks: few columns and one expression, for the thousands of rows that come back
    # (the rest of a listed record is looked up for the page only, by _details).
    lacking = sum((sa.case((sa.and_(targets[k][0], sa.not_(targets[k][1])), 1 << i), else_=0) for i, k in enumerate(keys)))
    missing: dict[str, list[_Deputy]] = {k: [] for k in keys}
    rows = _rows(
        ctx.conn,
        sa.select(d.c.deputy_id, d.c.area_node_id, d.c.name, lacking)
        .join_from(d, yr, sa.and_(yr.c.person_id == d.c.person_id, yr.c.year == ctx.scope.year), isouter=True)
        .where(*serving, lacking > 0),
    )
    bits = [(1 << i, missing[k], per_node[k]) for i, k in enumerate(keys)]
    for deputy_id, area, name, lacks in rows:
        deputy = _Deputy(deputy_id, "", area, name, "", "", False, False, False, False)
        for bit, listed, counts in bits:
            if lacks & bit:
                listed.append(deputy)
                counts[area]["covered"] -= 1
    return {k: (per_node[k], missing[k]) for k in keys}


def _deputy_targets(ctx: _Ctx, keys: list[str], missing_offset: int, missing_limit: int) -> dict[str, dict[str, Any]]:
    scope = ctx.scope
    report_term = term_of(CongressLevel.COUNTY, scope.year)
    first, last = term_years(CongressLevel.COUNTY, report_term)
    compute = _coverage_now if scope.as_of is None else _coverage_at_cut
    out = {}
    for key, (per_node, missing) in compute(ctx, keys, (first, last)).items():
        code = {n: ctx.region_label(n)["code"] for n in per_node if n}
        missing = heapq.nsmallest(
            missing_offset + missing_limit, missing, key=lambda x: (code.get(x.area, ""), x.name, x.deputy_id)
        )
        page = missing[missing_offset : missing_offset + missing_limit]
        _details(ctx, page)
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
    ctx: _Ctx,
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
        r["rate"] = _rate(r["covered"], r["population"])
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
        "rate": _rate(covered, population),
        "by_region": regions,
        "worst_regions": ranked[:3],
        "missing_list": _page(items, population - covered, offset, limit),
    }


def _sc_target(ctx: _Ctx, missing_offset: int, missing_limit: int) -> dict[str, Any]:
    mem = s.sc_members.alias("sm")
    mk = s.marks.alias("mk")
    scope = ctx.scope
    first = mk.c.first_rec if scope.by == "recorded" else mk.c.first_occ
    known = sa.true() if scope.as_of is None else first <= scope.as_of
    conds = [ctx.known(mem, "appointed"), ctx.not_yet(mem, "left"), ctx.in_region(mem.c.node_id)]
    covered = sa.exists().where(
        mk.c.mark == "f2f", mk.c.year == scope.year, mk.c.subject_id == mem.c.node_id + ":" + mem.c.member_id, known
    )
    flag = sa.case((covered, 1), else_=0)
    per_node = {
        node_id: {"population": n, "covered": c or 0}
        for node_id, n, c in ctx.conn.execute(
            sa.select(mem.c.node_id, sa.func.count(), sa.func.sum(flag)).where(*conds).group_by(mem.c.node_id)
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


def _body_target(ctx: _Ctx, missing_offset: int, missing_limit: int) -> dict[str, Any]:
    """SCs (constituted at the node) and township presidiums (a township congress with deputies on record)."""
    scope = ctx.scope
    sc = s.standing_committees
    d = s.deputies
    bodies: dict[str, str] = {}
    for (node_id,) in ctx.conn.execute(sa.select(sc.c.node_id).where(ctx.known(sc), ctx.in_region(sc.c.node_id)).distinct()):
        bodies[node_id] = "常委会"
    townships = sa.select(N.c.node_id).where(N.c.level == Level.TOWNSHIP.value, N.c.has_congress.is_(True))
    for (node_id,) in ctx.conn.execute(
        sa.select(d.c.node_id).where(ctx.known(d), d.c.node_id.in_(townships), ctx.in_region(d.c.node_id)).distinct()
    ):
        bodies.setdefault(node_id, "人大主席团")
    mk = s.marks
    first = mk.c.first_rec if scope.by == "recorded" else mk.c.first_occ
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
    per_node = {n: {"population": 1, "covered": 1 if n in done else 0} for n in bodies}
    missing = sorted((n for n in bodies if n not in done), key=lambda n: (ctx.region_label(n)["code"], n))
    items = [
        {
            "body": f"{ctx.region_label(n)['name']}{'人大' + bodies[n] if bodies[n] == '常委会' else bodies[n]}",
            "node": ctx.region_label(n),
        }
        for n in missing[missing_offset : missing_offset + missing_limit]
    ]
    return _summarise(ctx, "body_research", per_node, items, missing_offset, missing_limit, f"{scope.year}年")


def _follow_up_target(ctx: _Ctx, missing_offset: int, missing_limit: int) -> dict[str, Any]:
    sg = _suggestion_states(ctx)
    open_states = ("follow_up", "rehandling")
    conds = [
        ctx.in_region(sg.c.node_id),
        ctx.years(sg.c.year),
        sa.or_(sg.c.dissatisfied > 0, sg.c.solved_day.is_not(None), sg.c.state.in_(open_states)),
    ]
    covered = sg.c.state.not_in(open_states)
    flag = sa.case((covered, 1), else_=0)
    per_node = {
        n: {"population": total, "covered": c or 0}
        for n, total, c in ctx.conn.execute(
            sa.select(sg.c.node_id, sa.func.count(), sa.func.sum(flag)).where(*conds).group_by(sg.c.node_id)
        )
    }
    rows = ctx.conn.execute(
        sa.select(
            sg.c.suggestion_id,
            sg.c.number,
            sg.c.title,
            sg.c.state,
            sg.c.last_category,
            sg.c.lead_unit,
            sg.c.node_id,
            sg.c.last_reply_day,
        )
        .where(*conds, sa.not_(covered))
        .order_by(sg.c.last_reply_day, sg.c.suggestion_id)
        .offset(missing_offset)
        .limit(missing_limit)
    ).all()
    items = [
        {
            "suggestion_id": r[0],
            "number": r[1],
            "title": r[2],
            "state": L.SUGGESTION_STATE.get(r[3], r[3]),
            "category": r[4],
            "lead_unit": r[5],
            "office": ctx.region_label(r[6])["name"],
            "last_reply_day": r[7],
        }
        for r in rows
    ]
    return _summarise(ctx, "follow_up", per_node, items, missing_offset, missing_limit, _period(ctx.scope))


def _period(scope: Scope) -> str:
    return f"{scope.first_year}年" if scope.first_year == scope.last_year else f"{scope.first_year}–{scope.last_year}年"


def _opinions_block(ctx: _Ctx, missing_offset: int, missing_limit: int) -> dict[str, Any]:
    o = s.opinions.alias("o")
    st = s.opinion_steps

    def step(name: str) -> ColumnElement[bool]:
        return sa.exists().where(st.c.contact_id == o.c.contact_id, st.c.number == o.c.number, st.c.step == name, ctx.known(st))

    conds = [ctx.known(o), ctx.years(o.c.year), ctx.in_region(o.c.node_id)]
    handled, fed = step("handled"), step("fed_back")
    per_node: dict[str | None, dict[str, float]] = {}
    for node_id, raised in ctx.conn.execute(sa.select(o.c.node_id, sa.func.count()).where(*conds).group_by(o.c.node_id)):
        per_node[node_id] = {"population": raised, "covered": 0, "handled": 0}
    # A step is filed under its opinion's year and node, and is known at a cut only after its opinion: counting steps
    # counts the opinions that had them, without looking each opinion's steps up.
    steps = sa.select(st.c.node_id, st.c.step, sa.func.count()).where(
        ctx.known(st), ctx.years(st.c.year), ctx.in_region(st.c.node_id)
    )
    for node_id, name, n in ctx.conn.execute(steps.group_by(st.c.node_id, st.c.step)):
        counts = per_node.setdefault(node_id, {"population": 0, "covered": 0, "handled": 0})
        counts["covered" if name == "fed_back" else "handled"] = n
    c = s.contacts
    columns = [o.c.contact_id, o.c.number, o.c.text, o.c.day, o.c.node_id, c.c.title, sa.case((handled, 1), else_=0)]
    if ctx.scope.as_of is None:  # the opinions still open, kept by the projector: no walk over the answered ones
        op = s.open_opinions
        waiting = (
            sa.select(*columns)
            .join_from(op, o, sa.and_(o.c.contact_id == op.c.contact_id, o.c.number == op.c.number))
            .join(c, c.c.contact_id == o.c.contact_id, isouter=True)
            .where(ctx.years(op.c.year), ctx.in_region(op.c.node_id))
            .order_by(op.c.day, op.c.contact_id, op.c.number)
        )
    else:
        waiting = (
            sa.select(*columns)
            .join_from(o, c, c.c.contact_id == o.c.contact_id, isouter=True)
            .where(*conds, sa.not_(fed))
            .order_by(o.c.day, o.c.contact_id, o.c.number)
        )
    rows = ctx.conn.execute(waiting.offset(missing_offset).limit(missing_limit)).all()
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
        for r in rows
    ]
    block = _summarise(ctx, "opinions", per_node, items, missing_offset, missing_limit, _period(ctx.scope))
    block["handled"] = int(sum(v["handled"] for v in per_node.values()))
    block["fed_back"] = block["covered"]
    block["raised"] = block["population"]
    return block


_DEPUTY_TARGETS = ("grassroots_provincial_invited", "leading_cadre_group", "practical_deed", "constituent_report")
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
    out = []
    with db.connect() as conn:
        ctx = _Ctx(db, scope, conn)
        page = {"missing_offset": missing_offset, "missing_limit": missing_limit}
        deputy_keys = [k for k in wanted if k in _DEPUTY_TARGETS]
        by_deputy = _deputy_targets(ctx, deputy_keys, **page) if deputy_keys else {}
        for key in wanted:
            if key in by_deputy:
                out.append(by_deputy[key])
            elif key == "sc_face_to_face":
                out.append(_sc_target(ctx, **page))
            elif key == "body_research":
                out.append(_body_target(ctx, **page))
            elif key == "follow_up":
                out.append(_follow_up_target(ctx, **page))
            elif key == "opinions":
                out.append(_opinions_block(ctx, **page))
    return _view("coverage", scope, targets=out)


# ================================================================================================ stations


def stations(db: ProjectionDB, scope: Scope, *, idle_days: int = 30, offset: int = 0, limit: int = 20) -> dict[str, Any]:
    """Visits, deputies on duty, people received and issues per station and region; idle stations. A merged
    station's history counts under its successor (followed to the end of the chain, as of the cut)."""
    with db.connect() as conn:
        ctx = _Ctx(db, scope, conn)
        st = s.stations
        info: dict[str, dict[str, Any]] = {}
        for r in conn.execute(
            sa.select(
                st.c.station_id,
                st.c.node_id,
                st.c.name,
                st.c.day,
                st.c.successor_id,
                ctx.clock(st, "merged"),
                ctx.clock(st, "closed"),
            ).where(ctx.known(st), ctx.in_region(st.c.node_id))
        ):
            cut = scope.as_of
            merged = r[5] is not None and (cut is None or r[5] <= cut)
            closed = r[6] is not None and (cut is None or r[6] <= cut)
            info[r[0]] = {
                "station_id": r[0],
                "node_id": r[1],
                "name": r[2],
                "established": r[3],
                "status": "merged" if merged else "closed" if closed else "open",
                "successor_id": r[4] if merged else None,
            }

        def final(station_id: str) -> str:
            seen = set()
            while station_id in info and info[station_id]["successor_id"] and station_id not in seen:
                seen.add(station_id)
                station_id = info[station_id]["successor_id"]
            return station_id

        stats: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
        v = s.visits
        for station_id, visits, people, slots in conn.execute(
            sa.select(v.c.station_id, sa.func.count(), sa.func.sum(v.c.people), sa.func.sum(v.c.deputies_n))
            .where(ctx.known(v), ctx.years(v.c.year), ctx.in_region(v.c.node_id))
            .group_by(v.c.station_id)
        ):
            row = stats[final(station_id)]
            row["visits"] += visits
            row["people"] += people or 0
            row["duty_slots"] += slots or 0
        last_visit: dict[str, str] = {}
        for station_id, last in conn.execute(
            sa.select(v.c.station_id, sa.func.max(v.c.day))
            .where(ctx.known(v), v.c.day <= scope.ref_day, ctx.in_region(v.c.node_id))
            .group_by(v.c.station_id)
        ):
            f = final(station_id)
            last_visit[f] = max(last_visit.get(f, ""), last)
        vd = s.visit_deputies
        for station_id, deputies in conn.execute(
            sa.select(vd.c.station_id, sa.func.count(sa.distinct(vd.c.deputy_id)))
            .where(ctx.known(vd), ctx.years(vd.c.year), ctx.in_region(vd.c.node_id))
            .group_by(vd.c.station_id)
        ):
            stats[final(station_id)]["deputies"] += deputies
        region_deputies = (
            conn.execute(
                sa.select(sa.func.count(sa.distinct(vd.c.deputy_id))).where(
                    ctx.known(vd), ctx.years(vd.c.year), ctx.in_region(vd.c.node_id)
                )
            ).scalar()
            or 0
        )
        vi, vo = s.visit_issues, s.visit_issue_outcomes
        outcome = sa.select(vo.c.outcome).where(vo.c.visit_id == vi.c.visit_id, vo.c.number == vi.c.number, ctx.known(vo))
        outcome = outcome.scalar_subquery()
        for station_id, result, n in conn.execute(
            sa.select(vi.c.station_id, outcome, sa.func.count())
            .where(ctx.known(vi), ctx.years(vi.c.year), ctx.in_region(vi.c.node_id))
            .group_by(vi.c.station_id, outcome)
        ):
            row = stats[final(station_id)]
            row["issues_raised"] += n
            if result:
                row[f"issues_{result}"] += n
        en = s.station_enrolments
        for station_id, enrolled in conn.execute(
            sa.select(en.c.station_id, sa.func.count(sa.distinct(en.c.deputy_id)))
            .where(ctx.known(en, "since"), ctx.not_yet(en, "until"), ctx.in_region(en.c.node_id))
            .group_by(en.c.station_id)
        ):
            stats[final(station_id)]["enrolled"] += enrolled

    ref = date.fromisoformat(scope.ref_day)
    absorbed = Counter(map(final, info))  # an open station is its own final station: one more than it absorbed
    rows = []
    for station_id, meta in info.items():
        if meta["status"] != "open":
            continue
        counts = stats.get(station_id, {})
        last = last_visit.get(station_id)
        since = last or meta["established"]
        idle = (ref - date.fromisoformat(since)).days if since <= scope.ref_day else 0
        rows.append(
            {
                "station_id": station_id,
                "name": meta["name"],
                "node": ctx.region_label(meta["node_id"])["name"],
                "node_id": meta["node_id"],
                "visits": counts.get("visits", 0),
                "people": counts.get("people", 0),
                "duty_slots": counts.get("duty_slots", 0),
                "deputies": counts.get("deputies", 0),
                "enrolled": counts.get("enrolled", 0),
                "issues_raised": counts.get("issues_raised", 0),
                "issues_resolved": counts.get("issues_resolved", 0),
                "issues_transferred": counts.get("issues_transferred", 0),
                "last_visit": last,
                "idle_days": idle,
                "absorbed": absorbed[station_id] - 1,
            }
        )
    keys = [
        "stations",
        "visits",
        "people",
        "duty_slots",
        "deputies",
        "issues_raised",
        "issues_resolved",
        "issues_transferred",
        "idle_stations",
        "merged",
    ]
    per_node: dict[str | None, dict[str, float]] = defaultdict(lambda: dict.fromkeys(keys, 0))
    for r in rows:
        agg = per_node[r["node_id"]]
        agg["stations"] += 1
        for k in keys[1:8]:
            agg[k] += r[k]
        agg["idle_stations"] += 1 if r["idle_days"] >= idle_days else 0
    for meta in info.values():
        if meta["status"] == "merged":
            per_node[meta["node_id"]]["merged"] += 1
    by_region = ctx.rollup(per_node, keys)
    for r in by_region:
        for k in keys:
            r[k] = int(r[k])
        r["issues_pending"] = r["issues_raised"] - r["issues_resolved"] - r["issues_transferred"]
    totals = {k: sum(r[k] for r in by_region) for k in keys}
    totals["issues_pending"] = totals["issues_raised"] - totals["issues_resolved"] - totals["issues_transferred"]
    totals["distinct_deputies"] = region_deputies
    totals["resolve_rate"] = _rate(totals["issues_resolved"], totals["issues_raised"])
    idle = sorted((r for r in rows if r["idle_days"] >= idle_days), key=lambda r: (-r["idle_days"], r["name"]))
    busiest = sorted(rows, key=lambda r: (-r["visits"], r["name"]))[:10]
    return _view(
        "stations",
        scope,
        idle_days=idle_days,
        totals=totals,
        by_region=by_region,
        busiest=busiest,
        idle=_page(idle[offset : offset + limit], len(idle), offset, limit),
    )


# ============================================================================================= suggestions


def _latest(ctx: _Ctx, current: sa.Table, snapshots: sa.Table, key: str, static: list[str]) -> Any:
    """Each aggregate as it stood at the cut: its latest snapshot at or before it, with what never changes taken
    from its current row (and only if it was created at or before the cut)."""
    ranked = (
        sa.select(
            snapshots,
            sa.func.row_number().over(partition_by=snapshots.c[key], order_by=snapshots.c.version.desc()).label("rn"),
        )
        .where(ctx.known(snapshots))
        .subquery("ranked")
    )
    dynamic = [ranked.c[c.name] for c in snapshots.columns if c.name not in (key, "event")]
    return (
        sa.select(current.c[key], *[current.c[c] for c in static], *dynamic)
        .join_from(ranked, current, current.c[key] == ranked.c[key])
        .where(ranked.c.rn == 1, ctx.known(current, "created"))
        .subquery("latest")
    )


def _suggestion_states(ctx: _Ctx) -> Any:
    if ctx.scope.as_of is None:
        return s.suggestions
    return _latest(ctx, s.suggestions, s.suggestion_snapshots, "suggestion_id", s.SUGGESTION_STATIC)


def suggestions(db: ProjectionDB, scope: Scope, *, offset: int = 0, limit: int = 20) -> dict[str, Any]:
    """Counts by state, region, handling unit and reply category; satisfaction; overdue replies; open B-class and
    dissatisfied follow-ups; priority suggestions' progress. Period: the year(s) of submission."""
    with db.connect() as conn:
        ctx = _Ctx(db, scope, conn)
        sg = _suggestion_states(ctx)
        base = [ctx.in_region(sg.c.node_id), ctx.years(sg.c.year)]
        waiting = sg.c.state.in_(("assigned", "in_handling"))
        overdue = sa.and_(waiting, sg.c.due_on < scope.ref_day)
        replied_late = sa.and_(sg.c.first_reply_day.is_not(None), sg.c.first_reply_day > sg.c.due_on)
        open_follow = sg.c.state.in_(("follow_up", "rehandling"))
        good = sg.c.last_evaluation.in_(("satisfied", "basically_satisfied"))

        def one(flag: ColumnElement[bool]) -> Any:
            return sa.func.sum(sa.case((flag, 1), else_=0))

        per_node: dict[str | None, dict[str, float]] = {}
        for r in conn.execute(
            sa.select(
                sg.c.node_id,
                sa.func.count(),
                one(sg.c.replies > 0),
                one(sg.c.evaluations > 0),
                one(good),
                one(overdue),
                one(open_follow),
                one(sg.c.state == "closed"),
            )
            .where(*base)
            .group_by(sg.c.node_id)
        ):
            per_node[r[0]] = dict(
                zip(
                    ["total", "replied", "evaluated", "satisfied", "overdue", "open_follow_up", "closed"],
                    [x or 0 for x in r[1:]],
                    strict=True,
                )
            )
        keys = ["total", "replied", "evaluated", "satisfied", "overdue", "open_follow_up", "closed"]
        by_region = ctx.rollup(per_node, keys)
        for r in by_region:
            for k in keys:
                r[k] = int(r[k])
            r["reply_rate"] = _rate(r["replied"], r["total"])
            r["satisfaction"] = _rate(r["satisfied"], r["evaluated"])
        totals = {k: sum(r[k] for r in by_region) for k in keys}
        totals["reply_rate"] = _rate(totals["replied"], totals["total"])
        totals["satisfaction"] = _rate(totals["satisfied"], totals["evaluated"])
        cells = _suggestion_cells(conn, sg, base, overdue, replied_late)
        totals["replied_late"] = sum(c.late for c in cells)
        order = list(L.SUGGESTION_STATE)
        by_state = _counted(cells, lambda c: c.state, "state", L.SUGGESTION_STATE, order)
        by_category = [
            {"category": c or "", "label": L.REPLY_CATEGORY.get(c, "未答复") if c else "未答复", "count": n}
            for c, n in sorted(_count(cells, lambda c: c.category).items(), key=lambda r: r[0] or "~")
        ]
        satisfaction = [
            {"evaluation": e, "label": L.EVALUATION.get(e, e), "count": n}
            for e, n in sorted(
                _count(cells, lambda c: c.evaluation if c.evaluated else _NONE).items(),
                key=lambda r: list(L.EVALUATION).index(r[0]) if r[0] in L.EVALUATION else 9,
            )
        ]
        by_congress = [
            {"congress": c, "label": L.CONGRESS.get(c, c), "count": n}
            for c, n in sorted(
                _count(cells, lambda c: c.congress).items(),
                key=lambda r: list(L.CONGRESS).index(r[0]) if r[0] in L.CONGRESS else 9,
            )
        ]
        units = conn.execute(
            sa.select(
                sg.c.lead_unit,
                sa.func.count(),
                one(sg.c.replies > 0),
                one(overdue),
                one(open_follow),
                one(good),
                one(sg.c.evaluations > 0),
            )
            .where(*base, sg.c.lead_unit != "")
            .group_by(sg.c.lead_unit)
        ).fetchall()
        by_unit = [
            {
                "unit": u,
                "total": n,
                "replied": rp or 0,
                "overdue": od or 0,
                "open_follow_up": fu or 0,
                "satisfaction": _rate(sat or 0, ev or 0),
            }
            for u, n, rp, od, fu, sat, ev in sorted(units, key=lambda r: (-r[1], r[0]))[:15]
        ]

        def listing(cond: ColumnElement[bool], order_by: list[Any], total: int) -> dict[str, Any]:
            rows = conn.execute(
                sa.select(
                    sg.c.suggestion_id,
                    sg.c.number,
                    sg.c.title,
                    sg.c.state,
                    sg.c.lead_unit,
                    sg.c.due_on,
                    sg.c.last_category,
                    sg.c.last_evaluation,
                    sg.c.node_id,
                    sg.c.leader,
                    sg.c.supervisions,
                )
                .where(*base, cond)
                .order_by(*order_by, sg.c.suggestion_id)
                .offset(offset)
                .limit(limit)
            ).all()
            items = [
                {
                    "suggestion_id": r[0],
                    "number": r[1],
                    "title": r[2],
                    "state": r[3],
                    "state_label": L.SUGGESTION_STATE.get(r[3], r[3]),
                    "lead_unit": r[4],
                    "due_on": r[5],
                    "days_overdue": (date.fromisoformat(scope.ref_day) - date.fromisoformat(r[5])).days if r[5] else None,
                    "category": r[6],
                    "evaluation": L.EVALUATION.get(r[7], r[7]) if r[7] else None,
                    "office": ctx.region_label(r[8])["name"],
                    "leader": r[9],
                    "supervisions": r[10],
                }
                for r in rows
            ]
            return _page(items, total, offset, limit)

        follow = {
            "b_open": sum(c.n for c in cells if c.state == "follow_up" and c.category == "B"),
            "c_open": sum(c.n for c in cells if c.state == "follow_up" and c.category == "C"),
            "rehandling": sum(c.n for c in cells if c.state == "rehandling"),
        }
        priority = _counted(cells, lambda c: c.state if c.priority else _NONE, "state", L.SUGGESTION_STATE, order)
        totals_of = {
            "overdue": sum(c.n for c in cells if c.overdue),
            "follow_ups": sum(c.n for c in cells if c.state in ("follow_up", "rehandling")),
            "priority": sum(c.n for c in cells if c.priority),
        }
        return _view(
            "suggestions",
            scope,
            totals=totals,
            by_state=by_state,
            by_region=by_region,
            by_unit=by_unit,
            by_category=by_category,
            by_congress=by_congress,
            satisfaction=satisfaction,
            follow_up=follow,
            overdue=listing(overdue, [sg.c.due_on], totals_of["overdue"]),
            follow_ups=listing(open_follow, [sg.c.last_reply_day], totals_of["follow_ups"]),
            priority={"by_state": priority, "list": listing(sg.c.priority.is_(True), [sg.c.day], totals_of["priority"])},
        )


@dataclass(frozen=True, slots=True)
class _Cell:
    """The period's suggestions that share every attribute the view counts by: how many, and how many replied late."""

    state: str
    category: str | None
    evaluation: str | None
    congress: str
    priority: bool
    evaluated: bool
    overdue: bool
    n: int
    late: int


_NONE = object()  # a cell a count leaves out


def _suggestion_cells(
    conn: Connection, sg: Any, base: list[ColumnElement[bool]], overdue: ColumnElement[bool], late: ColumnElement[bool]
) -> list[_Cell]:
    """One grouped scan of the period's suggestions, instead of one query per count of the view."""
    keys = [sg.c.state, sg.c.last_category, sg.c.last_evaluation, sg.c.congress, sg.c.priority, sg.c.evaluations > 0, overdue]
    rows = conn.execute(
        sa.select(*keys, sa.func.count(), sa.func.sum(sa.case((late, 1), else_=0))).where(*base).group_by(*keys)
    ).all()
    return [_Cell(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), bool(r[6]), r[7], int(r[8] or 0)) for r in rows]


def _count(cells: list[_Cell], key: Any) -> Counter[Any]:
    counted: Counter[Any] = Counter()
    for c in cells:
        k = key(c)
        if k is not _NONE:
            counted[k] += c.n
    return counted


def _counted(cells: list[_Cell], key: Any, name: str, labels: dict[str, str], order: list[str]) -> list[dict[str, Any]]:
    """Counts by one attribute, labelled, in the labels' order."""
    rows = [{name: k, "label": labels.get(k, k), "count": n} for k, n in _count(cells, key).items()]
    return sorted(rows, key=lambda r: order.index(r[name]) if r[name] in order else 99)


# ============================================================================================== livelihood


def _project_states(ctx: _Ctx) -> Any:
    if ctx.scope.as_of is None:
        return s.projects
    return _latest(ctx, s.projects, s.project_snapshots, "project_id", s.PROJECT_STATIC)


def livelihood(db: ProjectionDB, scope: Scope, *, offset: int = 0, limit: int = 20) -> dict[str, Any]:
    """Number and investment of voted projects by region and year, pass rate of votes, implementation progress,
    satisfaction. Period: the projects' year (the year they are voted for)."""
    with db.connect() as conn:
        ctx = _Ctx(db, scope, conn)
        p = _project_states(ctx)
        base = [ctx.in_region(p.c.node_id), ctx.years(p.c.year)]

        def one(flag: ColumnElement[bool]) -> Any:
            return sa.func.sum(sa.case((flag, 1), else_=0))

        voted = p.c.passed.is_not(None)
        passed = p.c.passed.is_(True)
        # a passed project's investment: its budget once the government starts it, its estimate until then
        invested = sa.case((p.c.budget_yuan > 0, p.c.budget_yuan), else_=p.c.estimate_yuan)
        started = p.c.started_day.is_not(None)
        figures = {
            "proposed": sa.func.count(),
            "voted": one(voted),
            "passed": one(passed),
            "budget_yuan": sa.func.sum(sa.case((passed, invested), else_=0)),
            "implementing": one(started),
            "completed": one(p.c.progress == 100),
            "progress_sum": sa.func.sum(sa.case((started, p.c.progress), else_=0)),
            "satisfied": sa.func.sum(sa.func.coalesce(p.c.satisfied, 0)),
            "basically_satisfied": sa.func.sum(sa.func.coalesce(p.c.basically_satisfied, 0)),
            "dissatisfied": sa.func.sum(sa.func.coalesce(p.c.dissatisfied, 0)),
            "estimate_yuan": sa.func.sum(sa.case((passed, p.c.estimate_yuan), else_=0)),
        }
        keys = list(figures)
        per_node: dict[str | None, dict[str, float]] = {}
        for r in conn.execute(sa.select(p.c.node_id, *figures.values()).where(*base).group_by(p.c.node_id)):
            per_node[r[0]] = dict(zip(keys, [x or 0 for x in r[1:]], strict=True))
        by_region = [_project_figures(r) for r in ctx.rollup(per_node, keys)]
        totals = _project_figures({k: sum(v.get(k, 0) for v in per_node.values()) for k in keys})
        by_year = [
            _project_figures({"year": y, **dict(zip(keys, [x or 0 for x in rest], strict=True))})
            for y, *rest in conn.execute(
                sa.select(p.c.year, *figures.values()).where(ctx.in_region(p.c.node_id)).group_by(p.c.year).order_by(p.c.year)
            )
        ]
        by_state = [
            {"state": st_, "label": L.PROJECT_STATE.get(st_, st_), "count": n}
            for st_, n in conn.execute(sa.select(p.c.state, sa.func.count()).where(*base).group_by(p.c.state))
        ]
        order = list(L.PROJECT_STATE)
        by_state.sort(key=lambda r: order.index(r["state"]) if r["state"] in order else 99)
        lag_cond = sa.and_(p.c.state == "implementing")
        lag_total = conn.execute(sa.select(sa.func.count()).where(*base, lag_cond)).scalar() or 0
        lagging = [
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
            for r in conn.execute(
                sa.select(
                    p.c.project_id,
                    p.c.title,
                    p.c.node_id,
                    p.c.progress,
                    p.c.budget_yuan,
                    p.c.spent_yuan,
                    p.c.lead_unit,
                    p.c.started_day,
                    p.c.supervisions,
                )
                .where(*base, lag_cond)
                .order_by(p.c.progress, p.c.started_day, p.c.project_id)
                .offset(offset)
                .limit(limit)
            )
        ]
        return _view(
            "livelihood",
            scope,
            totals=totals,
            by_region=by_region,
            by_year=by_year,
            by_state=by_state,
            implementing=_page(lagging, lag_total, offset, limit),
        )


def _project_figures(r: dict[str, Any]) -> dict[str, Any]:
    out = dict(r)
    for k in ("proposed", "voted", "passed", "implementing", "completed", "satisfied", "basically_satisfied", "dissatisfied"):
        out[k] = int(out.get(k, 0) or 0)
    budget = int(out.pop("budget_yuan", 0) or 0)
    estimate = int(out.pop("estimate_yuan", 0) or 0)
    out["investment_wan"] = round(budget / 10000, 2)
    out["investment_yi"] = round(budget / 100_000_000, 4)
    out["estimate_wan"] = round(estimate / 10000, 2)
    out["pass_rate"] = _rate(out["passed"], out["voted"])
    progress_sum = out.pop("progress_sum", 0) or 0
    out["avg_progress"] = round(progress_sum / out["implementing"], 1) if out["implementing"] else None
    votes = out["satisfied"] + out["basically_satisfied"] + out["dissatisfied"]
    out["satisfaction"] = _rate(out["satisfied"] + out["basically_satisfied"], votes)
    return out


# ============================================================================================ duty record


def _find_deputies(conn: Connection, who: str) -> list[Any]:
    d = s.deputies
    who = who.strip().replace("-", "")
    rows = conn.execute(sa.select(d).where(sa.or_(d.c.deputy_id == who.lower(), d.c.person_id == who))).all()
    if not rows:
        rows = conn.execute(sa.select(d).where(d.c.name == who)).all()
    return rows


def duty_record(db: ProjectionDB, scope: Scope, who: str, *, limit: int = 50) -> dict[str, Any]:
    """Everything one deputy (a person: all their deputy records, at any node of the subtree) did in the period:
    contacts, station visits, suggestions, opinions, and their mandates and stations."""
    with db.connect() as conn:
        ctx = _Ctx(db, scope, conn)
        rows = _find_deputies(conn, who)
        people = sorted({r.person_id for r in rows})
        if len(people) > 1:
            choices = "; ".join(f"{r.name} {r.person_id} ({ctx.region_label(r.node_id)['name']})" for r in rows[:10])
            raise QueryError(f"{who!r} names several people: {choices}; give a person id or deputy id")
        d = s.deputies
        if people:
            records = conn.execute(sa.select(d).where(d.c.person_id == people[0], ctx.known(d))).all()
            ids = [r.deputy_id for r in records]
        else:
            # A deputy this node knows only by id (e.g. a provincial deputy on duty at a township's station).
            maybe = who.strip().replace("-", "").lower()
            seen = conn.execute(
                sa.select(s.station_enrolments.c.deputy_name).where(s.station_enrolments.c.deputy_id == maybe).limit(1)
            ).scalar()
            if seen is None:
                raise QueryError(f"no deputy {who!r} in {db.node.name}'s projection (name, person id or deputy id)")
            records, ids = [], [maybe]
        m = s.mandates
        mandates = [
            {
                "deputy_id": r.deputy_id,
                "congress": r.congress,
                "congress_label": L.CONGRESS.get(r.congress, r.congress),
                "term": r.term,
                "elected_by": r.elected_by,
                "office": ctx.region_label(r.node_id)["name"],
                "status": _mandate_status(ctx, r),
            }
            for r in conn.execute(sa.select(m).where(m.c.deputy_id.in_(ids), ctx.known(m, "granted")))
        ]
        mandates = [x for x in mandates if x["status"] is not None]
        for x in mandates:
            x["status_label"] = L.MANDATE_STATUS.get(x["status"], x["status"])
        en, st = s.station_enrolments, s.stations
        enrolled = []
        for r in conn.execute(
            sa.select(st.c.name, en.c.station_id, en.c.node_id, en.c.since_occ, en.c.until_occ, ctx.clock(en, "until"))
            .join_from(en, st, st.c.station_id == en.c.station_id, isouter=True)
            .where(en.c.deputy_id.in_(ids), ctx.known(en, "since"))
            .order_by(en.c.since_occ, en.c.station_id)
        ):
            ended = r[5] is not None and (scope.as_of is None or r[5] <= scope.as_of)
            enrolled.append(
                {
                    "station": r[0] or r[1],
                    "node": ctx.region_label(r[2])["name"],
                    "since": day_of_us(r[3]),
                    "until": day_of_us(r[4]) if ended else None,
                }
            )
        cd, c = s.contact_deputies, s.contacts
        contact_cond = [cd.c.deputy_id.in_(ids), ctx.known(cd), ctx.years(cd.c.year), ctx.in_region(cd.c.node_id)]
        contacts_total = conn.execute(sa.select(sa.func.count()).where(*contact_cond)).scalar() or 0
        by_kind = {
            k: n
            for k, n in conn.execute(
                sa.select(c.c.kind, sa.func.count())
                .join_from(cd, c, c.c.contact_id == cd.c.contact_id)
                .where(*contact_cond)
                .group_by(c.c.kind)
            )
        }
        contacts_list = [
            {
                "day": r[0],
                "kind": r[1],
                "kind_label": L.CONTACT_KIND.get(r[1], r[1]),
                "title": r[2],
                "organiser": r[3],
                "node": ctx.region_label(r[4])["name"],
            }
            for r in conn.execute(
                sa.select(c.c.day, c.c.kind, c.c.title, c.c.organiser, c.c.node_id)
                .join_from(cd, c, c.c.contact_id == cd.c.contact_id)
                .where(*contact_cond)
                .order_by(c.c.day.desc(), c.c.contact_id)
                .limit(limit)
            )
        ]
        vd, v = s.visit_deputies, s.visits
        visit_cond = [vd.c.deputy_id.in_(ids), ctx.known(vd), ctx.years(vd.c.year), ctx.in_region(vd.c.node_id)]
        visits_total, people_received = conn.execute(
            sa.select(sa.func.count(), sa.func.sum(v.c.people)).join_from(vd, v, v.c.visit_id == vd.c.visit_id).where(*visit_cond)
        ).one()
        visits_list = [
            {"day": r[0], "station": r[1], "node": ctx.region_label(r[2])["name"], "people": r[3]}
            for r in conn.execute(
                sa.select(v.c.day, st.c.name, v.c.node_id, v.c.people)
                .join_from(vd, v, v.c.visit_id == vd.c.visit_id)
                .join(st, st.c.station_id == v.c.station_id, isouter=True)
                .where(*visit_cond)
                .order_by(v.c.day.desc(), v.c.visit_id)
                .limit(limit)
            )
        ]
        sgn = s.suggestion_signers
        sg = _suggestion_states(ctx)
        sug_cond = [sgn.c.deputy_id.in_(ids), ctx.known(sgn), ctx.years(sgn.c.year), ctx.in_region(sgn.c.node_id)]
        suggestions_list = [
            {
                "number": r[0],
                "title": r[1],
                "role": "领衔" if r[2] == "lead" else "附议",
                "state": r[3],
                "state_label": L.SUGGESTION_STATE.get(r[3], r[3]),
                "category": r[4],
                "evaluation": L.EVALUATION.get(r[5], r[5]) if r[5] else None,
                "office": ctx.region_label(r[6])["name"],
                "day": r[7],
            }
            for r in conn.execute(
                sa.select(
                    sg.c.number,
                    sg.c.title,
                    sgn.c.role,
                    sg.c.state,
                    sg.c.last_category,
                    sg.c.last_evaluation,
                    sg.c.node_id,
                    sg.c.day,
                )
                .join_from(sgn, sg, sg.c.suggestion_id == sgn.c.suggestion_id)
                .where(*sug_cond)
                .order_by(sg.c.day.desc(), sg.c.suggestion_id)
            )
        ]
        o = s.opinions
        op_cond = [o.c.deputy_id.in_(ids), ctx.known(o), ctx.years(o.c.year), ctx.in_region(o.c.node_id)]
        opinions_list = [
            {"day": r[0], "opinion": r[1], "contact": r[2], "node": ctx.region_label(r[3])["name"]}
            for r in conn.execute(
                sa.select(o.c.day, o.c.text, c.c.title, o.c.node_id)
                .join_from(o, c, c.c.contact_id == o.c.contact_id, isouter=True)
                .where(*op_cond)
                .order_by(o.c.day.desc(), o.c.contact_id, o.c.number)
                .limit(limit)
            )
        ]
        opinions_total = conn.execute(sa.select(sa.func.count()).where(*op_cond)).scalar() or 0
        first = records[0] if records else None
        name = (
            first.name if first else conn.execute(sa.select(en.c.deputy_name).where(en.c.deputy_id == ids[0]).limit(1)).scalar()
        )
        identity = {
            "name": name,
            "person_id": first.person_id if first else None,
            "deputy_ids": ids,
            "gender": first.gender if first else None,
            "unit": first.unit if first else None,
            "grassroots": bool(first.grassroots) if first else None,
            "leading_cadre": bool(first.leading_cadre) if first else None,
            "offices": sorted({ctx.region_label(r.node_id)["name"] for r in records}),
        }
        return _view(
            "duty",
            scope,
            deputy=identity,
            mandates=mandates,
            stations=enrolled,
            summary={
                "contacts": contacts_total,
                "contacts_by_kind": {L.CONTACT_KIND.get(k, k): n for k, n in sorted(by_kind.items())},
                "visits": visits_total or 0,
                "people_received": int(people_received or 0),
                "suggestions": len(suggestions_list),
                "suggestions_lead": sum(1 for x in suggestions_list if x["role"] == "领衔"),
                "opinions": opinions_total,
            },
            contacts=contacts_list,
            visits=visits_list,
            suggestions=suggestions_list,
            opinions=opinions_list,
        )


def _mandate_status(ctx: _Ctx, r: Any) -> str | None:
    cut = ctx.scope.as_of
    rec = ctx.scope.by == "recorded"

    def at(prefix: str) -> int | None:
        return getattr(r, f"{prefix}_{'rec' if rec else 'occ'}")

    def happened(prefix: str) -> bool:
        t = at(prefix)
        return t is not None and (cut is None or t <= cut)

    if not happened("granted"):
        return None
    if happened("terminated"):
        return "terminated"
    if happened("reviewed"):
        return "active" if r.passed else "void"
    return "pending_review"


def duty_ranking(db: ProjectionDB, scope: Scope, *, offset: int = 0, limit: int = 20, least: bool = True) -> dict[str, Any]:
    """Serving deputies of the region (by where they live), one row per person, with what they did in the period at
    any node of the subtree (contacts, station visits, suggestions signed, opinions raised), least active first."""
    names = ["contacts", "visits", "suggestions", "opinions"]
    with db.connect() as conn:
        ctx = _Ctx(db, scope, conn)
        if scope.as_of is None:
            page, serving, inactive = _ranking_now(ctx, offset, limit, least)
        else:
            ranked = _ranking_at_cut(ctx)
            serving, inactive = len(ranked), sum(1 for r in ranked if r[0] == 0)
            order = (lambda r: (r[0], r[1].name, r[1].person_id)) if least else (lambda r: (-r[0], r[1].name, r[1].person_id))
            page = heapq.nsmallest(offset + limit, ranked, key=order)[offset:]
        _details(ctx, [x for _, x, _ in page])
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
    return _view(
        "duty",
        scope,
        serving=serving,
        inactive=inactive,
        order="least active first" if least else "most active first",
        deputies=_page(items, serving, offset, limit),
    )


#: One row per person: (contacts + visits + suggestions, their first serving record, [the four counts]).
_Ranked = list[tuple[int, _Deputy, list[int]]]


def _ranking_at_cut(ctx: _Ctx) -> _Ranked:
    """Counted from the fact tables as they stood at the cut."""
    serving, person_of = _serving(ctx)
    people: dict[str, _Deputy] = {}
    for x in sorted(serving, key=lambda x: x.deputy_id):
        people.setdefault(x.person_id, x)
    per_table = [
        dict(
            _rows(
                ctx.conn,
                sa.select(table.c.deputy_id, sa.func.count())
                .where(ctx.years(table.c.year), ctx.known(table), table.c.deputy_id.is_not(None))
                .group_by(table.c.deputy_id),
            )
        )
        for table in (s.contact_deputies, s.visit_deputies, s.suggestion_signers, s.opinions)
    ]
    records: dict[str, list[str]] = defaultdict(list)  # a person's deputy records, at any node
    for deputy_id, person_id in person_of.items():
        if person_id in people:
            records[person_id].append(deputy_id)
    ranked = []
    for person, x in people.items():
        c = [sum(counted.get(i, 0) for i in records[person]) for counted in per_table]
        ranked.append((c[0] + c[1] + c[2], x, c))
    return ranked


def _ranking_now(ctx: _Ctx, offset: int, limit: int, least: bool) -> tuple[_Ranked, int, int]:
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
    rows = _rows(
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
    ranked = [
        (r[9], _Deputy(r[0], r[1], r[2], r[3], "", r[4], False, False, False, False), [int(n) for n in r[5:9]]) for r in rows
    ]
    return ranked, serving or 0, int(inactive or 0)


def _person_counts(ctx: _Ctx) -> Any:
    """Each person's counters in the scope's years: their one row of a year (looked up by key), or a term's sums."""
    y = s.person_years
    names = ("contacts", "visits", "suggestions", "opinions")
    if ctx.scope.first_year == ctx.scope.last_year:
        return sa.select(y.c.person_id, *[y.c[c] for c in names]).where(y.c.year == ctx.scope.first_year).subquery("y")
    sums = [sa.func.sum(y.c[c]).label(c) for c in names]
    return sa.select(y.c.person_id, *sums).where(ctx.years(y.c.year)).group_by(y.c.person_id).subquery("y")


# ================================================================================================ drill-down


def regions(db: ProjectionDB, scope: Scope) -> dict[str, Any]:
    """The scope region's children, for drill-down (every view's ``--region`` accepts their codes)."""
    with db.connect() as conn:
        ctx = _Ctx(db, scope, conn)
        return {"region": ctx.region_label(scope.region_id), "children": ctx.children()}


def rank_regions(rows: list[dict[str, Any]], metric: str, *, n: int = 3, lowest: bool = True) -> list[dict[str, Any]]:
    """Top or bottom regions of a view's ``by_region`` by one of its metrics (regions without it are left out)."""
    present = [r for r in rows if r.get(metric) is not None]
    return sorted(present, key=lambda r: (r[metric], r.get("code", "")), reverse=not lowest)[:n]


VIEW_FUNCTIONS = {
    "coverage": coverage,
    "stations": stations,
    "suggestions": suggestions,
    "livelihood": livelihood,
}

__all__ = [
    "ANCHORS",
    "COVERAGE_TARGETS",
    "QueryError",
    "Scope",
    "TERM_YEARS",
    "coverage",
    "duty_ranking",
    "duty_record",
    "livelihood",
    "make_scope",
    "rank_regions",
    "regions",
    "stations",
    "suggestions",
]
