"""Known time: every node records when it came to hold each event (own or copied from a child), beside the log and
never in the events' bytes; a store written before it keeps working, its earlier events with no known time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.base import Attribution, Role
from domain.hierarchy import Hierarchy
from domain.persistence import KnownSpan, known_times
from domain.stations import Station
from domain.store import NodeStore, StoreSettings

BY = Attribution("clerk-01", Role.RECORDER, datetime(2025, 3, 1, 9, 30, tzinfo=UTC))
TOWNSHIP, COUNTY = "430582101", "430582"
#: SQLite's clock has milliseconds: a known time may lie up to one before a Python time taken just before.
SLACK = timedelta(milliseconds=2)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    if request.param == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path)
    return StoreSettings(store="postgres", pg_dsn=request.getfixturevalue("pg_database")["dsn"])


def _store(code: str, settings: StoreSettings) -> NodeStore:
    hierarchy = Hierarchy.load()
    return NodeStore(hierarchy.ref(hierarchy.by_code(code)), settings)


def _known(store: NodeStore) -> list[datetime | None]:
    return store.known_at([n.id for n in store.iter_notifications()])


def _station(store: NodeStore, name: str) -> Station:
    return Station.establish(store.node, BY, name=name, address="镇政府")


def test_own_and_copied_events_are_known_when_stored_here(settings: StoreSettings) -> None:
    township, county = _store(TOWNSHIP, settings), _store(COUNTY, settings)
    try:
        before = datetime.now(UTC)
        township.save_all([_station(township, "甲站"), _station(township, "乙站")])
        time.sleep(0.05)
        copied_from = datetime.now(UTC)
        rows = [(n.originator_id, n.originator_version, n.topic, n.state) for n in township.iter_notifications()]
        county.books.insert_rows(rows)  # what the ingest does, verbatim
        after = datetime.now(UTC)
        own = _known(township)
        assert len(own) == 2 and own[0] == own[1]  # one insert, one span
        assert own[0] is not None and before - SLACK <= own[0] <= copied_from
        copied = _known(county)
        assert all(k is not None and copied_from - SLACK <= k <= after + SLACK for k in copied)
        # the bytes are the child's, unchanged: the known time lives beside them
        assert [n.state for n in county.iter_notifications()] == [r[3] for r in rows]
    finally:
        township.close()
        county.close()


def test_a_store_written_before_known_times_keeps_working(settings: StoreSettings) -> None:
    store = _store(TOWNSHIP, settings)
    store.save_all([_station(store, "甲站")])
    _drop_known_table(store)  # what a store of an earlier release looks like
    store.close()
    store = _store(TOWNSHIP, settings)  # opening adds the table
    try:
        store.save_all([_station(store, "乙站")])
        earlier, later = _known(store)
        assert earlier is None and later is not None
    finally:
        store.close()


def _drop_known_table(store: NodeStore) -> None:
    from psycopg.sql import SQL

    recorder: Any = store.books
    table = recorder.known_table  # SQLite: its name; PostgreSQL: the composed, schema-qualified identifier
    with recorder.datastore.transaction(commit=True) as c:
        c.execute(f"DROP TABLE {table}" if isinstance(table, str) else SQL("DROP TABLE {}").format(table))


def test_spans_are_found_for_any_window_of_ids() -> None:
    t = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i) for i in range(3)]
    spans = [KnownSpan(3, 5, t[0]), KnownSpan(6, 6, t[1]), KnownSpan(9, 12, t[2])]
    assert known_times([1, 3, 5, 6, 7, 9, 12, 13], spans) == [None, t[0], t[0], t[1], None, t[2], t[2], None]
    assert known_times([], spans) == [] and known_times([4], []) == [None]
