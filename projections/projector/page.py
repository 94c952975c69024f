"""One page of events in the making: the rows it becomes, the state its handlers need, and their writing, all in the
page's one transaction.

Handlers (one module per event family) fold events into a :class:`Page`: plain rows to insert, updates of rows
written by earlier pages, first-occurrence marks, and additions to the summaries (``Page.add``). ``Page.flush`` writes
it all, then each family's own finishing step (``Family.finish``); a bulk build keeps marks, clocks and
summaries in the projector's memory and writes them once, at its end.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from projections import schema as s
from projections.decode import LeanEvent
from projections.projector.statements import MARK_COLUMNS, Statements, combines

if TYPE_CHECKING:
    from projections.projector.run import Projector

_DAY_US = 86_400_000_000
_CST_US = 8 * 3_600_000_000
_CHUNK = 500
#: Where each kind of activity is counted in a ``deputy_years`` row (``schema.ACTIVITY_COUNTERS``).
CONTACTS, VISITS, SUGGESTIONS, OPINIONS = 0, 1, 2, 3

Handler = Callable[["Page", Any], None]


@dataclass(frozen=True)
class Family:
    """One event family's part of the projector (a module per family, as in ``domain``)."""

    handlers: dict[type, Handler]
    #: which cached state (``Projector.cache``) an event of an aggregate created in an earlier page needs, and its loader
    prefetch: dict[type, str] = field(default_factory=dict)
    loaders: dict[str, Callable[[Page, Sequence[str]], None]] = field(default_factory=dict)
    #: a page's own step: ``before`` runs before its rows are written, ``finish`` after them, given what ``before`` saw
    before: Callable[[Page], Any] | None = None
    finish: Callable[[Page, Any], None] | None = None
    #: after the page's summaries are written (a summary counted again from another)
    settle: Callable[[Page], None] | None = None
    #: the end of a bulk build: what the family kept in memory or left for the end, written
    complete: Callable[[Projector, Connection], None] | None = None


def clocks(prefix: str, rec: int | None = None, occ: int | None = None, known: int | None = None) -> dict[str, int | None]:
    """A transition's three clock columns (``prefix_rec``, ``prefix_occ``, ``prefix_known``) and their values (none
    yet, by default)."""
    suffixes = s.CLOCK_SUFFIXES.values()
    return dict(zip((f"{prefix}_{suffix}" for suffix in suffixes), (rec, occ, known), strict=True))


def assignments(columns: Iterable[str]) -> str:
    """``a = ?, b = ?`` for an update of these columns (in their order)."""
    return ", ".join(f"{c} = ?" for c in columns)


class Orphan(Exception):
    """An event of an aggregate the projection has never seen created (a cut build, or a lost creation)."""


_day_cache: dict[int, str] = {}


def day_of(occurred_us: int) -> str:
    """The CST day of a moment (cached per day number: most events of a page share a few days)."""
    number = (occurred_us + _CST_US) // _DAY_US
    day = _day_cache.get(number)
    if day is None:
        day = _day_cache[number] = date.fromordinal(719163 + number).isoformat()
    return day


def in_chunks(conn: Connection, sql: Statements, statement: str, ids: Sequence[Any], *, fetch: bool = True) -> list[Any]:
    """``statement`` with ``IN (?)`` run for the ids in chunks (bound parameters are limited); its rows if ``fetch``."""
    rows: list[Any] = []
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        result = conn.exec_driver_sql(sql.chunked(statement, len(chunk)), tuple(chunk))
        if fetch:
            rows.extend(result.fetchall())
    return rows


def add_sum(
    sums: dict[str, dict[tuple[Any, ...], list[Any]]], table: sa.Table, key: tuple[Any, ...], values: Sequence[Any]
) -> None:
    """Add ``values`` to the summary row ``key`` kept in ``sums`` (or keep the greatest, for a "max" column)."""
    rows = sums[table.name]
    row = rows.get(key)
    if row is None:
        rows[key] = list(values)
        return
    for i, (greatest, value) in enumerate(zip(combines(table), values, strict=True)):
        row[i] = (value if value > row[i] else row[i]) if greatest else row[i] + value


