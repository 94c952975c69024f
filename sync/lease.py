"""One sync process per node: a process holds an exclusive lease on every node it hosts, for as long as it runs.

Two processes hosting the same node would run two ingests into one log and two relays over one stream: each keeps
its position in memory, so one overwrites the other's and a stream can go backwards or stop without a word. The
lease makes the second process refuse to start, naming the nodes and who holds them. SQLite stores: an advisory
lock on a file beside the store (``flock``: released by the kernel when the holder dies, even by SIGKILL);
PostgreSQL stores: a session advisory lock per node on one connection of the process (released when it closes).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from typing import IO, Any

import psycopg

from domain.base import NodeRef
from domain.store import NodeStore


class HostedElsewhere(RuntimeError):
    """Some of the nodes are hosted by another running sync process."""


class NodeLeases:
    def __init__(self, stores: Sequence[NodeStore]) -> None:
        self._files: list[IO[str]] = []
        self._pg: psycopg.Connection[Any] | None = None
        taken: list[str] = []
        try:
            for store in stores:
                holder = self._take(store)
                if holder is not None:
                    taken.append(f"{store.node.name}({store.node.code}){holder}")
        except BaseException:
            self.release()
            raise
        if taken:
            self.release()
            raise HostedElsewhere(
                f"已由另一个同步进程承载 already hosted by another running sync process: {', '.join(taken[:10])}"
                + (f" and {len(taken) - 10} more" if len(taken) > 10 else "")
            )

    def _take(self, store: NodeStore) -> str | None:
        """Take the node's lease; what is known of the holder (" pid N") if another process has it."""
        settings = store.settings
        if settings.store == "sqlite":
            path = settings.sqlite_path(store.node.node_id).with_suffix(".sync.lock")
            handle = open(path, "a+")  # noqa: SIM115 - held open for the life of the lease
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip()
                handle.close()
                return f" pid {holder}" if holder else ""
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            self._files.append(handle)
            return None
        if self._pg is None:
            assert settings.pg_dsn
            self._pg = psycopg.connect(settings.pg_dsn, autocommit=True)
        row = self._pg.execute("SELECT pg_try_advisory_lock(%s)", (_key(store.node),)).fetchone()
        return None if row and row[0] else ""

    def release(self) -> None:
        for handle in self._files:
            handle.close()  # closing the file releases its flock
        self._files.clear()
        if self._pg is not None:
            self._pg.close()
            self._pg = None


def _key(node: NodeRef) -> int:
    """A 64-bit advisory lock key per node (its stable id), apart from the store's table-creation lock."""
    return int.from_bytes(node.node_id.bytes[:8], "big", signed=True)
