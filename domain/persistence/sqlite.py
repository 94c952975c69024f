"""The node recorder on SQLite: one file per node, sync bookkeeping in the same file."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from domain.persistence import EventRow, ParkedMessage, StreamPosition, SyncRecorder


class NodeRecorder(SyncRecorder, SQLiteApplicationRecorder):
    # One file per node, so no prefix is needed (and the library's create statements run in __init__).
    positions_table = "sync_positions"
    parked_table = "sync_parked"

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.positions_table} (stream TEXT PRIMARY KEY, position INTEGER NOT NULL, "
            "link TEXT NOT NULL, kafka_offset INTEGER NOT NULL, updated_at TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.parked_table} (stream TEXT NOT NULL, position INTEGER NOT NULL, "
            "reason TEXT NOT NULL, envelope TEXT NOT NULL, payload BLOB, parked_at TEXT NOT NULL, "
            "PRIMARY KEY (stream, position))",
        ]

    def insert_rows(self, rows: Iterable[EventRow], *, positions: Sequence[StreamPosition] = ()) -> Sequence[int]:
        with self.datastore.transaction(commit=True) as c:
            return self._insert_rows(c, rows, positions)

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        rows = [(s.originator_id, s.originator_version, s.topic, s.state) for s in stored_events]
        return self._insert_rows(c, rows, kwargs.get("positions", ()))

    def _insert_rows(self, c: SQLiteCursor, rows: Iterable[EventRow], positions: Sequence[StreamPosition]) -> list[int]:
        # One executemany instead of the library's row-by-row inserts: a single writer holds the file, so the
        # rowids of one statement are consecutive and end at last_insert_rowid(). The rows may be a lazy iterable
        # (the store maps events as SQLite takes them): each encoded state is freed once inserted.
        ids: list[int] = []
        c.executemany(self.insert_events_statement, map(_with_hex_id, rows))
        count = c.sqlite_cursor.rowcount  # executemany: the sum over all rows
        if count > 0:
            c.execute("SELECT last_insert_rowid()")
            last = c.fetchone()[0]
            ids = list(range(last - count + 1, last + 1))
        for position in positions:
            self._upsert_position(c, position)
        return ids

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
            c.execute(f"SELECT * FROM {self.parked_table} WHERE stream = ? ORDER BY position", (stream,))
            rows = [_parked(row) for row in c.fetchall()]
            c.execute(f"DELETE FROM {self.parked_table} WHERE stream = ?", (stream,))
            return rows


def _with_hex_id(row: EventRow) -> EventRow:
    originator_id = row[0]
    return (originator_id.hex, row[1], row[2], row[3]) if isinstance(originator_id, UUID) else row


def _parked(row: Any) -> ParkedMessage:
    return ParkedMessage(row[0], row[1], row[2], row[3], bytes(row[4] or b""), datetime.fromisoformat(row[5]))


def _now() -> str:
    return datetime.now(UTC).isoformat()