def mark_again(sql: Statements, conn: Connection, key: tuple[str, int, str], facts: Sequence[Sequence[Any]]) -> None:
    """A first-occurrence mark (``key``: mark, year, subject) written again from the facts that hold now, each (node,
    recorded, occurred, known): after a void (a first time by each clock, which a difference cannot take back); none
    left, no mark."""
    ph = sql.ph
    conn.exec_driver_sql(f"DELETE FROM {sql.t(s.marks)} WHERE mark = {ph} AND year = {ph} AND subject_id = {ph}", key)
    if facts:
        node = min(facts, key=lambda f: (f[1], f[0]))[0]  # where the first by recorded time was recorded
        first = [min(f[i] for f in facts) for i in (1, 2, 3)]
        conn.exec_driver_sql(sql.insert(s.marks, tuple(MARK_COLUMNS)), (*key, node, *first))


class Page:
    """The rows one page of events becomes, and the state its handlers need, flushed in one transaction."""

    def __init__(self, projector: Projector, conn: Connection) -> None:
        self.p = projector
        self.db = projector.db
        self.sql = projector.sql
        self.conn = conn
        self.deferred = projector.deferred
        self.inserts: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self.updates: list[tuple[str, tuple[Any, ...]]] = []  # in log order
        self.keyed: dict[str, list[tuple[Any, ...]]] = defaultdict(list)  # one row's own columns: in any order
        # a bulk build keeps one dict of first occurrences, activity counters and summaries for the whole run
        self.marks: dict[tuple[str, int, str], list[Any]] = projector.deferred_marks if self.deferred else {}
        self.years: dict[tuple[str, int], list[int]] = projector.deferred_years if self.deferred else {}
        self.sums: dict[str, dict[tuple[Any, ...], list[Any]]] = projector.deferred_sums if self.deferred else defaultdict(dict)
        self.touched: dict[str, set[Any]] = defaultdict(set)  # what each family's finishing step must look at again
        self.pending: dict[str, dict[Any, Any]] = defaultdict(dict)  # rows created in this page, still changeable
        # state carried from earlier pages (prefetched) or created in this one
        cache = projector.cache
        self.visits: dict[str, list[Any]] = cache["visits"]  # visit id -> [station id, year of each issue so far]
        self.contacts: dict[str, list[Any]] = cache["contacts"]  # contact id -> [kind, year of each opinion so far]
        self.suggestions: dict[str, dict[str, Any]] = cache["suggestions"]
        self.projects: dict[str, dict[str, Any]] = cache["projects"]
        self.latest_day = ""  # the latest day of activity seen (contacts, visits, suggestions)
        self.oid = ""  # the current event's aggregate id (hex), set before each handler
        self.owner = ""  # and its owner node (hex)
        self.clock: dict[str, int] = cache["clock"]  # aggregate id -> effective occurred time of its latest event
        self.touched_clock: set[str] = set()

    def occ(self, e: LeanEvent) -> int:
        """The event's effective occurred time: its own, or its aggregate's latest if that is later."""
        occurred = e.occurred_at
        key = self.oid
        before = self.clock.get(key)
        if before is not None and before > occurred:
            occurred = before
        self.clock[key] = occurred
        self.touched_clock.add(key)
        return occurred

    def seen(self, day: str) -> None:
        if day > self.latest_day:
            self.latest_day = day

    # -------------------------------------------------------------------------------------------- loading

    def select(self, sql: str, ids: Sequence[Any]) -> list[Any]:
        """``sql`` with ``IN (?)`` run for the ids in chunks (bound parameters are limited)."""
        return in_chunks(self.conn, self.sql, sql, ids)

    def load_clock(self, ids: Sequence[str]) -> None:
        sql = f"SELECT aggregate_id, occurred_max FROM {self.db.qualified(s.aggregate_clock)} WHERE aggregate_id IN (?)"
        for aggregate_id, occurred in self.select(sql, ids):
            self.clock[aggregate_id] = occurred

    # -------------------------------------------------------------------------------------------- writing

    def count(self, deputy_id: str, year: int, counter: int, also: int | None = None, n: int = 1) -> None:
        """``n`` more of ``counter`` (and of ``also``) for the deputy in the year (a void: one less)."""
        key = (deputy_id, year)
        counters = self.years.get(key)
        if counters is None:
            counters = self.years[key] = [0] * len(s.ACTIVITY_COUNTERS)
        counters[counter] += n
        if also is not None:
            counters[also] += n

    def add(self, table: sa.Table, key: tuple[Any, ...], values: Sequence[Any]) -> None:
        """Add ``values`` to a summary's row ``key`` (or keep the greatest, for a "max" column)."""
        add_sum(self.sums, table, key, values)

    def mark(self, mark: str, year: int, subject: str, node: str, rec: int, occ: int, known: int) -> None:
        """A first occurrence, by each clock (the node of the first by recorded time)."""
        key = (mark, year, subject)
        found = self.marks.get(key)
        if found is None:
            self.marks[key] = [node, rec, occ, known]
        else:
            if rec < found[1]:
                found[0], found[1] = node, rec
            if occ < found[2]:
                found[2] = occ
            if known < found[3]:
                found[3] = known

    @property
    def derive_again(self) -> dict[str, set[Any]]:
        """What a void leaves to be derived again from the facts that hold: at the page's end (the families' finishing
        steps), or a bulk build's (``Projector.derive_again``)."""
        return self.p.derive_again if self.deferred else self.touched

    def stop_holding(self, table: sa.Table, where: str, params: tuple[Any, ...], e: LeanEvent) -> None:
        """The rows of ``table`` that ``where`` selects and that still hold stop holding (``schema.visits``): at the
        correction's or void's recorded and known times, and on the occurred clock where they start (by occurred time
        they never held)."""
        ended = "voided_rec = ?, voided_occ = occurred_at, voided_known = ?"
        self.update(table, ended, f"{where} AND voided_rec IS NULL", (e.timestamp, e.known_at, *params))

    def update(self, table: sa.Table, sets: str, where: str, params: tuple[Any, ...], *, keyed: bool = False) -> None:
        """An update of rows written by an earlier page, run after the page's inserts. ``keyed``: it sets columns of
        one row (by its key) that no other kind of update sets, so it commutes with them and runs batched with its
        kind (executemany) instead of in log order."""
        ph = self.db.placeholder
        sql = f"UPDATE {self.db.qualified(table)} SET {sets} WHERE {where}".replace("?", ph)
        if keyed:
            self.keyed[sql].append(params)
        else:
            self.updates.append((sql, params))

    def flush(self) -> None:
        """Write the page: the families' rows, then everything that reads them (summaries, counters, marks)."""
        from projections.projector.registry import FAMILIES

        before = [family.before(self) if family.before else None for family in FAMILIES]
        conn, sql = self.conn, self.sql
        for table in s.metadata.sorted_tables:
            rows = self.inserts.get(table.name)
            if rows:  # rows still changeable while the page was folded are lists; the driver wants tuples
                conn.exec_driver_sql(sql.insert(table), rows if type(rows[0]) is tuple else list(map(tuple, rows)))
        for statement, params in self.updates:
            conn.exec_driver_sql(statement, params)
        for statement, rows in self.keyed.items():
            conn.exec_driver_sql(statement, rows)
        if self.latest_day:
            conn.exec_driver_sql(sql.latest_day(), ("latest_day", self.latest_day))
        if self.deferred:  # a bulk build: marks and clocks are kept in memory and written once, at its end
            self.p.dirty_clock.update(self.touched_clock)
        else:
            if self.marks:
                conn.exec_driver_sql(sql.marks(), [(*key, *value) for key, value in self.marks.items()])
            if self.touched_clock:
                clock = self.clock
                conn.exec_driver_sql(sql.upsert(s.aggregate_clock), [(k, clock[k]) for k in self.touched_clock])
        for family, started in zip(FAMILIES, before, strict=True):
            if family.finish:
                family.finish(self, started)
        if not self.deferred:
            self.write_sums()
            for family in FAMILIES:
                if family.settle:
                    family.settle(self)

    def write_sums(self) -> None:
        """Add the page's summaries to the database (in key order: fewer b-tree pages touched at random). A row whose
        counts fall to zero goes: a summary holds what is there, whatever the history (a rebuild writes the same)."""
        for name, rows in self.sums.items():
            if rows:
                table = s.metadata.tables[name]
                keys = sorted(rows)
                self.conn.exec_driver_sql(self.sql.add(table), [(*k, *rows[k]) for k in keys])
                emptied = [k for k in keys if any(type(v) is int and v < 0 for v in rows[k])]
                if emptied:
                    self.conn.exec_driver_sql(self.sql.delete_empty(table), emptied)
        self.sums.clear()
