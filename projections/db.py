"""Where a node's read models live, beside its log: a SQLite file per node, or a PostgreSQL schema per node.

- SQLite: ``<data_dir>/nodes/<node id>.views.sqlite`` (a rebuild writes ``<node id>.views.<variant>.sqlite`` aside);
- PostgreSQL: schema ``v_<node hex>`` in the store's database (aside: ``v_<node hex>_<variant>``); the tables are
  defined without a schema and every connection maps them with ``schema_translate_map``.

Opening runs the package's Alembic migrations (no alembic.ini: the script location is the package) and refreshes
the ``nodes`` dimension from the hierarchy. Writers (projector batches, the swap of a rebuild) hold the database's
writer lock: a file lock on SQLite, a transaction-scoped advisory lock on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from domain.base import NodeRef
from domain.files import private_sqlite
from domain.hierarchy import Hierarchy
from domain.levels import Level
from domain.store import StoreSettings
from projections import schema as s

MAIN = "main"
WORK_MEM = "64MB"  # per sort or hash of a PostgreSQL query (see ``_make_engine``)
_LEVELS = ("province", "prefecture", "county", "township")


class _Held:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.depth = 0


_process_locks: dict[str, _Held] = {}
_process_locks_guard = threading.Lock()


class ProjectionDB:
    """One node's read-model database (or an aside copy of it, ``variant``)."""

    def __init__(
        self, node: NodeRef, settings: StoreSettings | None = None, *, variant: str = "", hierarchy: Hierarchy | None = None
    ) -> None:
        self.node = node
        self.settings = (settings or StoreSettings()).for_level(node.level)
        self.variant = variant
        self.hierarchy = hierarchy
        self.backend = self.settings.store
        self._engine: Engine | None = None
        self._inode: int | None = None
        self._bulk = False
        if self.backend == "sqlite":
            self.path: Path | None = self.sqlite_path(node.node_id, self.settings, variant)
            self.schema: str | None = None
        else:
            if not self.settings.pg_dsn:
                raise ValueError("YIPANQI_STORE=postgres needs YIPANQI_PG_DSN")
            self.path = None
            self.schema = self.pg_schema(node.node_id, variant)

    # ------------------------------------------------------------------------------------------- naming

    @staticmethod
    def sqlite_path(node_id: UUID, settings: StoreSettings, variant: str = "") -> Path:
        suffix = f".views.{variant}.sqlite" if variant else ".views.sqlite"
        return settings.data_dir / "nodes" / f"{node_id}{suffix}"

    @staticmethod
    def pg_schema(node_id: UUID, variant: str = "") -> str:
        return f"v_{node_id.hex}" + (f"_{variant}" if variant else "")

    @property
    def where(self) -> str:
        return str(self.path) if self.path is not None else f"PostgreSQL schema {self.schema}"

    def qualified(self, table: sa.Table) -> str:
        """A table's name for hand-written SQL (executemany of plain tuples is several times faster than Core)."""
        return f'"{self.schema}"."{table.name}"' if self.schema else table.name

    @property
    def placeholder(self) -> str:
        return "?" if self.backend == "sqlite" else "%s"

    @property
    def dialect(self) -> str:
        return "sqlite" if self.backend == "sqlite" else "postgresql"

    # ------------------------------------------------------------------------------------------ engines

    @property
    def engine(self) -> Engine:
        if self._engine is None or self._replaced():
            self.dispose()
            self._engine = self._make_engine()
        return self._engine

    def _make_engine(self) -> Engine:
        if self.backend == "sqlite":
            assert self.path is not None
            private_sqlite(self.path)  # the views hold personal data (masked or not): 0600 in a folder of 0700
            engine = sa.create_engine(f"sqlite:///{self.path}", poolclass=sa.pool.QueuePool, pool_size=2, max_overflow=4)
            bulk = self._bulk

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _: Any) -> None:
                cur = dbapi_connection.cursor()
                cur.execute("PRAGMA busy_timeout = 30000")
                if bulk:  # an aside build: nobody reads it, and a crash or an error just means building it again
                    cur.execute("PRAGMA journal_mode = OFF")
                    cur.execute("PRAGMA synchronous = OFF")
                else:
                    cur.execute("PRAGMA journal_mode = WAL")
                    cur.execute("PRAGMA synchronous = NORMAL")
                cur.execute("PRAGMA cache_size = -65536")
                cur.execute("PRAGMA temp_store = MEMORY")
                cur.close()

            self._inode = self.path.stat().st_ino if self.path.exists() else None
            return engine
        url = sa.engine.make_url(self.settings.pg_dsn).set(drivername="postgresql+psycopg")  # type: ignore[arg-type]
        # As-of views group a year of facts by deputy (100,000+ groups at a province): with the server's default 4 MB
        # their hash aggregates spill to disk; like SQLite's cache above, the views' connections get more memory.
        # JIT off: the server compiles any statement its planner thinks costly, and at a province a view's statements
        # cost more to compile (0.8 s measured for one as-of statement) than to run.
        options = f"-c work_mem={WORK_MEM} -c jit=off"
        return sa.create_engine(url, pool_size=1, max_overflow=4, pool_pre_ping=True, connect_args={"options": options})

    def _replaced(self) -> bool:
        """SQLite: the file was swapped by a rebuild (another inode): reconnect to the new one."""
        if self.path is None or self._inode is None:
            if self.path is not None and self._inode is None and self.path.exists() and self._engine is not None:
                self._inode = self.path.stat().st_ino
            return False
        try:
            return self.path.stat().st_ino != self._inode
        except FileNotFoundError:
            return False

    def bulk_mode(self) -> ProjectionDB:
        """Faster, non-durable writes (aside builds). Call before the first connection."""
        self._bulk = True
        return self

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield self._translated(conn)

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield self._translated(conn)

    def _translated(self, conn: Connection) -> Connection:
        if self.schema:
            return conn.execution_options(schema_translate_map={None: self.schema})
        return conn

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._inode = None

    close = dispose

    # --------------------------------------------------------------------------------------- life cycle

    def exists(self) -> bool:
        if self.path is not None:
            return self.path.exists()
        with self.engine.connect() as conn:
            found = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :n"), {"n": self.schema}).first()
        return found is not None

    def open(self) -> ProjectionDB:
        """Create or migrate the database to the package's head revision; refresh the node dimension."""
        from projections.migrate import upgrade

        if self.schema:
            with self.engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        with self.begin() as conn:
            upgrade(conn, self.schema)
        if self.path is not None and self._inode is None:
            self._inode = self.path.stat().st_ino
        self.refresh_nodes()
        return self

    def drop(self) -> None:
        """Delete the database (an aside copy after a failed build, or a test's)."""
        if self.path is not None:
            self.dispose()
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f"{self.path}{suffix}")
            return
        with self.engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.dispose()

    def secondary_indexes(self) -> list[sa.Index]:
        """The indexes a bulk build creates at its end; not those the projector itself looks rows up by."""
        return [index for table in s.metadata.sorted_tables for index in table.indexes if not index.info.get("projector")]

    def drop_secondary_indexes(self) -> None:
        """Before a bulk build: rows go in faster without them (primary keys stay: the projector looks up by them)."""
        with self.begin() as conn:
            for index in self.secondary_indexes():
                name = f'"{self.schema}"."{index.name}"' if self.schema else f'"{index.name}"'
                conn.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))

    def create_secondary_indexes(self) -> None:
        with self.begin() as conn:
            for index in self.secondary_indexes():
                index.create(conn, checkfirst=True)
            if self.backend == "sqlite":
                conn.execute(sa.text("PRAGMA analysis_limit = 1000"))
                conn.execute(sa.text("ANALYZE"))
        if self.backend != "sqlite":
            # VACUUM as well as ANALYZE: bulk-built tables have no visibility map yet (every index scan visits the heap),
            # and autovacuum would otherwise scan them all in the first minutes of service, beside the first queries.
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in s.metadata.sorted_tables:
                    conn.exec_driver_sql(f"VACUUM (ANALYZE) {self.qualified(table)}")

    def durable(self) -> None:
        """After a bulk build, before it goes live: back to the live database's journal (WAL) and syncing."""
        if self.backend == "sqlite":
            self.dispose()
            self._bulk = False
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode = WAL")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            self.dispose()

    # ----------------------------------------------------------------------------------------- locking

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Exclusive among writers of this database, across processes (SQLite: a file lock; PostgreSQL: a session
        advisory lock on a connection of its own). Re-entrant within a thread."""
        key = self.lock_key
        with _process_locks_guard:
            holder = _process_locks.setdefault(key, _Held())
        with holder.lock:
            holder.depth += 1
            try:
                if holder.depth > 1:
                    yield
                elif self.path is not None:
                    lock_path = Path(f"{self.path}.lock")
                    lock_path.parent.mkdir(parents=True, exist_ok=True)
                    with open(lock_path, "a+") as handle:
                        fcntl.flock(handle, fcntl.LOCK_EX)
                        try:
                            yield
                        finally:
                            fcntl.flock(handle, fcntl.LOCK_UN)
                else:
                    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
                    with self.engine.connect() as conn:
                        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": number})
                        conn.commit()
                        try:
                            yield
                        finally:
                            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": number})
                            conn.commit()
            finally:
                holder.depth -= 1

    @property
    def lock_key(self) -> str:
        return f"yipanqi-views:{self.path}" if self.path is not None else f"yipanqi-views:{self.schema}"

    # ------------------------------------------------------------------------------------------- state

    def position(self) -> int:
        with self.connect() as conn:
            row = conn.execute(sa.select(s.projection_state.c.position).where(s.projection_state.c.name == MAIN)).first()
        return int(row[0]) if row else 0

    def state(self) -> dict[str, Any]:
        with self.connect() as conn:
            row = conn.execute(sa.select(s.projection_state).where(s.projection_state.c.name == MAIN)).mappings().first()
            skips = conn.execute(sa.select(s.projection_skips).order_by(s.projection_skips.c.topic)).mappings().all()
        base = dict(row) if row else {"position": 0, "events": 0, "skipped": 0, "unknown": 0, "updated_at": None}
        base["skips"] = [dict(r) for r in skips]
        return base

    # -------------------------------------------------------------------------------------- dimension

    def refresh_nodes(self) -> None:
        """The node dimension: this node's subtree as the hierarchy has it today (codes and names may change; ids
        never do, so facts keep pointing at the right division)."""
        hierarchy = self.hierarchy or Hierarchy.load()
        rows = node_rows(hierarchy, self.node.node_id)
        digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:32]
        with self.begin() as conn:
            meta = s.projection_meta
            current = conn.execute(sa.select(meta.c.value).where(meta.c.key == "nodes")).scalar()
            if current == digest:
                return
            conn.execute(s.nodes.delete())
            conn.execute(s.nodes.insert(), rows)
            conn.execute(meta.delete().where(meta.c.key == "nodes"))
            conn.execute(meta.insert().values(key="nodes", value=digest))


def node_rows(hierarchy: Hierarchy, root: UUID) -> list[dict[str, Any]]:
    rows = []
    for division in hierarchy.subtree(root):
        ref = hierarchy.ref(division)
        row: dict[str, Any] = {
            "node_id": division.id.hex,
            "code": ref.code,
            "name": ref.name,
            "level": ref.level.value,
            "kind": ref.kind.value,
            "has_congress": ref.has_congress,
            "parent_id": division.parent_id.hex if division.parent_id else None,
            "depth": ref.level.depth,
        }
        for level in _LEVELS:
            row.update({f"{level}_id": None, f"{level}_code": None, f"{level}_name": None})
        for up in hierarchy.path(division):
            up_ref = hierarchy.ref(up)
            row[f"{up_ref.level.value}_id"] = up.id.hex
            row[f"{up_ref.level.value}_code"] = up_ref.code
            row[f"{up_ref.level.value}_name"] = up_ref.name
        rows.append(row)
    return rows


def level_column(level: Level | str) -> str:
    return f"{Level(level).value}_id"
