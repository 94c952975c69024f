"""What suggestions and livelihood projects share: a state per aggregate (cached from page to page), its current row,
one snapshot per event with the clocks at which it stopped being the latest, and summaries kept by difference (what
the aggregate contributed when the page first touched it, taken away; what it contributes at the page's end, added).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from projections.decode import LeanEvent
from projections.projector.page import Orphan, Page, add_sum, clocks

#: What a state adds to the summaries: (summary, key, values) for each of them it counts in.
Contributions = list[tuple[sa.Table, tuple[Any, ...], tuple[Any, ...]]]


class Lifecycle:
    """One kind of lifecycle aggregate (``kind`` names its cache in ``Projector.cache``)."""

    def __init__(
        self,
        kind: str,
        noun: str,
        current: sa.Table,
        snapshots: sa.Table,
        columns: list[str],
        kept: list[str],
        dynamic: list[str],
        contributions: Callable[[dict[str, Any]], Contributions],
    ) -> None:
        self.kind, self.noun = kind, noun
        self.current, self.snapshots = current, snapshots
        self.key = current.primary_key.columns.keys()[0]
        self.columns = [self.key, *columns]
        self.row = operator.itemgetter(*self.columns)
        self.snapshot_row = operator.itemgetter(self.key, *kept, *dynamic)
        self.contributions = contributions

    # -------------------------------------------------------------------------------------------- handlers

    def state(self, b: Page, e: LeanEvent) -> dict[str, Any]:
        """The aggregate's state, noting what it contributed before the page changed it."""
        state = b.p.cache[self.kind].get(b.oid)
        if state is None:
            raise Orphan(f"{self.noun} {e.originator_id} was never created here")
        before = b.pending[f"{self.kind}:before"]
        if b.oid not in before:
            before[b.oid] = None if b.deferred else self.contributions(state)
        return state

    def created(self, b: Page, state: dict[str, Any]) -> None:
        b.p.cache[self.kind][b.oid] = state
        b.pending[f"{self.kind}:before"][b.oid] = []

    def snapshot(self, b: Page, state: dict[str, Any], e: LeanEvent, name: str, occ: int) -> None:
        """The state after event ``e``: a snapshot row; earlier snapshots stop being the latest at its clocks (those
        still in memory now, those written before at the page's end)."""
        version, at = e.originator_version, (e.timestamp, occ, e.known_at)
        state["version"], state["recorded_at"], state["occurred_at"], state["known_at"] = version, *at
        aggregate = state[self.key]
        b.touched[self.kind].add(aggregate)
        # Unwritten snapshots: the page's; a bulk build's, held until the aggregate closes or the build ends (even when
        # its state leaves the cache: their end clocks are then final, and nothing is updated in place).
        unwritten = b.p.held[self.kind] if b.deferred else b.pending[f"{self.kind}:snapshots"]
        chain = unwritten.setdefault(aggregate, [])
        ends = -len(at)  # a snapshot row ends with its next_* clocks
        for earlier in chain:  # the earliest later clock: with clocks in version order, the next snapshot's
            earlier[ends:] = [t if end is None or t < end else end for t, end in zip(at, earlier[ends:], strict=True)]
        lower = b.pending[f"{self.kind}:lower"]
        if aggregate in lower:
            found = lower[aggregate]
            found[1:] = map(min, found[1:], at)
        elif not chain and version > 1:
            lower[aggregate] = [version, *at]  # snapshots written before: lowered at the page's end
        row = [*self.snapshot_row(state), name, *[None] * len(at)]
        chain.append(row)
        if not b.deferred:
            b.inserts[self.snapshots.name].append(row)  # type: ignore[arg-type]  # a list: later snapshots lower it

    # ----------------------------------------------------------------------------------------- page end

    def finish(self, b: Page, _: Any) -> None:
        """Current rows and summaries of what the page changed; snapshots written before lowered; finished
        aggregates leave the cache (a bulk build writes their current row and snapshots now, once)."""
        cached = b.p.cache[self.kind]
        touched = sorted(b.touched[self.kind])
        if touched and not b.deferred:
            b.conn.exec_driver_sql(b.sql.upsert(self.current), [self.row(cached[i]) for i in touched])
            before = b.pending[f"{self.kind}:before"]
            for aggregate in touched:
                self._changed(b, before[aggregate], self.contributions(cached[aggregate]))
        lower = b.pending[f"{self.kind}:lower"]
        if lower:
            rows = [(*_twice(at), a, v, *at) for a, (v, *at) in sorted(lower.items())]
            b.conn.exec_driver_sql(self._lower_sql(b), rows)
        closed = [i for i in touched if cached[i]["state"] == "closed"]
        if b.deferred and closed:
            self.write_current(b.p, b.conn, [cached[i] for i in closed])
            self.write_held(b.p, b.conn, closed)
        for aggregate in closed:
            del cached[aggregate]

    @staticmethod
    def _changed(b: Page, old: Contributions, new: Contributions) -> None:
        if old == new:
            return
        for table, key, values in old:
            b.add(table, key, [-v for v in values])
        for table, key, values in new:
            b.add(table, key, values)

    def _lower_sql(self, b: Page) -> str:
        """Each next_* clock lowered to the given one (a pair of parameters per clock), on the aggregate's earlier
        snapshots that have one to lower (a parameter per clock)."""
        ph, t = b.sql.ph, b.sql.t(self.snapshots)
        ends = list(clocks("next"))
        lowered = ", ".join(f"{c} = CASE WHEN {c} IS NULL OR {c} > {ph} THEN {ph} ELSE {c} END" for c in ends)
        later = " OR ".join(f"{c} IS NULL OR {c} > {ph}" for c in ends)
        return f"UPDATE {t} SET {lowered} WHERE {self.key} = {ph} AND version < {ph} AND ({later})"

    # ------------------------------------------------------------------------------------ bulk builds

    def write_current(self, projector: Any, conn: Connection, states: Iterable[dict[str, Any]]) -> None:
        """A bulk build's current rows of these aggregates (closed ones, those its cache lets go, the rest at its end)."""
        rows = sorted(self.row(x) for x in states)
        if rows:
            conn.exec_driver_sql(projector.sql.upsert(self.current), rows)

    def write_held(self, projector: Any, conn: Connection, aggregates: Iterable[str]) -> None:
        """The snapshots a bulk build held for these aggregates (closed ones, the rest at its end): their end clocks
        are final, so the snapshots need no index while the build goes on."""
        held = projector.held[self.kind]
        snapshots = [tuple(r) for a in aggregates for r in held.pop(a, ())]
        if snapshots:
            conn.exec_driver_sql(projector.sql.insert(self.snapshots), snapshots)

    def complete(self, projector: Any, conn: Connection) -> None:
        """The end of a bulk build: the current rows and snapshots still under way, then the summaries from every
        current row."""
        self.write_current(projector, conn, projector.cache[self.kind].values())
        self.write_held(projector, conn, list(projector.held[self.kind]))
        result = conn.exec_driver_sql(projector.sql.rows_of(self.current, self.columns))
        for row in result:
            for table, key, values in self.contributions(dict(zip(self.columns, row, strict=True))):
                add_sum(projector.deferred_sums, table, key, values)


def _twice(values: Sequence[Any]) -> list[Any]:
    """Each value twice in a row (``a, a, b, b``): the parameters of ``CASE WHEN c > ? THEN ? ...``."""
    return [v for value in values for v in (value, value)]


def load_states(b: Page, lifecycle: Lifecycle, ids: Sequence[str]) -> None:
    """States of aggregates created in earlier pages, from their current rows."""
    cache = b.p.cache[lifecycle.kind]
    sql = f"{b.sql.rows_of(lifecycle.current, lifecycle.columns)} WHERE {lifecycle.key} IN (?)"
    for row in b.select(sql, ids):
        cache[row[0]] = dict(zip(lifecycle.columns, row, strict=True))
