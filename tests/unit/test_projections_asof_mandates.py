"""Who served at a cut, and who was inactive then: as-of views take a deputy whose mandates did not change after the
cut from the serving flags kept on the deputy's row, and read the mandates of the others; the duty ranking's page of
inactive people comes from the ``active`` marks. Mandates granted, reviewed, voided and terminated on either side of
the cut, by occurred time; the as-of views must equal a projection rebuilt from only the events on this side of the
cut. Migration 0004 derives the ``active`` marks of a projection built before it as the projector does."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from alembic import command

from domain.base import Attribution, Role
from domain.deputies import Deputy
from domain.hierarchy import Hierarchy
from domain.levels import CongressLevel
from domain.store import NodeStore, StoreSettings
from projections import queries
from projections.db import ProjectionDB
from projections.migrate import config
from projections.projector import Projector
from projections.rebuild import build_cut
from projections.timeutil import us
from tests.unit.test_projections_reference import SMALL_TREE, table_dump, write_simulation

COUNTY = "430525"  # 洞口县


def on(day: int) -> Attribution:
    return Attribution("office-clerk-01", Role.RECORDER, datetime(2025, 3, day, 10, tzinfo=UTC))


def test_serving_at_a_cut_with_mandates_changed_after_it(tmp_path: Path) -> None:
    hunan = Hierarchy.load()
    county = hunan.ref(hunan.by_code(COUNTY))
    settings = StoreSettings(store="sqlite", data_dir=tmp_path)
    store = NodeStore(county, settings)
    term, level = 18, CongressLevel.COUNTY

    def deputy(person: str, *, granted: int | None = 1, reviewed: int | None = 2, passed: bool = True) -> Deputy:
        d = Deputy.register(county, on(1), person_id=person, name=f"代表{person}", gender="女", grassroots=True)
        if granted is not None:
            d.grant_mandate(county, on(granted), congress=level, term=term, elected_by="第一选区")
            if reviewed is not None:
                d.review_credentials(on(reviewed), congress=level.value, term=term, passed=passed)
        return d

    steady = deputy("P-1")  # serving on both sides of the cut
    leaving = deputy("P-2")
    leaving.terminate(on(20), congress=level.value, term=term, reason="调离")  # serving at the cut, not now
    late = deputy("P-3", granted=15, reviewed=16)  # serving now, not at the cut
    reviewed_late = deputy("P-4", granted=2, reviewed=18)  # granted before the cut, reviewed after it
    void = deputy("P-5", passed=False)  # never serving
    left_early = deputy("P-6")
    left_early.terminate(on(5), congress=level.value, term=term, reason="辞职")  # left before the cut
    store.save_all([steady, leaving, late, reviewed_late, void, left_early])

    live = ProjectionDB(county, settings, hierarchy=hunan).open()
    Projector(store, live, hierarchy=hunan).run()
    cut_at = us(datetime(2025, 3, 10, 12, tzinfo=UTC))
    cut = build_cut(store, settings, at=cut_at, by="occurred", variant="cut", hierarchy=hunan)
    try:
        as_of = queries.make_scope(live, year=2025, as_of=cut_at, by="occurred", hierarchy=hunan, ref_day="2025-03-10")
        plain = queries.make_scope(cut, year=2025, hierarchy=hunan, ref_day="2025-03-10")

        def views(db: ProjectionDB, scope: queries.Scope) -> dict[str, Any]:
            out = {
                "duty": queries.duty_ranking(db, scope, limit=50),
                "inactive_page": queries.duty_ranking(db, scope, offset=1, limit=1),  # the page of inactive people only
                "coverage": queries.coverage(db, scope, missing_limit=50),
            }
            return {k: {kk: vv for kk, vv in v.items() if kk != "scope"} for k, v in out.items()}

        at_cut = views(live, as_of)
        assert at_cut == views(cut, plain)
        assert at_cut["duty"]["serving"] == 2
        assert {x["name"] for x in at_cut["duty"]["deputies"]["items"]} == {"代表P-1", "代表P-2"}
        assert [x["name"] for x in at_cut["inactive_page"]["deputies"]["items"]] == ["代表P-2"]
        now = queries.duty_ranking(live, queries.make_scope(live, year=2025, hierarchy=hunan))
        assert {x["name"] for x in now["deputies"]["items"]} == {"代表P-1", "代表P-3", "代表P-4"}
    finally:
        cut.drop()
        live.dispose()
        store.close()


def test_migration_0004_derives_the_active_marks_as_the_projector_does(tmp_path: Path) -> None:
    hunan = Hierarchy.load()
    nodes = sorted((hunan.ref(hunan.by_code(c)) for c in SMALL_TREE), key=lambda r: (r.level.depth, r.code))
    settings = StoreSettings(store="sqlite", data_dir=tmp_path)
    store = NodeStore(nodes[0], settings)
    write_simulation(store, nodes, days=40, start=date(2024, 12, 10), seed=3, scale=0.2)
    db = ProjectionDB(store.node, settings, hierarchy=hunan).open()
    try:
        Projector(store, db, batch=700, hierarchy=hunan).run()
        projected = table_dump(db, known=False)  # revision 0003 has no known clock (0005 adds it)
        assert any(r[0] == "active" for r in projected["marks"])
        with db.begin() as conn:
            command.downgrade(config(conn, db.schema), "0003")  # a projection of the release before
        assert not any(r[0] == "active" for r in table_dump(db, known=False)["marks"])
        with db.begin() as conn:
            command.upgrade(config(conn, db.schema), "head")
        assert table_dump(db, known=False) == projected
    finally:
        db.dispose()
        store.close()
