"""What every view shares: the node dimension, SQL pieces for one scope (clocks, regions, roll-up), plain helpers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from projections import labels as L
from projections import schema as s
from projections.db import ProjectionDB
from projections.queries.scope import LEVELS, Scope
from projections.rules import VOIDED

N = s.nodes


@dataclass
class Dimension:
    """The node dimension of one database, and each region's children (in code order) as they are asked for."""

    digest: str
    nodes: dict[str, Any]
    children: dict[str, list[Any]]
    child_of: dict[str, dict[str, str | None]] = field(default_factory=dict)  # region -> node -> its child region


_NODES: dict[str, Dimension] = {}


def dimension(db: ProjectionDB, conn: Connection) -> Dimension:
    """The node dimension, cached per database while its digest (the hierarchy it was built from) stays the same."""
    digest = conn.execute(sa.select(s.projection_meta.c.value).where(s.projection_meta.c.key == "nodes")).scalar() or ""
    cached = _NODES.get(db.lock_key)
    if cached is None or cached.digest != digest:
        cached = _NODES[db.lock_key] = Dimension(digest, {r.node_id: r for r in conn.execute(sa.select(N)).all()}, {})
    return cached


class Ctx:
    """SQL pieces for one scope."""

    def __init__(self, db: ProjectionDB, scope: Scope, conn: Connection) -> None:
        self.db, self.scope, self.conn = db, scope, conn
        self.dimension = dimension(db, conn)
        self.nodes = self.dimension.nodes
        self.child_level = scope.child_level

    # clocks -------------------------------------------------------------------------------------------------

    def clock(self, table: Any, prefix: str = "") -> ColumnElement[Any]:
        """The column of the scope's clock: the row's own, or its transition ``prefix``'s (``first`` of a mark...)."""
        if prefix:
            return table.c[f"{prefix}_{s.CLOCK_SUFFIXES[self.scope.by]}"]
        return table.c[s.CLOCK_COLUMNS[self.scope.by]]

    def by_cut(self, table: Any, prefix: str = "") -> ColumnElement[bool]:
        """The row (or its transition ``prefix``) is on this side of the as-of cut."""
        if self.scope.as_of is None:
            return sa.true() if not prefix else self.clock(table, prefix).is_not(None)
        return self.clock(table, prefix) <= self.scope.as_of

    def not_yet(self, table: Any, prefix: str) -> ColumnElement[bool]:
        """The row's transition ``prefix`` had not happened at the cut (or never did)."""
        col = self.clock(table, prefix)
        return col.is_(None) if self.scope.as_of is None else sa.or_(col.is_(None), col > self.scope.as_of)

    def holds(self, table: Any) -> ColumnElement[bool]:
        """The row held at the cut (now: holds), if its table keeps when rows stop holding (``voided`` clocks: a
        visit's rows, corrected or voided); else every row."""
        return self.not_yet(table, "voided") if "voided_rec" in table.c else sa.true()

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
        parts = [getattr(row, f"{lv.value}_name") for lv in LEVELS[1:] if getattr(row, f"{lv.value}_name")]
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
        children = self.dimension.child_of.get(self.scope.region_id)
        if children is None:  # once per region and node dimension: every view rolls thousands of nodes up
            children = self.dimension.child_of[self.scope.region_id] = {n: self.child_of(n) for n in self.nodes}
        for node_id, values in per_node.items():
            child = children.get(node_id) if node_id else None
            target = out.get(child) if child is not None else None
            if target is None:
                target = own
            for k in keys:
                target[k] += values.get(k, 0) or 0
        rows = [{**self.region_label(rid), **vals} for rid, vals in out.items()]
        if any(own.values()):
            rows.append({**self.region_label(self.scope.region_id), "name": f"{self.scope.region_name}本级", **own})
        return rows

    def by_child(self, table: sa.FromClause) -> tuple[Any, ColumnElement[Any]]:
        """``table`` joined to the node dimension, and the child region each of its rows lies in (the scope's own node
        and nodes outside the dimension stand for themselves): summaries grouped by it in SQL come back as a row per
        child, not per node."""
        if self.child_level is None:
            return table, table.c.node_id
        child = sa.func.coalesce(N.c[f"{self.child_level}_id"], table.c.node_id)
        return table.outerjoin(N, N.c.node_id == table.c.node_id), child

    def years(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        if self.scope.first_year == self.scope.last_year:
            return column == self.scope.first_year
        return column.between(self.scope.first_year, self.scope.last_year)


def fetch_rows(conn: Connection, stmt: Any) -> Sequence[tuple[Any, ...]]:
    """Every row of a big result as the driver's plain tuples (no per-row work in SQLAlchemy: several times faster
    for tens of thousands of rows; booleans come back as the driver gives them)."""
    result = conn.execute(stmt)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def paged(items: list[Any], total: int, offset: int, limit: int) -> dict[str, Any]:
    return {"total": total, "offset": offset, "limit": limit, "items": items}


def view_answer(name: str, scope: Scope, **sections: Any) -> dict[str, Any]:
    return {"view": name, "title": L.VIEWS[name], "scope": scope.describe(), **sections}


def states_at_cut(ctx: Ctx, snapshots: sa.Table) -> Any:
    """Each aggregate as it stood at the cut: the one snapshot that was the latest then (at or before the cut, and no
    later snapshot by then) of an aggregate created by then. Its static columns beyond what the snapshot keeps (a
    title...) are the current row's: read for a page of a list only. A voided aggregate is not there (see
    ``projections.projector.lifecycle`` for corrections and voids on each clock)."""
    ended = ctx.clock(snapshots, "next")
    at_cut = sa.and_(
        ctx.by_cut(snapshots),
        sa.or_(ended.is_(None), ended > ctx.scope.as_of),
        ctx.by_cut(snapshots, "created"),
        snapshots.c.state != VOIDED,  # voided by then (recorded/known clocks; the occurred clock sees no snapshot of it)
    )
    return (
        sa.select(*[c for c in snapshots.columns if c.name != "event" and not c.name.startswith("next_")])
        .where(at_cut)
        .subquery("at_cut")
    )


T = TypeVar("T")
#: Threads for reads that run side by side (``together``): only leaf reads run here, never one that fans out again,
#: so a full pool delays a read but cannot deadlock one.
_SIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="views")


