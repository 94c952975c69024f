"""Store round trips on SQLite and on a real PostgreSQL server, with many nodes in one server."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from domain.base import Attribution, Role
from domain.hierarchy import Hierarchy
from domain.livelihood import LivelihoodProject
from domain.persistence import ParkedMessage
from domain.stations import Station
from domain.store import NodeStore, StoreSettings

BY = Attribution("clerk-01", Role.RECORDER, datetime(2025, 3, 1, 9, 30, tzinfo=UTC))
NON_BMP = ("430525203", "430582204")  # 𦰡溪瑶族乡, 斫𥕢乡


def _settings(backend: str, tmp_path: Path, pg_database: dict[str, Any] | None) -> StoreSettings:
    if backend == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path)
    assert pg_database is not None
    return StoreSettings(store="postgres", pg_dsn=pg_database["dsn"])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    pg = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    return _settings(request.param, tmp_path, pg)


def _township_aggregates(code: str) -> list[Any]:
    hierarchy = Hierarchy.load()
    node = hierarchy.ref(hierarchy.by_code(code))
    station = Station.establish(node, BY, name=f"{node.name}代表联络站", address=f"{node.name}政府大院")
    project = LivelihoodProject.propose(node, BY, year=2025, title=f"{node.name}饮水工程", category="饮水安全")
    project.list_as_candidate(BY, estimate_wan=Decimal("230.50"))
    return [station, project]


def test_round_trip_keeps_every_field_and_non_bmp_names(settings: StoreSettings) -> None:
    hierarchy = Hierarchy.load()
    for code in NON_BMP:
        node = hierarchy.ref(hierarchy.by_code(code))
        assert any(ord(ch) > 0xFFFF for ch in node.name)
        store = NodeStore(node, settings)
        try:
            aggregates = _township_aggregates(code)
            expected = {a.id: dict(a.__dict__, _pending_events=[]) for a in aggregates}
            store.save_all(aggregates)
            for aggregate_id, state in expected.items():
                assert store.get(aggregate_id).__dict__ == state
            station = store.get(aggregates[0].id)
            assert station.name == f"{node.name}代表联络站"
            assert store.count_events() == 3
            events = store.history(aggregates[1].id)
            assert [type(e).__name__ for e in events] == ["Proposed", "Listed"]
            assert events[0].title == f"{node.name}饮水工程" and events[1].estimate_wan == Decimal("230.50")
            assert events[0].owner == node.node_id and events[0].actor == "clerk-01" and events[0].role == "recorder"
            assert events[0].occurred_at == BY.occurred_at
        finally:
            store.close()


def test_batch_save_is_one_transaction(settings: StoreSettings) -> None:
    """A batch with one conflicting aggregate records nothing at all."""
    hierarchy = Hierarchy.load()
    node = hierarchy.ref(hierarchy.by_code("430582101"))
    store = NodeStore(node, settings)
    try:
        first = Station.establish(node, BY, name="团山代表联络站")
        store.save_all([first])
        again = Station.establish(node, BY, name="团山代表联络站")  # same natural id, version 1 again
        fresh = Station.establish(node, BY, name="另一联络站")
        with pytest.raises(IntegrityError):
            store.save_all([fresh, again])
        assert not store.contains(fresh.id)
        assert store.count_events() == 1
    finally:
        store.close()


@pytest.mark.postgres
def test_many_nodes_share_one_postgres_database(pg_database: dict[str, Any]) -> None:
    hierarchy = Hierarchy.load()
    settings = StoreSettings(store="postgres", pg_dsn=pg_database["dsn"])
    county = hierarchy.by_code("430582")
    nodes = [hierarchy.ref(d) for d in hierarchy.subtree(county)][:6]
    stores = [NodeStore(node, settings) for node in nodes]
    try:
        for store in stores:
            store.save_all([Station.establish(store.node, BY, name=f"{store.node.name}联络站")])
        for store in stores:
            assert store.count_events() == 1
            (notification,) = list(store.iter_notifications())
            assert store.get(notification.originator_id).owner == store.node.node_id
    finally:
        for store in stores:
            store.close()


@pytest.mark.postgres
def test_many_stores_open_at_once_on_one_fresh_postgres_database(pg_database: dict[str, Any]) -> None:
    """Opening creates the node's tables, types and the library's functions; concurrent opens used to race on
    ``CREATE OR REPLACE FUNCTION`` ("tuple concurrently updated"). They take turns now (an advisory lock)."""
    hierarchy = Hierarchy.load()
    settings = StoreSettings(store="postgres", pg_dsn=pg_database["dsn"])
    nodes = [hierarchy.ref(d) for d in hierarchy.subtree(hierarchy.by_code("430582"))][:12]
    barrier = threading.Barrier(len(nodes))

    def open_and_save(node: Any) -> int:
        barrier.wait()
        store = NodeStore(node, settings)
        try:
            store.save_all([Station.establish(node, BY, name=f"{node.name}联络站")])
            return store.count_events()
        finally:
            store.close()

    with ThreadPoolExecutor(len(nodes)) as pool:
        assert list(pool.map(open_and_save, nodes)) == [1] * len(nodes)


def test_sqlite_store_is_one_file_per_node(tmp_path: Path) -> None:
    hierarchy = Hierarchy.load()
    settings = StoreSettings(store="sqlite", data_dir=tmp_path)
    a, b = (hierarchy.ref(hierarchy.by_code(c)) for c in ("430582", "430582101"))
    for node in (a, b):
        store = NodeStore(node, settings)
        store.save_all([Station.establish(node, BY, name="联络站")])
        store.close()
    assert sorted(p.name for p in (tmp_path / "nodes").iterdir() if p.suffix == ".sqlite") == sorted(
        f"{n.node_id}.sqlite" for n in (a, b)
    )
    assert settings.sqlite_path(a.node_id).stat().st_size > 0


@pytest.mark.postgres
def test_mixed_layout_puts_upper_levels_on_postgres(tmp_path: Path, pg_database: dict[str, Any]) -> None:
    """``YIPANQI_STORE_LEVELS``: the province and prefectures on PostgreSQL, counties and townships in SQLite files."""
    hierarchy = Hierarchy.load()
    settings = StoreSettings(
        store="sqlite", data_dir=tmp_path, pg_dsn=pg_database["dsn"], store_levels="province=postgres,prefecture=postgres"
    )
    codes = ("430000", "430500", "430582", "430582101")
    nodes = [hierarchy.ref(hierarchy.by_code(code)) for code in codes]
    for node in nodes:
        store = NodeStore(node, settings)
        try:
            store.save_all([Station.establish(node, BY, name=f"{node.name}联络站")])
            assert store.count_events() == 1
        finally:
            store.close()
    files = {p.name for p in (tmp_path / "nodes").iterdir()}
    assert [f"{n.node_id}.sqlite" in files for n in nodes] == [False, False, True, True]
    assert [settings.backend(n.level) for n in nodes] == ["postgres", "postgres", "sqlite", "sqlite"]


def test_store_levels_refuse_unknown_levels_and_backends() -> None:
    for bad in ("city=postgres", "province=mysql", "province"):
        with pytest.raises(ValueError, match="YIPANQI_STORE_LEVELS item"):
            StoreSettings(store_levels=bad)


@pytest.mark.postgres
def test_a_large_ingest_commits_with_its_position_on_postgres(pg_database: dict[str, Any]) -> None:
    """An ingest of 20,000 events (~10 MB) in one transaction with the child's position: it once hung in psycopg's
    pipeline mode (the server waiting for the rest of the statement, the client for results); large inserts go
    without it now."""
    from uuid import uuid4

    from domain.persistence import StreamPosition

    hierarchy = Hierarchy.load()
    store = NodeStore(hierarchy.ref(hierarchy.by_code("430500")), StoreSettings(store="postgres", pg_dsn=pg_database["dsn"]))
    try:
        state = b'{"x": "' + b"y" * 500 + b'"}'
        rows = [(uuid4(), 1, "domain.stations:Station.Established", state) for _ in range(20_000)]
        position = StreamPosition("child", 20_000, "ab" * 32, 199)
        ids = store.recorder.insert_rows(rows, positions=[position])  # type: ignore[attr-defined]
        assert len(ids) == 20_000 and store.max_position() == max(ids)
        assert store.recorder.positions()["child"] == position  # type: ignore[attr-defined]
    finally:
        store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("count", [3, 2_000])  # a command's few rows (pipelined) and an ingest's many (not)
def test_ids_are_read_back_when_the_sequence_skipped_numbers(pg_database: dict[str, Any], count: int) -> None:
    """An insert learns its ids from the span it took (first, last, count); where another session drew numbers in
    between (here: a sequence stepping by 2), it reads them back instead of assuming the span."""
    from uuid import uuid4

    import psycopg

    hierarchy = Hierarchy.load()
    store = NodeStore(hierarchy.ref(hierarchy.by_code("430500")), StoreSettings(store="postgres", pg_dsn=pg_database["dsn"]))
    try:
        recorder: Any = store.recorder
        state = b'{"x": "' + b"y" * 200 + b'"}'
        rows = [(uuid4(), 1, "domain.stations:Station.Established", state) for _ in range(count)]
        assert list(recorder.insert_rows(rows[:1])) == [1]
        table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
        with psycopg.connect(pg_database["dsn"], autocommit=True) as conn:
            found = conn.execute("SELECT pg_get_serial_sequence(%s, 'notification_id')", (table,)).fetchone()
            assert found is not None
            conn.execute(f"ALTER SEQUENCE {found[0]} INCREMENT BY 2")
        ids = list(recorder.insert_rows(rows[1:] + [(uuid4(), 1, rows[0][2], state)]))
        assert ids == list(range(3, 3 + 2 * count, 2))
        assert [row[0] for row in recorder.log_page(1, count + 5)] == [1, *ids]
    finally:
        store.close()


def test_unpark_beside_a_writing_sync_process_waits_for_the_lock(tmp_path: Path) -> None:
    """`sync retry` unparks a stream in the store a live sync process writes: it must wait for the write lock,
    not fail with "database is locked" (a read-then-delete transaction could not be upgraded in WAL mode)."""
    settings = StoreSettings(store="sqlite", data_dir=tmp_path)
    hierarchy = Hierarchy.load()
    node = hierarchy.ref(hierarchy.resolve("430525203"))
    retrying, syncing = NodeStore(node, settings), NodeStore(node, settings)
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            syncing.recorder.put_state("progress", {"n": str(n)})

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for position in range(200):
            message = ParkedMessage("up.430525203", position, "unknown event type x", "{}", b"x", datetime.now(UTC))
            retrying.recorder.park(message)
            assert [m.position for m in retrying.recorder.unpark("up.430525203")] == [position]
    finally:
        stop.set()
        writer.join()
        retrying.close()
        syncing.close()
