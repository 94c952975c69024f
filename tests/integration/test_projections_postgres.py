"""The read models on PostgreSQL (one schema per node, migrated by Alembic): the same views as on SQLite for the same
events, the reference computation agrees, and a rebuild swaps schemas atomically and equals the incremental build."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings
from projections import queries
from projections.db import ProjectionDB
from projections.projector import Projector
from projections.rebuild import rebuild, update
from tests.unit.test_projections_reference import SMALL_TREE, _check_scopes, table_dump, write_simulation

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def hunan() -> Hierarchy:
    return Hierarchy.load()


def _comparable(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "scope"}


def test_postgres_and_sqlite_give_the_same_views(pg_database: dict[str, Any], tmp_path: Path, hunan: Hierarchy) -> None:
    nodes = sorted((hunan.ref(hunan.by_code(c)) for c in SMALL_TREE), key=lambda r: (r.level.depth, r.code))
    pg = StoreSettings(store="postgres", pg_dsn=pg_database["dsn"])
    lite = StoreSettings(store="sqlite", data_dir=tmp_path)
    dbs = {}
    stores = {}
    for name, settings in (("pg", pg), ("sqlite", lite)):
        store = stores[name] = NodeStore(nodes[0], settings)
        write_simulation(store, nodes, days=80, start=date(2024, 12, 20), seed=13, scale=0.25)
        db = dbs[name] = ProjectionDB(store.node, settings, hierarchy=hunan).open()
        stats = Projector(store, db, batch=1200, hierarchy=hunan).run()
        assert stats.unknown == 0
    with dbs["pg"].connect() as conn:  # the tables live in the node's own schema, with its own version table
        tables = set(sa.inspect(conn).get_table_names(schema=dbs["pg"].schema))
    assert {"projection_version", "suggestions", "marks", "nodes"} <= tables
    for region in ("430000", "430811", "430811004"):
        scopes = {n: queries.make_scope(db, region=region, hierarchy=hunan) for n, db in dbs.items()}
        for view in (queries.coverage, queries.stations, queries.suggestions, queries.livelihood, queries.duty_ranking):
            got = {n: _comparable(view(db, scopes[n])) for n, db in dbs.items()}
            assert got["pg"] == got["sqlite"], (view.__name__, region)
    _check_scopes(dbs["pg"], stores["pg"], hunan, by="recorded", at=None, regions=["430000", "430811"])
    for db in dbs.values():
        db.dispose()
    for store in stores.values():
        store.close()


def test_rebuild_swaps_the_schema_and_equals_the_incremental_build(pg_database: dict[str, Any], hunan: Hierarchy) -> None:
    nodes = sorted((hunan.ref(hunan.by_code(c)) for c in SMALL_TREE), key=lambda r: (r.level.depth, r.code))
    settings = StoreSettings(store="postgres", pg_dsn=pg_database["dsn"])
    store = NodeStore(nodes[0], settings)
    write_simulation(store, nodes, days=60, start=date(2025, 3, 1), seed=4, scale=0.2)
    live = ProjectionDB(store.node, settings, hierarchy=hunan).open()
    Projector(store, live, batch=500, hierarchy=hunan).run(max_batches=2)  # partly projected, then rebuilt
    reader = live.engine.connect()  # a reader holding a connection across the swap
    result = rebuild(store, settings, hierarchy=hunan)
    assert result["position"] == store.max_position()
    reader.close()
    incremental = ProjectionDB(store.node, settings, variant="incr", hierarchy=hunan).open()
    Projector(store, incremental, batch=321, hierarchy=hunan).run()
    assert table_dump(live) == table_dump(incremental)
    with live.engine.connect() as conn:
        schemas = {r[0] for r in conn.execute(sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'v\\_%'"))}
    assert schemas == {live.schema, incremental.schema}  # the aside and the old schema are gone
    incremental.drop()
    live.dispose()
    store.close()


def test_a_schema_of_an_older_release_is_projected_again_to_the_same_content(
    pg_database: dict[str, Any], hunan: Hierarchy
) -> None:
    """Revision 0003 on PostgreSQL: a node's schema left at 0002 by an older release is emptied to this revision's
    tables at position 0 (the node dimension stays), and the next update projects it again to the same content."""
    from alembic import command

    from projections import schema
    from projections.migrate import config, head

    nodes = sorted((hunan.ref(hunan.by_code(c)) for c in SMALL_TREE), key=lambda r: (r.level.depth, r.code))
    settings = StoreSettings(store="postgres", pg_dsn=pg_database["dsn"])
    store = NodeStore(nodes[0], settings)
    write_simulation(store, nodes, days=60, start=date(2025, 1, 10), seed=21, scale=0.2)
    db = ProjectionDB(store.node, settings, hierarchy=hunan).open()
    Projector(store, db, batch=700, hierarchy=hunan).run()
    projected = table_dump(db)
    with db.begin() as conn:
        command.downgrade(config(conn, db.schema), "0002")
        tables = set(sa.inspect(conn).get_table_names(schema=db.schema))
        assert "opinion_steps" in tables and "suggestion_cells" not in tables
    db.open()  # what a new release does to the schema it finds
    with db.connect() as conn:
        version = conn.execute(sa.text(f'SELECT version_num FROM "{db.schema}".projection_version')).scalar()
        assert version == head()
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.nodes)).scalar() == 2084
    assert db.position() == 0
    update(store, settings, hierarchy=hunan, db=db)
    assert table_dump(db) == projected
    db.dispose()
    store.close()
