"""The projector: a node's log, in order, into its read models, exactly once.

It reads the notification log from the position its database holds, in pages (``batch`` events); skips the events
no view needs by their topic string, before decoding them; decodes the rest into lean events
(``projections.decode``: the read models' forms straight from the stored JSON, or through the store's own mapper
whenever the fast path is not sure of the mapper's reading); folds them into rows; and writes
the rows **and the new position in the same transaction**. A crash anywhere loses the whole page's work and nothing
else, and the page is projected again from the same position: exactly once.

Unknown topics (an event type a newer version of the code records), undecodable events and events whose handler
fails are skipped, counted per topic in ``projection_skips`` and logged as warnings (structlog), never a crash.

Handlers are plain Python over one event; the only state they need across events (a suggestion's current state, the
number of the next opinion of a contact, which station a visit is at) is loaded in bulk per page from the database
itself, so the database is the projector's only memory and several processes may project one node in turn.
"""

from __future__ import annotations

import contextlib
import gc
import operator
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import structlog
from eventsourcing.utils import get_topic
from sqlalchemy.engine import Connection

from domain.bodies import StandingCommittee
from domain.contacts import Channel, ContactActivity, ContactKind, OrganiserKind
from domain.deputies import Deputy
from domain.hierarchy import Hierarchy
from domain.levels import CongressLevel
from domain.livelihood import LivelihoodProject, passes
from domain.stations import Station
from domain.store import NodeStore
from domain.suggestions import Suggestion
from domain.visits import StationVisit
from projections import schema as s
from projections.db import MAIN, ProjectionDB
from projections.decode import LeanDecoder, LeanEvent
from projections.timeutil import CST, us

log = structlog.get_logger("projections")

DEFAULT_BATCH = 5000
_DAY_US = 86_400_000_000
_CST_US = 8 * 3_600_000_000
_CHUNK = 500
_SUGGESTION_ROW = operator.itemgetter("suggestion_id", *s.SUGGESTION_COLUMNS)
_PROJECT_ROW = operator.itemgetter("project_id", *s.PROJECT_COLUMNS)
_SUGGESTION_SNAPSHOT = operator.itemgetter("suggestion_id", *s.SUGGESTION_DYNAMIC)
_PROJECT_SNAPSHOT = operator.itemgetter("project_id", *s.PROJECT_DYNAMIC)
MARK_COLUMNS = ["mark", "year", "subject_id", "node_id", "first_rec", "first_occ"]
_DEFERRED_MARKS = 400_000
_CACHE_LIMITS = {"visits": 200_000, "contacts": 300_000, "suggestions": 100_000, "projects": 50_000, "clock": 500_000}

#: Organs that contact deputies (the 2023 实施意见: organs' contact activities with deputies).
ORGANS = frozenset(
    {
        OrganiserKind.SC_MEMBER.value,
        OrganiserKind.CHAIR_COUNCIL.value,
        OrganiserKind.SPECIAL_COMMITTEE.value,
        OrganiserKind.SC_OFFICE.value,
        OrganiserKind.TOWNSHIP_PRESIDIUM.value,
        OrganiserKind.STREET_COMMITTEE.value,
    }
)
#: Organisers whose face-to-face contacts count for an SC member (主任会议成员 are SC members too).
SC_MEMBER_ORGANISERS = frozenset({OrganiserKind.SC_MEMBER.value, OrganiserKind.CHAIR_COUNCIL.value})
#: Who organises an SC's or a township presidium's thematic research (not deputy groups, not street committees).
RESEARCH_ORGANISERS = frozenset(
    {
        OrganiserKind.SC_MEMBER.value,
        OrganiserKind.CHAIR_COUNCIL.value,
        OrganiserKind.SPECIAL_COMMITTEE.value,
        OrganiserKind.SC_OFFICE.value,
        OrganiserKind.TOWNSHIP_PRESIDIUM.value,
    }
)
FACE_TO_FACE = frozenset(c.value for c in Channel if c.face_to_face)
PROVINCIAL = CongressLevel.PROVINCIAL.value
LOCAL_CONGRESSES = (CongressLevel.COUNTY.value, CongressLevel.TOWNSHIP.value)  # whose deputies report to constituents
ORGAN_TO_DEPUTY = frozenset({ContactKind.ORGAN_MEETING.value, ContactKind.FIELD_RESEARCH.value})
DEPUTY_MARKS = {
    ContactKind.PRACTICAL_DEED.value: "deed",
    ContactKind.GROUP_ACTIVITY.value: "group",
    ContactKind.CONSTITUENT_REPORT.value: "report",
}
#: Where each kind of activity is counted in a ``deputy_years`` row (``schema.ACTIVITY_COUNTERS``).
CONTACTS, VISITS, SUGGESTIONS, OPINIONS = 0, 1, 2, 3
COUNTER_OF_MARK = {"deed": 4, "group": 5, "organ": 6, "report": 7}

#: Event types that no view needs: skipped by topic, never decoded.
UNNEEDED = (
    Deputy.JoinedGroup,
    Deputy.LeftGroup,
    StationVisit.Closed,
    ContactActivity.HotlineOutcome,
)
_AGGREGATES = (Deputy, StandingCommittee, Station, StationVisit, ContactActivity, Suggestion, LivelihoodProject)


def _event_classes() -> list[type]:
    found = []
    for aggregate in _AGGREGATES:
        for value in vars(aggregate).values():
            if (
                isinstance(value, type)
                and issubclass(value, aggregate.Event)
                and value.__qualname__.startswith(aggregate.__name__)
            ):
                found.append(value)
    return found


KNOWN_TOPICS = frozenset(get_topic(cls) for cls in _event_classes())
UNNEEDED_TOPICS = frozenset(get_topic(cls) for cls in UNNEEDED)


def _yuan(amount: str) -> int:
    return int((Decimal(amount) * 10000).to_integral_value())


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


