"""Keeping a node's read models: catch up incrementally, rebuild from the log aside and swap, or build a copy cut at
a point in time (the audit replay that as-of views must agree with).

A rebuild goes on while the node keeps writing: it projects the whole log into an aside database (a new SQLite file
or PostgreSQL schema) without holding anything, builds its indexes, then takes the live database's writer lock,
projects the few events written meanwhile, and swaps the aside copy in atomically (``os.replace`` of the file; two
schema renames in one transaction). Readers see the old views until the swap and the new ones after it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings
from domain.timeline import start_of
from projections.db import ProjectionDB
from projections.decode import LeanEvent
from projections.projector import DEFAULT_BATCH, Projector, RunStats
from projections.projector.run import Keep
from projections.queries.scope import Clock
from projections.timeutil import us

BULK_BATCH = 20_000  # events per transaction of an aside build (nobody reads it: fewer, bigger commits)


def open_live(store: NodeStore, settings: StoreSettings | None = None, hierarchy: Hierarchy | None = None) -> ProjectionDB:
    return ProjectionDB(store.node, settings or store.settings, hierarchy=hierarchy).open()


def update(
    store: NodeStore,
    settings: StoreSettings | None = None,
    *,
    hierarchy: Hierarchy | None = None,
    batch: int = DEFAULT_BATCH,
    db: ProjectionDB | None = None,
) -> RunStats:
    """Catch the node's live read models up with its log (creating them if need be). Read models that hold nothing
    yet (new, or emptied by a migration) are built as a rebuild does, aside in bulk: several times faster than
    catching up page by page, and the same content."""
    db = db or open_live(store, settings, hierarchy)
    if db.position() == 0 and store.max_position():
        built = rebuild(store, settings or db.settings, hierarchy=hierarchy or db.hierarchy, live=db)
        problems: Counter[tuple[str, str]] = Counter()
        for key, n in built["problems"].items():
            reason, _, topic = key.partition(":")
            problems[(reason, topic)] = n
        return RunStats(
            read=built["events"],
            projected=built["projected"],
            skipped=built["skipped"],
            problems=problems,
            seconds=built["seconds"],
            position=built["position"],
        )
    return Projector(store, db, batch=batch, hierarchy=hierarchy).run()


def rebuild(
    store: NodeStore,
    settings: StoreSettings | None = None,
    *,
    hierarchy: Hierarchy | None = None,
    batch: int = BULK_BATCH,
    log: Callable[[str], Any] | None = None,
    before_swap: Callable[[], Any] | None = None,
    live: ProjectionDB | None = None,
) -> dict[str, Any]:
    """Rebuild the node's read models (``live``: a copy of them) from its whole log, aside, then swap them in.
    Returns timings and counts."""
    settings = settings or store.settings
    say = log or (lambda _: None)
    live = live or ProjectionDB(store.node, settings, hierarchy=hierarchy)
    variant = f"{live.variant}_rebuild" if live.variant else "rebuild"
    aside = ProjectionDB(store.node, settings, variant=variant, hierarchy=hierarchy).bulk_mode()
    started = time.perf_counter()
    with aside.writer_lock():  # one rebuild of a node at a time
        aside.drop()  # what a crashed rebuild left behind
        aside.open()
        aside.drop_secondary_indexes()
        projector = Projector(store, aside, batch=batch, hierarchy=hierarchy)
        projector.deferred = True
        bulk = projector.run(lock=False)
        say(f"重建 rebuilt {bulk.read:,} events aside in {bulk.seconds:.1f} s; indexing…")
        finishing = time.perf_counter()
        projector.materialize_current()
        indexed = time.perf_counter()
        aside.create_secondary_indexes()
        index_s = time.perf_counter() - indexed
        finish_s = indexed - finishing
        if before_swap is not None:
            before_swap()
        with live.writer_lock():
            tail = projector.run(lock=False)  # what was written meanwhile
            aside.durable()
            swapped = time.perf_counter()
            _swap(live, aside)
            swap_s = time.perf_counter() - swapped
    total = time.perf_counter() - started
    return {
        "events": bulk.read + tail.read,
        "projected": bulk.projected + tail.projected,
        "skipped": bulk.skipped + tail.skipped,
        "caught_up": tail.read,
        "position": tail.position or bulk.position,
        "seconds": round(total, 3),
        "bulk_seconds": round(bulk.seconds, 3),
        "finish_seconds": round(finish_s, 3),  # what the bulk build kept in memory, written
        "index_seconds": round(index_s, 3),
        "swap_seconds": round(swap_s, 4),
        "events_per_s": round((bulk.read + tail.read) / total) if total else None,
        "problems": {f"{r}:{t}": n for (r, t), n in (bulk.problems + tail.problems).items()},
        "where": live.where,
    }


def _swap(live: ProjectionDB, aside: ProjectionDB) -> None:
    if live.path is not None:
        assert aside.path is not None
        aside.dispose()
        if live.path.exists():
            with contextlib.suppress(Exception), live.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        live.dispose()
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{aside.path}{suffix}")
        os.replace(aside.path, live.path)
        for suffix in ("-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{live.path}{suffix}")
        return
    old = f"{live.schema}_old"
    with live.engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{old}" CASCADE'))
        exists = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :n"), {"n": live.schema}).first()
        if exists:
            conn.execute(sa.text(f'ALTER SCHEMA "{live.schema}" RENAME TO "{old}"'))
        conn.execute(sa.text(f'ALTER SCHEMA "{aside.schema}" RENAME TO "{live.schema}"'))
        if exists:
            conn.execute(sa.text(f'DROP SCHEMA "{old}" CASCADE'))
    aside.dispose()


def _occurred_before(cut: int) -> Keep:
    """The events that had happened by ``cut`` (their effective occurred times, as the projector computes them: called
    in log order). By occurred time a correction changes the past: one of a fact on this side holds from the fact (a
    deputy's category from its ``effective_from``), whenever it was recorded; a void of a record on this side always
    (the record never was)."""
    clock: dict[str, int] = {}
    held: dict[str, set[int]] = defaultdict(set)  # the versions kept of each aggregate

    def keep(event: LeanEvent, topic: str) -> bool:
        oid = event.originator_id
        if topic.endswith(".Voided"):
            return bool(held[oid])
        if topic.endswith(".Corrected"):
            since = event.effective_from
            return event.version in held[oid] and (since is None or us(start_of(date.fromisoformat(since))) <= cut)
        occurred = max(event.occurred_at, clock.get(oid, -(2**62)))
        clock[oid] = occurred
        if occurred > cut:
            return False
        held[oid].add(event.originator_version)
        return True

    return keep


def build_cut(
    store: NodeStore,
    settings: StoreSettings | None = None,
    *,
    at: datetime | int,
    by: Clock = "recorded",
    variant: str = "cut",
    hierarchy: Hierarchy | None = None,
    batch: int = DEFAULT_BATCH,
) -> ProjectionDB:
    """A separate projection of only the events on this side of ``at`` (by the clock ``by``): what the views were
    at that time, rebuilt. As-of queries on the live views must agree with plain queries on this copy."""
    cut = at if isinstance(at, int) else us(at)
    db = ProjectionDB(store.node, settings or store.settings, variant=variant, hierarchy=hierarchy).bulk_mode()
    db.drop()
    db.open()
    keep: Keep
    if by == "recorded":
        keep = lambda event, _: event.timestamp <= cut  # noqa: E731
    elif by == "known":
        keep = lambda event, _: event.known_at <= cut  # noqa: E731
    else:
        keep = _occurred_before(cut)

    projector = Projector(store, db, batch=batch, hierarchy=hierarchy)
    projector.deferred = True
    projector.run(keep=keep, lock=False)
    projector.materialize_current()
    db.durable()
    return db
