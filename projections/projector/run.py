"""The projector's runs: pages of the log, each decoded, folded and written with its position in one transaction."""

from __future__ import annotations

import contextlib
import gc
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
import structlog
from eventsourcing.utils import get_topic
from sqlalchemy.engine import Connection

from domain.hierarchy import Hierarchy
from domain.store import NodeStore
from projections import schema as s
from projections.db import MAIN, ProjectionDB
from projections.decode import LeanDecoder, LeanEvent
from projections.projector.page import Handler, Orphan, Page
from projections.projector.registry import FAMILIES, KNOWN_TOPICS, LIFECYCLES, NOT_FOLLOWED_TOPICS, UNNEEDED_TOPICS
from projections.projector.statements import MARK_COLUMNS, Statements
from projections.timeutil import CST, us

log = structlog.get_logger("projections")

DEFAULT_BATCH = 5000
_DEFERRED_ROWS = 400_000  # marks and counters a bulk build keeps in memory before writing them out
#: Which events a run projects (``projections.rebuild.build_cut``): given each decoded event and its topic.
Keep = Callable[[LeanEvent, str], bool]

_CACHE_LIMITS = {"visits": 200_000, "contacts": 300_000, "suggestions": 100_000, "projects": 50_000, "clock": 500_000}


@dataclass
class RunStats:
    """What one ``run`` did."""

    read: int = 0
    projected: int = 0
    skipped: int = 0  # known events no view needs
    cut: int = 0  # left out by the ``keep`` predicate (as-of builds)
    problems: Counter[tuple[str, str]] = field(default_factory=Counter)  # (reason, topic) -> count
    batches: int = 0
    seconds: float = 0.0
    position: int = 0

    @property
    def unknown(self) -> int:
        return sum(self.problems.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "projected": self.projected,
            "skipped": self.skipped,
            "cut": self.cut,
            "unknown": self.unknown,
            "problems": {f"{reason}:{topic}": n for (reason, topic), n in self.problems.items()},
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "position": self.position,
            "events_per_s": round(self.read / self.seconds) if self.seconds else None,
        }


#: An event of a page to handle: its handler, the event, its topic.
Decoded = tuple[Handler, LeanEvent, str]


