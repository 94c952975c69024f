"""A gateway's read models: each hosted node's projection (projections package), kept current by a projector
process beside the gateway, and a small cache of view answers keyed by the projection's position (an answer cannot
change until the projection moves, so repeated dashboard and rollup reads cost one position lookup)."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import threading
from collections import OrderedDict
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import structlog

from domain.base import NodeRef
from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings

log = structlog.get_logger("gateway")
PROJECTOR_NICENESS = 10


class NodeViews:
    """One hosted node's projection database, projector and answer cache (``cache_size`` answers, default
    ``YIPANQI_VIEW_CACHE`` or 256; 0 keeps none, so every read computes: how benchmarks time uncached reads)."""

    def __init__(self, store: NodeStore, settings: StoreSettings, hierarchy: Hierarchy, cache_size: int | None = None) -> None:
        self.store = store
        self.settings = settings
        self.hierarchy = hierarchy
        self._db: Any = None
        self._projector: Any = None
        self._open_lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, ...], tuple[int, bytes]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_size = int(os.environ.get("YIPANQI_VIEW_CACHE", "256")) if cache_size is None else cache_size
        self.known_position: int | None = None  # the latest position read (``position``): answers are cached by it

    @property
    def db(self) -> Any:
        if self._db is None:
            with self._open_lock:
                if self._db is None:
                    from projections.db import ProjectionDB
                    from projections.projector import Projector

                    db = ProjectionDB(self.store.node, self.settings, hierarchy=self.hierarchy).open()
                    self._projector = Projector(self.store, db, hierarchy=self.hierarchy)
                    self._db = db
        return self._db

    def catch_up(self, max_batches: int | None = 4) -> int:
        """Project what the log holds beyond the projection's position; returns events read."""
        self.db  # noqa: B018 - opens the projection and its projector
        stats = self._projector.run(max_batches=max_batches)
        self.known_position = int(self.db.position())
        return int(stats.read)

    def position(self) -> int:
        """The projection's position in its database. Answers are cached by the latest one read (``known_position``:
        by the keeper every second, by the sync status on request), so that a reader who saw a position (``projected``)
        is never answered from an older projection's cache."""
        position = int(self.db.position())
        with self._cache_lock:
            self.known_position = max(position, self.known_position or 0)
        return position

    def cached(self, key: tuple[Any, ...]) -> bytes | None:
        """The cached answer for ``key`` if the projection has not moved since (by the keeper's last reading)."""
        if self.known_position is None:
            return None
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is None or hit[0] != self.known_position:
                return None
            self._cache.move_to_end(key)
            return hit[1]

    def answer(self, key: tuple[Any, ...], compute: Callable[[], Any], *, fresh: bool = False) -> bytes:
        """The JSON answer for ``key``: from the cache while the projection has not moved, else computed. The
        position is the keeper's last reading (it projects every second) unless ``fresh`` asks the database."""
        position = self.known_position if (self.known_position is not None and not fresh) else self.position()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == position:
                self._cache.move_to_end(key)
                return hit[1]
        body = json.dumps(compute(), ensure_ascii=False, default=str).encode()
        with self._cache_lock:
            self._cache[key] = (position, body)
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return body

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(Exception):
                self._db.dispose()


class Keeper:
    """Keeps every hosted node's projection current from a child process of its own (``project_forever``), every
    ``interval_s`` (``YIPANQI_PROJECT_S``, default 1 s; 0 turns it off, then a view catches up when read).

    Projecting costs about as much CPU per event as recording it; in a thread it would take the interpreter lock from
    the requests, in a process it runs beside them (each write is one transaction with its position, so killing the
    process at any point loses nothing). The gateway only reads each projection's position, to keep its answer cache
    honest, and starts the projector again if it died."""

    def __init__(self, views: list[NodeViews], interval_s: float | None = None) -> None:
        self.views = views
        self.interval_s = float(os.environ.get("YIPANQI_PROJECT_S", "1")) if interval_s is None else interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._line: Connection | None = None  # closing it tells the projector to stop

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.interval_s <= 0 or self.running:
            return
        for view in self.views:
            view.db  # noqa: B018 - migrate here, once, before the projector process opens the same databases
        self._stop.clear()
        self._spawn()
        self._thread = threading.Thread(target=self._watch, name="projection-keeper", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")  # no fork: the parent holds threads and open connections
        if self._line is not None:
            self._line.close()
        self._line, child_end = context.Pipe()
        first = self.views[0]
        self._process = context.Process(
            target=project_forever,
            args=([v.store.node for v in self.views], first.settings, first.hierarchy, self.interval_s, child_end),
            name="yipanqi-projector",
            daemon=True,
        )
        self._process.start()
        child_end.close()  # the child holds the only other end: it reads end-of-file once we close ours or die

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self._process is not None and not self._process.is_alive():
                log.warning("gateway.projector_died", exitcode=self._process.exitcode)
                self._spawn()
            for view in self.views:
                with contextlib.suppress(Exception):  # a projection not yet readable: keep the last known position
                    view.position()  # the latest known position

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._process is not None and self._line is not None:
            self._line.close()
            self._line = None
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
            self._process = None


def project_forever(
    nodes: list[NodeRef], settings: StoreSettings, hierarchy: Hierarchy, interval_s: float, line: Connection
) -> None:
    """The projector process: catches every node's projection up with its log, round after round, until its line
    to the gateway reads end-of-file (the gateway stops or dies). A few batches per node per round, so one busy node
    does not starve the others. Ctrl-C is the gateway's to handle: it stops this process in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Background work: when requests and projecting compete for the CPU, requests go first; the projection catches
    # up in the quieter moments after (its answers are cached by position, so nothing stale is served as current).
    os.nice(PROJECTOR_NICENESS)
    views = [NodeViews(NodeStore(node, settings), settings, hierarchy) for node in nodes]
    read = 0
    while not line.poll(0 if read else interval_s):
        read = 0
        for view in views:
            try:
                read += view.catch_up()
            except Exception as e:  # noqa: BLE001 - a failing projection must not stop the others
                log.warning("gateway.projection_failed", node=view.store.node.code, error=repr(e))
    for view in views:
        view.close()
        view.store.close()
