"""``yipanqi bench store``: appending simulated events through our store vs a bare batched insert.

Both paths write the same rows (the same bytes) into the same database, into tables of the same shape (the bare
table is created like the store's events table: same columns, keys, indexes and defaults), in transactions of the
same sizes, each timed after a full garbage collection: ours maps domain events to stored events, links each into
the node's hash chain and inserts them through the node's application recorder (with the chain's head and the
known-time span beside them); the bare path inserts the already-encoded rows, their chain column included, with
``executemany``.
Rounds alternate and the medians are reported.
"""

from __future__ import annotations

import gc
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
from psycopg import sql

from domain.base import DutyAggregate, NodeRef
from domain.hierarchy import Hierarchy
from domain.simulation import simulate
from domain.store import NodeStore, StoreSettings
from gateways.bench.services import throwaway_database

ROUNDS = 3
BENCH_REGION = "430582"  # 邵东市: a county with towns and streets
_START = date(2025, 1, 1)


def run_store_benchmark(*, events: int, batch: int, pg_dsn: str | None, log: Callable[[str], Any]) -> dict[str, Any]:
    hierarchy = Hierarchy.load()
    node = hierarchy.ref(hierarchy.by_code(BENCH_REGION))
    log(f"生成模拟事件 generating {events:,} simulated events…")
    result: dict[str, Any] = {"benchmark": "store", "events": events, "batch": batch, "rounds": ROUNDS}
    with tempfile.TemporaryDirectory(prefix="yipanqi-bench-") as tmp:
        log("SQLite…")
        result["sqlite"] = _measure(
            lambda r: StoreSettings(store="sqlite", data_dir=Path(tmp) / f"r{r}"), node, events, batch, _bare_sqlite
        )
    log("PostgreSQL…")
    with throwaway_database(pg_dsn, log) as dsn:
        result["postgres"] = _measure(lambda r: StoreSettings(store="postgres", pg_dsn=dsn), node, events, batch, _bare_postgres)
    result["goal_ratio"] = 0.5
    result["ok"] = all(result[b]["ratio"] >= 0.5 for b in ("sqlite", "postgres"))
    return result


def _measure(
    settings_for: Callable[[int], StoreSettings], node: NodeRef, events: int, batch: int, bare: Callable[..., float]
) -> dict[str, Any]:
    ours, raw = [], []
    for r in range(ROUNDS):
        chunks = list(_chunks(_simulated(events, seed=r), batch))
        sizes = [sum(len(a.pending_events) for a in chunk) for chunk in chunks]  # the bare path's transactions too
        store = NodeStore(_fresh_node(node), settings_for(r))
        try:
            gc.collect()  # neither path pays for the garbage of the set-up (here: the simulated aggregates)
            started = time.perf_counter()
            for chunk in chunks:
                store.save_all(chunk)
            ours.append(events / (time.perf_counter() - started))
            rows = _stored_rows(store)
            raw.append(bare(store, rows, sizes))
        finally:
            store.close()
    sizes = [len(row[3]) for row in rows]
    ours_median, raw_median = statistics.median(ours), statistics.median(raw)
    return {
        "events_per_s": round(ours_median),
        "bare_rows_per_s": round(raw_median),
        "ratio": round(ours_median / raw_median, 3),
        "rounds_events_per_s": [round(x) for x in ours],
        "rounds_bare_rows_per_s": [round(x) for x in raw],
        "mean_state_bytes": round(statistics.mean(sizes)),
    }


def _stored_rows(store: NodeStore) -> list[tuple[Any, ...]]:
    """Every row as the store holds it: aggregate id, version, topic, stored bytes and the ``chain`` column (the
    link our path computed; the bare path inserts the same bytes without computing anything)."""
    rows: list[tuple[Any, ...]] = []
    start = 1
    while page := store.books.log_page(start, 10_000):
        rows.extend(row[1:] for row in page)
        start = page[-1][0] + 1
    return rows