class Projector:
    """Projects one node's store into one projection database (the live one, or an aside copy)."""

    def __init__(
        self, store: NodeStore, db: ProjectionDB, *, batch: int = DEFAULT_BATCH, hierarchy: Hierarchy | None = None
    ) -> None:
        self.store = store
        self.db = db
        self.batch = batch
        hierarchy = hierarchy or db.hierarchy or Hierarchy.load()
        root = store.node.node_id
        self.subtree = frozenset(d.id.hex for d in hierarchy.subtree(root)) if root in hierarchy else frozenset({root.hex})
        self.handlers = {get_topic(cls): handler for family in FAMILIES for cls, handler in family.handlers.items()}
        self.prefetch_kind = {get_topic(cls): kind for family in FAMILIES for cls, kind in family.prefetch.items()}
        self.loaders = {kind: loader for family in FAMILIES for kind, loader in family.loaders.items()}
        self.decoder = LeanDecoder(store.mapper)
        self.sql = Statements(db)
        #: Bulk builds (aside) keep marks, clocks, counters and summaries in memory and write them once, at the end;
        #: the current rows of suggestions and projects too (a finished one is written when it closes).
        self.deferred = False
        self.deferred_marks: dict[tuple[str, int, str], list[Any]] = {}
        self.deferred_years: dict[tuple[str, int], list[int]] = {}  # (deputy id, year) -> activity counters
        self.deferred_sums: dict[str, dict[tuple[Any, ...], list[Any]]] = defaultdict(dict)
        self.dirty_clock: set[str] = set()
        #: What a bulk build's families derive again from the facts at its end (``Family.complete``): after a void,
        #: what cannot be taken back by difference (per family, e.g. the station-years a visit's void changed).
        self.derive_again: dict[str, set[Any]] = defaultdict(set)
        self.held: dict[str, dict[str, list[Any]]] = {"suggestions": {}, "projects": {}}  # unwritten snapshots
        self.broken = False  # a page failed during a deferred (bulk) run: what it deferred cannot be trusted
        self._wrote: set[str] = set()  # tables a bulk build has written deferred rows to already
        # State carried from page to page while this process is the only writer (checked by position, under the
        # writer lock); anything missing is loaded from the database, which stays the truth.
        self.cache: dict[str, dict[str, Any]] = {"visits": {}, "contacts": {}, "suggestions": {}, "projects": {}, "clock": {}}
        self._cached_at = -1
        self.complete = False  # the caches hold every aggregate since position 0 (set by run)

    # ---------------------------------------------------------------------------------------------- runs

    def run(
        self,
        *,
        stop: int | None = None,
        keep: Keep | None = None,
        max_batches: int | None = None,
        lock: bool = True,
    ) -> RunStats:
        """Catch up with the log (up to notification ``stop`` if given). ``keep`` leaves events out (as-of builds)."""
        stats = RunStats()
        started = time.perf_counter()
        with without_gc():
            stats.position = self._run(stats, stop, keep, max_batches, lock)
        stats.seconds = time.perf_counter() - started
        for (reason, topic), n in stats.problems.items():
            log.warning("projection.skipped", node=self.store.node.code, reason=reason, topic=topic, count=n)
        return stats

    def _run(self, stats: RunStats, stop: int | None, keep: Keep | None, max_batches: int | None, lock: bool) -> int:
        position = 0
        while max_batches is None or stats.batches < max_batches:
            with self.db.writer_lock() if lock else contextlib.nullcontext():
                position = self.db.position()  # under the lock: another writer may have moved it
                if stop is not None and position >= stop:
                    break
                page = self.store.recorder.select_notifications(start=position + 1, limit=self.batch, stop=stop)
                if not page:
                    break
                position = self._project_page(page, stats, keep, expected=position)
            stats.batches += 1
            if len(page) < self.batch:
                break
        return position

    def _project_page(self, page: Sequence[Any], stats: RunStats, keep: Keep | None, expected: int) -> int:
        if expected != self._cached_at:
            self.clear_cache()
            self.complete = expected == 0  # from the start of the log, the caches will hold every aggregate
        try:
            position = self._project_page_unsafe(page, stats, keep, expected)
        except BaseException:
            self.clear_cache()  # the page's transaction was rolled back: so is what it cached
            if self.deferred:
                self.broken = True
            raise
        self._cached_at = position
        self._bound_memory()
        return position

    def _bound_memory(self) -> None:
        """Caches and a bulk build's deferred rows stay within their limits (what is dropped is in the database)."""
        for kind, limit in _CACHE_LIMITS.items():
            if len(self.cache[kind]) > limit:
                if kind == "clock" and self.dirty_clock:
                    self.write_deferred(marks=False)
                if self.deferred and kind in LIFECYCLES:
                    with self.db.begin() as conn:
                        LIFECYCLES[kind].write_current(self, conn, self.cache[kind].values())
                self.cache[kind].clear()
                self.complete = False
        held = len(self.deferred_marks) + len(self.deferred_years) + sum(map(len, self.deferred_sums.values()))
        if held > _DEFERRED_ROWS:
            self.write_deferred(clock=False)

    def clear_cache(self) -> None:
        for cached in self.cache.values():
            cached.clear()
        self._cached_at = -1
        self.complete = False

    def _project_page_unsafe(self, page: Sequence[Any], stats: RunStats, keep: Keep | None, expected: int) -> int:
        tally = Tally()
        with self.db.begin() as conn:
            current = conn.execute(sa.select(s.projection_state.c.position).where(s.projection_state.c.name == MAIN)).scalar()
            if (current or 0) != expected:
                # Another writer moved the position since we read it: its work stands, ours is dropped.
                raise ConcurrentProjection(f"position moved from {expected} to {current} under us")
            batch = Page(self, conn)
            events = self._decode(page, self._known_times(page), keep, tally)
            if not self.complete:
                # Not everything since position 0 went through this process's caches: load in bulk what the
                # page's events need from earlier pages (when complete, a miss is an aggregate never seen).
                self._prefetch(batch, events)
            projected = handle_events(batch, events, tally)
            batch.flush()
            position = page[-1].id
            self._save_state(conn, position, projected, tally.skipped, sum(tally.problems.values()))
            for key, n in tally.problems.items():
                self._save_problem(conn, key, n, tally.last_position.get(key) or position, tally.details.get(key, ""))
        stats.read += len(page)
        stats.projected += projected
        stats.skipped += tally.skipped
        stats.cut += tally.cut
        stats.problems.update(tally.problems)
        return position

    def _known_times(self, page: Sequence[Any]) -> list[int | None]:
        """When this node came to hold each event of the page (UTC microseconds); None where that is unknown."""
        return [None if t is None else us(t) for t in self.store.known_at([n.id for n in page])]

    def _decode(self, page: Sequence[Any], known: Sequence[int | None], keep: Keep | None, tally: Tally) -> list[Decoded]:
        """The page's events that a view needs (and ``keep`` keeps), decoded, in log order, with their known times (an
        unknown one counts as the recorded time: see ``projections.schema``)."""
        handlers = self.handlers
        decode = self.decoder.decode
        out = []
        for notification, known_at in zip(page, known, strict=True):
            topic = notification.topic
            handler = handlers.get(topic)
            if handler is None:
                tally.unhandled(notification)
                continue
            try:
                event = decode(notification)
            except Exception as e:  # noqa: BLE001 - a poison event is counted, never a crash
                tally.problem("undecodable", topic, repr(e), notification.id)
                continue
            event.known_at = event.timestamp if known_at is None else known_at
            if keep is not None and not keep(event, topic):
                tally.cut += 1
                continue
            out.append((handler, event, topic))
        return out

    def _prefetch(self, batch: Page, events: list[Decoded]) -> None:
        """Load in bulk the state that events of aggregates created in earlier pages need."""
        prefetch_kind = self.prefetch_kind
        cache = self.cache
        clock = cache["clock"]
        want: dict[str, set[str]] = defaultdict(set)
        created: set[str] = set()
        for _, event, topic in events:
            key = event.originator_id
            if event.originator_version == 1:
                created.add(key)
            elif key not in created:
                if key not in clock:
                    want["clock"].add(key)
                kind = prefetch_kind.get(topic)
                if kind is not None and key not in cache[kind]:
                    want[kind].add(key)
        for kind, ids in want.items():
            loader = batch.load_clock if kind == "clock" else (lambda found, k=kind: self.loaders[k](batch, found))
            loader(sorted(ids))

    def _save_state(self, conn: Connection, position: int, projected: int, skipped: int, unknown: int) -> None:
        ph = self.db.placeholder
        conn.exec_driver_sql(
            f"INSERT INTO {self.db.qualified(s.projection_state)} (name, node_id, position, events, skipped, unknown, "
            f"updated_at) VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph}) ON CONFLICT (name) DO UPDATE SET "
            "position = excluded.position, events = projection_state.events + excluded.events, "
            "skipped = projection_state.skipped + excluded.skipped, unknown = projection_state.unknown + excluded.unknown, "
            "updated_at = excluded.updated_at",
            (MAIN, self.store.node.node_id.hex, position, projected, skipped, unknown, us(datetime.now(CST))),
        )

    def _save_problem(self, conn: Connection, key: tuple[str, str], n: int, position: int, detail: str) -> None:
        reason, topic = key
        ph = self.db.placeholder
        conn.exec_driver_sql(
            f"INSERT INTO {self.db.qualified(s.projection_skips)} (topic, reason, count, last_position, detail) "
            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}) ON CONFLICT (topic, reason) DO UPDATE SET "
            "count = projection_skips.count + excluded.count, last_position = excluded.last_position, "
            "detail = excluded.detail",
            (topic, reason, n, position, detail),
        )

    # ------------------------------------------------------------------------------------ bulk builds

    def write_deferred(self, *, marks: bool = True, clock: bool = True) -> None:
        """Write what a bulk build keeps in memory: first marks, activity counters and summaries (``marks``), and
        the aggregates' clocks (``clock``)."""
        with self.db.begin() as conn:
            # In key order: the rows go to the end of the primary keys' b-trees instead of all over them; and plain
            # inserts when this bulk build has written none of these rows yet (the tables started empty).
            if marks:
                found = self.deferred_marks
                rows = [(*k, *found[k]) for k in sorted(found, key=_mark_order)]
                self._write(conn, s.marks, rows, self.sql.marks, columns=tuple(MARK_COLUMNS))
                found.clear()
                years = self.deferred_years
                self._write(conn, s.deputy_years, [(*k, *years[k]) for k in sorted(years)], lambda: self.sql.add(s.deputy_years))
                years.clear()
                for name, rows_of in self.deferred_sums.items():
                    table = s.metadata.tables[name]
                    rows = [(*k, *rows_of[k]) for k in sorted(rows_of)]
                    self._write(conn, table, rows, partial(self.sql.add, table))
                    rows_of.clear()
            if clock and self.dirty_clock:
                times = self.cache["clock"]
                rows = [(k, times[k]) for k in sorted(self.dirty_clock)]
                self._write(conn, s.aggregate_clock, rows, lambda: self.sql.upsert(s.aggregate_clock))
                self.dirty_clock.clear()

    def _write(
        self, conn: Connection, table: sa.Table, rows: list[Any], merge: Callable[[], str], columns: tuple[str, ...] = ()
    ) -> None:
        if rows:
            conn.exec_driver_sql(merge() if table.name in self._wrote else self.sql.insert(table, columns), rows)
            self._wrote.add(table.name)

    def materialize_current(self) -> None:
        """At the end of a deferred (bulk) run: write what was kept in memory, then what each family leaves for the
        end of a bulk build (current rows of what is still under way, and the summaries computed from the facts)."""
        if self.broken:
            raise RuntimeError("a page of this bulk build failed: build it again")
        with without_gc():
            self.write_deferred()
            with self.db.begin() as conn:
                for family in FAMILIES:
                    if family.complete:
                        family.complete(self, conn)
            self.write_deferred(clock=False)  # the summaries the families computed
        self.deferred = False


