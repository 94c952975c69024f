"""The projector: a node's log, in order, into its read models, exactly once.

It reads the notification log from the position its database holds, in pages (``batch`` events); skips the events
no view needs by their topic string, before decoding them; decodes the rest through the store's own mapper
(``store.mapper.to_domain_event``: whatever transcoder and upcasters the store has); folds them into rows; and writes
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
import structlog
from eventsourcing.utils import get_topic
from sqlalchemy.engine import Connection

from domain.bodies import StandingCommittee
from domain.contacts import Channel, ContactActivity, ContactKind, OrganiserKind
from domain.deputies import Deputy
from domain.hierarchy import Hierarchy
from domain.livelihood import LivelihoodProject, passes
from domain.stations import Station
from domain.store import NodeStore
from domain.suggestions import Suggestion
from domain.visits import StationVisit
from projections import schema as s
from projections.db import MAIN, ProjectionDB
from projections.timeutil import CST, EPOCH, ONE_US, us

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
ORGAN_TO_DEPUTY = frozenset({ContactKind.ORGAN_MEETING.value, ContactKind.FIELD_RESEARCH.value})
DEPUTY_MARKS = {
    ContactKind.PRACTICAL_DEED.value: "deed",
    ContactKind.GROUP_ACTIVITY.value: "group",
    ContactKind.CONSTITUENT_REPORT.value: "report",
}

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


def _yuan(amount: Decimal) -> int:
    return int((Decimal(amount) * 10000).to_integral_value())


def _hex(value: UUID | None) -> str | None:
    return None if value is None else value.hex


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
        self.owner_hex: dict[UUID, str] = {}
        self._sql: dict[str, str] = {}
        #: Bulk builds (aside) write the current tables of suggestions and projects once, at the end, from their
        #: snapshots, instead of upserting them page by page.
        self.deferred = False
        self.deferred_marks: dict[tuple[str, int, str], list[Any]] = {}
        self.dirty_clock: set[str] = set()
        self.broken = False  # a page failed during a deferred (bulk) run: what it deferred cannot be trusted
        self._wrote_marks = self._wrote_clock = False
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
        keep: Callable[[Any], bool] | None = None,
        max_batches: int | None = None,
        lock: bool = True,
    ) -> RunStats:
        """Catch up with the log (up to notification ``stop`` if given). ``keep`` leaves events out (as-of builds)."""
        stats = RunStats()
        started = time.perf_counter()
        position = 0
        gc_was = gc.isenabled()
        gc.disable()  # millions of short-lived objects, big caches and no cycles: collections would only cost time
        try:
            position = self._run(stats, stop, keep, max_batches, lock)
        finally:
            if gc_was:
                gc.enable()
        stats.position = position
        stats.seconds = time.perf_counter() - started
        if stats.problems:
            for (reason, topic), n in stats.problems.items():
                log.warning("projection.skipped", node=self.store.node.code, reason=reason, topic=topic, count=n)
        return stats

    def _run(
        self, stats: RunStats, stop: int | None, keep: Callable[[Any], bool] | None, max_batches: int | None, lock: bool
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

    def _project_page(self, page: Sequence[Any], stats: RunStats, keep: Callable[[Any], bool] | None, expected: int) -> int:
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
        if len(self.deferred_marks) > _DEFERRED_MARKS:
            self._write_deferred(clock=False)
        return position

    def clear_cache(self) -> None:
        for cached in self.cache.values():
            cached.clear()
        self._cached_at = -1
        self.complete = False

    def _handle_with_prefetch(self, batch: _Page, page: Sequence[Any], decode: Callable[[Any], Any], handle: Any) -> None:
        """Decode the page, load in bulk what its events need from earlier pages, then handle them."""
        prefetch_kind = self.prefetch_kind
        cache = self.cache
        clock = cache["clock"]
        want: dict[str, set[str]] = defaultdict(set)
        created: set[str] = set()
        decoded = []
        for notification in page:
            found = decode(notification)
            if found is None:
                continue
            event = found[1]
            key = event.originator_id.hex
            topic = notification.topic
            decoded.append((found[0], event, key, topic))
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
        for handler, event, key, topic in decoded:
            handle(batch, handler, event, key, topic)

    def _project_page_unsafe(
        self, page: Sequence[Any], stats: RunStats, keep: Callable[[Any], bool] | None, expected: int
    ) -> int:
        handlers = self.handlers
        to_domain_event = self.store.mapper.to_domain_event
        problems: Counter[tuple[str, str]] = Counter()
        details: dict[tuple[str, str], str] = {}
        last_position: dict[tuple[str, str], int] = {}
        counts = [0, 0, 0]  # skipped, cut, projected

        def decode(notification: Any) -> tuple[Callable[[_Page, Any], None], Any] | None:
            topic = notification.topic
            handler = handlers.get(topic)
            if handler is None:
                if topic in UNNEEDED_TOPICS or topic in KNOWN_TOPICS:
                    counts[0] += 1
                else:
                    problems[("unknown", topic)] += 1
                    last_position[("unknown", topic)] = notification.id
                    details[("unknown", topic)] = "no projector handles this event type (newer code?)"
                return None
            try:
                event = to_domain_event(notification)
            except Exception as e:  # noqa: BLE001 - a poison event is counted, never a crash
                problems[("undecodable", topic)] += 1
                last_position[("undecodable", topic)] = notification.id
                details[("undecodable", topic)] = repr(e)[:500]
                return None
            if keep is not None and not keep(event):
                counts[1] += 1
                return None
            return handler, event

        def handle(batch: _Page, handler: Callable[[_Page, Any], None], event: Any, key: str, topic: str) -> None:
            batch.oid = key
            owner = event.owner
            batch.owner = owners.get(owner) or owners.setdefault(owner, owner.hex)
            try:
                handler(batch, event)
                counts[2] += 1
            except _Orphan as e:
                problems[("orphan", topic)] += 1
                details[("orphan", topic)] = str(e)[:500]
            except Exception as e:  # noqa: BLE001 - a handler bug or a newer payload: counted, never a crash
                problems[("failed", topic)] += 1
                details[("failed", topic)] = repr(e)[:500]
                log.warning("projection.handler_failed", topic=topic, error=repr(e))

        owners = self.owner_hex
        with self.db.begin() as conn:
            current = conn.execute(sa.select(s.projection_state.c.position).where(s.projection_state.c.name == MAIN)).scalar()
            if (current or 0) != expected:
                # Another writer moved the position since we read it: its work stands, ours is dropped.
                raise ConcurrentProjection(f"position moved from {expected} to {current} under us")
            batch = _Page(self, conn)
            if self.complete:
                # Everything since position 0 went through this process's caches: a miss is an unknown aggregate,
                # not one to look up; decode and handle in one pass (the hot loop of a rebuild, so written out).
                for notification in page:
                    topic = notification.topic
                    handler = handlers.get(topic)
                    if handler is None or keep is not None:
                        found = decode(notification)  # skipped, unknown, or cut: decode() counts it
                        if found is not None:
                            handle(batch, found[0], found[1], found[1].originator_id.hex, topic)
                        continue
                    try:
                        event = to_domain_event(notification)
                    except Exception:  # noqa: BLE001 - decode() counts the poison event again, never a crash
                        decode(notification)
                        continue
                    batch.oid = event.originator_id.hex
                    owner = event.owner
                    batch.owner = owners.get(owner) or owners.setdefault(owner, owner.hex)
                    try:
                        handler(batch, event)
                        counts[2] += 1
                    except _Orphan as e:
                        problems[("orphan", topic)] += 1
                        details[("orphan", topic)] = str(e)[:500]
                    except Exception as e:  # noqa: BLE001 - a handler bug or a newer payload: counted, never a crash
                        problems[("failed", topic)] += 1
                        details[("failed", topic)] = repr(e)[:500]
                        log.warning("projection.handler_failed", topic=topic, error=repr(e))
            else:
                self._handle_with_prefetch(batch, page, decode, handle)
            batch.flush()
            position = page[-1].id
            skipped, cut, projected = counts
            self._save_state(conn, position, projected, skipped, sum(problems.values()))
            for key, n in problems.items():
                self._save_problem(conn, key, n, last_position.get(key) or position, details.get(key, ""))
        stats.read += len(page)
        stats.projected += projected
        stats.skipped += skipped
        stats.cut += cut
        stats.problems.update(problems)
        return position

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
                conn.exec_driver_sql(sql, [(*k, *self.deferred_marks[k]) for k in sorted(self.deferred_marks)])
                self.deferred_marks.clear()
                self._wrote_marks = True
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
        self._write_deferred()
        self._write_states(self.cache["suggestions"].values(), self.cache["projects"].values())
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


class ConcurrentProjection(RuntimeError):
    """Two writers projected the same database at once (they should hold its writer lock)."""


class _Orphan(Exception):
    """An event of an aggregate the projection has never seen created (a cut build, or a lost creation)."""


# ===================================================================================================== a page

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
        self.contacts: dict[str, list[Any]] = cache["contacts"]  # contact id -> [kind, opinions so far]
        self.suggestions: dict[str, dict[str, Any]] = cache["suggestions"]
        self.projects: dict[str, dict[str, Any]] = cache["projects"]
        self.latest_day = ""  # the latest day of activity seen (contacts, visits, suggestions)
        self.oid = ""  # the current event's aggregate id (hex), set before each handler
        self.owner = ""  # and its owner node (hex)
        self.clock: dict[str, int] = cache["clock"]  # aggregate id -> effective occurred time of its latest event
        self.touched_clock: set[str] = set()
        self.touched_suggestions: set[str] = set()
        self.touched_projects: set[str] = set()

    def occ(self, e: Any) -> int:
        """The event's effective occurred time: its own, or its aggregate's latest if that is later."""
        occurred = (e.occurred_at - EPOCH) // ONE_US
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
        opinions = f"(SELECT count(*) FROM {o} x WHERE x.contact_id = c.contact_id)"
        sql = f"SELECT contact_id, kind, {opinions} FROM {c} c WHERE contact_id IN (?)"
        for contact_id, kind, opinions in self.select(sql, ids):
            self.contacts[contact_id] = [kind, opinions]

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
        closed_s = [sid for sid in self.touched_suggestions if self.suggestions[sid]["state"] == "closed"]
        closed_p = [pid for pid in self.touched_projects if self.projects[pid]["state"] == "closed"]
        if p.deferred and (closed_s or closed_p):  # their current rows, once, now that they are final
            p._write_states([self.suggestions[i] for i in closed_s], [self.projects[i] for i in closed_p], conn)
        for sid in closed_s:
            del self.suggestions[sid]
        for pid in closed_p:
            del self.projects[pid]


# ============================================================================================ the handlers

# Deputies ------------------------------------------------------------------------------------------------


def _deputy_registered(b: _Page, e: Deputy.Registered) -> None:
    rec, occ = us(e.timestamp), b.occ(e)
    node, home = b.owner, e.home_node.hex
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
    ]
    b.inserts["deputy_flags"].append((deputy_id, e.originator_version, e.grassroots, e.leading_cadre, rec, occ))


def _flags_set(b: _Page, e: Deputy.FlagsSet) -> None:
    rec, occ = us(e.timestamp), b.occ(e)
    deputy_id = b.oid
    b.inserts["deputy_flags"].append((deputy_id, e.originator_version, e.grassroots, e.leading_cadre, rec, occ))
    row = b.deputies.get(deputy_id)
    if row is not None:
        row[8], row[9] = e.grassroots, e.leading_cadre
    else:
        b.update(s.deputies, "grassroots = ?, leading_cadre = ?", "deputy_id = ?", (e.grassroots, e.leading_cadre, deputy_id))


def _mandate_granted(b: _Page, e: Deputy.MandateGranted) -> None:
    deputy_id = b.oid
    b.mandates[(deputy_id, e.congress, e.term)] = {
        "deputy_id": deputy_id,
        "congress": e.congress,
        "term": e.term,
        "node_id": b.owner,
        "elected_by": e.elected_by,
        "via": e.via,
        "granted_rec": us(e.timestamp),
        "granted_occ": b.occ(e),
        "reviewed_rec": None,
        "reviewed_occ": None,
        "passed": None,
        "terminated_rec": None,
        "terminated_occ": None,
        "reason": None,
    }


def _credentials_reviewed(b: _Page, e: Deputy.CredentialsReviewed) -> None:
    rec, occ = us(e.timestamp), b.occ(e)
    key = (b.oid, e.congress, e.term)
    mandate = b.mandates.get(key)
    if mandate is not None:
        mandate.update(reviewed_rec=rec, reviewed_occ=occ, passed=e.passed)
    else:
        b.update(
            s.mandates,
            "reviewed_rec = ?, reviewed_occ = ?, passed = ?",
            "deputy_id = ? AND congress = ? AND term = ?",
            (rec, occ, e.passed, *key),
        )


def _mandate_terminated(b: _Page, e: Deputy.MandateTerminated) -> None:
    rec, occ = us(e.timestamp), b.occ(e)
    key = (b.oid, e.congress, e.term)
    mandate = b.mandates.get(key)
    if mandate is not None:
        mandate.update(terminated_rec=rec, terminated_occ=occ, reason=e.reason)
    else:
        b.update(
            s.mandates,
            "terminated_rec = ?, terminated_occ = ?, reason = ?",
            "deputy_id = ? AND congress = ? AND term = ?",
            (rec, occ, e.reason, *key),
        )


# Standing committees --------------------------------------------------------------------------------------


def _sc_constituted(b: _Page, e: StandingCommittee.Constituted) -> None:
    b.inserts["standing_committees"].append((b.oid, b.owner, e.term, e.level, us(e.timestamp), b.occ(e)))


def _member_appointed(b: _Page, e: StandingCommittee.MemberAppointed) -> None:
    row = {
        "sc_id": b.oid,
        "member_id": e.member_id,
        "version": e.originator_version,
        "node_id": b.owner,
        "name": e.name,
        "post": e.post,
        "appointed_rec": us(e.timestamp),
        "appointed_occ": b.occ(e),
        "left_rec": None,
        "left_occ": None,
    }
    b.members.append(row)
    b.open_members[(row["sc_id"], e.member_id)] = row


def _member_left(b: _Page, e: StandingCommittee.MemberLeft) -> None:
    rec, occ = us(e.timestamp), b.occ(e)
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


def _station_established(b: _Page, e: Station.Established) -> None:
    occ = b.occ(e)
    station_id = b.oid
    b.stations[station_id] = {
        "station_id": station_id,
        "node_id": b.owner,
        "name": e.name,
        "address": e.address,
        "day": _day(occ),
        "recorded_at": us(e.timestamp),
        "occurred_at": occ,
        "successor_id": None,
        "merged_rec": None,
        "merged_occ": None,
        "closed_rec": None,
        "closed_occ": None,
    }


def _enrol(b: _Page, station_id: str, deputy_id: str, name: str, congress: str, e: Any) -> None:
    row = {
        "station_id": station_id,
        "deputy_id": deputy_id,
        "version": e.originator_version,
        "node_id": b.owner,
        "deputy_name": name,
        "congress": congress,
        "since_rec": us(e.timestamp),
        "since_occ": b.occ(e),
        "until_rec": None,
        "until_occ": None,
    }
    b.enrolments.append(row)
    b.open_enrolments[(station_id, deputy_id)] = row


def _deputy_enrolled(b: _Page, e: Station.DeputyEnrolled) -> None:
    _enrol(b, b.oid, e.deputy_id.hex, e.deputy_name, e.congress, e)


def _deputy_removed(b: _Page, e: Station.DeputyRemoved) -> None:
    rec, occ = us(e.timestamp), b.occ(e)
    station_id, deputy_id = b.oid, e.deputy_id.hex
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


def _merged_into(b: _Page, e: Station.MergedInto) -> None:
    rec, occ = us(e.timestamp), b.occ(e)
    station_id = b.oid
    row = b.stations.get(station_id)
    if row is not None:
        row.update(successor_id=e.successor_id.hex, merged_rec=rec, merged_occ=occ)
    else:
        b.update(
            s.stations,
            "successor_id = ?, merged_rec = ?, merged_occ = ?",
            "station_id = ?",
            (e.successor_id.hex, rec, occ, station_id),
        )
    for key in [k for k in b.open_enrolments if k[0] == station_id]:
        b.open_enrolments.pop(key).update(until_rec=rec, until_occ=occ)
    b.update(
        s.station_enrolments,
        "until_rec = ?, until_occ = ?",
        "station_id = ? AND until_rec IS NULL AND version < ?",
        (rec, occ, station_id, e.originator_version),
    )


def _absorbed(b: _Page, e: Station.Absorbed) -> None:
    merged = e.merged_id.hex
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


def _station_closed(b: _Page, e: Station.Closed) -> None:
    rec, occ = us(e.timestamp), b.occ(e)
    station_id = b.oid
    row = b.stations.get(station_id)
    if row is not None:
        row.update(closed_rec=rec, closed_occ=occ)
    else:
        b.update(s.stations, "closed_rec = ?, closed_occ = ?", "station_id = ?", (rec, occ, station_id))


# Station visits -------------------------------------------------------------------------------------------


def _visit_recorded(b: _Page, e: StationVisit.Recorded) -> None:
    rec, occ = us(e.timestamp), b.occ(e)
    visit_id, node, station_id = b.oid, b.owner, e.station_id.hex
    day = e.visit_date.isoformat()
    year = e.visit_date.year
    b.inserts["visits"].append((visit_id, node, station_id, day, year, e.people_received, len(e.deputy_ids), rec, occ))
    b.inserts["visit_deputies"].extend((visit_id, d.hex, node, station_id, day, year, rec, occ) for d in e.deputy_ids)
    b.visits[visit_id] = [station_id, 0]
    if day > b.latest_day:
        b.latest_day = day


def _visit(b: _Page, e: Any) -> list[Any]:
    info = b.visits.get(b.oid)
    if info is None:
        raise _Orphan(f"visit {e.originator_id} was never recorded here")
    return info


def _issue_raised(b: _Page, e: StationVisit.IssueRaised) -> None:
    info = _visit(b, e)
    occ = b.occ(e)
    day = _day(occ)
    info[1] += 1
    b.inserts["visit_issues"].append((b.oid, info[1], b.owner, info[0], e.category, day, int(day[:4]), us(e.timestamp), occ))


def _issue_outcome(outcome: str) -> Callable[[_Page, Any], None]:
    def handle(b: _Page, e: Any) -> None:
        info = _visit(b, e)
        occ = b.occ(e)
        to_unit = getattr(e, "to_unit", "")
        b.inserts["visit_issue_outcomes"].append(
            (b.oid, e.number, b.owner, info[0], outcome, to_unit, _day(occ), us(e.timestamp), occ)
        )

    return handle


# Contacts -------------------------------------------------------------------------------------------------


def _contact_recorded(b: _Page, e: ContactActivity.Recorded) -> None:
    rec, occ = us(e.timestamp), b.occ(e)
    contact_id, node = b.oid, b.owner
    kind, channel, organiser_kind = e.kind, e.channel, e.organiser_kind
    day, year = e.held_on.isoformat(), e.held_on.year
    face = channel in FACE_TO_FACE
    deputy_ids = [d.hex for d in e.deputy_ids]
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
    b.contacts[contact_id] = [kind, 0]
    if day > b.latest_day:
        b.latest_day = day
    mark = b.mark
    deputy_mark = DEPUTY_MARKS.get(kind)
    if deputy_mark is None and kind in ORGAN_TO_DEPUTY and organiser_kind in ORGANS:
        deputy_mark = "organ"
    if deputy_mark is not None:
        for d in deputy_ids:
            mark(deputy_mark, year, d, node, rec, occ)
    if kind in ORGAN_TO_DEPUTY:
        if organiser_kind in SC_MEMBER_ORGANISERS and face:
            mark("f2f", year, f"{node}:{e.organiser_id}", node, rec, occ)
        if kind == "field_research" and organiser_kind in RESEARCH_ORGANISERS:
            mark("research", year, node, node, rec, occ)


def _opinion_raised(b: _Page, e: ContactActivity.OpinionRaised) -> None:
    info = b.contacts.get(b.oid)
    if info is None:
        raise _Orphan(f"contact {e.originator_id} was never recorded here")
    occ = b.occ(e)
    day = _day(occ)
    info[1] += 1
    b.inserts["opinions"].append(
        (b.oid, info[1], b.owner, _hex(e.deputy_id), info[0], e.text, day, int(day[:4]), us(e.timestamp), occ)
    )


def _opinion_handled(b: _Page, e: ContactActivity.OpinionHandled) -> None:
    occ = b.occ(e)
    b.inserts["opinion_steps"].append((b.oid, e.number, "handled", b.owner, e.handling, e.unit, _day(occ), us(e.timestamp), occ))


def _opinion_fed_back(b: _Page, e: ContactActivity.OpinionFedBack) -> None:
    occ = b.occ(e)
    b.inserts["opinion_steps"].append((b.oid, e.number, "fed_back", b.owner, "", "", _day(occ), us(e.timestamp), occ))


# Suggestions ----------------------------------------------------------------------------------------------


def _suggestion(b: _Page, e: Any) -> dict[str, Any]:
    sid = b.oid
    state = b.suggestions.get(sid)
    if state is None:
        raise _Orphan(f"suggestion {e.originator_id} was never submitted here")
    return state


def _snapshot_suggestion(b: _Page, state: dict[str, Any], e: Any, name: str, occ: int) -> None:
    rec = us(e.timestamp)
    state["version"], state["recorded_at"], state["occurred_at"] = e.originator_version, rec, occ
    sid = state["suggestion_id"]
    b.touched_suggestions.add(sid)
    b.inserts["suggestion_snapshots"].append((*_SUGGESTION_SNAPSHOT(state), name))


def _suggestion_submitted(b: _Page, e: Suggestion.Submitted) -> None:
    rec, occ = us(e.timestamp), b.occ(e)
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
        "lead_deputy_id": e.lead_deputy_id.hex,
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
    signers.append((sid, e.lead_deputy_id.hex, "lead", node, day, year, rec, occ))
    signers.extend((sid, d.hex, "co", node, day, year, rec, occ) for d in e.co_deputy_ids)
    _snapshot_suggestion(b, state, e, "submitted", occ)


def _suggestion_step(name: str, apply: Callable[[dict[str, Any], Any, str], None]) -> Callable[[_Page, Any], None]:
    def handle(b: _Page, e: Any) -> None:
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
        due_on=e.due_on.isoformat(),
        assigned_day=day,
    )


def _handling_started(state: dict[str, Any], e: Suggestion.HandlingStarted, day: str) -> None:
    state.update(state="in_handling", handling_day=e.contacted_on.isoformat())


def _replied(state: dict[str, Any], e: Suggestion.Replied, day: str) -> None:
    day = e.replied_on.isoformat()
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
    state.update(state="evaluated", solved_day=e.solved_on.isoformat())


def _priority(state: dict[str, Any], e: Suggestion.MarkedPriority, day: str) -> None:
    state.update(priority=True, leader=e.leader)


def _supervised(state: dict[str, Any], e: Suggestion.Supervised, day: str) -> None:
    state["supervisions"] += 1


def _suggestion_closed(state: dict[str, Any], e: Suggestion.Closed, day: str) -> None:
    state.update(state="closed", closed_day=day)


# Livelihood projects --------------------------------------------------------------------------------------


def _snapshot_project(b: _Page, state: dict[str, Any], e: Any, name: str, occ: int) -> None:
    state["version"], state["recorded_at"], state["occurred_at"] = e.originator_version, us(e.timestamp), occ
    pid = state["project_id"]
    b.touched_projects.add(pid)
    b.inserts["project_snapshots"].append((*_PROJECT_SNAPSHOT(state), name))


def _project_proposed(b: _Page, e: LivelihoodProject.Proposed) -> None:
    rec, occ = us(e.timestamp), b.occ(e)
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
    def handle(b: _Page, e: Any) -> None:
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
    Deputy.CredentialsReviewed: _credentials_reviewed,
    Deputy.MandateTerminated: _mandate_terminated,
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
    ContactActivity.OpinionHandled: _opinion_handled,
    ContactActivity.OpinionFedBack: _opinion_fed_back,
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
