"""``yipanqi bench store``: appending simulated events through our store vs a bare batched insert.

Both paths write the same rows (the same bytes) into the same database, into tables of the same shape (the bare
table is created like the store's events table: same columns, keys, indexes and defaults), in transactions of the
same sizes, each timed after a full garbage collection: ours seals the personal data of the public some events hold
(``domain.privacy``: their data keys written beside them), maps domain events to stored events, links each into
the node's hash chain and inserts them through the node's application recorder (with the chain's head, the
known-time span and the data keys beside them); the bare path inserts the already-encoded rows, their chain column
included, with ``executemany``, and the same data keys into a table of the key table's shape, as ours does.
The two paths take turns transaction by transaction (ours, then the bare insert of the rows ours just stored), so
both run on the machine as it is at that moment; each round sums each path's time, and the medians of the rounds are
reported. ``sealing`` in the JSON: what the sealing part of our path costs per event, measured alone.
"""

from __future__ import annotations

import gc
import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, Protocol
from uuid import uuid4

import psycopg
from psycopg import sql

from domain.base import DutyAggregate, NodeRef
from domain.hierarchy import Hierarchy
from domain.persistence import DataKeyRow
from domain.persistence.datakeys import KeyMinter
from domain.privacy import PERSONAL, seal_events
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
            lambda r: StoreSettings(store="sqlite", data_dir=Path(tmp) / f"r{r}"), node, events, batch, BareSQLite
        )
    log("PostgreSQL…")
    with throwaway_database(pg_dsn, log) as dsn:
        result["postgres"] = _measure(lambda r: StoreSettings(store="postgres", pg_dsn=dsn), node, events, batch, _BarePostgres)
    result["sealing"] = _sealing_cost(events)
    result["goal_ratio"] = 0.5
    result["ok"] = all(result[b]["ratio"] >= 0.5 for b in ("sqlite", "postgres"))
    return result


def _measure(
    settings_for: Callable[[int], StoreSettings], node: NodeRef, events: int, batch: int, bare_for: Callable[[NodeStore], Bare]
) -> dict[str, Any]:
    return measure_append(lambda r: list(_chunks(_simulated(events, seed=r), batch)), settings_for, node, bare_for)


def measure_append(
    chunks_for: Callable[[int], list[list[DutyAggregate]]],
    settings_for: Callable[[int], StoreSettings],
    node: NodeRef,
    bare_for: Callable[[NodeStore], Bare],
) -> dict[str, Any]:
    """Each round's chunks (``chunks_for(round)``: aggregates with pending events, a transaction each) saved through a
    fresh store of ``node`` and, in turn with it, inserted bare (``bare_for``); the medians of the rounds."""
    ours, raw = [], []
    for r in range(ROUNDS):
        chunks = chunks_for(r)
        events = sum(len(a.pending_events) for chunk in chunks for a in chunk)
        store = NodeStore(_fresh_node(node), settings_for(r))
        bare = bare_for(store)
        try:
            gc.collect()  # neither path pays for the garbage of the set-up (here: the simulated aggregates)
            ours_s = bare_s = 0.0
            position = 0
            # Transaction by transaction, ours then the bare insert of the very rows it stored: both paths run on the
            # machine as it is at that moment (a run of one path after the other measured the machine's drift too).
            for chunk in chunks:
                started = time.perf_counter()
                store.save_all(chunk)
                ours_s += time.perf_counter() - started
                rows, position = _stored_rows(store, position)
                bare_s += bare.insert(rows, _keys_of(store, rows))
            ours.append(events / ours_s)
            raw.append(events / bare_s)
            sizes = [len(row[3]) for row in _stored_rows(store, 0)[0]]
        finally:
            bare.close()
            store.close()
    ours_median, raw_median = statistics.median(ours), statistics.median(raw)
    return {
        "events": events,
        "events_per_s": round(ours_median),
        "bare_rows_per_s": round(raw_median),
        "ratio": round(ours_median / raw_median, 3),
        "rounds_events_per_s": [round(x) for x in ours],
        "rounds_bare_rows_per_s": [round(x) for x in raw],
        "mean_state_bytes": round(statistics.mean(sizes)),
    }


def _sealing_cost(events: int) -> dict[str, Any]:
    """What sealing personal data of the public costs (part of our path above; measured here alone, CPU only): the
    sample's events of the kinds that may hold it, searched and sealed as the store does, with keys made in memory
    (each sealed event's key is new: a simulated person is met once)."""
    sample = [e for a in _simulated(events, seed=0) for e in a.pending_events]
    keyring = KeyMinter(bytes(32))
    checked = [e for e in sample if type(e) in PERSONAL]
    best = float("inf")
    for _ in range(ROUNDS):
        gc.collect()
        started = time.perf_counter()
        sealed = seal_events(checked, keyring)
        best = min(best, time.perf_counter() - started)
    count = sum(1 for before, after in zip(checked, sealed, strict=True) if before is not after)
    return {
        "events": len(sample),
        "of_personal_kinds": len(checked),
        "sealed": count,
        "seconds": round(best, 4),
        "us_per_event": round(best / len(sample) * 1e6, 2),
        "us_per_sealed_event": round(best / max(count, 1) * 1e6, 1),
        "moves": "the search of every event of a kind that may hold personal data and the AES-GCM sealing of those "
        "that do (one new data key each, wrapped by the master key); no I/O",
    }


