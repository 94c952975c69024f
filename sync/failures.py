"""Nodes whose store failed (a damaged file, a database that refuses the node's tables): what a sync process keeps of
them beside the stores, so that `yipanqi sync status` (another process) says which node, which file and which error,
while the process goes on syncing every other node it hosts.

A failure is one JSON file per node under ``YIPANQI_DATA_DIR/failed``; a sync process that opens the node's store
again without error removes it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import DatabaseError, IntegrityError, OperationalError

from domain.base import NodeRef
from domain.files import write_private
from domain.store import NodeStore, StoreSettings


@dataclass(frozen=True)
class StoreFailure:
    node: str  # node id
    code: str
    where: str  # the SQLite file, or the PostgreSQL tables
    error: str
    at: str  # ISO time

    @property
    def reason(self) -> str:
        return f"节点存储损坏, 已停用 the node's store failed: {self.where}: {self.error} (since {self.at})"


def is_store_damage(error: BaseException) -> bool:
    """Whether an error says the store itself is unusable (damaged, not a database), rather than busy or away for a
    while (locked, unreachable: those are retried) or a conflict the caller handles."""
    if isinstance(error, sqlite3.DatabaseError | DatabaseError):
        return not isinstance(error, sqlite3.OperationalError | OperationalError | IntegrityError)
    return isinstance(error, psycopg.DataError | psycopg.InternalError | psycopg.ProgrammingError)


def where(settings: StoreSettings, node: UUID, name: str) -> str:
    if settings.store == "sqlite":
        return str(settings.sqlite_path(node))
    return f"PostgreSQL tables {name}_*"


def _path(settings: StoreSettings, node: UUID) -> Path:
    return settings.data_dir / "failed" / f"{node}.json"


def record_failure(settings: StoreSettings, node: UUID, code: str, name: str, error: BaseException) -> StoreFailure:
    failure = StoreFailure(
        str(node), code, where(settings, node, name), f"{type(error).__name__}: {error}", datetime.now(UTC).isoformat()
    )
    path = _path(settings, node)
    write_private(path, json.dumps(asdict(failure), ensure_ascii=False))
    return failure


def clear_failure(settings: StoreSettings, node: UUID) -> None:
    _path(settings, node).unlink(missing_ok=True)


def failure_of(settings: StoreSettings, node: UUID) -> StoreFailure | None:
    try:
        return StoreFailure(**json.loads(_path(settings, node).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def open_store(node: NodeRef, settings: StoreSettings, log: Any) -> NodeStore | StoreFailure:
    """The node's store, read once to see that it is usable; or its failure (recorded, and logged with node and file)
    if the store is damaged. Other errors (a database away for a while) are raised."""
    store: NodeStore | None = None
    try:
        store = NodeStore(node, settings)
        store.books.max_notification_id()
        store.books.positions()
    except Exception as e:
        if not is_store_damage(e):
            raise
        level = settings.for_level(node.level)
        failure = record_failure(level, node.node_id, node.code, f"n{node.node_id.hex}", e)
        log.error("sync.node_failed", node=str(node.node_id), code=node.code, file=failure.where, error=failure.error)
        if store is not None:
            store.close()
        return failure
    clear_failure(store.settings, node.node_id)
    return store