class Projector:
    """Projects one node's store into one projection database (the live one, or an aside copy)."""

    def __init__(
        self,
        store: NodeStore,
        db: ProjectionDB,
        *,
        batch: int = DEFAULT_BATCH,
        hierarchy: Hierarchy | None = None,
    ) -> None:
        self.store = store
        self.db = db
        self.batch = batch
        hierarchy = hierarchy or db.hierarchy or Hierarchy.load()
        root = store.node.node_id
        self.subtree = frozenset(d.id.hex for d in hierarchy.subtree(root)) if root in hierarchy else frozenset({root.hex})
        self.handlers: dict[str, Callable[[_Page, Any], None]] = {get_topic(cls): handler for cls, handler in _HANDLERS.items()}
        self.prefetch_kind = {get_topic(cls): kind for cls, kind in _PREFETCH.items()}
        self.decoder = LeanDecoder(store.mapper)
        self._sql: dict[str, str] = {}
        #: Bulk builds (aside) write the current tables of suggestions and projects once, at the end, from their
        #: snapshots, instead of upserting them page by page.
        self.deferred = False
        self.deferred_marks: dict[tuple[str, int, str], list[Any]] = {}
        self.deferred_years: dict[tuple[str, int], list[int]] = {}  # (deputy id, year) -> activity counters
        self.deferred_open: dict[tuple[str, int], tuple[Any, ...]] = {}  # open opinions, by (contact id, number)
        self.dirty_clock: set[str] = set()
        self.broken = False  # a page failed during a deferred (bulk) run: what it deferred cannot be trusted
        self._wrote_marks = self._wrote_clock = self._wrote_years = False
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
        keep: Callable[[LeanEvent], bool] | None = None,
        max_batches: int | None = None,
        lock: bool = True,
    ) -> RunStats:
        """Catch up with the log (up to notification ``stop`` if given). ``keep`` leaves events out (as-of builds)."""
        stats = RunStats()
        started = time.perf_counter()
        position = 0
        with _without_gc():
            position = self._run(stats, stop, keep, max_batches, lock)
        stats.position = position
        stats.seconds = time.perf_counter() - started
        if stats.problems:
            for (reason, topic), n in stats.problems.items():
                log.warning("projection.skipped", node=self.store.node.code, reason=reason, topic=topic, count=n)
        return stats

    def _run(
        self, stats: RunStats, stop: int | None, keep: Callable[[LeanEvent], bool] | None, max_batches: int | None, lock: bool
    ) -> int:
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

    def _project_page(self, page: Sequence[Any], stats: RunStats, keep: Callable[[LeanEvent], bool] | None, expected: int) -> int:
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
        for kind, limit in _CACHE_LIMITS.items():
            if len(self.cache[kind]) > limit:
                if kind == "clock" and self.dirty_clock:
                    self._write_deferred(marks=False)
                if self.deferred and kind in ("suggestions", "projects"):
                    self._write_states(
                        self.cache["suggestions"].values() if kind == "suggestions" else (),
                        self.cache["projects"].values() if kind == "projects" else (),
                    )
                self.cache[kind].clear()
                self.complete = False
        if len(self.deferred_marks) + len(self.deferred_years) > _DEFERRED_MARKS:
            self._write_deferred(clock=False)
        return position

    def clear_cache(self) -> None:
        for cached in self.cache.values():
            cached.clear()
        self._cached_at = -1
        self.complete = False

    def _project_page_unsafe(
        self, page: Sequence[Any], stats: RunStats, keep: Callable[[LeanEvent], bool] | None, expected: int
    ) -> int:
        tally = _Tally()
        with self.db.begin() as conn:
            current = conn.execute(sa.select(s.projection_state.c.position).where(s.projection_state.c.name == MAIN)).scalar()
            if (current or 0) != expected:
                # Another writer moved the position since we read it: its work stands, ours is dropped.
                raise ConcurrentProjection(f"position moved from {expected} to {current} under us")
            batch = _Page(self, conn)
            events = self._decode(page, keep, tally)
            if not self.complete:
                # Not everything since position 0 went through this process's caches: load in bulk what the
                # page's events need from earlier pages (when complete, a miss is an aggregate never seen).
                self._prefetch(batch, events)
            projected = _handle(batch, events, tally)
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

    def _decode(self, page: Sequence[Any], keep: Callable[[LeanEvent], bool] | None, tally: _Tally) -> list[_Decoded]:
        """The page's events that a view needs (and ``keep`` keeps), decoded, in log order."""
        handlers = self.handlers
        decode = self.decoder.decode
        out = []
        for notification in page:
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
            if keep is not None and not keep(event):
                tally.cut += 1
                continue
            out.append((handler, event, topic))
        return out

    def _prefetch(self, batch: _Page, events: list[_Decoded]) -> None:
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
            _LOADERS[kind](batch, sorted(ids))

    def _save_state(self, conn: Connection, position: int, projected: int, skipped: int, unknown: int) -> None:
        table = self.db.qualified(s.projection_state)
        ph = self.db.placeholder
        conn.exec_driver_sql(
            f"INSERT INTO {table} (name, node_id, position, events, skipped, unknown, updated_at) "
            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}, {ph}) ON CONFLICT (name) DO UPDATE SET "
            "position = excluded.position, events = projection_state.events + excluded.events, "
            "skipped = projection_state.skipped + excluded.skipped, unknown = projection_state.unknown + excluded.unknown, "
            "updated_at = excluded.updated_at",
            (MAIN, self.store.node.node_id.hex, position, projected, skipped, unknown, us(datetime.now(CST))),
        )

    def _save_problem(self, conn: Connection, key: tuple[str, str], n: int, position: int, detail: str) -> None:
        reason, topic = key
        table = self.db.qualified(s.projection_skips)
        ph = self.db.placeholder
        conn.exec_driver_sql(
            f"INSERT INTO {table} (topic, reason, count, last_position, detail) VALUES ({ph}, {ph}, {ph}, {ph}, {ph}) "
            "ON CONFLICT (topic, reason) DO UPDATE SET count = projection_skips.count + excluded.count, "
            "last_position = excluded.last_position, detail = excluded.detail",
            (topic, reason, n, position, detail),
        )

    def insert_sql(self, table: sa.Table, columns: Sequence[str] | None = None) -> str:
        key = f"i:{table.name}:{','.join(columns or ())}"
        sql = self._sql.get(key)
        if sql is None:
            names = list(columns) if columns else [c.name for c in table.columns]
            ph = ", ".join([self.db.placeholder] * len(names))
            sql = self._sql[key] = f"INSERT INTO {self.db.qualified(table)} ({', '.join(names)}) VALUES ({ph})"
        return sql

    def upsert_sql(self, table: sa.Table) -> str:
        key = f"u:{table.name}"
        sql = self._sql.get(key)
        if sql is None:
            keys = [c.name for c in table.primary_key.columns]
            rest = [c.name for c in table.columns if c.name not in keys]
            sql = (
                self.insert_sql(table)
                + f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in rest)
            )
            self._sql[key] = sql
        return sql

    def latest_day_sql(self) -> str:
        sql = self._sql.get("latest_day")
        if sql is None:
            t = self.db.qualified(s.projection_meta)
            ph = self.db.placeholder
            sql = self._sql["latest_day"] = (
                f"INSERT INTO {t} (key, value) VALUES ({ph}, {ph}) ON CONFLICT (key) DO UPDATE SET value = "
                "CASE WHEN excluded.value > projection_meta.value THEN excluded.value ELSE projection_meta.value END"
            )
        return sql

    def _write_deferred(self, *, marks: bool = True, clock: bool = True) -> None:
        with self.db.begin() as conn:
            # In key order: the rows go to the end of the primary keys' b-trees instead of all over them; and plain
            # inserts when this bulk build has written none of these rows yet (the tables started empty).
            if marks and self.deferred_marks:
                sql = self.marks_sql() if self._wrote_marks else self.insert_sql(s.marks, MARK_COLUMNS)
                found = self.deferred_marks
                conn.exec_driver_sql(sql, [(*k, *found[k]) for k in sorted(found, key=_mark_order)])
                self.deferred_marks.clear()
                self._wrote_marks = True
            if marks and self.deferred_years:
                years = self.deferred_years
                sql = self.add_sql(s.deputy_years) if self._wrote_years else self.insert_sql(s.deputy_years)
                conn.exec_driver_sql(sql, [(*k, *years[k]) for k in sorted(years)])
                years.clear()
                self._wrote_years = True
            if clock and self.dirty_clock:
                times = self.cache["clock"]
                sql = self.upsert_sql(s.aggregate_clock) if self._wrote_clock else self.insert_sql(s.aggregate_clock)
                conn.exec_driver_sql(sql, [(k, times[k]) for k in sorted(self.dirty_clock)])
                self.dirty_clock.clear()
                self._wrote_clock = True

    def materialize_current(self) -> None:
        """At the end of a deferred (bulk) run: write the first-occurrence marks, the aggregate clocks and the current
        rows of the suggestions and projects still under way, all kept in memory until now."""
        if self.broken:
            raise RuntimeError("a page of this bulk build failed: build it again")
        with _without_gc():
            self._write_deferred()
            self._write_states(self.cache["suggestions"].values(), self.cache["projects"].values())
            with self.db.begin() as conn:
                opened = self.deferred_open
                if opened:
                    conn.exec_driver_sql(self.insert_sql(s.open_opinions), [opened[k] for k in sorted(opened)])
                opened.clear()
        with self.db.begin() as conn:  # every deputy's counters are in: sum them per person once
            conn.exec_driver_sql(self.person_years_sql())
        self.deferred = False

    def _write_states(self, suggestions: Any, projects: Any, conn: Connection | None = None) -> None:
        rows_s = [_SUGGESTION_ROW(x) for x in suggestions]
        rows_p = [_PROJECT_ROW(x) for x in projects]
        with contextlib.nullcontext(conn) if conn is not None else self.db.begin() as c:
            if rows_s:
                c.exec_driver_sql(self.upsert_sql(s.suggestions), sorted(rows_s))
            if rows_p:
                c.exec_driver_sql(self.upsert_sql(s.projects), sorted(rows_p))

    def marks_sql(self) -> str:
        sql = self._sql.get("marks")
        if sql is None:
            t = s.marks.name
            sql = self._sql["marks"] = (
                self.insert_sql(s.marks, MARK_COLUMNS)
                + " ON CONFLICT (mark, year, subject_id) DO UPDATE SET "
                + f"node_id = CASE WHEN excluded.first_rec < {t}.first_rec THEN excluded.node_id ELSE {t}.node_id END, "
                + f"first_rec = CASE WHEN excluded.first_rec < {t}.first_rec THEN excluded.first_rec ELSE {t}.first_rec END, "
                + f"first_occ = CASE WHEN excluded.first_occ < {t}.first_occ THEN excluded.first_occ ELSE {t}.first_occ END"
            )
        return sql

    def add_sql(self, table: sa.Table, select: str = "") -> str:
        """Insert counters, or add them to the row already there (``select`` instead of VALUES: INSERT … SELECT)."""
        key = f"a:{table.name}:{select}"
        sql = self._sql.get(key)
        if sql is None:
            insert = self.insert_sql(table)
            if select:
                insert = insert[: insert.index(" VALUES ")] + " " + select
            keys = [c.name for c in table.primary_key.columns]
            sets = ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in s.ACTIVITY_COUNTERS)
            sql = self._sql[key] = f"{insert} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
        return sql

    def person_add_sql(self) -> str:
        """A page's counters of a deputy, added to their person's (nothing while the deputy is not registered here)."""
        ph = ", ".join([self.db.placeholder] * len(s.ACTIVITY_COUNTERS))
        select = f"SELECT person_id, {self.db.placeholder}, {ph} FROM {self.db.qualified(s.deputies)} WHERE deputy_id = "
        return self.add_sql(s.person_years, select + self.db.placeholder)

    def adopt_sql(self) -> str:
        """A deputy registered now: the counters recorded for them before, added to their person's."""
        counters = ", ".join(f"y.{c}" for c in s.ACTIVITY_COUNTERS)
        select = (
            f"SELECT d.person_id, y.year, {counters} FROM {self.db.qualified(s.deputy_years)} y "
            f"JOIN {self.db.qualified(s.deputies)} d ON d.deputy_id = y.deputy_id WHERE y.deputy_id = {self.db.placeholder}"
        )
        return self.add_sql(s.person_years, select)

    def delete_open_sql(self) -> str:
        ph = self.db.placeholder
        return f"DELETE FROM {self.db.qualified(s.open_opinions)} WHERE contact_id = {ph} AND number = {ph}"

    def person_years_sql(self) -> str:
        """Every person's counters from their deputies' (the end of a bulk build, into an empty table)."""
        sums = ", ".join(f"sum(y.{c})" for c in s.ACTIVITY_COUNTERS)
        return (
            f"INSERT INTO {self.db.qualified(s.person_years)} (person_id, year, {', '.join(s.ACTIVITY_COUNTERS)}) "
            f"SELECT d.person_id, y.year, {sums} FROM {self.db.qualified(s.deputy_years)} y "
            f"JOIN {self.db.qualified(s.deputies)} d ON d.deputy_id = y.deputy_id GROUP BY d.person_id, y.year"
        )

    def serving_sql(self) -> str:
        """A deputy's serving flags, from their mandates as they are now."""
        sql = self._sql.get("serving")
        if sql is None:
            ph = self.db.placeholder
            local = ", ".join(f"'{c}'" for c in LOCAL_CONGRESSES)
            in_force = (
                f"SELECT 1 FROM {self.db.qualified(s.mandates)} WHERE deputy_id = {ph} AND passed = TRUE "
                "AND reviewed_rec IS NOT NULL AND terminated_rec IS NULL"
            )
            sql = self._sql["serving"] = (
                f"UPDATE {self.db.qualified(s.deputies)} SET serving = EXISTS ({in_force}), "
                f"serving_provincial = EXISTS ({in_force} AND congress = '{PROVINCIAL}'), "
                f"serving_local = EXISTS ({in_force} AND congress IN ({local})) WHERE deputy_id = {ph}"
            )
        return sql