def _stored_rows(store: NodeStore, after: int) -> tuple[list[tuple[Any, ...]], int]:
    """The rows after position ``after`` as the store holds them: aggregate id, version, topic, stored bytes and the
    ``chain`` column (the link our path computed; the bare path inserts the same bytes without computing anything);
    and the last position."""
    rows: list[tuple[Any, ...]] = []
    while page := store.books.log_page(after + 1, 10_000):
        rows.extend(row[1:] for row in page)
        after = page[-1][0]
    return rows, after


_SEALED_KEY = re.compile(rb'"sealed":"pd1:([0-9a-f]+):')


def _keys_of(store: NodeStore, rows: list[tuple[Any, ...]]) -> list[DataKeyRow]:
    """The data keys ours wrote beside these rows (read untimed): the bare path writes them too, the same bytes."""
    ids = sorted({m.decode() for row in rows for m in _SEALED_KEY.findall(row[3])})
    return [key for key_id in ids if (key := store.books.data_key(key_id)) is not None]


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


class Bare(Protocol):
    """A bare table beside the store's events table: each ``insert`` of rows is one timed transaction."""

    def insert(self, rows: list[tuple[Any, ...]], keys: list[DataKeyRow]) -> float: ...

    def close(self) -> None: ...


class BareSQLite:
    """The events table's own CREATE statement, renamed: the same columns, keys and rowid, in a database file of its
    own beside the store's, in the same journal mode (WAL) and synchronous setting (the default): each path writes
    its own write-ahead log and pays its own checkpoints (in one file, whichever commit crossed the checkpoint
    threshold paid for both). Inserted with ``executemany``."""

    def __init__(self, store: NodeStore) -> None:
        db = store.env.get("SQLITE_DBNAME")
        assert db is not None, "a store on SQLite names its database file"
        events_table = store.recorder.events_table_name  # type: ignore[attr-defined]
        keys_table = store.recorder.keys_table  # type: ignore[attr-defined]
        source = sqlite3.connect(db)
        try:
            (ddl,) = source.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (events_table,)).fetchone()
            (keys_ddl,) = source.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (keys_table,)
            ).fetchone()
        finally:
            source.close()
        self.conn = sqlite3.connect(Path(db).with_name("bare.sqlite"), isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(ddl.replace(events_table, "bare_events", 1).replace("IF NOT EXISTS ", ""))
        self.conn.execute(keys_ddl.replace(keys_table, "bare_keys", 1).replace("IF NOT EXISTS ", ""))

    def insert(self, rows: list[tuple[Any, ...]], keys: list[DataKeyRow]) -> float:
        started = time.perf_counter()
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO bare_keys (key_id, subject_id, wrapped) VALUES (?, ?, ?)", keys)
        self.conn.executemany(
            "INSERT INTO bare_events (originator_id, originator_version, topic, state, chain) VALUES (?, ?, ?, ?, ?)", rows
        )
        self.conn.execute("COMMIT")
        return time.perf_counter() - started

    def close(self) -> None:
        self.conn.close()


class _BarePostgres:
    """Like the events table: the same columns, primary key, notification id (bigserial) and its unique index."""

    def __init__(self, store: NodeStore) -> None:
        env = store.env
        recorder: Any = store.recorder
        events_table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
        table = sql.Identifier(f"bare_{store.name}")
        self.statement = sql.SQL(
            "INSERT INTO {} (originator_id, originator_version, topic, state, chain) VALUES (%s, %s, %s, %s, %s)"
        ).format(table)
        self.conn = psycopg.connect(
            host=env.get("POSTGRES_HOST"),
            port=env.get("POSTGRES_PORT"),
            dbname=env.get("POSTGRES_DBNAME"),
            user=env.get("POSTGRES_USER"),
            password=env.get("POSTGRES_PASSWORD"),
            autocommit=True,
        )
        self.conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(table, events_table))
        keys = sql.Identifier(f"bare_{store.name}_keys")
        self.conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(keys, recorder.keys_table))
        self.keys_statement = sql.SQL(
            "INSERT INTO {} (key_id, subject_id, wrapped) SELECT * FROM unnest(%s::text[], %s::text[], %s::bytea[])"
        ).format(keys)

    def insert(self, rows: list[tuple[Any, ...]], keys: list[DataKeyRow]) -> float:
        started = time.perf_counter()
        with self.conn.transaction(), self.conn.cursor() as cur:
            if keys:  # as ours writes them: one statement
                cur.execute(self.keys_statement, ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]))
            cur.executemany(self.statement, rows)
        return time.perf_counter() - started

    def close(self) -> None:
        self.conn.close()
