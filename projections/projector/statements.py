"""The projector's SQL, composed once per database: plain ``executemany`` of tuples, several times faster than Core."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import sqlalchemy as sa

from projections import schema as s
from projections.db import ProjectionDB

MARK_COLUMNS = ["mark", "year", "subject_id", "node_id", "first_rec", "first_occ", "first_known"]


def _once(build: Callable[..., str]) -> Callable[..., str]:
    """Compose a statement once per (Statements, arguments)."""

    def composed(self: Statements, *args: object) -> str:
        key = (build.__name__, *args)
        sql = self._sql.get(key)
        if sql is None:
            sql = self._sql[key] = build(self, *args)
        return sql

    composed.__name__ = build.__name__
    composed.__doc__ = build.__doc__
    return composed


class Statements:
    """The statements of one database (its placeholder style and table names)."""

    def __init__(self, db: ProjectionDB) -> None:
        self.db = db
        self.ph = db.placeholder
        self._sql: dict[tuple[object, ...], str] = {}

    def t(self, table: sa.Table) -> str:
        return self.db.qualified(table)

    def marks_list(self, n: int) -> str:
        return ", ".join([self.ph] * n)

    @_once
    def insert(self, table: sa.Table, columns: tuple[str, ...] = ()) -> str:
        names = list(columns) if columns else [c.name for c in table.columns]
        return f"INSERT INTO {self.t(table)} ({', '.join(names)}) VALUES ({self.marks_list(len(names))})"

    @_once
    def upsert(self, table: sa.Table) -> str:
        """Insert, or replace everything but the key."""
        keys = [c.name for c in table.primary_key.columns]
        rest = [c.name for c in table.columns if c.name not in keys]
        sets = ", ".join(f"{c} = excluded.{c}" for c in rest)
        return f"{self.insert(table)} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"

    @_once
    def add(self, table: sa.Table, select: str = "") -> str:
        """Insert a summary's row, or add its counters to the row already there (keep the greatest of a "max" column);
        ``select`` instead of VALUES: INSERT … SELECT."""
        insert = self.insert(table)
        if select:
            insert = insert[: insert.index(" VALUES ")] + " " + select
        keys = ", ".join(c.name for c in table.primary_key.columns)
        values = s.value_columns(table)
        if not values:
            return f"{insert} ON CONFLICT ({keys}) DO NOTHING"
        sets = ", ".join(_combined(table.name, c) for c in values)
        return f"{insert} ON CONFLICT ({keys}) DO UPDATE SET {sets}"

    @_once
    def delete_empty(self, table: sa.Table) -> str:
        """Delete a summary's row if every counter it sums is zero (a station's year keeps the issues raised in it
        when its visits are voided)."""
        keys = " AND ".join(f"{c.name} = {self.ph}" for c in table.primary_key.columns)
        summed = [c.name for c, greatest in zip(s.value_columns(table), combines(table), strict=True) if not greatest]
        return f"DELETE FROM {self.t(table)} WHERE {keys} AND {' AND '.join(f'{c} = 0' for c in summed)}"

    @_once
    def marks(self) -> str:
        """First occurrences: the earlier of the two, by each clock."""
        earliest = "{c} = CASE WHEN excluded.{c} < {t}.{c} THEN excluded.{c} ELSE {t}.{c} END"
        t = s.marks.name
        earlier = f"excluded.first_rec < {t}.first_rec"
        return (
            self.insert(s.marks, tuple(MARK_COLUMNS))
            + " ON CONFLICT (mark, year, subject_id) DO UPDATE SET "
            + f"node_id = CASE WHEN {earlier} THEN excluded.node_id ELSE {t}.node_id END, "
            + f"first_rec = CASE WHEN {earlier} THEN excluded.first_rec ELSE {t}.first_rec END, "
            + f"{earliest.format(c='first_occ', t=t)}, {earliest.format(c='first_known', t=t)}"
        )

    @_once
    def latest_day(self) -> str:
        t = self.t(s.projection_meta)
        return (
            f"INSERT INTO {t} (key, value) VALUES ({self.ph}, {self.ph}) ON CONFLICT (key) DO UPDATE SET value = "
            "CASE WHEN excluded.value > projection_meta.value THEN excluded.value ELSE projection_meta.value END"
        )

    def chunked(self, sql: str, n: int) -> str:
        """``sql`` with its ``IN (?)`` for ``n`` values."""
        return sql.replace("(?)", f"({self.marks_list(n)})")

    def rows_of(self, table: sa.Table, columns: Sequence[str]) -> str:
        return f"SELECT {', '.join(columns)} FROM {self.t(table)}"


def _combined(table: str, column: sa.Column) -> str:
    name = column.name
    if column.info.get("combine") == "max":
        return f"{name} = CASE WHEN excluded.{name} > {table}.{name} THEN excluded.{name} ELSE {table}.{name} END"
    return f"{name} = {table}.{name} + excluded.{name}"


@cache
def combines(table: sa.Table) -> tuple[bool, ...]:
    """Per counter of a summary: whether it keeps the greatest value (else: a sum)."""
    return tuple(c.info.get("combine") == "max" for c in s.value_columns(table))
