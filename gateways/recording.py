"""Recording simulated activity into node stores: in bulk, resumable, with progress for people watching.

The simulator (:mod:`domain.simulation`) runs in a process of its own (given a second core), which encodes each
batch into rows as it is yielded — ``NodeStore.take_rows``: the simulator goes on changing its aggregates after
yielding them — and sends the rows here. This process buffers them per node and hands a node's buffer to one of a
few writer threads, which appends it in one transaction with its record: when the buffer is large, when it is the
biggest and all of them together pass ``buffer_bytes`` (bounded memory), and at the end. A store is opened a few
times in a run, not once per simulated day.

Resume and extend: beside each append, in its transaction, a node's store keeps how far its simulation is recorded
(stream ``simulation``: days and events recorded, and the run's parameters). A run with the same parameters
(region and its nodes, start, seed, scale, simulator version) simulates again from the first day — the simulator
is deterministic and a longer run begins exactly as a shorter one — skips at every node what its store holds
(checking that it would have simulated as many events there) and records the rest: after a crash, even
``kill -9``, nothing is written twice and nothing is missing, and a larger ``days`` extends a run. Stores holding
a run with other parameters are refused, naming the difference.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import chain
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from domain.base import NodeRef
from domain.hierarchy import Hierarchy
from domain.persistence import Beside, DataKeyRow, NewDataKeys, StreamPosition
from domain.persistence.datakeys import KeyMinter, master_key
from domain.simulation import VERSION, SimulationStats, simulate
from domain.store import NodeStore, NodeStores, StoreSettings

__all__ = ["BUFFER_BYTES", "SIMULATION_STREAM", "Recording", "RunParameters", "SimulationMismatch", "record_simulation"]

#: The stream under which a node's store keeps how far its simulated events are recorded.
SIMULATION_STREAM = "simulation"

#: Bytes of rows (pickled) held at most: buffered, or handed to the writer threads and not yet appended.
BUFFER_BYTES = 256 * 2**20

#: A node's buffer is appended once it holds this much: a transaction large enough that what it costs besides its
#: rows (opening the store, committing, syncing the disk) is small, and writing goes on while the simulator runs.
_NODE_BYTES = 2 * 2**20

#: What a buffered batch costs besides its bytes: the bytes object and a list slot.
_BLOB_OVERHEAD = 40

#: Threads appending to stores (a node always in the same one).
_WRITER_THREADS = 4

#: Rows per message from the simulator's process (also sent at the end of every simulated day).
_MESSAGE_ROWS = 4000

#: Messages read ahead from the simulator's process (~2 MB each): it goes on while this process appends.
_INBOX = 32

#: Seconds between progress lines when the output is not a terminal.
_LOG_EVERY_S = 10.0


class SimulationMismatch(ValueError):
    """The stores hold a simulation that this run cannot continue: other parameters, or other simulated events."""


# ================================================================================================= parameters


@dataclass(frozen=True)
class RunParameters:
    """What must be the same for a run to continue another: the simulator draws from one generator for all nodes,
    so the node list counts, not only the region."""

    region: str
    nodes: str  # how many nodes, and a digest of their ids in order
    start: date
    seed: int
    scale: float
    version: int = VERSION

    @classmethod
    def of(cls, region: str, refs: Sequence[NodeRef], *, start: date, seed: int, scale: float) -> RunParameters:
        digest = hashlib.sha256(b"".join(ref.node_id.bytes for ref in refs)).hexdigest()[:12]
        return cls(region, f"{len(refs)}:{digest}", start, seed, float(scale))

    def fields(self) -> dict[str, str]:
        return {
            "version": str(self.version),
            "region": self.region,
            "nodes": self.nodes,
            "start": self.start.isoformat(),
            "seed": str(self.seed),
            "scale": repr(self.scale),
        }

    def record(self, days: int, events: int) -> StreamPosition:
        """What a node's store keeps beside an append: ``days`` of the node's simulation and ``events`` recorded."""
        text = " ".join(f"{k}={v}" for k, v in self.fields().items())
        return StreamPosition(SIMULATION_STREAM, days, f"{text} events={events}")

    def held(self, record: StreamPosition, node: NodeRef) -> tuple[int, int]:
        """(days, events) a store's record says it holds of this run; a clear error if it is another run's."""
        stored = dict(item.partition("=")[::2] for item in record.link.split())
        events = stored.pop("events", "")
        differences = [f"{k} {stored.get(k, '?')} there, {v} here" for k, v in self.fields().items() if stored.get(k) != v]
        if differences or not events.isdigit():
            raise SimulationMismatch(
                f"{node}'s store holds a simulation with other parameters ({'; '.join(differences) or record.link!r}): "
                "run with the parameters it was recorded with to resume or extend it, or record into another data "
                "directory (YIPANQI_DATA_DIR) or database"
            )
        return record.position, int(events)


# ================================================================================================== recording


@dataclass
class Recording:
    """What a run recorded and what it cost."""

    stats: SimulationStats  # events recorded by this run (not those it skipped)
    days: int
    resumed_nodes: int = 0  # nodes whose stores held part of the run already
    skipped: int = 0  # events simulated again but not written: their stores hold them
    wall_s: float = 0.0
    simulate_s: float = 0.0  # in the simulator (its process)
    encode_s: float = 0.0  # events into rows (the simulator's process)
    simulator_cpu_s: float = 0.0
    write_s: float = 0.0  # appending, stores opened included, summed over the writer threads
    transactions: int = 0
    peak_buffer_bytes: int = 0
    processes: int = 1

    @property
    def events_per_s(self) -> float:
        return self.stats.total / self.wall_s if self.wall_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.stats.total,
            "days": self.days,
            "resumed_nodes": self.resumed_nodes,
            "skipped_events": self.skipped,
            "wall_s": round(self.wall_s, 2),
            "events_per_s": round(self.events_per_s),
            "simulate_s": round(self.simulate_s, 2),
            "encode_s": round(self.encode_s, 2),
            "simulator_cpu_s": round(self.simulator_cpu_s, 2),
            "write_s": round(self.write_s, 2),
            "transactions": self.transactions,
            "peak_buffer_bytes": self.peak_buffer_bytes,
            "processes": self.processes,
        }


def record_simulation(
    hierarchy: Hierarchy,
    region: Any,
    stores: NodeStores,
    *,
    days: int,
    start: date,
    seed: int,
    scale: float,
    console: Console,
    nodes: list[NodeRef] | None = None,
    every_days: tuple[int, Callable[[], Any]] | None = None,
    buffer_bytes: int = BUFFER_BYTES,
    processes: int | None = None,
) -> Recording:
    """Simulate ``days`` of the region's activity into its nodes' stores, continuing what they hold of this run.

    ``nodes`` defaults to the region's subtree. ``every_days=(k, f)``: after the master data and every k-th
    simulated day, append everything buffered and call ``f`` (the demo syncs while it records). ``processes=2``
    simulates in a process of its own (the default where there are two cores or more), 1 in this one.
    """
    if days < 0 or buffer_bytes <= 0 or (every_days is not None and every_days[0] < 1):
        raise ValueError(f"days must be >= 0, buffer_bytes and every_days > 0 (got {days}, {buffer_bytes}, {every_days})")
    refs = tuple(nodes or [hierarchy.ref(d) for d in hierarchy.subtree(region)])
    params = RunParameters.of(region.code, refs, start=start, seed=seed, scale=scale)
    held = _held(stores, refs, params)
    processes = processes or (2 if (os.cpu_count() or 1) > 1 else 1)
    recording = Recording(SimulationStats(), days, resumed_nodes=len(held), processes=processes)
    if len(held) == len(refs) and all(h[0] >= days for h in held.values()):
        console.print(f"[bold]已记录 recorded already:[/] every node's store holds these {days} days")
        return recording
    started = time.perf_counter()
    with _Writers(stores.settings, refs) as writers, _Progress(console, f"模拟 {len(refs)} 个节点", days) as progress:
        buffers = _Buffers(writers, params, held, buffer_bytes)
        with _simulator(
            _Job(refs, days, start, seed, scale, held, data_dir=str(stores.settings.data_dir)), processes
        ) as messages:
            _record(messages, buffers, progress, every_days, recording)
        buffers.flush_all()
        buffers.record_all(days)
        writers.drain()
    recording.wall_s = time.perf_counter() - started
    recording.write_s, recording.transactions, recording.peak_buffer_bytes = writers.busy_s, writers.done, buffers.peak
    return recording


def _record(
    messages: Iterator[tuple[Any, ...]],
    buffers: _Buffers,
    progress: _Progress,
    every_days: tuple[int, Callable[[], Any]] | None,
    recording: Recording,
) -> None:
    """Buffer the simulator's rows; after each simulated day, show progress (and append all, every k days)."""
    for message in messages:
        if message[0] == "rows":
            for i, day, rows, count, keys in message[1]:
                buffers.add(i, day, rows, count, keys)
        elif message[0] == "day":
            _, day, events, skipped = message
            buffers.days_done = day + 1
            progress.update(day + 1, events, skipped)
            if every_days and (day + 1) % every_days[0] == 0:
                buffers.flush_all()
                buffers.writers.drain()
                every_days[1]()
        else:
            _, recording.stats, recording.simulate_s, recording.encode_s, recording.simulator_cpu_s, recording.skipped = message


