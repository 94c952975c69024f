"""The per-node event store: one eventsourcing application per node, on SQLite (embedded) or PostgreSQL.

Configuration comes from the environment (prefix ``YIPANQI_``) or a settings file ``yipanqi.env``:

- ``YIPANQI_STORE``: ``sqlite`` (default; one file per node under ``YIPANQI_DATA_DIR``) or ``postgres``
  (many nodes in one server, tables prefixed by the node's stable id);
- ``YIPANQI_STORE_LEVELS``: another backend for some levels, e.g. ``province=postgres,prefecture=postgres`` (the
  mixed layout of a real deployment: the upper levels on PostgreSQL, counties and townships on SQLite files);
- ``YIPANQI_DATA_DIR``: where SQLite files live (default ``var``);
- ``YIPANQI_PG_DSN``: ``postgresql://user:password@host:port/dbname`` for the PostgreSQL store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import Application
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent, Transcoder
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.base import DutyAggregate, NodeRef
from domain.codec import DateAsISO, NodeMapper, StateTranscoder
from domain.files import private_sqlite
from domain.keys import Checkpoint, NodeKey, key_id, node_key_id, public_bytes
from domain.levels import Level
from domain.persistence import Beside, EventRow, NewDataKeys, SyncRecorder, known_times
from domain.persistence.chain import Head, id_bytes
from domain.persistence.datakeys import StoreKeyRing, master_key
from domain.persistence.keys import KeyFileError, create_key, key_path, load_key, replace_key
from domain.persistence.verify import ParentCheck, Verification
from domain.privacy import NOT_SEALED, PERSONAL, SEALED, KeyRing, open_event, seal_events

Backend = Literal["sqlite", "postgres"]

__all__ = ["Backend", "DateAsISO", "NodeStore", "NodeStores", "StoreSettings", "postgres_env"]

_LIBRARY_COLLECT = BaseAggregate.collect_events


class StoreSettings(BaseSettings):
    """Where node stores live. One place decides it, for the CLI, the gateways and the sync jobs alike."""

    model_config = SettingsConfigDict(env_prefix="YIPANQI_", env_file="yipanqi.env", extra="ignore")

    store: Backend = "sqlite"
    store_levels: str = Field(default="", description="per-level backends, e.g. province=postgres,prefecture=postgres")
    data_dir: Path = Path("var")
    pg_dsn: str | None = None
    pg_pool_size: int = Field(default=2, ge=1, le=50)
    open_stores: int = Field(default=64, ge=1, description="most node stores kept open at once in one process")

    @field_validator("store_levels")
    @classmethod
    def _check_levels(cls, value: str) -> str:
        _parse_levels(value)
        return value

    def backend(self, level: Level) -> Backend:
        """Where a node of ``level`` keeps its store."""
        return _parse_levels(self.store_levels).get(level, self.store)

    def for_level(self, level: Level) -> StoreSettings:
        """These settings with ``store`` resolved for one level (what a node's own store and views use)."""
        backend = self.backend(level)
        return (
            self
            if backend == self.store and not self.store_levels
            else self.model_copy(update={"store": backend, "store_levels": ""})
        )

    def eventsourcing_env(self, node_id: UUID, log: str = "n") -> dict[str, str]:
        if self.store == "sqlite":
            path = self.sqlite_path(node_id, log)
            private_sqlite(path)  # 0600 in a 0700 folder (``domain.files``)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "APPLICATION_RECORDER_TOPIC": "domain.persistence.sqlite:NodeRecorder",
                "SQLITE_DBNAME": str(path),
                "SQLITE_LOCK_TIMEOUT": "30",
            }
        if not self.pg_dsn:
            raise ValueError("YIPANQI_STORE=postgres needs YIPANQI_PG_DSN=postgresql://user:password@host:port/dbname")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": "domain.persistence.postgres:NodeRecorder",
            **postgres_env(self.pg_dsn, self.pg_pool_size),
        }

    def sqlite_path(self, node_id: UUID, log: str = "n") -> Path:
        """``n``: the node's own log; ``r``: its reference store of replicas."""
        return self.data_dir / "nodes" / (f"{node_id}.sqlite" if log == "n" else f"{node_id}.{log}.sqlite")


def _parse_levels(value: str) -> dict[Level, Backend]:
    """``province=postgres,prefecture=postgres`` → {Level.PROVINCE: "postgres", …}; a clear error for anything else."""
    levels: dict[Level, Backend] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, backend = item.partition("=")
        if name.strip() not in Level._value2member_map_ or backend.strip() not in ("sqlite", "postgres"):
            raise ValueError(
                f"YIPANQI_STORE_LEVELS item {item!r}: expected LEVEL=BACKEND with LEVEL one of "
                f"{', '.join(level.value for level in Level)} and BACKEND sqlite or postgres"
            )
        levels[Level(name.strip())] = backend.strip()  # type: ignore[assignment]
    return levels


