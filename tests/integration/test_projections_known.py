"""The known clock in the read models, for stores and projections written before it (migration 0005), on SQLite and
PostgreSQL: what was projected keeps working (its known times are the recorded ones, as a rebuild of events stored
before known spans gives), what comes after carries its real known time, and as-of views by known time agree with a
projection of only the events known by then."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from psycopg.sql import SQL

from domain.hierarchy import Hierarchy
from domain.simulation import simulate
from domain.store import NodeStore, StoreSettings
from projections import queries
from projections import schema as s
from projections.db import ProjectionDB
from projections.migrate import config
from projections.projector import Projector
from projections.rebuild import build_cut, update
from projections.timeutil import us
from tests.integration.test_projections_asof import views
from tests.unit.test_projections_reference import SMALL_TREE, decoded, is_known_clock, table_dump


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    if request.param == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path)
    return StoreSettings(store="postgres", pg_dsn=request.getfixturevalue("pg_database")["dsn"], data_dir=tmp_path)


def _forget_known_times(store: NodeStore) -> None:
    """The store as an earlier release left it: no known spans (the table comes back, empty, when it is opened)."""
    recorder: Any = store.books
    table = recorder.known_table
    with recorder.datastore.transaction(commit=True) as c:
        c.execute(f"DROP TABLE {table}" if isinstance(table, str) else SQL("DROP TABLE {}").format(table))


def _known_equals_recorded(db: ProjectionDB) -> bool:
    """Every known clock of every row equals its recorded one."""
    with db.connect() as conn:
        for table in s.metadata.sorted_tables:
            for column in (c.name for c in table.columns if is_known_clock(c.name)):
                recorded = "recorded_at" if column == "known_at" else column.removesuffix("_known") + "_rec"
                differ = sa.select(sa.func.count()).where(table.c[column].is_distinct_from(table.c[recorded]))
                if conn.execute(differ).scalar():
                    return False
    return True


def test_a_projection_of_an_older_release_gains_the_known_clock(store_settings: StoreSettings) -> None:
    hunan = Hierarchy.load()
    nodes = sorted((hunan.ref(hunan.by_code(c)) for c in SMALL_TREE), key=lambda r: (r.level.depth, r.code))
    batches = iter(simulate(nodes, days=80, start=date(2025, 1, 10), seed=5, scale=0.2))

    def write(store: NodeStore, events: int) -> None:
        """The next ``events`` or so of the simulated activity, batch by batch (the rest: all of it)."""
        for batch in batches:
            events -= len(store.save_all(batch.aggregates))
            if events <= 0:
                return

    store = NodeStore(nodes[0], store_settings)
    write(store, 2000)
    _forget_known_times(store)
    store.close()
    store = NodeStore(nodes[0], store_settings)
    db = ProjectionDB(store.node, store_settings, hierarchy=hunan).open()
    Projector(store, db, batch=700, hierarchy=hunan).run()
    with db.begin() as conn:
        command.downgrade(config(conn, db.schema), "0004")  # the projection of the release before
    before = table_dump(db, known=False)
    store.close()

    store = NodeStore(nodes[0], store_settings)  # the new release opens both
    db.open()
    opened = table_dump(db, known=False)
    assert {t: rows for t, rows in opened.items() if t in before} == before and _known_equals_recorded(db)
    old = store.max_position()
    assert store.known_at([old]) == [None]
    between = us(datetime.now(UTC))
    time.sleep(0.002)  # known time is kept in milliseconds: nothing written below may share ``between``'s
    write(store, 10**9)
    update(store, store_settings, hierarchy=hunan, db=db)
    assert not _known_equals_recorded(db)  # what came after was known when it was stored, not when recorded

    # the same rows as a projection built from the log now (old events: known when recorded)
    fresh = ProjectionDB(store.node, store_settings, variant="fresh", hierarchy=hunan).open()
    Projector(store, fresh, batch=900, hierarchy=hunan).run()
    assert table_dump(db, grant_versions=False) == table_dump(fresh, grant_versions=False)  # (unset until a rebuild)
    fresh.drop()

    # as of ``between`` by known time: the old events only, whatever their recorded or occurred times
    cut = build_cut(store, store_settings, at=between, by="known", variant="cut", hierarchy=hunan)
    events = decoded(store)
    deputy = next(e.person_id for e in events if type(e).__qualname__ == "Deputy.Registered")
    try:
        assert cut.position() == store.max_position()  # a cut reads the whole log, keeping what was known
        for region in ("430000", "430811"):
            as_of = queries.make_scope(db, region=region, year=2025, as_of=between, by="known", hierarchy=hunan)
            plain = queries.make_scope(cut, region=region, year=2025, hierarchy=hunan, ref_day=as_of.ref_day)
            assert views(db, as_of, deputy) == views(cut, plain, deputy), region
        now = queries.make_scope(db, year=2025, hierarchy=hunan, ref_day=as_of.ref_day)
        assert views(db, as_of, deputy)["suggestions"] != views(db, now, deputy)["suggestions"]
    finally:
        cut.drop()
        db.dispose()
        store.close()