class Tally:
    """What one page skipped, cut and could not project (counted per reason and topic)."""

    def __init__(self) -> None:
        self.skipped = 0  # known events no view needs
        self.cut = 0  # left out by ``keep``
        self.problems: Counter[tuple[str, str]] = Counter()
        self.details: dict[tuple[str, str], str] = {}
        self.last_position: dict[tuple[str, str], int] = {}

    def unhandled(self, notification: Any) -> None:
        topic = notification.topic
        if topic in UNNEEDED_TOPICS or topic in KNOWN_TOPICS:
            self.skipped += 1
        elif topic in NOT_FOLLOWED_TOPICS:
            self.problem("not_followed", topic, "the views do not follow this correction or void yet", notification.id)
        else:
            self.problem("unknown", topic, "no projector handles this event type (newer code?)", notification.id)

    def problem(self, reason: str, topic: str, detail: str, position: int | None = None) -> None:
        key = (reason, topic)
        self.problems[key] += 1
        self.details[key] = detail[:500]
        if position is not None:
            self.last_position[key] = position


def handle_events(batch: Page, events: list[Decoded], tally: Tally) -> int:
    """Fold the events into the page; returns how many were projected (a failing one is counted, never a crash)."""
    failed = 0
    for handler, event, topic in events:
        batch.oid = event.originator_id
        batch.owner = event.owner
        try:
            handler(batch, event)
        except Orphan as e:
            failed += 1
            tally.problem("orphan", topic, str(e))
        except Exception as e:  # noqa: BLE001 - a handler bug or a newer payload: counted, never a crash
            failed += 1
            tally.problem("failed", topic, repr(e))
            log.warning("projection.handler_failed", topic=topic, error=repr(e))
    return len(events) - failed


@contextlib.contextmanager
def without_gc() -> Iterator[None]:
    """Millions of short-lived objects beside big caches, and no cycles: collections would only cost time (each one
    walks the caches)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class ConcurrentProjection(RuntimeError):
    """Two writers projected the same database at once (they should hold its writer lock)."""


def _mark_order(key: tuple[str, int, str]) -> str:
    """The primary key's order, as one string (sorting hundreds of thousands of tuples element by element is slow)."""
    mark, year, subject = key
    return f"{mark:<10}{year}{subject}"
