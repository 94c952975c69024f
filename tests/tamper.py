"""Editing a node's store behind its back, with the backend's own SQL: what an outside hand (or a broken disk) can do
to the rows, for the tests that show the hash chains notice it."""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from domain.persistence.chain import GENESIS, link
from domain.store import NodeStore


class Tamper:
    def __init__(self, store: NodeStore) -> None:
        self.settings = store.settings
        self.sqlite = self.settings.store == "sqlite"
        if self.sqlite:
            self.events, self.id = "stored_events", "rowid"
        else:
            self.events, self.id = f"{store.name}_events", "notification_id"
        self.node = store.node

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self.sqlite:
            conn = sqlite3.connect(self.settings.sqlite_path(self.node.node_id))
            try:
                yield conn.cursor()
                conn.commit()
            finally:
                conn.close()
        else:
            assert self.settings.pg_dsn
            with psycopg.connect(self.settings.pg_dsn) as conn, conn.cursor() as cursor:
                yield cursor

    def _sql(self, text: str) -> Any:
        """``text`` with {events} and {id} filled in, and ? as the parameter marker of either backend."""
        if self.sqlite:
            return text.format(events=self.events, id=self.id)
        return sql.SQL(text.replace("?", "%s")).format(events=sql.Identifier(self.events), id=sql.Identifier(self.id))

    def state(self, position: int) -> bytes:
        with self._cursor() as c:
            c.execute(self._sql("SELECT state FROM {events} WHERE {id} = ?"), (position,))
            return bytes(c.fetchone()[0])

    def set_state(self, position: int, state: bytes) -> None:
        with self._cursor() as c:
            c.execute(self._sql("UPDATE {events} SET state = ? WHERE {id} = ?"), (state, position))
            assert c.rowcount == 1

    def change_byte(self, position: int) -> None:
        """One digit of the event's bytes changed (7 → 70 is a byte inserted; this keeps the length)."""
        state = bytearray(self.state(position))
        at = next(i for i, b in enumerate(state) if chr(b).isdigit())
        state[at] = ord("9") if state[at] != ord("9") else ord("1")
        self.set_state(position, bytes(state))

    def delete(self, position: int) -> None:
        with self._cursor() as c:
            c.execute(self._sql("DELETE FROM {events} WHERE {id} = ?"), (position,))
            assert c.rowcount == 1

    def insert_copy(self, position: int, version: int, *, chain: bool = False) -> int:
        """A new event at the end of the log: a copy of the one at ``position`` under another version of its
        aggregate, without its place in a chain (the hand that inserts it does not know the chains) or, ``chain``,
        with the original's (the same seq and link twice). Its position."""
        with self._cursor() as c:
            c.execute(
                self._sql(
                    "INSERT INTO {events} (originator_id, originator_version, topic, state, chain) "
                    f"SELECT originator_id, ?, topic, state, {'chain' if chain else 'NULL'} FROM {{events}} WHERE {{id}} = ?"
                ),
                (version, position),
            )
            assert c.rowcount == 1
            c.execute(self._sql("SELECT max({id}) FROM {events}"))
            return int(c.fetchone()[0])

    def swap(self, a: int, b: int) -> None:
        """The events at two positions change places in the log (the chain rows stay where they were)."""
        with self._cursor() as c:
            for src, dst in ((a, -1), (b, a), (-1, b)):
                c.execute(self._sql("UPDATE {events} SET {id} = ? WHERE {id} = ?"), (dst, src))

    def rechain(self, store: NodeStore, origin: bytes) -> None:
        """The clever hand: every link of ``origin``'s chain (and its head) recomputed from the bytes as they now are,
        so that the store agrees with itself again. Only a checkpoint the origin signed can tell."""
        prev, places = GENESIS, []
        for position, originator_id, version, topic, state, row_origin, seq, _ in store.books.chained_rows(1, 1_000_000):
            if row_origin == origin:
                prev = link(prev, origin, seq or 0, originator_id, version, topic, state)
                places.append((struct.pack(">16sq32s", origin, seq or 0, prev), position))
        heads = "chain_heads" if self.sqlite else f"{store.name}_heads"
        mark = "?" if self.sqlite else "%s"
        with self._cursor() as c:
            for chain, position in places:
                c.execute(self._sql("UPDATE {events} SET chain = ? WHERE {id} = ?"), (chain, position))
            c.execute(f'UPDATE "{heads}" SET link = {mark} WHERE origin = {mark}', (prev, origin))
