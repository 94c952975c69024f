"""The node recorder on PostgreSQL: many nodes in one server, each node's tables prefixed by its stable id."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor, Rollback
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

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
    as_uuid,
)
from domain.persistence.chain import ChainContradiction, Head

#: The advisory lock key under which node stores create their tables, one at a time per database.
CREATE_LOCK = 0x59_49_50_41_4E_51_49  # "YIPANQI"

#: Inserts of more stored bytes than this leave psycopg's pipeline mode (see ``NodeRecorder._insert_columns``).
PIPELINE_MAX_BYTES = 256 * 1024


class NodeRecorder(SyncRecorder, PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        prefix = events_table_name.removesuffix("_events")
        schema = Identifier(self.datastore.schema)
        self.positions_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_positions"))
        self.parked_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_parked"))
        self.answers_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_answers"))
        self.halts_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_halts"))
        self.state_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_state"))
        self.known_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_known"))
        self.heads_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_heads"))
        self.keys_table = SQL("{}.{}").format(schema, Identifier(f"{prefix}_datakeys"))
        events = SQL("{}.{}").format(schema, Identifier(events_table_name))
        self._chain_heads_statement = SQL(
            "SELECT NULL::bytea AS origin, max(notification_id) AS seq, NULL::bytea AS link, 0 AS sealed FROM {} "
            "UNION ALL SELECT origin, seq, link, sealed FROM {}"
        ).format(events, self.heads_table)
        self._heads_statement = SQL("SELECT origin, seq, link, sealed FROM {} WHERE origin = ANY(%s)").format(self.heads_table)
        self._upsert_heads_statement = SQL(
            "INSERT INTO {} SELECT * FROM unnest(%b::bytea[], %b::bigint[], %b::bytea[], %b::bigint[]) ON CONFLICT (origin) "
            "DO UPDATE SET seq = EXCLUDED.seq, link = EXCLUDED.link, sealed = EXCLUDED.sealed"
        ).format(self.heads_table)
        self._chained_rows_statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state, chain "
            "FROM {} WHERE notification_id >= %s ORDER BY notification_id LIMIT %s"
        ).format(events)
        self._held_states_statement = SQL(
            "SELECT e.originator_id, e.originator_version, e.state FROM {} AS e "
            "JOIN unnest(%s::{}[], %s::bigint[]) AS k (originator_id, originator_version) "
            "USING (originator_id, originator_version)"
        ).format(events, SQL(self.datastore.originator_id_type))
        self._answer_statement = SQL("SELECT request_hash, status, body FROM {} WHERE principal = %s AND key = %s").format(
            self.answers_table
        )
        self._last_version_statement = SQL("SELECT MAX(originator_version) AS v FROM {}.{} WHERE originator_id = %s").format(
            schema, Identifier(events_table_name)
        )
        self._insert_answer_statement = SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s)").format(self.answers_table)
        self._upsert_position_statement = SQL(
            "INSERT INTO {} VALUES (%s, %s, %s, %s, %s) ON CONFLICT (stream) DO UPDATE SET position = EXCLUDED.position, "
            "link = EXCLUDED.link, kafka_offset = EXCLUDED.kafka_offset, updated_at = EXCLUDED.updated_at"
        ).format(self.positions_table)
        # The events and their known span in one statement (no extra round trip): the span's time is the database's
        # clock after the table lock (``_insert``), so known times never decrease in commit order.
        self._insert_rows_statement = SQL(
            "WITH ins AS (INSERT INTO {}.{} (originator_id, originator_version, topic, state, chain) "
            "SELECT * FROM unnest(%b::{}[], %b::bigint[], %b::text[], %b::bytea[], %b::bytea[]) RETURNING notification_id), "
            "span AS (INSERT INTO {} (last_id, first_id) SELECT max(notification_id), min(notification_id) FROM ins "
            "HAVING count(*) > 0) SELECT min(notification_id) AS first, max(notification_id) AS last, count(*) AS n FROM ins"
        ).format(schema, Identifier(events_table_name), SQL(self.datastore.originator_id_type), self.known_table)
        self._ids_between_statement = SQL(
            "SELECT notification_id FROM {}.{} WHERE notification_id BETWEEN %s AND %s ORDER BY notification_id"
        ).format(schema, Identifier(events_table_name))
        self._notification_ids_statement = SQL(
            "SELECT notification_id FROM {}.{} WHERE originator_id = %s ORDER BY originator_version"
        ).format(schema, Identifier(events_table_name))
        self._known_spans_statement = SQL(
            "SELECT first_id, last_id, known_at FROM {0} WHERE last_id >= %s AND last_id <= "
            "COALESCE((SELECT min(last_id) FROM {0} WHERE last_id >= %s), %s) ORDER BY last_id"
        ).format(self.known_table)
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (stream text PRIMARY KEY, position bigint NOT NULL, link text NOT NULL, "
                "kafka_offset bigint NOT NULL, updated_at timestamptz NOT NULL)"
            ).format(self.positions_table),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (stream text NOT NULL, position bigint NOT NULL, reason text NOT NULL, "
                "envelope text NOT NULL, payload bytea, parked_at timestamptz NOT NULL, PRIMARY KEY (stream, position))"
            ).format(self.parked_table),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (principal text NOT NULL, key text NOT NULL, request_hash text NOT NULL, "
                "status integer NOT NULL, body bytea NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (principal, key))"
            ).format(self.answers_table),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (stream text PRIMARY KEY, reason text NOT NULL, since timestamptz NOT NULL)"
            ).format(self.halts_table),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (kind text NOT NULL, key text NOT NULL, value text NOT NULL, "
                "updated_at timestamptz NOT NULL, PRIMARY KEY (kind, key))"
            ).format(self.state_table),
            # Created on open, so a store written before it gains it then; its events have no span (unknown).
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (last_id bigint PRIMARY KEY, first_id bigint NOT NULL, "
                "known_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            ).format(self.known_table),
            # The chain columns, in the events' own rows (added to a store written before: its events stay unchained).
            SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS chain bytea").format(events),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (origin bytea PRIMARY KEY, seq bigint NOT NULL, link bytea NOT NULL, "
                "sealed bigint NOT NULL DEFAULT 0)"
            ).format(self.heads_table),
            # Found by subject only when a person is erased (rare: a scan), so no index but the key's.
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (key_id text PRIMARY KEY, subject_id text NOT NULL, wrapped bytea NOT NULL)"
            ).format(self.keys_table),
        ]

    def create_table(self) -> None:
        """The library's creation, one store at a time per database: concurrent opens would race on its
        ``CREATE TYPE`` and ``CREATE OR REPLACE FUNCTION`` (PostgreSQL answers "tuple concurrently updated")."""
        with self.datastore.get_connection() as conn:  # autocommit: a session-level lock, held across the
            conn.execute("SELECT pg_advisory_lock(%s)", (CREATE_LOCK,))  # library's own transactions
            try:
                super().create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (CREATE_LOCK,))

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        rows = [(s.originator_id, s.originator_version, s.topic, s.state) for s in stored_events]
        return self.insert_rows(rows, positions=kwargs.get("positions", ()), beside=kwargs.get("beside", ()))

    def insert_rows(
        self,
        rows: Iterable[EventRow],
        *,
        positions: Sequence[StreamPosition] = (),
        beside: Sequence[Beside] = (),
        origins: Sequence[bytes | None] | None = None,
    ) -> Sequence[int]:
        rows = rows if isinstance(rows, list | tuple) else list(rows)
        return self._insert_columns(self._columns(rows), (*positions, *beside), _Chaining(rows, origins))

    def insert_sealed(self, make: Callable[[Head | None], Sequence[EventRow]]) -> Sequence[int]:
        assert self.origin is not None, "only a node's own log is sealed"
        with self.datastore.transaction(commit=True) as curs:
            self._lock_table(curs)  # no writer comes between the head read and the insert
            rows = make(self._heads(curs, {self.origin}).get(self.origin))
            return self._insert(curs, self._columns(rows), _Chaining(rows, None)) if rows else []

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_columns(self, columns: tuple[list[Any], ...], beside: Sequence[Beside], chaining: _Chaining) -> list[int]:
        """The library's insert, leaner: the same table lock (commit order = notification id order), NOTIFY and
        RETURNING, in one transaction with the positions; the rows go as four binary arrays unnested by the server
        instead of an array of composites that psycopg formats as text in Python. (The rows are all materialised
        before the first try, so a retry inserts the same ones.)"""
        count = len(columns[1])
        with self.datastore.get_connection() as conn:
            if sum(map(len, columns[3])) > PIPELINE_MAX_BYTES:
                # psycopg's pipeline mode can deadlock on a large statement (the server waits for the rest of the
                # statement, the client for results: psycopg#685); an ingest of 20,000 events hung a province so.
                with conn.transaction(), conn.cursor() as curs:
                    self._write_beside(curs, beside)
                    ids = self._insert(curs, columns, chaining) if count else []
            else:
                ids = self._insert_pipelined(conn, columns, beside, chaining)
        if len(ids) != count:
            raise ProgrammingError(f"got {len(ids)} notification ids for {count} events")
        return ids

    def _insert_pipelined(
        self, conn: Any, columns: tuple[list[Any], ...], beside: Sequence[Beside], chaining: _Chaining
    ) -> list[int]:
        """A command's few rows: one round trip for the positions or answer, the lock, NOTIFY and the insert (two
        when chaining: the chain heads are read under the lock first)."""
        ids: list[int] = []
        exc: Exception | None = None
        with conn.pipeline() as pipeline, conn.transaction():
            with conn.cursor() as curs:
                # The rows beside first: they are pipelined too, and commit with the events or not at all.
                self._write_beside(curs, beside)
                if beside and not columns[1]:
                    try:
                        pipeline.sync()  # so that a taken answer key raises IntegrityError here
                    except Exception as e:
                        exc = e
            if columns[1] and exc is None:
                with conn.cursor() as curs:
                    try:
                        ids = self._insert(curs, columns, chaining, pipeline)
                    except ChainContradiction as e:
                        exc = e
                        raise Rollback from None  # the events are in: take them out again
                    except Exception as e:
                        exc = e  # re-raised after the pipeline has exited (avoids psycopg's warning)
        if exc:
            raise exc
        return ids

    def _insert(
        self, curs: Cursor[DictRow], columns: tuple[list[Any], ...], chaining: _Chaining, pipeline: Any = None
    ) -> list[int]:
        self._lock_table(curs)
        self._notify_channel(curs)
        chainer = self._chainer(curs, chaining.origins)  # the heads, read under the lock (a round trip)
        # The links as SQLite's rows carry them (one loop for the common case of the store's own events).
        chain = [row[4] for row in chainer.hex_rows(chaining.rows)] if chainer is not None else [None] * len(chaining.rows)
        curs.execute(self._insert_rows_statement, (*columns, chain), prepare=True)
        if pipeline is not None:
            pipeline.sync()  # so that a uniqueness violation raises IntegrityError here
        span = curs.fetchone()
        assert span is not None  # noqa: S101 - an aggregate always answers one row
        ids = self._inserted_ids(curs, span["first"], span["last"], span["n"], pipeline)
        self._write_chained(curs, chainer)
        return ids

    def _inserted_ids(self, curs: Cursor[DictRow], first: int | None, last: int | None, count: int, pipeline: Any) -> list[int]:
        """The ids the insert took, in order. Under the table lock nothing else draws from the sequence, so they are
        the span from the first to the last (counted: no row is sent back per event); should another session have
        drawn a number in between, the rows of the span are read back."""
        if first is None or last is None:
            return []
        if last - first + 1 == count:
            return list(range(first, last + 1))
        curs.execute(self._ids_between_statement, (first, last))
        if pipeline is not None:
            pipeline.sync()
        return [row["notification_id"] for row in curs.fetchall()]

    def _heads(self, curs: Cursor[DictRow], origins: set[bytes]) -> dict[bytes, Head]:
        if not origins:
            return {}
        curs.execute(self._heads_statement, (list(origins),), prepare=True)
        return {bytes(r["origin"]): _head(r) for r in curs.fetchall()}

    def _write_heads(self, curs: Cursor[DictRow], heads: Sequence[Head]) -> None:
        if heads:
            curs.execute(
                self._upsert_heads_statement,
                ([h.origin for h in heads], [h.seq for h in heads], [h.link for h in heads], [h.sealed for h in heads]),
                prepare=True,
            )

    def chain_heads(self) -> tuple[int, dict[bytes, Head]]:
        # One statement, so one snapshot: a writer's events and heads are both in it or both not.
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._chain_heads_statement)
            rows = curs.fetchall()
        heads = {bytes(r["origin"]): _head(r) for r in rows if r["origin"]}
        return next((r["seq"] or 0 for r in rows if r["origin"] is None), 0), heads

    def log_page(self, start: int, limit: int) -> list[LogPageRow]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._chained_rows_statement, (start, limit), prepare=True)
            return [
                (
                    r["notification_id"],
                    r["originator_id"],
                    r["originator_version"],
                    r["topic"],
                    bytes(r["state"]),
                    None if r["chain"] is None else bytes(r["chain"]),
                )
                for r in curs.fetchall()
            ]

    def held_states(self, keys: Sequence[tuple[bytes, int]]) -> dict[tuple[bytes, int], bytes]:
        if not keys:
            return {}
        ids = [self._originator_id(UUID(bytes=key)) for key, _ in keys]
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._held_states_statement, (ids, [version for _, version in keys]))
            return {(as_uuid(r["originator_id"]).bytes, r["originator_version"]): bytes(r["state"]) for r in curs.fetchall()}

    def _columns(self, rows: Iterable[EventRow]) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        rows = rows if isinstance(rows, list | tuple) else list(rows)
        if not rows:
            return [], [], [], []
        originator_ids, versions, topics, states = (list(column) for column in zip(*rows, strict=True))
        if self.datastore.originator_id_type == "uuid":
            if not all(type(i) is UUID for i in originator_ids):
                originator_ids = [i if isinstance(i, UUID) else UUID(i) for i in originator_ids]
        else:
            originator_ids = [str(i) for i in originator_ids]
        return originator_ids, versions, topics, states

    def known_spans(self, start: int, stop: int) -> list[KnownSpan]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._known_spans_statement, (start, stop, stop))
            return [KnownSpan(r["first_id"], r["last_id"], r["known_at"]) for r in curs.fetchall()]

    def notification_ids(self, originator_id: UUID) -> list[int]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._notification_ids_statement, (self._originator_id(originator_id),))
            return [r["notification_id"] for r in curs.fetchall()]

    def _originator_id(self, originator_id: UUID) -> UUID | str:
        """An originator id as this database keeps it (a UUID, or its text with ``ORIGINATOR_ID_TYPE=text``)."""
        return originator_id if self.datastore.originator_id_type == "uuid" else str(originator_id)

    def _insert_answers(self, curs: Cursor[DictRow], answers: Sequence[StoredAnswer]) -> None:
        now = datetime.now(UTC)
        curs.executemany(
            self._insert_answer_statement, [(a.principal, a.key, a.request_hash, a.status, a.body, now) for a in answers]
        )

    def answer(self, principal: str, key: str) -> StoredAnswer | None:
        r = self._read_one(self._answer_statement, (principal, key))
        return StoredAnswer(principal, key, r["request_hash"], r["status"], bytes(r["body"])) if r else None

    def last_version(self, originator_id: UUID) -> int:
        r = self._read_one(self._last_version_statement, (self._originator_id(originator_id),))
        return int(r["v"] or 0) if r else 0

    def _read_one(self, statement: Composed, params: tuple[Any, ...]) -> DictRow | None:
        """One row of one statement on an autocommit connection: a single statement reads a consistent snapshot, so
        one round trip instead of the library's BEGIN, SELECT, ROLLBACK (these are a command's hottest reads, on
        the gateway's event loop); prepared on the server after a few uses."""
        with self.datastore.get_connection() as conn:
            return conn.execute(statement, params, prepare=True).fetchone()

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
        curs.execute(self._upsert_position_statement, (p.stream, p.position, p.link, p.offset, datetime.now(UTC)))

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

    def halts(self) -> dict[str, StreamHalt]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT stream, reason, since FROM {}").format(self.halts_table))
            return {r["stream"]: StreamHalt(r["stream"], r["reason"], r["since"]) for r in curs.fetchall()}

    def save_halt(self, halt: StreamHalt) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL("INSERT INTO {} VALUES (%s, %s, %s) ON CONFLICT (stream) DO UPDATE SET reason = EXCLUDED.reason").format(
                    self.halts_table
                ),
                (halt.stream, halt.reason, halt.since),
            )

    def clear_halt(self, stream: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DELETE FROM {} WHERE stream = %s").format(self.halts_table), (stream,))

    def state(self, kind: str) -> dict[str, str]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT key, value FROM {} WHERE kind = %s").format(self.state_table), (kind,))
            return {r["key"]: r["value"] for r in curs.fetchall()}

    def put_state(self, kind: str, values: dict[str, str]) -> None:
        now = datetime.now(UTC)
        with self.datastore.transaction(commit=True) as curs:
            curs.executemany(
                SQL(
                    "INSERT INTO {} VALUES (%s, %s, %s, %s) ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value, "
                    "updated_at = EXCLUDED.updated_at"
                ).format(self.state_table),
                [(kind, key, value, now) for key, value in values.items()],
            )

    def insert_data_keys(self, rows: Sequence[DataKeyRow]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_data_keys(curs, rows)

    def _insert_data_keys(self, curs: Cursor[DictRow], rows: Sequence[DataKeyRow]) -> None:
        # One statement whatever the number of keys (three arrays unnested by the server): one round trip.
        curs.execute(
            SQL("INSERT INTO {} (key_id, subject_id, wrapped) SELECT * FROM unnest(%s::text[], %s::text[], %s::bytea[])").format(
                self.keys_table
            ),
            ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
        )

    def data_key(self, key_id: str) -> DataKeyRow | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT key_id, subject_id, wrapped FROM {} WHERE key_id = %s").format(self.keys_table), (key_id,))
            r = curs.fetchone()
            return (r["key_id"], r["subject_id"], bytes(r["wrapped"])) if r else None

    def subject_key_ids(self, subject_id: str) -> list[str]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT key_id FROM {} WHERE subject_id = %s ORDER BY key_id").format(self.keys_table), (subject_id,)
            )
            return [r["key_id"] for r in curs.fetchall()]

    def erase_data_keys(self, key_ids: Sequence[str]) -> int:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DELETE FROM {} WHERE key_id = ANY(%s)").format(self.keys_table), (list(key_ids),))
            erased = max(curs.rowcount, 0)
        with self.datastore.get_connection() as conn:  # autocommit: VACUUM runs outside a transaction
            conn.execute(SQL("VACUUM {}").format(self.keys_table))  # the dead rows' bytes go now, not some day
        return erased

    def drop_state(self, kind: str, key_prefix: str = "") -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL("DELETE FROM {} WHERE kind = %s AND left(key, %s) = %s").format(self.state_table),
                (kind, len(key_prefix), key_prefix),
            )


class _Chaining(NamedTuple):
    """An insert's events as rows (what their links are made of) and their origins (None: all the store's own)."""

    rows: Sequence[EventRow]
    origins: Sequence[bytes | None] | None


def _head(r: Any) -> Head:
    return Head(bytes(r["origin"]), r["seq"], bytes(r["link"]), r["sealed"])


def _parked(r: Any) -> ParkedMessage:
    return ParkedMessage(r["stream"], r["position"], r["reason"], r["envelope"], bytes(r["payload"] or b""), r["parked_at"])