#: An event of a page to handle: its handler, the event, its topic.
_Decoded = tuple[Callable[["_Page", Any], None], LeanEvent, str]


class _Tally:
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
        else:
            self.problem("unknown", topic, "no projector handles this event type (newer code?)", notification.id)

    def problem(self, reason: str, topic: str, detail: str, position: int | None = None) -> None:
        key = (reason, topic)
        self.problems[key] += 1
        self.details[key] = detail[:500]
        if position is not None:
            self.last_position[key] = position


def _handle(batch: _Page, events: list[_Decoded], tally: _Tally) -> int:
    """Fold the events into the page; returns how many were projected (a failing one is counted, never a crash)."""
    failed = 0
    for handler, event, topic in events:
        batch.oid = event.originator_id
        batch.owner = event.owner
        try:
            handler(batch, event)
        except _Orphan as e:
            failed += 1
            tally.problem("orphan", topic, str(e))
        except Exception as e:  # noqa: BLE001 - a handler bug or a newer payload: counted, never a crash
            failed += 1
            tally.problem("failed", topic, repr(e))
            log.warning("projection.handler_failed", topic=topic, error=repr(e))
    return len(events) - failed


@contextlib.contextmanager
def _without_gc() -> Iterator[None]:
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


class _Orphan(Exception):
    """An event of an aggregate the projection has never seen created (a cut build, or a lost creation)."""