def together(first: Callable[[], T], *others: Callable[[], Any]) -> tuple[T, list[Any]]:
    """Independent reads of a view side by side, each on a connection of its own: ``first`` in this thread, the
    ``others`` in the pool. The database's work of one overlaps the Python of another: an as-of view of a province
    spends about half its time waiting for the server. Each read sees the projection as its own statements do (every
    statement reads the latest committed state, in one thread or several)."""
    futures = [_SIDE.submit(other) for other in others]
    try:
        return first(), [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        raise


@contextlib.contextmanager
def temporary(ctx: Ctx, name: str, select: Any) -> Iterator[sa.Table]:
    """``select``'s rows in a temporary table of this connection, dropped at the end: one evaluation of a costly
    statement for the several queries a view runs over its rows (SQLite's ``temp`` schema, PostgreSQL's ``pg_temp``:
    named explicitly, so that the node's schema is not put in their place)."""
    schema = "temp" if ctx.db.backend == "sqlite" else "pg_temp"
    columns = [sa.Column(c.name, c.type) for c in select.selected_columns]
    table = sa.Table(name, sa.MetaData(), *columns, schema=schema)
    # A pooled SQLite connection may still hold one: pysqlite commits a CREATE at once, while the DROP at the end runs
    # in the read's transaction, which is rolled back when the connection goes back to the pool.
    ctx.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {schema}.{name}")
    table.create(ctx.conn)
    try:
        ctx.conn.execute(sa.insert(table).from_select([c.name for c in columns], select))
        yield table
    finally:
        table.drop(ctx.conn)
