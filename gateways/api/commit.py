"""Group commit: the commands of one node are decided one at a time and committed together.

Commands run on the server's event loop: each loads, decides and takes its events as rows without yielding to
another request (the reads are short indexed ones), so decisions in one process never interleave. It then queues
its rows (with its stored answer, when it has an Idempotency-Key) and awaits its commit; the node's writer thread
writes everything queued in one transaction, so concurrent commands share one commit (on SQLite, one fsync of the
write-ahead log) and the loop goes on deciding while the disk works. An answer is sent only after its commit.

Two rules keep this correct:

- A decision reads committed state only: anything a queued command writes (an aggregate, an idempotency key) is
  committed before another decision reads it (``settle``), so no decision rests on a write that may yet fail.
- One command's failure must not fail the others: when the shared transaction fails (a write from another process
  took a version or a key), each command of the group is written again in a transaction of its own, and only
  those that fail get the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from eventsourcing.persistence import IntegrityError

from domain.persistence import EventRow, StoredAnswer
from domain.store import NodeStore


@dataclass
class Queued:
    """One decided command waiting for its commit: its events as rows, its answer (stored with an idempotency
    key), and what it writes."""

    rows: list[EventRow]
    status: int
    body: bytes  # the answer's JSON
    stored: StoredAnswer | None
    writes: frozenset[Hashable]  # aggregate ids and (principal, key) pairs
    error: Exception | None = None
    done: asyncio.Future[None] | None = field(default=None, repr=False)


class GroupCommit:
    """One node's queue of decided commands and its writer thread (see the module's docstring)."""

    def __init__(self, store: NodeStore) -> None:
        self.store = store
        self._queue: list[Queued] = []
        self._written: set[Hashable] = set()  # what the queued and the in-flight commands write
        self._writing = False
        self._kick_pending = False
        self._closed = False
        self._changed = threading.Condition()  # guards the fields above; notified when work comes or is done
        self._writer: threading.Thread | None = None
        self._answers: OrderedDict[tuple[str, str], StoredAnswer] = OrderedDict()  # the latest ones committed here

    async def commit(self, queued: Queued) -> None:
        """Queue a decided command and wait until it is committed; raises its error if its write failed."""
        loop = asyncio.get_running_loop()
        done = queued.done = loop.create_future()
        with self._changed:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_forever, name=f"commit-{self.store.node.code}", daemon=True)
                self._writer.start()
            self._queue.append(queued)
            self._written |= queued.writes
            if not self._kick_pending:
                # An idle writer is woken once the loop has run what is ready now: the other requests that came in
                # together are decided by then and go into the same group.
                self._kick_pending = True
                loop.call_soon(self._kick)
        await asyncio.shield(done)  # a client that hangs up does not cancel the commit

    def _kick(self) -> None:
        with self._changed:
            self._kick_pending = False
            self._changed.notify_all()

    def settle(self, *reads: Hashable) -> None:
        """Before a decision reads any of ``reads``: if a queued or in-flight command writes one of them, wait until
        the writer has committed everything queued. Rare (two concurrent commands on one aggregate), so it simply
        blocks the loop meanwhile; the writer needs no loop to finish."""
        with self._changed:
            if self._written.isdisjoint(reads):
                return
            self._changed.notify_all()  # the writer may be waiting for a kick the blocked loop cannot give
            while self._queue or self._writing:
                self._changed.wait()

    def answered(self, principal: str, key: str) -> StoredAnswer | None:
        """The answer this process committed for an idempotency key, if it is among the latest 10,000: a retry of
        it is answered without being decided again (a stored answer never changes). Call ``settle`` first."""
        with self._changed:
            return self._answers.get((principal, key))

    def close(self) -> None:
        """Stop the writer once it has written what is queued."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._writer is not None:
            self._writer.join(timeout=30)

    def _write_forever(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closed:
                    self._changed.wait()
                if not self._queue:
                    return
                group, self._queue = self._queue, []
                self._writing = True
            self._write(group)
            with self._changed:
                self._remember(group)
                self._writing = False
                self._written = set().union(*(q.writes for q in self._queue))
                self._changed.notify_all()
            _resolve(group)

    def _remember(self, group: Sequence[Queued]) -> None:
        for queued in group:
            if queued.stored is not None and queued.error is None:
                self._answers[(queued.stored.principal, queued.stored.key)] = queued.stored
        while len(self._answers) > 10_000:
            self._answers.popitem(last=False)

    def _write(self, group: Sequence[Queued]) -> None:
        """In one transaction, else one transaction per command; each command's error is kept on it."""
        try:
            self._append(group)
        except IntegrityError:
            for queued in group:
                try:
                    self._append([queued])
                except Exception as e:  # noqa: BLE001 - the command's own failure, raised to its request
                    queued.error = e
        except Exception as e:  # noqa: BLE001 - e.g. the disk is full: every command of the group failed
            for queued in group:
                queued.error = e

    def _append(self, group: Sequence[Queued]) -> None:
        rows = [row for queued in group for row in queued.rows]
        answers = [queued.stored for queued in group if queued.stored is not None]
        self.store.append_rows(rows, beside=answers)


def _resolve(group: Sequence[Queued]) -> None:
    """Hand the outcomes to the requests waiting on the loop: one wake-up of the loop for the whole group."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Queued]] = {}
    for queued in group:
        if queued.done is not None:
            by_loop.setdefault(queued.done.get_loop(), []).append(queued)
    for loop, waiting in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_deliver, waiting)


def _deliver(waiting: Sequence[Queued]) -> None:
    for queued in waiting:
        done = queued.done
        if done is not None and not done.done():
            if queued.error is not None:
                done.set_exception(queued.error)
            else:
                done.set_result(None)