# ===================================================================================================== a page


def _mark_order(key: tuple[str, int, str]) -> str:
    """The primary key's order, as one string (sorting hundreds of thousands of tuples element by element is slow)."""
    mark, year, subject = key
    return f"{mark:<10}{year}{subject}"


_day_cache: dict[int, str] = {}


def _day(occurred_us: int) -> str:
    """The CST day of a moment (cached per day number: most events of a page share a few days)."""
    number = (occurred_us + _CST_US) // _DAY_US
    day = _day_cache.get(number)
    if day is None:
        day = _day_cache[number] = date.fromordinal(719163 + number).isoformat()
    return day


class _Page:
    """The rows one page of events becomes, and the state its handlers need, flushed in one transaction."""

    def __init__(self, projector: Projector, conn: Connection) -> None:
        self.p = projector
        self.db = projector.db
        self.conn = conn
        self.inserts: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self.updates: list[tuple[str, tuple[Any, ...]]] = []
        # a bulk build keeps one dict of first occurrences for the whole run (written at its end)
        self.marks: dict[tuple[str, int, str], list[Any]] = projector.deferred_marks if projector.deferred else {}
        self.years: dict[tuple[str, int], list[int]] = projector.deferred_years if projector.deferred else {}
        # opinions raised and not fed back (a bulk build keeps them all until its end), and those fed back now
        self.opened: dict[tuple[str, int], tuple[Any, ...]] = projector.deferred_open if projector.deferred else {}
        self.answered: list[tuple[str, int]] = []
        self.mandated: set[str] = set()  # deputies whose mandates changed: their serving flags are refreshed
        # rows created in this page that later events of the page may still change (written at flush)
        self.deputies: dict[str, list[Any]] = {}
        self.mandates: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.members: list[dict[str, Any]] = []
        self.open_members: dict[tuple[str, str], dict[str, Any]] = {}
        self.stations: dict[str, dict[str, Any]] = {}
        self.enrolments: list[dict[str, Any]] = []
        self.open_enrolments: dict[tuple[str, str], dict[str, Any]] = {}
        # state carried from earlier pages (prefetched) or created in this one
        cache = projector.cache
        self.visits: dict[str, list[Any]] = cache["visits"]  # visit id -> [station id, issues so far]
        self.contacts: dict[str, list[Any]] = cache["contacts"]  # contact id -> [kind, year of each opinion so far]
        self.suggestions: dict[str, dict[str, Any]] = cache["suggestions"]
        self.projects: dict[str, dict[str, Any]] = cache["projects"]
        self.latest_day = ""  # the latest day of activity seen (contacts, visits, suggestions)
        self.oid = ""  # the current event's aggregate id (hex), set before each handler
        self.owner = ""  # and its owner node (hex)
        self.clock: dict[str, int] = cache["clock"]  # aggregate id -> effective occurred time of its latest event
        self.touched_clock: set[str] = set()
        self.touched_suggestions: set[str] = set()
        self.touched_projects: set[str] = set()

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

    # -------------------------------------------------------------------------------------------- loading

    def _load_clock(self, ids: Sequence[str]) -> None:
        sql = f"SELECT aggregate_id, occurred_max FROM {self.db.qualified(s.aggregate_clock)} WHERE aggregate_id IN (?)"
        for aggregate_id, occurred in self.select(sql, ids):
            self.clock[aggregate_id] = occurred

    def select(self, sql: str, ids: Sequence[str]) -> list[Any]:
        rows: list[Any] = []
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ", ".join([self.db.placeholder] * len(chunk))
            rows.extend(self.conn.exec_driver_sql(sql.replace("(?)", f"({marks})"), tuple(chunk)).fetchall())
        return rows

    def _load_visits(self, ids: Sequence[str]) -> None:
        v, i = self.db.qualified(s.visits), self.db.qualified(s.visit_issues)
        issues = f"(SELECT count(*) FROM {i} x WHERE x.visit_id = v.visit_id)"
        sql = f"SELECT visit_id, station_id, {issues} FROM {v} v WHERE visit_id IN (?)"
        for visit_id, station_id, issues in self.select(sql, ids):
            self.visits[visit_id] = [station_id, issues]

    def _load_contacts(self, ids: Sequence[str]) -> None:
        c, o = self.db.qualified(s.contacts), self.db.qualified(s.opinions)
        for contact_id, kind in self.select(f"SELECT contact_id, kind FROM {c} WHERE contact_id IN (?)", ids):
            self.contacts[contact_id] = [kind, []]
        sql = f"SELECT contact_id, year FROM {o} WHERE contact_id IN (?) ORDER BY contact_id, number"
        for contact_id, year in self.select(sql, ids):
            self.contacts[contact_id][1].append(year)

    def _load_suggestions(self, ids: Sequence[str]) -> None:
        self._load_states(ids, s.suggestions, "suggestion_id", s.SUGGESTION_COLUMNS, self.suggestions)

    def _load_projects(self, ids: Sequence[str]) -> None:
        self._load_states(ids, s.projects, "project_id", s.PROJECT_COLUMNS, self.projects)

    def _load_states(
        self, ids: Sequence[str], current: sa.Table, key: str, columns: Sequence[str], into: dict[str, dict[str, Any]]
    ) -> None:
        cols = [key, *columns]
        sql = f"SELECT {', '.join(cols)} FROM {self.db.qualified(current)} WHERE {key} IN (?)"
        for row in self.select(sql, ids):
            into[row[0]] = dict(zip(cols, row, strict=True))

    # -------------------------------------------------------------------------------------------- writing

    def count(self, deputy_id: str, year: int, counter: int, also: int | None = None) -> None:
        """One more of ``counter`` (and of ``also``) for the deputy in the year."""
        key = (deputy_id, year)
        counters = self.years.get(key)
        if counters is None:
            counters = self.years[key] = [0] * len(s.ACTIVITY_COUNTERS)
        counters[counter] += 1
        if also is not None:
            counters[also] += 1

    def answer(self, contact_id: str, number: int) -> None:
        """The opinion was fed back: no longer open (a bulk build never wrote it; else it may be in the database)."""
        if self.opened.pop((contact_id, number), None) is None and not self.p.deferred:
            self.answered.append((contact_id, number))

    def mark(self, mark: str, year: int, subject: str, node: str, rec: int, occ: int) -> None:
        key = (mark, year, subject)
        found = self.marks.get(key)
        if found is None:
            self.marks[key] = [node, rec, occ]
        else:
            if rec < found[1]:
                found[0], found[1] = node, rec
            if occ < found[2]:
                found[2] = occ

    def update(self, table: sa.Table, sets: str, where: str, params: tuple[Any, ...]) -> None:
        ph = self.db.placeholder
        sql = f"UPDATE {self.db.qualified(table)} SET {sets} WHERE {where}".replace("?", ph)
        self.updates.append((sql, params))

    def flush(self) -> None:
        conn, p = self.conn, self.p
        ins = self.inserts
        if self.deputies:
            ins["deputies"].extend(tuple(r) for r in self.deputies.values())
        if self.mandates:
            ins["mandates"].extend(tuple(m[c.name] for c in s.mandates.columns) for m in self.mandates.values())
        if self.members:
            ins["sc_members"].extend(tuple(m[c.name] for c in s.sc_members.columns) for m in self.members)
        if self.stations:
            ins["stations"].extend(tuple(r[c.name] for c in s.stations.columns) for r in self.stations.values())
        if self.enrolments:
            ins["station_enrolments"].extend(tuple(r[c.name] for c in s.station_enrolments.columns) for r in self.enrolments)
        for table in s.metadata.sorted_tables:
            rows = ins.get(table.name)
            if rows:
                conn.exec_driver_sql(p.insert_sql(table), rows)
        if self.touched_suggestions and not p.deferred:
            row = _SUGGESTION_ROW
            conn.exec_driver_sql(
                p.upsert_sql(s.suggestions), [row(self.suggestions[i]) for i in sorted(self.touched_suggestions)]
            )
        if self.touched_projects and not p.deferred:
            row = _PROJECT_ROW
            conn.exec_driver_sql(p.upsert_sql(s.projects), [row(self.projects[i]) for i in sorted(self.touched_projects)])
        if self.latest_day:
            conn.exec_driver_sql(p.latest_day_sql(), ("latest_day", self.latest_day))
        if p.deferred:  # a bulk build: marks and clocks are kept in memory and written once, at its end
            p.dirty_clock.update(self.touched_clock)
        else:
            if self.marks:
                conn.exec_driver_sql(p.marks_sql(), [(*key, *value) for key, value in self.marks.items()])
            if self.touched_clock:
                clock = self.clock
                conn.exec_driver_sql(p.upsert_sql(s.aggregate_clock), [(k, clock[k]) for k in self.touched_clock])
        for sql, params in self.updates:
            conn.exec_driver_sql(sql, params)
        if self.answered:
            conn.exec_driver_sql(p.delete_open_sql(), self.answered)
        if self.opened and not p.deferred:
            conn.exec_driver_sql(p.insert_sql(s.open_opinions), list(self.opened.values()))
        self._flush_summaries()
        closed_s = [sid for sid in self.touched_suggestions if self.suggestions[sid]["state"] == "closed"]
        closed_p = [pid for pid in self.touched_projects if self.projects[pid]["state"] == "closed"]
        if p.deferred and (closed_s or closed_p):  # their current rows, once, now that they are final
            p._write_states([self.suggestions[i] for i in closed_s], [self.projects[i] for i in closed_p], conn)
        for sid in closed_s:
            del self.suggestions[sid]
        for pid in closed_p:
            del self.projects[pid]

    def _flush_summaries(self) -> None:
        """After the page's deputies and mandates are written: their serving flags, and the activity counters of
        deputies and of their persons (a bulk build keeps the counters in memory and sums persons at its end)."""
        conn, p = self.conn, self.p
        if self.mandated:
            conn.exec_driver_sql(p.serving_sql(), [(d, d, d, d) for d in sorted(self.mandated)])
        if p.deferred:
            return
        if self.deputies:  # before this page's counters go in: they are added to the person below
            conn.exec_driver_sql(p.adopt_sql(), [(d,) for d in sorted(self.deputies)])
        if self.years:
            keys = sorted(self.years)
            conn.exec_driver_sql(p.add_sql(s.deputy_years), [(*k, *self.years[k]) for k in keys])
            conn.exec_driver_sql(p.person_add_sql(), [(k[1], *self.years[k], k[0]) for k in keys])


