"""The audit replay: every view as of time T, on the live read models, equals the same view on read models rebuilt
from only the events on this side of T (recorded time, effective occurred time, and known time), on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings
from projections import queries
from projections.db import ProjectionDB
from projections.projector import Projector
from projections.rebuild import build_cut
from projections.timeutil import us
from tests.unit.test_projections_reference import SMALL_TREE, decoded, write_corrections, write_simulation

REGIONS = ("430000", "430811", "430811202")


@pytest.fixture(scope="module")
def hunan() -> Hierarchy:
    return Hierarchy.load()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    if request.param == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path)
    database = request.getfixturevalue("pg_database")
    return StoreSettings(store="postgres", pg_dsn=database["dsn"], data_dir=tmp_path)


def views(db: ProjectionDB, scope: queries.Scope, deputy: str) -> dict[str, Any]:
    out = {
        "coverage": queries.coverage(db, scope, missing_limit=200),
        "stations": queries.stations(db, scope, idle_days=7, limit=200),
        "suggestions": queries.suggestions(db, scope, limit=200),
        "livelihood": queries.livelihood(db, scope, limit=200),
        "duty": queries.duty_ranking(db, scope, limit=200),
    }
    try:
        out["record"] = queries.duty_record(db, scope, deputy)
    except queries.QueryError:
        out["record"] = None  # not registered yet at that cut: both sides must agree on that too
    for row in (out["suggestions"]["totals"], *out["suggestions"]["by_region"]):
        # counted now only (null as of a cut): the reference model checks them (test_projections_reference)
        assert (row.pop("evaluations_self") is None) == (row.pop("evaluations_office") is None) == (scope.as_of is not None)
    return {k: ({kk: vv for kk, vv in v.items() if kk != "scope"} if v else v) for k, v in out.items()}


def test_as_of_equals_a_rebuild_cut_at_that_time(store_settings: StoreSettings, hunan: Hierarchy) -> None:
    nodes = sorted((hunan.ref(hunan.by_code(c)) for c in SMALL_TREE), key=lambda r: (r.level.depth, r.code))
    store = NodeStore(nodes[0], store_settings)
    start = date(2024, 11, 20)
    write_simulation(store, nodes, days=110, start=start, seed=21, scale=0.25, every=700)
    assert write_corrections(store, 21) > 0  # by the occurred clock a cut keeps those of facts on its side
    live = ProjectionDB(store.node, store_settings, hierarchy=hunan).open()
    Projector(store, live, batch=911, hierarchy=hunan).run()
    events = decoded(store)
    recorded = sorted(us(e.timestamp) for e in events)
    deputy = next(e.person_id for e in events if type(e).__qualname__ == "Deputy.Registered" and e.grassroots)
    cuts = [("recorded", recorded[len(recorded) // 3]), ("recorded", recorded[(4 * len(recorded)) // 5])]
    for day in (start + timedelta(days=20), date(2024, 12, 31), start + timedelta(days=95)):
        moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        cuts.append(("occurred", us(moment)))
    known = [us(t) for t in store.known_at([n.id for n in store.iter_notifications()]) if t is not None]
    assert len(known) == len(events) and known == sorted(known)  # every event known, in log order
    cuts.append(("known", known[len(known) // 2]))
    checked = 0
    for n, (by, at) in enumerate(cuts):
        cut = build_cut(store, store_settings, at=at, by=by, variant=f"cut{n}", hierarchy=hunan)  # type: ignore[arg-type]
        try:
            for region in REGIONS:
                for year in (2024, 2025):
                    ref_day = "2025-01-15"
                    as_of = queries.make_scope(live, region=region, year=year, as_of=at, by=by, hierarchy=hunan, ref_day=ref_day)
                    plain = queries.make_scope(cut, region=region, year=year, hierarchy=hunan, ref_day=ref_day)
                    assert views(live, as_of, deputy) == views(cut, plain, deputy), (by, at, region, year)
                    checked += 1
        finally:
            cut.drop()
    # not vacuous: the cuts saw different worlds
    first = build_cut(store, store_settings, at=recorded[10], by="recorded", variant="tiny", hierarchy=hunan)
    scope = queries.make_scope(first, year=2024, hierarchy=hunan, ref_day="2025-01-15")
    everything = queries.make_scope(live, year=2024, hierarchy=hunan, ref_day="2025-01-15")
    assert views(first, scope, deputy)["coverage"] != views(live, everything, deputy)["coverage"]
    first.drop()
    assert checked == len(cuts) * len(REGIONS) * 2
    live.dispose()
    store.close()
