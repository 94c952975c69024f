"""The node recorder on SQLite: one file per node, sync bookkeeping and stored answers in the same file."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteConnection, SQLiteCursor

from domain.persistence import (
    Beside,
    DataKeyRow,
    EventRow,
    KnownSpan,
    LogPageRow,
    ParkedMessage,
    StoredAnswer,
    StreamHalt,
    StreamPosition,
    SyncRecorder,
)
from domain.persistence.chain import Head


class NodeRecorder(SyncRecorder, SQLiteApplicationRecorder):
    # One file per node, so no prefix is needed (and the library's create statements run in __init__).
    positions_table = "sync_positions"
    parked_table = "sync_parked"
    answers_table = "gateway_answers"
    halts_table = "sync_halts"
    state_table = "sync_state"
    known_table = "known_spans"
    heads_table = "chain_heads"
    keys_table = "data_keys"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pool = (args[0] if args else kwargs["datastore"]).pool
        pool._create_connection = _with_small_cache(pool._create_connection)  # eventsourcing 9.5.6's pool (pinned)
        super().__init__(*args, **kwargs)
        # The library's statement names no columns: the table has the chain columns too.
        columns = f"INSERT INTO {self.events_table_name} (originator_id, originator_version, topic, state"
        self.insert_events_statement = f"{columns}) VALUES (?, ?, ?, ?)"
        self.insert_chained_statement = f"{columns}, chain) VALUES (?, ?, ?, ?, ?)"
        self._readers = threading.local()  # each thread's own read connection (see ``_read_one``)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.positions_table} (stream TEXT PRIMARY KEY, position INTEGER NOT NULL, "
            "link TEXT NOT NULL, kafka_offset INTEGER NOT NULL, updated_at TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.parked_table} (stream TEXT NOT NULL, position INTEGER NOT NULL, "
            "reason TEXT NOT NULL, envelope TEXT NOT NULL, payload BLOB, parked_at TEXT NOT NULL, "
            "PRIMARY KEY (stream, position))",
            f"CREATE TABLE IF NOT EXISTS {self.answers_table} (principal TEXT NOT NULL, key TEXT NOT NULL, "
            "request_hash TEXT NOT NULL, status INTEGER NOT NULL, body BLOB NOT NULL, created_at TEXT NOT NULL, "
            "PRIMARY KEY (principal, key))",
            f"CREATE TABLE IF NOT EXISTS {self.halts_table} (stream TEXT PRIMARY KEY, reason TEXT NOT NULL, since TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.state_table} (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
            "updated_at TEXT NOT NULL, PRIMARY KEY (kind, key))",
            # Created on open, so a store written before it gains it then; its events have no span (unknown).
            f"CREATE TABLE IF NOT EXISTS {self.known_table} (last_id INTEGER PRIMARY KEY, first_id INTEGER NOT NULL, "
            f"known_at TEXT NOT NULL DEFAULT ({KNOWN_NOW}))",
            f"CREATE TABLE IF NOT EXISTS {self.heads_table} (origin BLOB PRIMARY KEY, seq INTEGER NOT NULL, link BLOB NOT NULL, "
            "sealed INTEGER NOT NULL DEFAULT 0)",
            # One B-tree, nothing computed per row: keys are written with the events; found by subject only when a
            # person is erased (rare: a scan).
            f"CREATE TABLE IF NOT EXISTS {self.keys_table} (key_id TEXT PRIMARY KEY, subject_id TEXT NOT NULL, "
            "wrapped BLOB NOT NULL) WITHOUT ROWID",
        ]

    def _create_table(self, c: SQLiteCursor) -> None:
        super()._create_table(c)
        # The chain column, in the events' own rows (added to a store written before: its events stay unchained).
        c.execute(f"PRAGMA table_info({self.events_table_name})")
        if "chain" not in {row[1] for row in c.fetchall()}:
            c.execute(f"ALTER TABLE {self.events_table_name} ADD COLUMN chain BLOB")

    def insert_rows(
        self,
        rows: Iterable[EventRow],
        *,
        positions: Sequence[StreamPosition] = (),
        beside: Sequence[Beside] = (),
        origins: Sequence[bytes | None] | None = None,
    ) -> Sequence[int]:
        with self._appending() as c:
            return self._insert_rows(c, rows, (*positions, *beside), origins)

    def insert_sealed(self, make: Callable[[Head | None], Sequence[EventRow]]) -> Sequence[int]:
        assert self.origin is not None, "only a node's own log is sealed"
        with self._appending() as c:
            self._lock(c)
            rows = make(self._heads(c, {self.origin}).get(self.origin))
            return self._insert_rows(c, rows, ()) if rows else []

    @contextmanager
    def _appending(self) -> Iterator[SQLiteCursor]:
        """A transaction that appends events, with the larger page cache an append needs for the time it runs
        (``APPEND_CACHE_PRAGMA``): the connection's small cache again once it committed or rolled back. What the
        library's ``datastore.transaction(commit=True)`` does, with the connection in hand between the two."""
        with self.datastore.get_connection(commit=True) as conn:
            conn._sqlite_conn.execute(APPEND_CACHE_PRAGMA)
            try:
                with conn.transaction(commit=True) as c:
                    yield c
            finally:
                conn._sqlite_conn.execute(CACHE_PRAGMA)  # frees the pages beyond it

    def _lock(self, c: SQLiteCursor) -> None:
        """Take the file's write lock now (a statement that may write takes it, though it changes nothing): what this
        transaction reads next is the latest, and no writer comes between."""
        c.execute(f"DELETE FROM {self.heads_table} WHERE 0")

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        rows = [(s.originator_id, s.originator_version, s.topic, s.state) for s in stored_events]
        return self._insert_rows(c, rows, (*kwargs.get("positions", ()), *kwargs.get("beside", ())))

    def _insert_rows(
        self, c: SQLiteCursor, rows: Iterable[EventRow], beside: Sequence[Beside], origins: Sequence[bytes | None] | None = None
    ) -> list[int]:
        # One executemany instead of the library's row-by-row inserts: a single writer holds the file, so the
        # rowids of one statement are consecutive and end at last_insert_rowid(). The rows may be a lazy iterable
        # (the store maps events as SQLite takes them): each encoded state is freed once inserted, its link kept.
        ids: list[int] = []
        chainer = None
        if self.origin is not None:
            self._lock(c)
            chainer = self._chainer(c, origins)
        if chainer is None:
            c.executemany(self.insert_events_statement, map(_with_hex_id, rows))
        else:
            c.executemany(self.insert_chained_statement, chainer.hex_rows(rows))
        count = c.sqlite_cursor.rowcount  # executemany: the sum over all rows
        if count > 0:
            c.execute("SELECT last_insert_rowid()")
            last = c.fetchone()[0]
            ids = list(range(last - count + 1, last + 1))
            c.execute(f"INSERT INTO {self.known_table} (last_id, first_id) VALUES (?, ?)", (last, ids[0]))
            self._write_chained(c, chainer)
        self._write_beside(c, beside)
        return ids

    def _heads(self, c: SQLiteCursor, origins: set[bytes]) -> dict[bytes, Head]:
        if not origins:
            return {}
        listed = list(origins)
        c.execute(f"SELECT * FROM {self.heads_table} WHERE origin IN ({','.join('?' * len(listed))})", listed)
        return {bytes(r[0]): _head(r) for r in c.fetchall()}

    def _write_heads(self, c: SQLiteCursor, heads: Sequence[Head]) -> None:
        c.executemany(
            f"INSERT INTO {self.heads_table} VALUES (?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq, "
            "link = excluded.link, sealed = excluded.sealed",
            [(h.origin, h.seq, h.link, h.sealed) for h in heads],
        )

    def chain_heads(self) -> tuple[int, dict[bytes, Head]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {self.heads_table}")
            heads = {bytes(r[0]): _head(r) for r in c.fetchall()}
            return self._max_notification_id(c) or 0, heads

    def log_page(self, start: int, limit: int) -> list[LogPageRow]:
        # A third of the library's select_notifications per row (measured: 1.3 vs 3.8 us): the database's tuples,
        # the ids as this recorder writes them (32 hex digits, see _with_hex_id), no UUID objects.
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT rowid, originator_id, originator_version, topic, state, chain "
                f"FROM {self.events_table_name} WHERE rowid >= ? ORDER BY rowid LIMIT ?",
                (start, limit),
            )
            return c.fetchall()  # type: ignore[no-any-return] # sqlite3.Row: unpacks as the tuple would

    def held_states(self, keys: Sequence[tuple[bytes, int]]) -> dict[tuple[bytes, int], bytes]:
        found: dict[tuple[bytes, int], bytes] = {}
        with self.datastore.transaction(commit=False) as c:
            for at in range(0, len(keys), 400):  # well within SQLite's limit of bound parameters
                part = keys[at : at + 400]
                c.execute(
                    f"SELECT originator_id, originator_version, state FROM {self.events_table_name} "
                    f"WHERE (originator_id, originator_version) IN (VALUES {','.join(['(?, ?)'] * len(part))})",
                    [value for key, version in part for value in (key.hex(), version)],
                )
                found.update(((bytes.fromhex(r[0]), r[1]), r[2]) for r in c.fetchall())
        return found

    def known_spans(self, start: int, stop: int) -> list[KnownSpan]:
        # Both bounds on the key: the spans ending from ``start`` up to the first one reaching ``stop``.
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT first_id, last_id, known_at FROM {self.known_table} WHERE last_id >= ? AND last_id <= "
                f"COALESCE((SELECT MIN(last_id) FROM {self.known_table} WHERE last_id >= ?), ?) ORDER BY last_id",
                (start, stop, stop),
            )
            return [KnownSpan(r[0], r[1], datetime.fromisoformat(r[2])) for r in c.fetchall()]

    def notification_ids(self, originator_id: UUID) -> list[int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid FROM {self.events_table_name} WHERE originator_id = ? ORDER BY originator_version",
                (originator_id.hex,),
            )
            return [r[0] for r in c.fetchall()]

    def _insert_answers(self, c: SQLiteCursor, answers: Sequence[StoredAnswer]) -> None:
        now = _now()
        c.executemany(
            f"INSERT INTO {self.answers_table} VALUES (?, ?, ?, ?, ?, ?)",
            [(a.principal, a.key, a.request_hash, a.status, a.body, now) for a in answers],
        )

    def answer(self, principal: str, key: str) -> StoredAnswer | None:
        found = self._read_one(
            f"SELECT request_hash, status, body FROM {self.answers_table} WHERE principal = ? AND key = ?", (principal, key)
        )
        return StoredAnswer(principal, key, found[0], found[1], bytes(found[2])) if found else None

    def last_version(self, originator_id: UUID) -> int:
        found = self._read_one(
            f"SELECT MAX(originator_version) FROM {self.events_table_name} WHERE originator_id = ?", (originator_id.hex,)
        )
        return int(found[0] or 0)

    def data_version(self) -> int:
        # SQLite's own change counter, per connection: it moves when any other connection commits. No table is read.
        return int(self._read_one("PRAGMA data_version", ())[0])

    def _read_one(self, statement: str, params: tuple[Any, ...]) -> Any:
        """One row of one statement, in autocommit mode: a single statement reads a consistent snapshot, so the
        library's BEGIN/ROLLBACK round is not needed. These are a command's hottest reads (on the gateway's event
        loop), and the library's pool costs more than the indexed read itself (a semaphore, locks and bookkeeping
        per use), so each thread reads on a connection of its own; they close with the recorder. In WAL mode a
        reader neither waits for the writer nor holds it up."""
        pool = self.datastore.pool
        if pool.is_sqlite_memory_mode:  # one shared in-memory database: only the pool's connections see it
            with self.datastore.get_connection(commit=False) as conn:
                return conn._sqlite_conn.execute(statement, params).fetchone()
        reader = getattr(self._readers, "connection", None)
        if reader is None:
            reader = self._readers.connection = sqlite3.connect(
                pool.db_name, uri=True, check_same_thread=False, isolation_level=None, timeout=pool.lock_timeout or 5
            )
            reader.execute(CACHE_PRAGMA)
        return reader.execute(statement, params).fetchone()

    def positions(self) -> dict[str, StreamPosition]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT stream, position, link, kafka_offset FROM {self.positions_table}")
            return {row[0]: StreamPosition(row[0], row[1], row[2], row[3]) for row in c.fetchall()}

    def save_position(self, position: StreamPosition) -> None:
        with self.datastore.transaction(commit=True) as c:
            self._upsert_position(c, position)

    def _upsert_position(self, c: SQLiteCursor, p: StreamPosition) -> None:
        c.execute(
            f"INSERT INTO {self.positions_table} VALUES (?, ?, ?, ?, ?) ON CONFLICT (stream) DO UPDATE SET "
            "position = excluded.position, link = excluded.link, kafka_offset = excluded.kafka_offset, "
            "updated_at = excluded.updated_at",
            (p.stream, p.position, p.link, p.offset, _now()),
        )

    def park(self, message: ParkedMessage) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT OR REPLACE INTO {self.parked_table} VALUES (?, ?, ?, ?, ?, ?)",
                (
                    message.stream,
                    message.position,
                    message.reason,
                    message.envelope,
                    message.payload,
                    message.parked_at.isoformat(),
                ),
            )

    def parked(self, stream: str | None = None) -> list[ParkedMessage]:
        with self.datastore.transaction(commit=False) as c:
            where, params = ("WHERE stream = ?", (stream,)) if stream else ("", ())
            c.execute(f"SELECT * FROM {self.parked_table} {where} ORDER BY stream, position", params)
            return [_parked(row) for row in c.fetchall()]

    def unpark(self, stream: str) -> list[ParkedMessage]:
        with self.datastore.transaction(commit=True) as c:
            # A read first would make the delete an upgrade, which SQLite refuses at once (no wait) if the sync
            # process wrote meanwhile: `sync retry` runs beside a live sync.
            self._lock(c)
            c.execute(f"SELECT * FROM {self.parked_table} WHERE stream = ? ORDER BY position", (stream,))
            rows = [_parked(row) for row in c.fetchall()]
            c.execute(f"DELETE FROM {self.parked_table} WHERE stream = ?", (stream,))
            return rows

    def halts(self) -> dict[str, StreamHalt]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT stream, reason, since FROM {self.halts_table}")
            return {row[0]: StreamHalt(row[0], row[1], datetime.fromisoformat(row[2])) for row in c.fetchall()}

    def save_halt(self, halt: StreamHalt) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {self.halts_table} VALUES (?, ?, ?) ON CONFLICT (stream) DO UPDATE SET reason = excluded.reason",
                (halt.stream, halt.reason, halt.since.isoformat()),
            )

    def clear_halt(self, stream: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {self.halts_table} WHERE stream = ?", (stream,))

    def insert_data_keys(self, rows: Sequence[DataKeyRow]) -> None:
        with self.datastore.transaction(commit=True) as c:
            self._insert_data_keys(c, rows)

    def _insert_data_keys(self, c: SQLiteCursor, rows: Sequence[DataKeyRow]) -> None:
        c.executemany(f"INSERT INTO {self.keys_table} (key_id, subject_id, wrapped) VALUES (?, ?, ?)", rows)

    def data_key(self, key_id: str) -> DataKeyRow | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT key_id, subject_id, wrapped FROM {self.keys_table} WHERE key_id = ?", (key_id,))
            row = c.fetchone()
            return (row[0], row[1], bytes(row[2])) if row else None

    def subject_key_ids(self, subject_id: str) -> list[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT key_id FROM {self.keys_table} WHERE subject_id = ? ORDER BY key_id", (subject_id,))
            return [row[0] for row in c.fetchall()]

    def erase_data_keys(self, key_ids: Sequence[str]) -> int:
        with self.datastore.transaction(commit=True) as c:
            # The freed pages are overwritten with zeros, not left for a file reader to find.
            c.execute("PRAGMA secure_delete = ON")
            self._lock(c)
            erased = 0
            for key in key_ids:
                c.execute(f"DELETE FROM {self.keys_table} WHERE key_id = ?", (key,))
                erased += max(int(c.sqlite_cursor.rowcount), 0)
        with self.datastore.transaction(commit=False) as c:
            # The pages' older images in the write-ahead log go too.
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return erased

    def state(self, kind: str) -> dict[str, str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT key, value FROM {self.state_table} WHERE kind = ?", (kind,))
            return {row[0]: row[1] for row in c.fetchall()}

    def put_state(self, kind: str, values: dict[str, str]) -> None:
        now = _now()
        with self.datastore.transaction(commit=True) as c:
            c.executemany(
                f"INSERT INTO {self.state_table} VALUES (?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET "
                "value = excluded.value, updated_at = excluded.updated_at",
                [(kind, key, value, now) for key, value in values.items()],
            )

    def drop_state(self, kind: str, key_prefix: str = "") -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"DELETE FROM {self.state_table} WHERE kind = ? AND substr(key, 1, ?) = ?", (kind, len(key_prefix), key_prefix)
            )


#: The database's clock as a known time: UTC, milliseconds (SQLite's own precision), read in the insert's statement.
KNOWN_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

#: Each connection's page cache (128 KiB): SQLite's default (2 MB) per connection of the ~1,000 stores a sync process
#: may host (a node's log and its reference store, each read by two connections) took a 550-node process past
#: 700 MB; the logs are read in order and the operating system's file cache serves the rest.
CACHE_PRAGMA = "PRAGMA cache_size = -128"
#: ... and while it appends (2 MiB, SQLite's default): an append inserts into the primary key's index at places all
#: over it (aggregate ids are random); in 128 KiB each insert read its index page again and the transaction spilled
#: dirty pages before its commit: appending took a quarter more time (``yipanqi bench store``).
APPEND_CACHE_PRAGMA = "PRAGMA cache_size = -2048"


def _with_small_cache(create: Callable[[], SQLiteConnection]) -> Callable[[], SQLiteConnection]:
    def connect() -> SQLiteConnection:
        connection = create()
        connection._sqlite_conn.execute(CACHE_PRAGMA)
        return connection

    return connect


def _head(r: Any) -> Head:
    return Head(bytes(r[0]), r[1], bytes(r[2]), r[3])


def _with_hex_id(row: EventRow) -> EventRow:
    originator_id = row[0]
    return (originator_id.hex, row[1], row[2], row[3]) if isinstance(originator_id, UUID) else row


def _parked(row: Any) -> ParkedMessage:
    return ParkedMessage(row[0], row[1], row[2], row[3], bytes(row[4] or b""), datetime.fromisoformat(row[5]))


def _now() -> str:
    return datetime.now(UTC).isoformat()
