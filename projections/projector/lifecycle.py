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

from projections import schema as s
from projections.decode import LeanEvent
from projections.projector.page import Orphan, Page, add_sum, clocks
from projections.rules import VOIDED

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
        # A snapshot row's columns (the table's, in its order): the aggregate, what it keeps, the event, the end clocks.
        self._column = {c.name: i for i, c in enumerate(snapshots.columns)}
        ends = list(clocks("next"))  # next_rec, next_occ, next_known: the order of a snapshot's clocks (rec, occ, known)
        if list(self._column) != [self.key, *kept, *dynamic, "event", *ends]:
            raise ValueError(f"{snapshots.name}: the columns are not the key, {kept}, {dynamic}, event and {ends}")
        self._version, self._event = self._column["version"], self._column["event"]
        self._recorded, self._occurred, self._known = (self._column[c] for c in s.CLOCK_COLUMNS.values())
        self._next = [self._column[c] for c in ends]
        self._next_recorded, self._next_occurred, self._next_known = self._next
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

    def snapshot(self, b: Page, state: dict[str, Any], e: LeanEvent, name: str, occ: int | None) -> None:
        """The state after event ``e``: a snapshot row; earlier snapshots stop being the latest at its clocks (those
        still in memory now, those written before at the page's end). ``occ`` None: a snapshot on the recorded and
        known clocks only (a correction's or a void's: on the occurred clock they change the snapshots they correct
        instead, see ``correct`` and ``void``); it ends nothing on the occurred clock and is seen on it never
        (``next_occ`` is its ``occurred_at``, the state's last event's)."""
        version, at = e.originator_version, (e.timestamp, occ, e.known_at)
        state["version"], state["recorded_at"], state["known_at"] = version, e.timestamp, e.known_at
        if occ is not None:
            state["occurred_at"] = occ
        aggregate = state[self.key]
        b.touched[self.kind].add(aggregate)
        chain = self._unwritten(b).setdefault(aggregate, [])
        for earlier in chain:  # the earliest later clock: with clocks in version order, the next snapshot's
            for i, t in zip(self._next, at, strict=True):
                earlier[i] = _earliest(earlier[i], t)
        lower = b.pending[f"{self.kind}:lower"]
        if aggregate in lower:
            found = lower[aggregate]
            found[1:] = map(_earliest, found[1:], at)
        elif not chain and version > 1:
            lower[aggregate] = [version, *at]  # snapshots written before: lowered at the page's end
        row = [*self.snapshot_row(state), name, *[None] * len(at)]
        if occ is None:
            row[self._next_occurred] = state["occurred_at"]
        self._add(b, chain, row)

    def _unwritten(self, b: Page) -> dict[str, list[list[Any]]]:
        """Unwritten snapshots: the page's; a bulk build's, held until the aggregate closes or the build ends (even
        when its state leaves the cache: their end clocks are then final, and nothing is updated in place)."""
        return b.p.held[self.kind] if b.deferred else b.pending[f"{self.kind}:snapshots"]  # type: ignore[no-any-return]

    def _add(self, b: Page, chain: list[list[Any]], row: list[Any]) -> None:
        chain.append(row)
        if not b.deferred:
            b.inserts[self.snapshots.name].append(row)  # type: ignore[arg-type]  # a list: later snapshots lower it

    # ---------------------------------------------------------------------------------- corrections, voids
    #
    # By the recorded clock and by the known clock a correction or a void is a snapshot like any other (``snapshot``
    # with ``occ`` None): what was believed from when it was recorded, what this node held from when it came to hold
    # it. By the occurred clock it changes the past: each snapshot it concerns that the occurred clock sees
    # (``next_occ`` None or after its ``occurred_at``) is ended there (``next_occ`` set to its ``occurred_at``: an empty
    # interval), and a corrected one is copied with the corrected values, the copy seen on the occurred clock only
    # (``next_rec`` = its ``recorded_at`` and ``next_known`` = its ``known_at``, the correction's: empty intervals on
    # both) over the interval the snapshot had. A void copies nothing: on the occurred clock the project never was.

    def correct(self, b: Page, e: LeanEvent, state: dict[str, Any], values: dict[str, Any], until: str) -> None:
        """A correction of the fact of version ``e.version``: ``values`` hold in the snapshots from it up to the next
        snapshot of event ``until`` (which sets them again), exclusive; and in the state if none follows."""
        rows, unwritten = self._snapshots_of(b, b.oid)
        end = next((r[self._version] for r, _ in rows if r[self._version] > e.version and r[self._event] == until), None)
        if end is None:
            state.update(values)
        self.snapshot(b, state, e, "corrected", None)
        index = [self._column[c] for c in values]
        for row, stored in rows:
            if row[self._version] >= e.version and (end is None or row[self._version] < end) and self._seen_on_occurred(row):
                copy = list(row)
                for i, value in zip(index, values.values(), strict=True):
                    copy[i] = value
                copy[self._recorded] = copy[self._next_recorded] = e.timestamp
                copy[self._known] = copy[self._next_known] = e.known_at
                self._end_on_occurred(b, row, stored)
                self._add(b, unwritten, copy)

    def void(self, b: Page, e: LeanEvent, state: dict[str, Any]) -> None:
        """A void: the state is ``voided`` (counted nowhere) from when it was recorded (held); every snapshot of the
        aggregate is ended on the occurred clock where it starts."""
        rows, _ = self._snapshots_of(b, b.oid)
        state["state"] = VOIDED
        self.snapshot(b, state, e, VOIDED, None)
        for row, stored in rows:
            if self._seen_on_occurred(row):
                self._end_on_occurred(b, row, stored)

    def _snapshots_of(self, b: Page, aggregate: str) -> tuple[list[tuple[list[Any], bool]], list[list[Any]]]:
        """The aggregate's snapshots in version order, each with whether it was written before (rows as lists in the
        table's column order); and its unwritten ones' list."""
        sql = f"{b.sql.rows_of(self.snapshots, [c.name for c in self.snapshots.columns])} WHERE {self.key} = {b.sql.ph}"
        stored = [(list(r), True) for r in b.conn.exec_driver_sql(sql, (aggregate,))]
        unwritten = self._unwritten(b).setdefault(aggregate, [])
        rows = sorted([*stored, *((r, False) for r in unwritten)], key=lambda pair: pair[0][self._version])
        return rows, unwritten

    def _seen_on_occurred(self, row: list[Any]) -> bool:
        return row[self._next_occurred] is None or row[self._next_occurred] > row[self._occurred]

    def _end_on_occurred(self, b: Page, row: list[Any], stored: bool) -> None:
        if stored:
            ph, t = b.sql.ph, b.sql.t(self.snapshots)
            b.conn.exec_driver_sql(
                f"UPDATE {t} SET next_occ = occurred_at WHERE {self.key} = {ph} AND version = {ph} AND recorded_at = {ph} "
                "AND (next_occ IS NULL OR next_occ > occurred_at)",
                (row[0], row[self._version], row[self._recorded]),
            )
        row[self._next_occurred] = row[self._occurred]

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
            rows = [(*_thrice(at), a, v, *at) for a, (v, *at) in sorted(lower.items())]
            b.conn.exec_driver_sql(self._lower_sql(b), rows)
        closed = [i for i in touched if cached[i]["state"] in ("closed", VOIDED)]  # nothing follows either
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
        """Each next_* clock lowered to the given one (three parameters per clock), on the aggregate's earlier
        snapshots that have one to lower (a parameter per clock) and started by then: not a corrected copy this page
        added after it (on that clock it starts later, and ends where it starts)."""
        ph, t = b.sql.ph, b.sql.t(self.snapshots)
        ends = list(clocks("next"))
        starts = list(s.CLOCK_COLUMNS.values())  # recorded_at, occurred_at, known_at: the order of the ends
        lowered = ", ".join(
            f"{c} = CASE WHEN ({c} IS NULL OR {c} > {ph}) AND {start} <= {ph} THEN {ph} ELSE {c} END"
            for c, start in zip(ends, starts, strict=True)
        )
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


def _earliest(clock: int | None, other: int | None) -> int | None:
    """The earlier of two clocks, None being none (an end not set yet; no occurred clock to end at)."""
    if clock is None:
        return other
    return clock if other is None or clock <= other else other


def _thrice(values: Sequence[Any]) -> list[Any]:
    """Each value three times in a row (``a, a, a, b, b, b``): the parameters of ``CASE WHEN c > ? AND start <= ?
    THEN ? ...``."""
    return [v for value in values for v in (value, value, value)]


def load_states(b: Page, lifecycle: Lifecycle, ids: Sequence[str]) -> None:
    """States of aggregates created in earlier pages, from their current rows."""
    cache = b.p.cache[lifecycle.kind]
    sql = f"{b.sql.rows_of(lifecycle.current, lifecycle.columns)} WHERE {lifecycle.key} IN (?)"
    for row in b.select(sql, ids):
        cache[row[0]] = dict(zip(lifecycle.columns, row, strict=True))
