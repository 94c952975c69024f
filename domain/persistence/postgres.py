"""The node recorder on PostgreSQL: many nodes in one server, each node's tables prefixed by its stable id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from domain.persistence import ParkedMessage, StreamPosition, SyncRecorder


class NodeRecorder(SyncRecorder, PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        prefix = events_table_name.removesuffix("_events")
        schema = Identifier(self.datastore.schema)
        self.positions_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_positions"))
        self.parked_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_parked"))
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (stream text PRIMARY KEY, position bigint NOT NULL, link text NOT NULL, "
                "kafka_offset bigint NOT NULL, updated_at timestamptz NOT NULL)"
            ).format(self.positions_table),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (stream text NOT NULL, position bigint NOT NULL, reason text NOT NULL, "
                "envelope text NOT NULL, payload bytea, parked_at timestamptz NOT NULL, PRIMARY KEY (stream, position))"
            ).format(self.parked_table),
        ]

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # Runs inside the library's insert transaction, before the events themselves: same commit or none.
        for position in kwargs.get("positions", ()):
            self._upsert_position(curs, position)
        super()._insert_events(curs, stored_events, **kwargs)

    def positions(self) -> dict[str, StreamPosition]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT stream, position, link, kafka_offset FROM {}").format(self.positions_table))
            return {
                r["stream"]: StreamPosition(r["stream"], r["position"], r["link"], r["kafka_offset"]) for r in curs.fetchall()
            }

    def save_position(self, position: StreamPosition) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._upsert_position(curs, position)

    def _upsert_position(self, curs: Cursor[DictRow], p: StreamPosition) -> None:
        curs.execute(
            SQL(
                "INSERT INTO {} VALUES (%s, %s, %s, %s, %s) ON CONFLICT (stream) DO UPDATE SET position = EXCLUDED.position, "
                "link = EXCLUDED.link, kafka_offset = EXCLUDED.kafka_offset, updated_at = EXCLUDED.updated_at"
            ).format(self.positions_table),
            (p.stream, p.position, p.link, p.offset, datetime.now(UTC)),
        )

    def park(self, message: ParkedMessage) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (stream, position) DO UPDATE SET "
                    "reason = EXCLUDED.reason, envelope = EXCLUDED.envelope, payload = EXCLUDED.payload"
                ).format(self.parked_table),
                (message.stream, message.position, message.reason, message.envelope, message.payload, message.parked_at),
            )

    def parked(self, stream: str | None = None) -> list[ParkedMessage]:
        with self.datastore.transaction(commit=False) as curs:
            if stream:
                curs.execute(SQL("SELECT * FROM {} WHERE stream = %s ORDER BY position").format(self.parked_table), (stream,))
            else:
                curs.execute(SQL("SELECT * FROM {} ORDER BY stream, position").format(self.parked_table))
            return [_parked(r) for r in curs.fetchall()]

    def unpark(self, stream: str) -> list[ParkedMessage]:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DELETE FROM {} WHERE stream = %s RETURNING *").format(self.parked_table), (stream,))
            return sorted((_parked(r) for r in curs.fetchall()), key=lambda m: m.position)


def _parked(r: Any) -> ParkedMessage:
    return ParkedMessage(r["stream"], r["position"], r["reason"], r["envelope"], bytes(r["payload"] or b""), r["parked_at"])