def _fresh_node(node: NodeRef) -> NodeRef:
    """A new identity per round, so each round starts with empty tables."""
    return NodeRef(uuid4(), node.code, node.name, node.level, node.kind)


def _simulated(events: int, seed: int) -> Iterator[DutyAggregate]:
    """Aggregates with pending events from the simulator, until ``events`` events are gathered."""
    hierarchy = Hierarchy.load()
    region = hierarchy.by_code(BENCH_REGION)
    nodes = [hierarchy.ref(d) for d in hierarchy.subtree(region)]
    gathered = 0
    for batch in simulate(nodes, days=3650, start=_START, seed=seed):
        for aggregate in batch.aggregates:
            pending = len(aggregate.pending_events)
            if gathered + pending > events:
                del aggregate.pending_events[events - gathered :]
                pending = events - gathered
            if pending:
                # Detach from the simulator's live object: it goes on mutating it after yielding.
                yield _snapshot_pending(aggregate)
                gathered += pending
            if gathered >= events:
                return
    raise RuntimeError(f"the simulator produced only {gathered} events")


def _snapshot_pending(aggregate: DutyAggregate) -> DutyAggregate:
    copy = object.__new__(type(aggregate))
    copy.__dict__.update(aggregate.__dict__)
    copy.__dict__["_pending_events"] = aggregate.collect_events()
    return copy


def _chunks(aggregates: Iterator[DutyAggregate], size: int) -> Iterator[list[DutyAggregate]]:
    chunk: list[DutyAggregate] = []
    count = 0
    for aggregate in aggregates:
        chunk.append(aggregate)
        count += len(aggregate.pending_events)
        if count >= size:
            yield chunk
            chunk, count = [], 0
    if chunk:
        yield chunk


def _transactions(rows: list[Any], sizes: list[int]) -> Iterator[list[Any]]:
    start = 0
    for size in sizes:
        yield rows[start : start + size]
        start += size
    assert start == len(rows), (start, len(rows))


def _bare_sqlite(store: NodeStore, rows: list[tuple[Any, ...]], sizes: list[int]) -> float:
    db = store.env.get("SQLITE_DBNAME")
    assert db is not None, "a store on SQLite names its database file"
    events_table = store.recorder.events_table_name  # type: ignore[attr-defined]
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        # The events table's own CREATE statement, renamed: the same columns, keys and rowid.
        (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (events_table,)).fetchone()
        conn.execute(ddl.replace(events_table, "bare_events", 1).replace("IF NOT EXISTS ", ""))
        gc.collect()
        started = time.perf_counter()
        for chunk in _transactions(rows, sizes):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO bare_events (originator_id, originator_version, topic, state, chain) VALUES (?, ?, ?, ?, ?)",
                chunk,
            )
            conn.execute("COMMIT")
        return len(rows) / (time.perf_counter() - started)
    finally:
        conn.close()


def _bare_postgres(store: NodeStore, rows: list[tuple[Any, ...]], sizes: list[int]) -> float:
    env = store.env
    recorder: Any = store.recorder
    events_table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
    table = sql.Identifier(f"bare_{store.name}")
    insert = sql.SQL(
        "INSERT INTO {} (originator_id, originator_version, topic, state, chain) VALUES (%s, %s, %s, %s, %s)"
    ).format(table)
    with psycopg.connect(
        host=env.get("POSTGRES_HOST"),
        port=env.get("POSTGRES_PORT"),
        dbname=env.get("POSTGRES_DBNAME"),
        user=env.get("POSTGRES_USER"),
        password=env.get("POSTGRES_PASSWORD"),
        autocommit=True,
    ) as conn:
        # Like the events table: the same columns, primary key, notification id (bigserial) and its unique index.
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(table, events_table))
        gc.collect()
        started = time.perf_counter()
        for chunk in _transactions(rows, sizes):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(insert, chunk)
        return len(rows) / (time.perf_counter() - started)