def postgres_env(dsn: str, pool_size: int = 2) -> dict[str, str]:
    """Translate a DSN into the eventsourcing library's POSTGRES_* settings."""
    url = urlparse(dsn)
    if url.scheme not in ("postgresql", "postgres") or not url.path.strip("/"):
        raise ValueError(f"not a PostgreSQL DSN with a database name: {dsn!r}")
    return {
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "2",
        "POSTGRES_CONN_MAX_AGE": "",
    }


class NodeStore(Application):
    """One node's append-only log of deputy work: its own aggregates and, after sync, its subtree's."""

    log_kind = "n"  # which of the node's logs: its own one; prefixes PostgreSQL tables and names SQLite files
    chained = True  # whether the events it records go in the node's hash chain (``domain.persistence.chain``)

    def __init__(self, node: NodeRef, settings: StoreSettings | None = None, env: dict[str, str] | None = None) -> None:
        self.node = node
        # The application's name prefixes its PostgreSQL tables: the stable id, not the code, which can change.
        self.name = f"{self.log_kind}{node.node_id.hex}"
        self.settings = (settings or StoreSettings()).for_level(node.level)
        super().__init__(env={**self.settings.eventsourcing_env(node.node_id, self.log_kind), **(env or {})})
        if self.chained and isinstance(self.recorder, SyncRecorder):
            self.recorder.origin = node.node_id.bytes  # its own events go in its own hash chain
        self._keyring: StoreKeyRing | None = None

    def construct_transcoder(self) -> Transcoder:
        # The library's JSON wire format, written faster (domain.codec); a TRANSCODER_TOPIC still wins.
        if self.env.get(self.factory.TRANSCODER_TOPIC):
            return super().construct_transcoder()
        transcoder = StateTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def construct_mapper(self) -> Mapper[UUID]:
        if self.env.get(self.factory.MAPPER_TOPIC):
            return super().construct_mapper()
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=NodeMapper)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def save_all(self, aggregates: Iterable[DutyAggregate], *, beside: Sequence[Beside] = ()) -> Sequence[int]:
        """Save many aggregates' pending events in one transaction (bulk work: simulation, imports), with the rows
        ``beside`` them (``domain.persistence``: e.g. a command's stored answer).

        The lean path of ``Application.save``: collect the pending events, map them to rows and insert them through
        the node's recorder, with nothing in between (no processing event, no ``Recording``/``Notification``
        objects). Returns the events' notification ids, in order. Whatever this path does not do (snapshots, a
        subclass's ``_notify``/``notify``, another mapper or recorder) sends the batch down ``Application.save``.
        """
        if not self._lean_save:
            if beside:
                raise TypeError("rows beside events need the lean save path (the node recorder, no snapshots)")
            return [r.notification.id for r in self.save(*aggregates)]
        aggregates = list(aggregates)
        collected = _collect(aggregates)
        events = collected
        if not PERSONAL.keys().isdisjoint(map(type, collected)):
            minter = self.keyring.minter()
            events = seal_events(collected, minter)
            if keys := minter.take_rows():
                beside = [*beside, NewDataKeys(tuple(keys))]  # the keys in the events' own transaction
        if not events and not beside:
            return []
        # Lazily: the recorder takes each row as it is mapped (SQLite: inside its write transaction, so an event
        # that cannot be encoded rolls the whole batch back), and encoded states do not pile up in memory.
        ids = self.append_rows(map(self.mapper.to_row, events), beside=beside)  # type: ignore[attr-defined]
        cache = self.repository.cache
        if cache and not self.repository.fastforward:
            # An aggregate whose events were sealed holds the originals in memory: it is read back as stored instead.
            opened = {e.originator_id for e, s in zip(collected, events, strict=True) if e is not s}
            for aggregate in aggregates:
                if aggregate.id not in opened:
                    cache.put(aggregate.id, aggregate)
        return ids

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """The library's save, the pending events' personal data sealed first (``sealed``)."""
        for obj in objs:
            pending = getattr(obj, "_pending_events", None)
            if pending:
                pending[:] = self.sealed(pending)
        return super().save(*objs, **kwargs)

    def take_rows(self, aggregates: Iterable[DutyAggregate], keyring: KeyRing | None = None) -> list[EventRow]:
        """The aggregates' pending events as rows to append later (they leave the aggregates now): a caller that
        commits several decisions at once (the gateway's group commit) keeps them until it does. ``keyring``: whose
        keys seal personal data (default: this node's; the simulator's encoder seals each node's with its own)."""
        if not self._lean_save:
            raise TypeError("rows are taken on the lean save path only (the node recorder, no snapshots)")
        to_row = self.mapper.to_row  # type: ignore[attr-defined]
        return [to_row(e) for e in self.sealed(_collect(aggregates), keyring)]

    # ------------------------------------------------------------------------- personal data of the public

    def sealed(self, events: list[Any], keyring: KeyRing | None = None) -> list[Any]:
        """``events`` as they are to be stored: personal data of the public masked, the originals sealed under the
        node's data keys (``domain.privacy``)."""
        for event in events:
            if type(event) in PERSONAL:
                return seal_events(events, keyring or self.keyring)
        return events

    @property
    def keyring(self) -> StoreKeyRing:
        """The node's data keys (``domain.persistence.datakeys``), under its master key (made on first need)."""
        if self._keyring is None:
            master = master_key(self.settings.data_dir, self.node.node_id)
            assert master is not None  # noqa: S101 - made when missing
            self._keyring = StoreKeyRing(self.books, master)
        return self._keyring

    def reveal(self, event: Any) -> tuple[Any, str]:
        """``event`` with the personal data it sealed opened (``domain.privacy.open_event``): only the origin holds
        the keys, so elsewhere, and after an erasure, the event stays as stored (status ``sealed``;
        ``erased``: the key was destroyed)."""
        if not getattr(event, "sealed", ""):
            return event, NOT_SEALED
        if event.owner != self.node.node_id:
            return event, SEALED
        return open_event(event, self.keyring.key)

    def append_rows(self, rows: Iterable[EventRow], *, beside: Sequence[Beside] = ()) -> Sequence[int]:
        """Append mapped events and the rows beside them in one transaction; the events' notification ids."""
        recorder = self.recorder
        if isinstance(recorder, SyncRecorder):
            return recorder.insert_rows(rows, beside=beside)
        if beside:
            raise TypeError(f"{type(recorder).__name__} cannot write rows beside events")
        return recorder.insert_events([StoredEvent(*row) for row in rows]) or []

    @property
    def books(self) -> SyncRecorder:
        """The node recorder, typed as such: the log with the sync bookkeeping beside it (positions, parked
        messages, halts). A store configured with another recorder keeps no books."""
        recorder = self.recorder
        if not isinstance(recorder, SyncRecorder):
            raise TypeError(f"{type(recorder).__name__} keeps no sync books")
        return recorder

    @property
    def _lean_save(self) -> bool:
        """Whether ``save_all`` may skip ``Application.save``: nothing it would do is wanted here."""
        cls = type(self)
        return (
            self.snapshots is None
            and isinstance(self.mapper, NodeMapper)
            and cls._notify is Application._notify
            and cls.notify is Application.notify
        )

    def get(self, aggregate_id: UUID) -> Any:
        return self.repository.get(aggregate_id)

    def history(self, aggregate_id: UUID) -> list[Any]:
        """Every stored event of one aggregate, in order, decoded by this version of the code."""
        return list(self.events.get(aggregate_id))

    def contains(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.repository

    def known_at(self, ids: Sequence[int]) -> list[datetime | None]:
        """When this node came to hold each of the events ``ids`` (notification ids, ascending): the known clock. None
        where that is unknown: an event stored before the store kept known spans, or a store without the node
        recorder."""
        recorder = self.recorder
        if not ids or not isinstance(recorder, SyncRecorder):
            return [None] * len(ids)
        return known_times(ids, recorder.known_spans(ids[0], ids[-1]))

    def aggregate_known_at(self, aggregate_id: UUID) -> list[datetime | None]:
        """When this node came to hold each event of one aggregate, in version order (see ``known_at``)."""
        return self.known_at(self.books.notification_ids(aggregate_id))

    def verify(self, batch: int = 5000, progress: Callable[[int, int], Any] | None = None) -> Verification:
        """Check the log against the hash chains kept in its rows (``domain.persistence.verify``): the log as it stood
        when the check began (later events are left for the next check). ``progress(read, last)`` after each page."""
        books = self.books
        last, heads = books.chain_heads()
        check, start = Verification(), 1
        while start <= last and (page := books.log_page(start, batch)):
            check.add_page(row for row in page if row[0] <= last)
            start = page[-1][0] + 1
            if progress:
                progress(check.events, last)
        return check.finish(heads)

    # ------------------------------------------------------------------------------------------ keys and seals

    def signing_key(self) -> Ed25519PrivateKey:
        """The node's signing key (``domain.keys``), its file created and its public key registered in the log if
        need be. A key file that does not match the key registered is an error (restore the file, or rotate)."""
        path = key_path(self.settings.data_dir, self.node.node_id)
        key = load_key(path)
        record_id = node_key_id(self.node.node_id)
        registered = self.get(record_id) if self.contains(record_id) else None
        if key is None:
            if registered is not None:
                raise KeyFileError(f"{path}: missing, though {self.node} registered key {registered.current}")
            key = create_key(path)
        if registered is None:
            self.save_all([NodeKey.register(self.node, key)])
        elif key_id(public_bytes(key)) != registered.current:
            raise KeyFileError(f"{path}: key {key_id(public_bytes(key))} is not {self.node}'s current key {registered.current}")
        return key

    def rotate_key(self) -> str:
        """A new signing key, endorsed by the old one (kept beside it as ``.key.<n>``); the new key's id."""
        old = self.signing_key()
        new, _ = replace_key(key_path(self.settings.data_dir, self.node.node_id))
        record: NodeKey = self.get(node_key_id(self.node.node_id))
        record.rotate(old, new)
        self.save_all([record])
        return record.current

    def seal(self, key: Ed25519PrivateKey) -> int | None:
        """A signed checkpoint of the node's own chain, if it moved since its last one: the seq it signs (None:
        nothing new to seal)."""
        sealed: list[int] = []

        def checkpoint(head: Head | None) -> list[EventRow]:
            if head is None or head.seq == head.sealed:  # nothing since the last checkpoint but itself
                return []
            sealed.append(head.seq)
            return self.take_rows([Checkpoint.seal(self.node, key, head.seq, head.link)])

        self.books.insert_sealed(checkpoint)
        return sealed[0] if sealed else None

    def compare_with(self, parent: NodeStore, batch: int = 5000) -> ParentCheck:
        """This log against the parent's copy of it, up to the position the parent holds (``ParentCheck``)."""
        held = parent.books.positions().get(str(self.node.node_id))
        check, start = ParentCheck(held.position if held else 0), 1
        while start <= check.held and (page := self.books.log_page(start, batch)):
            rows = [row for row in page if row[0] <= check.held]
            check.compare(rows, parent.books.held_states([(id_bytes(row[1]), row[2]) for row in rows]))
            start = page[-1][0] + 1
        return check

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def count_events(self) -> int:
        """Events in the log (notification ids may have holes on PostgreSQL, so count rather than trust the max)."""
        return sum(1 for _ in self.iter_notifications())

    def iter_notifications(self, start: int = 1, batch: int = 1000) -> Iterator[Any]:
        while True:
            page: Sequence[Any] = self.recorder.select_notifications(start=start, limit=batch)
            yield from page
            if len(page) < batch:
                return
            start = page[-1].id + 1


def _collect(aggregates: Iterable[DutyAggregate]) -> list[Any]:
    """Take the aggregates' pending events, in order, leaving none."""
    events: list[Any] = []
    for aggregate in aggregates:
        if type(aggregate).collect_events is _LIBRARY_COLLECT:
            # What the library's collect_events() does, without popping the events one by one from the front.
            pending = aggregate._pending_events
            events += pending
            pending.clear()
        else:
            events += aggregate.collect_events()
    return events


class ReferenceStore(NodeStore):
    """Read-only replicas a node's parent sent down (deputies of any level the node needs). Kept apart from the
    node's own log, so they never travel up again."""

    log_kind = "r"
    chained = False  # replicas of the parent's events: they are in the parent's chain, held there


class NodeStores:
    """Opens node stores on demand and keeps a bounded number open (each holds connections)."""

    def __init__(self, settings: StoreSettings | None = None) -> None:
        self.settings = settings or StoreSettings()
        self._open: OrderedDict[UUID, NodeStore] = OrderedDict()

    def open(self, node: NodeRef) -> NodeStore:
        store = self._open.pop(node.node_id, None) or NodeStore(node, self.settings)
        self._open[node.node_id] = store
        while len(self._open) > self.settings.open_stores:
            _, evicted = self._open.popitem(last=False)
            evicted.close()
        return store

    def exists(self, node: NodeRef) -> bool:
        """Whether the node has a store already (SQLite: its file exists; PostgreSQL: assumed, tables are created on open)."""
        return self.settings.backend(node.level) == "postgres" or self.settings.sqlite_path(node.node_id).exists()

    def close(self) -> None:
        while self._open:
            _, store = self._open.popitem()
            store.close()

    def __enter__(self) -> NodeStores:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
