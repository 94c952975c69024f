"""A gateway's read models: each hosted node's projection (projections package), kept current by a background
thread, and a small cache of view answers keyed by the projection's position (an answer cannot change until the
projection moves, so repeated dashboard and rollup reads cost one position lookup)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog

from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings

log = structlog.get_logger("gateway")


class NodeViews:
    """One hosted node's projection database, projector and answer cache."""

    def __init__(self, store: NodeStore, settings: StoreSettings, hierarchy: Hierarchy, cache_size: int = 256) -> None:
        self.store = store
        self.settings = settings
        self.hierarchy = hierarchy
        self._db: Any = None
        self._projector: Any = None
        self._open_lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, ...], tuple[int, bytes]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_size = cache_size
        self.known_position: int | None = None  # set by the keeper after each catch-up

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
        return int(self.db.position())

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
    """Keeps every hosted node's projection current: a daemon thread, every ``interval_s`` (``YIPANQI_PROJECT_S``,
    default 1 s; 0 turns it off, then a view catches up when read)."""

    def __init__(self, views: list[NodeViews], interval_s: float | None = None) -> None:
        self.views = views
        self.interval_s = float(os.environ.get("YIPANQI_PROJECT_S", "1")) if interval_s is None else interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.interval_s <= 0 or self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="projection-keeper", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for view in self.views:
                if self._stop.is_set():
                    return
                try:
                    view.catch_up()
                except Exception as e:  # noqa: BLE001 - a failing projection must not stop the others or the gateway
                    log.warning("gateway.projection_failed", node=view.store.node.code, error=repr(e))
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