# ============================================================================================ the handlers

# Deputies ------------------------------------------------------------------------------------------------


def _deputy_registered(b: _Page, e: LeanEvent) -> None:
    rec, occ = e.timestamp, b.occ(e)
    node, home = b.owner, e.home_node
    area = home if home in b.p.subtree else node
    deputy_id = b.oid
    b.deputies[deputy_id] = [
        deputy_id,
        node,
        home,
        area,
        e.person_id,
        e.name,
        e.gender,
        e.unit,
        e.grassroots,
        e.leading_cadre,
        rec,
        occ,
        False,  # serving, serving_provincial, serving_local: refreshed from the mandates at flush
        False,
        False,
    ]
    b.inserts["deputy_flags"].append((deputy_id, e.originator_version, e.grassroots, e.leading_cadre, rec, occ))


def _flags_set(b: _Page, e: LeanEvent) -> None:
    rec, occ = e.timestamp, b.occ(e)
    deputy_id = b.oid
    b.inserts["deputy_flags"].append((deputy_id, e.originator_version, e.grassroots, e.leading_cadre, rec, occ))
    row = b.deputies.get(deputy_id)
    if row is not None:
        row[8], row[9] = e.grassroots, e.leading_cadre
    else:
        b.update(s.deputies, "grassroots = ?, leading_cadre = ?", "deputy_id = ?", (e.grassroots, e.leading_cadre, deputy_id))


def _mandate_granted(b: _Page, e: LeanEvent) -> None:
    deputy_id = b.oid
    b.mandates[(deputy_id, e.congress, e.term)] = {
        "deputy_id": deputy_id,
        "congress": e.congress,
        "term": e.term,
        "node_id": b.owner,
        "elected_by": e.elected_by,
        "via": e.via,
        "granted_rec": e.timestamp,
        "granted_occ": b.occ(e),
        "reviewed_rec": None,
        "reviewed_occ": None,
        "passed": None,
        "terminated_rec": None,
        "terminated_occ": None,
        "reason": None,
    }


def _mandate_step(prefix: str, column: str) -> Callable[[_Page, Any], None]:
    """A later step of a mandate (reviewed: ``passed``; terminated: ``reason``), on its row in the page or in the
    database."""

    def handle(b: _Page, e: LeanEvent) -> None:
        changes = {f"{prefix}_rec": e.timestamp, f"{prefix}_occ": b.occ(e), column: getattr(e, column)}
        key = (b.oid, e.congress, e.term)
        b.mandated.add(b.oid)
        mandate = b.mandates.get(key)
        if mandate is not None:
            mandate.update(changes)
        else:
            sets = ", ".join(f"{c} = ?" for c in changes)
            b.update(s.mandates, sets, "deputy_id = ? AND congress = ? AND term = ?", (*changes.values(), *key))

    return handle


# Standing committees --------------------------------------------------------------------------------------


def _sc_constituted(b: _Page, e: LeanEvent) -> None:
    b.inserts["standing_committees"].append((b.oid, b.owner, e.term, e.level, e.timestamp, b.occ(e)))


def _member_appointed(b: _Page, e: LeanEvent) -> None:
    row = {
        "sc_id": b.oid,
        "member_id": e.member_id,
        "version": e.originator_version,
        "node_id": b.owner,
        "name": e.name,
        "post": e.post,
        "appointed_rec": e.timestamp,
        "appointed_occ": b.occ(e),
        "left_rec": None,
        "left_occ": None,
    }
    b.members.append(row)
    b.open_members[(row["sc_id"], e.member_id)] = row