def _held(stores: NodeStores, refs: Sequence[NodeRef], params: RunParameters) -> dict[int, tuple[int, int]]:
    """Node index → (days, events) its store holds of this run, for the nodes whose stores hold some."""
    held = {}
    for i, ref in enumerate(refs):
        if stores.exists(ref):
            record = stores.open(ref).recorder.positions().get(SIMULATION_STREAM)  # type: ignore[attr-defined]
            if record is not None:
                held[i] = params.held(record, ref)
    return held


class _Buffers:
    """Rows waiting to be appended, per node. A node's buffer goes in one transaction, with its record beside it."""

    def __init__(self, writers: _Writers, params: RunParameters, held: dict[int, tuple[int, int]], buffer_bytes: int) -> None:
        self.writers, self.params = writers, params
        self.cap = buffer_bytes - buffer_bytes // 4  # the rest may be on its way to the stores (``_Writers``)
        self.in_flight = buffer_bytes // 4
        self.node_cap = min(_NODE_BYTES, buffer_bytes // 8)
        self.events = {i: events for i, (_, events) in held.items()}  # what each store holds of this run
        self.days = {i: days for i, (days, _) in held.items()}  # how many days of the run each store holds
        self.days_done = 0  # days whose batches have all come
        self.rows: dict[int, list[bytes]] = {}  # per node, its batches' rows as the simulator pickled them
        self.keys: dict[int, list[DataKeyRow]] = {}  # per node, the data keys sealing personal data in those rows
        self.count: dict[int, int] = {}
        self.size: dict[int, int] = {}
        self.last_day: dict[int, int] = {}
        self.total = self.peak = 0

    def add(self, i: int, day: int, rows: bytes, count: int, keys: list[DataKeyRow]) -> None:
        size = len(rows) + _BLOB_OVERHEAD
        self.rows.setdefault(i, []).append(rows)
        if keys:
            self.keys.setdefault(i, []).extend(keys)
        self.count[i] = self.count.get(i, 0) + count
        self.size[i] = self.size.get(i, 0) + size
        self.last_day[i] = day
        self.total += size
        self.peak = max(self.peak, self.total + self.writers.pending)
        if self.size[i] >= self.node_cap:
            self.flush(i)
        while self.total > self.cap:
            # The biggest, only as many as needed: the others grow, and the fewer the transactions (each costs
            # about as much as appending 300 rows: opening the store, committing, checkpointing when it closes).
            self.flush(max(self.size, key=self.size.__getitem__))

    def flush_all(self) -> None:
        for i in list(self.rows):
            self.flush(i)

    def record_all(self, days: int) -> None:
        """At the end: a record of all ``days`` at every node whose store says less (no rows came since its last
        append, or none at all), so that running the same days again finds nothing to do."""
        for i in range(len(self.writers.refs)):
            if self.days.get(i, -1) < days:
                self.rows[i], self.count[i], self.size[i], self.last_day[i] = [], 0, 0, days - 1
                self.flush(i)

    def flush(self, i: int) -> None:
        rows, size = self.rows.pop(i), self.size.pop(i)
        self.total -= size
        events = self.events.get(i, 0) + self.count.pop(i)
        # The node's days up to and including its last buffered one are stored, and so are the days whose batches
        # have all come: the simulator yields one batch per node and day, in order of days.
        days = max(self.last_day.pop(i) + 1, self.days_done)
        record = self.params.record(days, events)
        self.writers.append(i, rows, record, size, self.keys.pop(i, []), wait_below=self.in_flight)
        self.events[i], self.days[i] = events, days


#: What a writer thread appends: node index, pickled batches of rows, the run's record, bytes, data keys.
_WriteTask = tuple[int, list[bytes], StreamPosition, int, list[DataKeyRow]]


class _Writers:
    """Appends in a few threads, each with stores of its own; a node always goes to the same thread, so its appends
    stay in order. Appending is mostly waiting for the disk (a commit, a checkpoint when a store closes) and stores
    are separate files (or connections): appends to different stores overlap, and with the simulator."""

    def __init__(self, settings: StoreSettings, refs: Sequence[NodeRef]) -> None:
        self.refs = refs
        threads = _WRITER_THREADS
        per_thread = settings.model_copy(update={"open_stores": max(1, settings.open_stores // threads)})
        self.queues: list[queue.Queue[_WriteTask | None]] = []
        self.threads = []
        for k in range(threads):
            self.queues.append(queue.Queue())
            thread = threading.Thread(target=self._run, args=(self.queues[k], per_thread), daemon=True)
            self.threads.append(thread)
        self.changed = threading.Condition()
        self.pending = 0  # bytes handed over and not yet appended
        self.error: BaseException | None = None
        self.done = 0
        self.busy_s = 0.0

    def __enter__(self) -> _Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        for q in self.queues:
            q.put(None)
        for thread in self.threads:
            thread.join()

    def append(
        self, i: int, rows: list[bytes], record: StreamPosition, size: int, keys: list[DataKeyRow], *, wait_below: int
    ) -> None:
        """Hand a node's rows over; wait while more than ``wait_below`` bytes are on their way (bounded memory)."""
        with self.changed:
            self.changed.wait_for(lambda: self.pending <= wait_below or self.error is not None)
            self._raise()
            self.pending += size
        self.queues[i % len(self.queues)].put((i, rows, record, size, keys))

    def drain(self) -> None:
        """Wait until everything handed over is appended (or one append failed: its error)."""
        with self.changed:
            self.changed.wait_for(lambda: self.pending == 0 or self.error is not None)
            self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self, tasks: queue.Queue[_WriteTask | None], settings: StoreSettings) -> None:
        with NodeStores(settings) as stores:
            while (task := tasks.get()) is not None:
                i, rows, record, size, keys = task
                started = time.perf_counter()
                try:
                    if self.error is None:
                        batches = map(pickle.loads, rows)  # unpickled as they are inserted (SQLite takes them lazily)
                        # The data keys in the events' transaction: an event is never stored without its key.
                        beside: list[Beside] = [record, *([NewDataKeys(tuple(keys))] if keys else [])]
                        stores.open(self.refs[i]).append_rows(chain.from_iterable(batches), beside=beside)
                except BaseException as e:  # noqa: BLE001 - handed to the recording thread
                    self.error = self.error or _conflict(self.refs[i], e)
                with self.changed:
                    self.pending -= size
                    self.done += self.error is None
                    self.busy_s += time.perf_counter() - started
                    self.changed.notify_all()


def _conflict(ref: NodeRef, error: BaseException) -> BaseException:
    """A clear error for a store that holds some of the events without a record of the run."""
    if not isinstance(error, IntegrityError):
        return error
    return SimulationMismatch(
        f"{ref}'s store holds some of these events already, without a record of this run (recorded by an earlier "
        f"version, or other data): record into another data directory or database ({error})"
    )


# ================================================================================================= simulator


@dataclass(frozen=True)
class _Job:
    """What the simulator's side needs: the run, and what the stores hold of it (node index → (days, events))."""

    refs: tuple[NodeRef, ...]
    days: int
    start: date
    seed: int
    scale: float
    held: dict[int, tuple[int, int]]
    scratch: str = ""  # a directory the encoder's store may use, made and removed by the recording process
    data_dir: str = "var"  # where the nodes' master keys are (``domain.persistence.datakeys``)


@dataclass
class _Producer:
    """The simulator's side: encoded rows per node and day, without what the stores hold, then a mark per day."""

    job: _Job
    stats: SimulationStats = field(default_factory=SimulationStats)
    simulate_s: float = 0.0
    encode_s: float = 0.0
    pending: list[tuple[int, int, bytes, int, list[DataKeyRow]]] = field(default_factory=list)  # (node, day, pickled
    # rows, rows, the data keys made for them)
    pending_rows: int = 0

    def __post_init__(self) -> None:
        self.keyrings: dict[int, KeyMinter] = {}  # per node: the keys sealing its personal data, made here
        self.skipped = [0] * len(self.job.refs)  # per node: events simulated again, held by its store
        self.checks: dict[int, list[int]] = {}  # day → nodes whose stores hold the run up to that day
        for i, (held_days, _) in self.job.held.items():
            self.checks.setdefault(held_days - 1, []).append(i)

    def messages(self) -> Iterator[tuple[Any, ...]]:
        job = self.job
        cpu = time.process_time()
        index = {ref.code: i for i, ref in enumerate(job.refs)}  # codes: a str hashes faster than a UUID
        day = -1  # the day whose batches come (-1: master data)
        with _encoder(job.refs[0], Path(job.scratch)) as encoder:
            batches = simulate(job.refs, days=job.days, start=job.start, seed=job.seed, scale=job.scale)
            while True:
                started = time.perf_counter()
                batch = next(batches, None)
                encoding = time.perf_counter()
                self.simulate_s += encoding - started
                d = job.days if batch is None else -1 if batch.day is None else (batch.day - job.start).days
                while day < d and day < job.days:
                    yield from self._day_done(day)
                    day += 1
                if batch is None:
                    break
                i = index[batch.node.code]
                if d < job.held.get(i, (-1, 0))[0]:
                    self.skipped[i] += sum(len(a.collect_events()) for a in batch.aggregates)
                    continue
                self.stats.add(batch)
                # Ids as hex: what the SQLite recorder stores, and a str pickles in far fewer bytes than a UUID.
                keyring = self._keyring(i)
                rows = [(_hex(r[0]), r[1], r[2], r[3]) for r in encoder.take_rows(batch.aggregates, keyring)]
                # Pickled here, once: the recording process keeps the bytes as they are until it appends them.
                blob = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
                self.pending.append((i, d, blob, len(rows), keyring.take_rows()))
                self.encode_s += time.perf_counter() - encoding
                self.pending_rows += len(rows)
                if self.pending_rows >= _MESSAGE_ROWS:
                    yield from self._send()
        yield ("end", self.stats, self.simulate_s, self.encode_s, time.process_time() - cpu, sum(self.skipped))

    def _keyring(self, i: int) -> KeyMinter:
        keyring = self.keyrings.get(i)
        if keyring is None:
            master = master_key(Path(self.job.data_dir), self.job.refs[i].node_id)
            assert master is not None  # noqa: S101 - made when missing
            keyring = self.keyrings[i] = KeyMinter(master)
        return keyring

    def _send(self) -> Iterator[tuple[Any, ...]]:
        if self.pending:
            yield ("rows", self.pending)
            self.pending, self.pending_rows = [], 0

    def _day_done(self, day: int) -> Iterator[tuple[Any, ...]]:
        yield from self._send()
        yield ("day", day, self.stats.total, sum(self.skipped))
        for i in self.checks.get(day, ()):
            held_days, held_events = self.job.held[i]
            if self.skipped[i] != held_events:
                raise SimulationMismatch(
                    f"{self.job.refs[i]}'s store holds {held_events} events of this run up to day {held_days}, but "
                    f"the simulator (version {VERSION}) now makes {self.skipped[i]} there: its code changed without "
                    "a new version; record into another data directory or database"
                )


def _hex(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


@contextmanager
def _encoder(node: NodeRef, scratch: Path) -> Iterator[NodeStore]:
    """A store in memory, used only for its mapper: rows encoded as every node store encodes them (the backend does
    not change how events are mapped; a cipher or compressor set in the environment applies to both). Its settings
    want a data directory (left empty): ``scratch``."""
    store = NodeStore(node, StoreSettings(store="sqlite", store_levels="", data_dir=scratch), env={"SQLITE_DBNAME": ":memory:"})
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _simulator(job: _Job, processes: int) -> Iterator[Iterator[tuple[Any, ...]]]:
    """The producer's messages: from a generator here (one process), or from a child process (two)."""
    # The encoder's scratch directory is made and removed here, even if the child is killed.
    with (
        tempfile.TemporaryDirectory(prefix="yipanqi-encoder-") as scratch,
        _producer(replace(job, scratch=scratch), processes) as messages,
    ):
        yield messages


@contextmanager
def _producer(job: _Job, processes: int) -> Iterator[Iterator[tuple[Any, ...]]]:
    if processes < 2:
        with _few_collections():
            yield _Producer(job).messages()
        return
    # A fresh interpreter rather than multiprocessing: spawn would run the caller's __main__ again, fork would copy
    # this process's threads (sync clients, the progress display) and open connections.
    read_fd, write_fd = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-c", "from gateways.recording import _child; _child()", str(write_fd)],
        stdin=subprocess.PIPE,
        pass_fds=(write_fd,),
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    os.close(write_fd)
    receiver = Connection(read_fd, writable=False)
    assert process.stdin is not None
    process.stdin.write(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
    process.stdin.close()
    inbox: queue.Queue[bytes | None] = queue.Queue(maxsize=_INBOX)
    # A thread reads ahead, so the simulator goes on while this process appends (a pipe holds only 64 kB).
    threading.Thread(target=_read_into, args=(receiver, inbox), name="yipanqi-simulator-reader", daemon=True).start()
    try:
        yield _received(inbox, process)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        receiver.close()


def _child() -> None:
    """The simulator's process: the job from stdin, the messages to the pipe named on the command line."""
    job = pickle.load(sys.stdin.buffer)
    with _few_collections():
        _produce_into(job, Connection(int(sys.argv[1]), readable=False))


@contextmanager
def _few_collections() -> Iterator[None]:
    """The garbage collector less often while simulating: the simulator keeps a large heap of live objects (every
    deputy, station and aggregate under way) that each full collection walks again, for little garbage in cycles.
    With the default thresholds collecting took ~15 % of the simulator's time for the province."""
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 50, 50)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _produce_into(job: _Job, sender: Connection) -> None:
    """Every message pickled through the pipe; an error as its kind, text and traceback."""
    try:
        for message in _Producer(job).messages():
            sender.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
    except BrokenPipeError:
        return  # the recording process is gone: nothing to tell
    except BaseException as e:
        kind = "mismatch" if isinstance(e, SimulationMismatch) else "value" if isinstance(e, ValueError) else "crash"
        sender.send_bytes(pickle.dumps(("error", kind, str(e), traceback.format_exc())))
    finally:
        sender.close()


def _read_into(receiver: Connection, inbox: queue.Queue[bytes | None]) -> None:
    try:
        while True:
            inbox.put(receiver.recv_bytes())
    except (EOFError, OSError):
        inbox.put(None)


def _received(inbox: queue.Queue[bytes | None], process: subprocess.Popen[bytes]) -> Iterator[tuple[Any, ...]]:
    """The child's messages, in order; its errors raised here."""
    while True:
        data = inbox.get()
        if data is None:
            raise RuntimeError(f"the simulator's process ended before the run did (exit code {process.wait(5)})")
        message = pickle.loads(data)
        if message[0] == "error":
            _, kind, text, trace = message
            raise {"mismatch": SimulationMismatch, "value": ValueError}.get(kind, RuntimeError)(
                text if kind != "crash" else f"the simulator's process failed:\n{trace}"
            )
        yield message
        if message[0] == "end":
            return


# ================================================================================================== progress


class _Progress:
    """Days done of days, events, events/s, elapsed and ETA: a live bar on a terminal, a line every 10 s otherwise."""

    def __init__(self, console: Console, label: str, days: int) -> None:
        self.console, self.label, self.days = console, label, days
        self.live = console.is_terminal
        self.started = self.logged = time.perf_counter()
        self.state = (0, 0, 0)  # days done, events, skipped
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} 天 days"),
            TextColumn("{task.fields[events]:,} 事件 events · {task.fields[rate]:,.0f}/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not self.live,
        )
        self.task = self.progress.add_task(label, total=days, events=0, rate=0.0)

    def __enter__(self) -> _Progress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
        if not self.live and exc[0] is None:
            self._log()

    def update(self, days_done: int, events: int, skipped: int) -> None:
        self.state = (days_done, events, skipped)
        elapsed = time.perf_counter() - self.started
        self.progress.update(self.task, completed=days_done, events=events, rate=events / elapsed if elapsed else 0.0)
        if not self.live and time.perf_counter() - self.logged >= _LOG_EVERY_S:
            self._log()

    def _log(self) -> None:
        self.logged = now = time.perf_counter()
        days_done, events, skipped = self.state
        elapsed = now - self.started
        eta = elapsed / days_done * (self.days - days_done) if days_done else None
        again = f" · {skipped:,} 已有 held, skipped" if skipped else ""
        self.console.print(
            f"{self.label}: {days_done}/{self.days} 天 days · {events:,} 事件 events{again} · "
            f"{events / elapsed if elapsed else 0:,.0f}/s · {_clock(elapsed)} · ETA {_clock(eta)}",
            highlight=False,
        )


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
