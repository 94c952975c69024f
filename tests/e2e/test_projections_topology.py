"""The 一盘棋 view end to end: eleven nodes on four levels record activity, the real sync host carries it up through
Kafka, every node projects what its log holds — and the province's views equal the reference computed over the union
of what each township, county and prefecture (and the province itself) recorded; every node's views equal the
reference over its own subtree. The province projects incrementally while sync is still delivering.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings
from projections import queries, schema
from projections.db import ProjectionDB
from projections.projector import Projector
from sync.host import SyncHost
from sync.settings import SyncSettings
from tests.sync_helpers import (
    FOUR_LEVELS,
    JIANGKOU,
    PROVINCE,
    SHAOYANG,
    Activity,
    children_within,
    parent_of,
    refs,
)
from tests.unit.test_projections_reference import Reference, compare_views, cut_events, fold

pytestmark = pytest.mark.kafka


def own_events(settings: StoreSettings, codes: tuple[str, ...]) -> dict[str, list[Any]]:
    """Each node's own events (those it owns: the single-writer rule), decoded, in its log order."""
    out = {}
    for node in refs(codes):
        store = NodeStore(node, settings)
        try:
            out[node.code] = [
                e for e in (store.mapper.to_domain_event(n) for n in store.iter_notifications()) if e.owner == node.node_id
            ]
        finally:
            store.close()
    return out


def test_every_level_projects_its_subtree_and_the_province_holds_the_union(
    sqlite_settings: StoreSettings, sync_settings: SyncSettings, ledger_for: Any
) -> None:
    hunan = Hierarchy.load()
    stores = [NodeStore(r, sqlite_settings) for r in refs(FOUR_LEVELS)]
    by_code = {s.node.code: s for s in stores}
    province_db = ProjectionDB(by_code[PROVINCE].node, sqlite_settings, hierarchy=hunan).open()
    province = Projector(by_code[PROVINCE], province_db, batch=400, hierarchy=hunan)
    ledger = ledger_for(sqlite_settings, FOUR_LEVELS)
    with Activity(sqlite_settings, FOUR_LEVELS, days=60, seed=17, scale=0.12, start=date(2024, 12, 1)) as activity:
        activity.write(day=date(2024, 12, 20))  # master data and the first weeks, before sync starts
        host = SyncHost(
            bootstrap=sync_settings.kafka,
            stores=stores,
            children=children_within(FOUR_LEVELS),
            parent=parent_of,
            settings=sync_settings,
        )
        try:
            rounds = 0
            while not activity.done:  # the rest is written while sync runs and the province projects
                activity.write(events=150)
                for _ in range(3):
                    host.run_once()
                province.run()
                rounds += 1
            deadline = time.monotonic() + 120
            while not ledger.report().ok and time.monotonic() < deadline:
                host.run_once()
                province.run()
        finally:
            host.close()
    ledger.assert_nothing_lost_nothing_duplicated()
    assert rounds > 3
    province.run()
    assert province_db.position() == by_code[PROVINCE].max_position()

    own = own_events(sqlite_settings, FOUR_LEVELS)
    for code in FOUR_LEVELS:
        store = by_code[code]
        db = province_db if code == PROVINCE else ProjectionDB(store.node, sqlite_settings, hierarchy=hunan).open()
        if code != PROVINCE:
            assert Projector(store, db, batch=1000, hierarchy=hunan).run().unknown == 0
        subtree = [c for c in FOUR_LEVELS if hunan.is_within(hunan.by_code(c), hunan.by_code(code))]
        union = [e for c in subtree for e in own[c]]  # what each node of the subtree recorded itself
        world = fold(cut_events(union, by="recorded", at=None), {d.id.hex for d in hunan.subtree(store.node.node_id)})
        regions = [code] + ([c for c in subtree if c != code][:2] if code in (PROVINCE, SHAOYANG) else [])
        for region in regions:
            for year in (2024, 2025):
                scope = queries.make_scope(db, region=region, year=year, hierarchy=hunan, ref_day="2025-03-31")
                compare_views(db, scope, Reference(world, hunan, hunan.by_code(region).id, year, date(2025, 3, 31)))
        if code != PROVINCE:
            # the province, looking at this node's region, sees what this node sees of its own offices' work
            mine = queries.make_scope(db, year=2025, hierarchy=hunan, ref_day="2025-03-31")
            theirs = queries.make_scope(province_db, region=code, year=2025, hierarchy=hunan, ref_day="2025-03-31")
            for view in (queries.stations, queries.suggestions, queries.livelihood):
                got, want = view(province_db, theirs), view(db, mine)
                assert {k: v for k, v in got.items() if k != "scope"} == {k: v for k, v in want.items() if k != "scope"}
            db.dispose()

    # a provincial deputy on duty at a township's station: the visit is in the province's duty record
    with province_db.connect() as conn:
        vd, m = schema.visit_deputies, schema.mandates
        row = conn.execute(
            sa.select(vd.c.deputy_id, vd.c.node_id, vd.c.year)
            .join(m, m.c.deputy_id == vd.c.deputy_id)
            .where(
                m.c.congress == "provincial",
                vd.c.node_id.in_([r.node_id.hex for r in refs([JIANGKOU, "430811201", "430811202", "430582204", "430525001"])]),
            )
            .limit(1)
        ).first()
    assert row is not None, "the simulation put no provincial deputy on duty at a township station"
    scope = queries.make_scope(province_db, year=row.year, hierarchy=hunan)
    record = queries.duty_record(province_db, scope, row.deputy_id)
    assert any(v["node"] == hunan.get(UUID(row.node_id)).name for v in record["visits"])
    assert record["mandates"][0]["office"] == "湖南省"
    province_db.dispose()
    for s in stores:
        s.close()