def _member_left(b: _Page, e: LeanEvent) -> None:
    rec, occ = e.timestamp, b.occ(e)
    sc_id = b.oid
    row = b.open_members.pop((sc_id, e.member_id), None)
    if row is not None:
        row.update(left_rec=rec, left_occ=occ)
    else:
        b.update(
            s.sc_members,
            "left_rec = ?, left_occ = ?",
            "sc_id = ? AND member_id = ? AND left_rec IS NULL AND version < ?",
            (rec, occ, sc_id, e.member_id, e.originator_version),
        )


# Stations -------------------------------------------------------------------------------------------------


def _station_established(b: _Page, e: LeanEvent) -> None:
    occ = b.occ(e)
    station_id = b.oid
    b.stations[station_id] = {
        "station_id": station_id,
        "node_id": b.owner,
        "name": e.name,
        "address": e.address,
        "day": _day(occ),
        "recorded_at": e.timestamp,
        "occurred_at": occ,
        "successor_id": None,
        "merged_rec": None,
        "merged_occ": None,
        "closed_rec": None,
        "closed_occ": None,
    }


def _enrol(b: _Page, station_id: str, deputy_id: str, name: str, congress: str, e: LeanEvent) -> None:
    row = {
        "station_id": station_id,
        "deputy_id": deputy_id,
        "version": e.originator_version,
        "node_id": b.owner,
        "deputy_name": name,
        "congress": congress,
        "since_rec": e.timestamp,
        "since_occ": b.occ(e),
        "until_rec": None,
        "until_occ": None,
    }
    b.enrolments.append(row)
    b.open_enrolments[(station_id, deputy_id)] = row


def _deputy_enrolled(b: _Page, e: LeanEvent) -> None:
    _enrol(b, b.oid, e.deputy_id, e.deputy_name, e.congress, e)


def _deputy_removed(b: _Page, e: LeanEvent) -> None:
    rec, occ = e.timestamp, b.occ(e)
    station_id, deputy_id = b.oid, e.deputy_id
    row = b.open_enrolments.pop((station_id, deputy_id), None)
    if row is not None:
        row.update(until_rec=rec, until_occ=occ)
    else:
        b.update(
            s.station_enrolments,
            "until_rec = ?, until_occ = ?",
            "station_id = ? AND deputy_id = ? AND until_rec IS NULL AND version < ?",
            (rec, occ, station_id, deputy_id, e.originator_version),
        )


def _merged_into(b: _Page, e: LeanEvent) -> None:
    rec, occ = e.timestamp, b.occ(e)
    station_id = b.oid
    row = b.stations.get(station_id)
    if row is not None:
        row.update(successor_id=e.successor_id, merged_rec=rec, merged_occ=occ)
    else:
        b.update(
            s.stations,
            "successor_id = ?, merged_rec = ?, merged_occ = ?",
            "station_id = ?",
            (e.successor_id, rec, occ, station_id),
        )
    for key in [k for k in b.open_enrolments if k[0] == station_id]:
        b.open_enrolments.pop(key).update(until_rec=rec, until_occ=occ)
    b.update(
        s.station_enrolments,
        "until_rec = ?, until_occ = ?",
        "station_id = ? AND until_rec IS NULL AND version < ?",
        (rec, occ, station_id, e.originator_version),
    )


def _absorbed(b: _Page, e: LeanEvent) -> None:
    merged = e.merged_id
    names = {k[1]: r["deputy_name"] for k, r in b.open_enrolments.items() if k[0] == merged}
    names.update({r["deputy_id"]: r["deputy_name"] for r in b.enrolments if r["station_id"] == merged})
    missing = [d for d in e.deputies if d not in names]
    if missing:
        table = b.db.qualified(s.station_enrolments)
        sql = f"SELECT deputy_id, deputy_name FROM {table} WHERE station_id = '{merged}' AND deputy_id IN (?)"
        names.update(dict(b.select(sql, missing)))
    station_id = b.oid
    for deputy_id, congress in e.deputies.items():
        if (station_id, deputy_id) not in b.open_enrolments:  # already enrolled there: the domain keeps one enrolment
            _enrol(b, station_id, deputy_id, names.get(deputy_id, ""), congress, e)


def _station_closed(b: _Page, e: LeanEvent) -> None:
    rec, occ = e.timestamp, b.occ(e)
    station_id = b.oid
    row = b.stations.get(station_id)
    if row is not None:
        row.update(closed_rec=rec, closed_occ=occ)
    else:
        b.update(s.stations, "closed_rec = ?, closed_occ = ?", "station_id = ?", (rec, occ, station_id))


# Station visits -------------------------------------------------------------------------------------------


def _visit_recorded(b: _Page, e: LeanEvent) -> None:
    rec, occ = e.timestamp, b.occ(e)
    visit_id, node, station_id = b.oid, b.owner, e.station_id
    day = e.visit_date
    year = int(day[:4])
    b.inserts["visits"].append((visit_id, node, station_id, day, year, e.people_received, len(e.deputy_ids), rec, occ))
    deputy_ids = e.deputy_ids
    b.inserts["visit_deputies"].extend((visit_id, d, node, station_id, day, year, rec, occ) for d in deputy_ids)
    for d in deputy_ids:
        b.count(d, year, VISITS)
    b.visits[visit_id] = [station_id, 0]
    if day > b.latest_day:
        b.latest_day = day


def _visit(b: _Page, e: LeanEvent) -> list[Any]:
    info = b.visits.get(b.oid)
    if info is None:
        raise _Orphan(f"visit {e.originator_id} was never recorded here")
    return info


def _issue_raised(b: _Page, e: LeanEvent) -> None:
    info = _visit(b, e)
    occ = b.occ(e)
    day = _day(occ)
    info[1] += 1
    b.inserts["visit_issues"].append((b.oid, info[1], b.owner, info[0], e.category, day, int(day[:4]), e.timestamp, occ))


def _issue_outcome(outcome: str) -> Callable[[_Page, Any], None]:
    def handle(b: _Page, e: LeanEvent) -> None:
        info = _visit(b, e)
        occ = b.occ(e)
        to_unit = getattr(e, "to_unit", "")
        b.inserts["visit_issue_outcomes"].append(
            (b.oid, e.number, b.owner, info[0], outcome, to_unit, _day(occ), e.timestamp, occ)
        )

    return handle


# Contacts -------------------------------------------------------------------------------------------------


def _contact_recorded(b: _Page, e: LeanEvent) -> None:
    rec, occ = e.timestamp, b.occ(e)
    contact_id, node = b.oid, b.owner
    kind, channel, organiser_kind = e.kind, e.channel, e.organiser_kind
    day = e.held_on
    year = int(day[:4])
    face = channel in FACE_TO_FACE
    deputy_ids = e.deputy_ids
    b.inserts["contacts"].append(
        (
            contact_id,
            node,
            kind,
            channel,
            face,
            organiser_kind,
            e.organiser,
            e.organiser_id,
            e.title,
            day,
            year,
            e.public_count,
            len(deputy_ids),
            rec,
            occ,
        )
    )
    b.inserts["contact_deputies"].extend((contact_id, d, node, year, rec, occ) for d in deputy_ids)
    b.contacts[contact_id] = [kind, []]
    if day > b.latest_day:
        b.latest_day = day
    mark, count = b.mark, b.count
    deputy_mark = DEPUTY_MARKS.get(kind)
    if deputy_mark is None and kind in ORGAN_TO_DEPUTY and organiser_kind in ORGANS:
        deputy_mark = "organ"
    if deputy_mark is None:
        for d in deputy_ids:
            count(d, year, CONTACTS)
    else:
        counter = COUNTER_OF_MARK[deputy_mark]
        for d in deputy_ids:
            mark(deputy_mark, year, d, node, rec, occ)
            count(d, year, CONTACTS, counter)
    if kind in ORGAN_TO_DEPUTY:
        if organiser_kind in SC_MEMBER_ORGANISERS and face:
            mark("f2f", year, f"{node}:{e.organiser_id}", node, rec, occ)
        if kind == "field_research" and organiser_kind in RESEARCH_ORGANISERS:
            mark("research", year, node, node, rec, occ)


def _opinion_raised(b: _Page, e: LeanEvent) -> None:
    info = b.contacts.get(b.oid)
    if info is None:
        raise _Orphan(f"contact {e.originator_id} was never recorded here")
    occ = b.occ(e)
    day = _day(occ)
    year = int(day[:4])
    years = info[1]
    years.append(year)
    deputy_id = e.deputy_id
    number = len(years)
    b.inserts["opinions"].append((b.oid, number, b.owner, deputy_id, info[0], e.text, day, year, e.timestamp, occ))
    b.opened[(b.oid, number)] = (b.oid, number, b.owner, day, year)
    if deputy_id is not None:
        b.count(deputy_id, year, OPINIONS)


def _opinion_step(step: str) -> Callable[[_Page, Any], None]:
    """An opinion handled or fed back, filed under the year the opinion was raised in."""

    def handle(b: _Page, e: LeanEvent) -> None:
        occ = b.occ(e)
        info = b.contacts.get(b.oid)
        years = info[1] if info is not None else ()
        year = years[e.number - 1] if 0 < e.number <= len(years) else 0  # 0: never raised here
        handling, unit = (e.handling, e.unit) if step == "handled" else ("", "")
        b.inserts["opinion_steps"].append((b.oid, e.number, step, b.owner, handling, unit, _day(occ), e.timestamp, occ, year))
        if step == "fed_back":
            b.answer(b.oid, e.number)

    return handle


# Suggestions ----------------------------------------------------------------------------------------------


def _suggestion(b: _Page, e: LeanEvent) -> dict[str, Any]:
    sid = b.oid
    state = b.suggestions.get(sid)
    if state is None:
        raise _Orphan(f"suggestion {e.originator_id} was never submitted here")
    return state


def _snapshot_suggestion(b: _Page, state: dict[str, Any], e: LeanEvent, name: str, occ: int) -> None:
    rec = e.timestamp
    state["version"], state["recorded_at"], state["occurred_at"] = e.originator_version, rec, occ
    sid = state["suggestion_id"]
    b.touched_suggestions.add(sid)
    b.inserts["suggestion_snapshots"].append((*_SUGGESTION_SNAPSHOT(state), name))


def _suggestion_submitted(b: _Page, e: LeanEvent) -> None:
    rec, occ = e.timestamp, b.occ(e)
    sid, node = b.oid, b.owner
    day = _day(occ)
    year = int(day[:4])
    state = {
        "suggestion_id": sid,
        "node_id": node,
        "number": e.number,
        "congress": e.congress,
        "term": e.term,
        "session": e.session,
        "title": e.title,
        "category": e.category,
        "lead_deputy_id": e.lead_deputy_id,
        "co_n": len(e.co_deputy_ids),
        "day": day,
        "year": year,
        "created_rec": rec,
        "created_occ": occ,
        "state": "submitted",
        "lead_unit": "",
        "co_units": "",
        "due_on": None,
        "assigned_day": None,
        "handling_day": None,
        "replies": 0,
        "first_reply_day": None,
        "last_reply_day": None,
        "last_category": None,
        "evaluations": 0,
        "last_evaluation": None,
        "dissatisfied": 0,
        "priority": False,
        "leader": "",
        "supervisions": 0,
        "solved_day": None,
        "closed_day": None,
    }
    b.suggestions[sid] = state
    if day > b.latest_day:
        b.latest_day = day
    signers = b.inserts["suggestion_signers"]
    signers.append((sid, e.lead_deputy_id, "lead", node, day, year, rec, occ))
    signers.extend((sid, d, "co", node, day, year, rec, occ) for d in e.co_deputy_ids)
    for signer in (e.lead_deputy_id, *e.co_deputy_ids):
        b.count(signer, year, SUGGESTIONS)
    _snapshot_suggestion(b, state, e, "submitted", occ)


def _suggestion_step(name: str, apply: Callable[[dict[str, Any], Any, str], None]) -> Callable[[_Page, Any], None]:
    def handle(b: _Page, e: LeanEvent) -> None:
        state = _suggestion(b, e)
        occ = b.occ(e)
        apply(state, e, _day(occ))
        _snapshot_suggestion(b, state, e, name, occ)

    return handle


def _assigned(state: dict[str, Any], e: Suggestion.Assigned, day: str) -> None:
    state.update(
        state="assigned",
        lead_unit=e.lead_unit,
        co_units="、".join(e.co_units),
        due_on=e.due_on,
        assigned_day=day,
    )


def _handling_started(state: dict[str, Any], e: Suggestion.HandlingStarted, day: str) -> None:
    state.update(state="in_handling", handling_day=e.contacted_on)


def _replied(state: dict[str, Any], e: Suggestion.Replied, day: str) -> None:
    day = e.replied_on
    state.update(state="replied", replies=state["replies"] + 1, last_reply_day=day, last_category=e.category)
    if state["first_reply_day"] is None:
        state["first_reply_day"] = day


def _evaluated(state: dict[str, Any], e: Suggestion.Evaluated, day: str) -> None:
    dissatisfied = e.evaluation == "dissatisfied"
    if dissatisfied:
        after = "rehandling"
    elif state["last_category"] == "A":
        after = "evaluated"
    else:
        after = "follow_up"
    state.update(
        state=after,
        evaluations=state["evaluations"] + 1,
        last_evaluation=e.evaluation,
        dissatisfied=state["dissatisfied"] + (1 if dissatisfied else 0),
    )


def _solved(state: dict[str, Any], e: Suggestion.Solved, day: str) -> None:
    state.update(state="evaluated", solved_day=e.solved_on)


def _priority(state: dict[str, Any], e: Suggestion.MarkedPriority, day: str) -> None:
    state.update(priority=True, leader=e.leader)


def _supervised(state: dict[str, Any], e: Suggestion.Supervised, day: str) -> None:
    state["supervisions"] += 1


def _suggestion_closed(state: dict[str, Any], e: Suggestion.Closed, day: str) -> None:
    state.update(state="closed", closed_day=day)


# Livelihood projects --------------------------------------------------------------------------------------


def _snapshot_project(b: _Page, state: dict[str, Any], e: LeanEvent, name: str, occ: int) -> None:
    state["version"], state["recorded_at"], state["occurred_at"] = e.originator_version, e.timestamp, occ
    pid = state["project_id"]
    b.touched_projects.add(pid)
    b.inserts["project_snapshots"].append((*_PROJECT_SNAPSHOT(state), name))


def _project_proposed(b: _Page, e: LeanEvent) -> None:
    rec, occ = e.timestamp, b.occ(e)
    pid = b.oid
    state = {
        "project_id": pid,
        "node_id": b.owner,
        "year": e.year,
        "title": e.title,
        "category": e.category,
        "proposed_by": e.proposed_by,
        "day": _day(occ),
        "created_rec": rec,
        "created_occ": occ,
        "state": "proposed",
        "estimate_yuan": 0,
        "deliberated_day": None,
        "session": "",
        "yes": None,
        "no": None,
        "abstain": None,
        "present": None,
        "total_deputies": None,
        "passed": None,
        "voted_day": None,
        "budget_yuan": 0,
        "lead_unit": "",
        "started_day": None,
        "progress": 0,
        "spent_yuan": 0,
        "progress_day": None,
        "supervisions": 0,
        "satisfied": None,
        "basically_satisfied": None,
        "dissatisfied": None,
        "evaluated_day": None,
        "closed_day": None,
    }
    b.projects[pid] = state
    _snapshot_project(b, state, e, "proposed", occ)


def _project_step(name: str, apply: Callable[[dict[str, Any], Any, str], None]) -> Callable[[_Page, Any], None]:
    def handle(b: _Page, e: LeanEvent) -> None:
        state = b.projects.get(b.oid)
        if state is None:
            raise _Orphan(f"livelihood project {e.originator_id} was never proposed here")
        occ = b.occ(e)
        apply(state, e, _day(occ))
        _snapshot_project(b, state, e, name, occ)

    return handle


def _listed(state: dict[str, Any], e: LivelihoodProject.Listed, day: str) -> None:
    state.update(state="candidate", estimate_yuan=_yuan(e.estimate_wan))


def _deliberated(state: dict[str, Any], e: LivelihoodProject.Deliberated, day: str) -> None:
    state.update(state="deliberated", deliberated_day=day)


def _voted(state: dict[str, Any], e: LivelihoodProject.Voted, day: str) -> None:
    passed = passes(e.yes, e.total_deputies)
    state.update(
        state="passed" if passed else "rejected",
        session=e.session,
        yes=e.yes,
        no=e.no,
        abstain=e.abstain,
        present=e.present,
        total_deputies=e.total_deputies,
        passed=passed,
        voted_day=day,
    )


def _implementation(state: dict[str, Any], e: LivelihoodProject.ImplementationStarted, day: str) -> None:
    state.update(state="implementing", budget_yuan=_yuan(e.budget_wan), lead_unit=e.lead_unit, started_day=day)


def _progress(state: dict[str, Any], e: LivelihoodProject.ProgressReported, day: str) -> None:
    state.update(progress=e.progress, spent_yuan=_yuan(e.spent_wan), progress_day=day)


def _project_supervised(state: dict[str, Any], e: LivelihoodProject.Supervised, day: str) -> None:
    state["supervisions"] += 1


def _project_evaluated(state: dict[str, Any], e: LivelihoodProject.Evaluated, day: str) -> None:
    state.update(
        state="evaluated",
        satisfied=e.satisfied,
        basically_satisfied=e.basically_satisfied,
        dissatisfied=e.dissatisfied,
        evaluated_day=day,
    )


def _project_closed(state: dict[str, Any], e: LivelihoodProject.Closed, day: str) -> None:
    state.update(state="closed", closed_day=day)


_HANDLERS: dict[type, Callable[[_Page, Any], None]] = {
    Deputy.Registered: _deputy_registered,
    Deputy.MandateGranted: _mandate_granted,
    Deputy.CredentialsReviewed: _mandate_step("reviewed", "passed"),
    Deputy.MandateTerminated: _mandate_step("terminated", "reason"),
    Deputy.FlagsSet: _flags_set,
    StandingCommittee.Constituted: _sc_constituted,
    StandingCommittee.MemberAppointed: _member_appointed,
    StandingCommittee.MemberLeft: _member_left,
    Station.Established: _station_established,
    Station.DeputyEnrolled: _deputy_enrolled,
    Station.DeputyRemoved: _deputy_removed,
    Station.MergedInto: _merged_into,
    Station.Absorbed: _absorbed,
    Station.Closed: _station_closed,
    StationVisit.Recorded: _visit_recorded,
    StationVisit.IssueRaised: _issue_raised,
    StationVisit.IssueResolved: _issue_outcome("resolved"),
    StationVisit.IssueTransferred: _issue_outcome("transferred"),
    ContactActivity.Recorded: _contact_recorded,
    ContactActivity.OpinionRaised: _opinion_raised,
    ContactActivity.OpinionHandled: _opinion_step("handled"),
    ContactActivity.OpinionFedBack: _opinion_step("fed_back"),
    Suggestion.Submitted: _suggestion_submitted,
    Suggestion.Assigned: _suggestion_step("assigned", _assigned),
    Suggestion.HandlingStarted: _suggestion_step("handling", _handling_started),
    Suggestion.Replied: _suggestion_step("replied", _replied),
    Suggestion.Evaluated: _suggestion_step("evaluated", _evaluated),
    Suggestion.Solved: _suggestion_step("solved", _solved),
    Suggestion.MarkedPriority: _suggestion_step("priority", _priority),
    Suggestion.Supervised: _suggestion_step("supervised", _supervised),
    Suggestion.Closed: _suggestion_step("closed", _suggestion_closed),
    LivelihoodProject.Proposed: _project_proposed,
    LivelihoodProject.Listed: _project_step("listed", _listed),
    LivelihoodProject.Deliberated: _project_step("deliberated", _deliberated),
    LivelihoodProject.Voted: _project_step("voted", _voted),
    LivelihoodProject.ImplementationStarted: _project_step("implementing", _implementation),
    LivelihoodProject.ProgressReported: _project_step("progress", _progress),
    LivelihoodProject.Supervised: _project_step("supervised", _project_supervised),
    LivelihoodProject.Evaluated: _project_step("evaluated", _project_evaluated),
    LivelihoodProject.Closed: _project_step("closed", _project_closed),
}

#: Which page state an event of an aggregate created in an earlier page needs loaded.
_PREFETCH: dict[type, str] = {
    StationVisit.Recorded: "visits",
    ContactActivity.Recorded: "contacts",
    StationVisit.IssueRaised: "visits",
    StationVisit.IssueResolved: "visits",
    StationVisit.IssueTransferred: "visits",
    ContactActivity.OpinionRaised: "contacts",
    ContactActivity.OpinionHandled: "contacts",  # the opinion's year
    ContactActivity.OpinionFedBack: "contacts",
    **{cls: "suggestions" for cls in _HANDLERS if cls.__qualname__.startswith("Suggestion.")},
    **{cls: "projects" for cls in _HANDLERS if cls.__qualname__.startswith("LivelihoodProject.")},
}
_LOADERS: dict[str, Callable[[_Page, Sequence[str]], None]] = {
    "clock": _Page._load_clock,
    "visits": _Page._load_visits,
    "contacts": _Page._load_contacts,
    "suggestions": _Page._load_suggestions,
    "projects": _Page._load_projects,
}
