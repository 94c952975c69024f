"""The projector's promises on SQLite: exactly once across crashes, unknown and poison events counted and skipped,
newer payloads tolerated, late events in the right period, one writer at a time, migrations that match the models,
rebuild aside-and-swap equal to the incremental build while writes go on."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from structlog.testing import capture_logs

from domain.base import Attribution, NodeRef, Role
from domain.contacts import Channel, ContactActivity, ContactKind, OrganiserKind
from domain.deputies import Deputy
from domain.hierarchy import Hierarchy
from domain.stations import Station
from domain.store import NodeStore, StoreSettings
from domain.visits import StationVisit
from projections import queries, schema
from projections.db import ProjectionDB
from projections.projector import Page, Projector
from projections.rebuild import rebuild, update
from tests.unit.test_projections_reference import SMALL_TREE, table_dump, write_corrections, write_simulation

CST = datetime(2025, 1, 1, tzinfo=UTC).astimezone().tzinfo


@pytest.fixture(scope="module")
def hunan() -> Hierarchy:
    return Hierarchy.load()


@pytest.fixture
def nodes(hunan: Hierarchy) -> list[NodeRef]:
    return sorted((hunan.ref(hunan.by_code(c)) for c in SMALL_TREE), key=lambda r: (r.level.depth, r.code))


@pytest.fixture
def settings(tmp_path: Path) -> StoreSettings:
    return StoreSettings(store="sqlite", data_dir=tmp_path)


@pytest.fixture
def store(settings: StoreSettings, nodes: list[NodeRef]) -> Any:
    s = NodeStore(nodes[0], settings)
    write_simulation(s, nodes, days=75, start=date(2024, 12, 5), seed=5, scale=0.2)
    yield s
    s.close()


def fresh(store: NodeStore, settings: StoreSettings, hunan: Hierarchy, variant: str) -> ProjectionDB:
    db = ProjectionDB(store.node, settings, variant=variant, hierarchy=hunan).open()
    Projector(store, db, hierarchy=hunan).run()
    return db


def test_a_crash_mid_page_loses_the_page_and_nothing_else(
    store: NodeStore, settings: StoreSettings, hunan: Hierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = fresh(store, settings, hunan, "clean")
    db = ProjectionDB(store.node, settings, hierarchy=hunan).open()
    Projector(store, db, batch=500, hierarchy=hunan).run(max_batches=2)
    assert db.position() == 1000 < store.max_position()
    before = table_dump(db)
    real_flush = Page.flush

    def crash(self: Page) -> None:
        real_flush(self)  # every row of the page is written…
        raise RuntimeError("power cut")  # …and the transaction never commits

    monkeypatch.setattr(Page, "flush", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        Projector(store, db, batch=500, hierarchy=hunan).run()
    assert db.position() == 1000 and table_dump(db) == before
    monkeypatch.setattr(Page, "flush", real_flush)
    Projector(store, db, batch=777, hierarchy=hunan).run()  # another process, other page sizes
    assert db.position() == store.max_position()
    assert table_dump(db) == table_dump(clean)


def _insert_raw(store: NodeStore, topic: str, state: bytes) -> None:
    store.recorder.insert_events([StoredEvent(originator_id=uuid4(), originator_version=1, topic=topic, state=state)])


def test_unknown_and_undecodable_events_are_counted_and_skipped(
    store: NodeStore, settings: StoreSettings, hunan: Hierarchy
) -> None:
    clean = fresh(store, settings, hunan, "clean")
    _insert_raw(store, "domain.future:Petition.Filed", b'{"owner": "x"}')
    _insert_raw(store, "domain.contacts:ContactActivity.Recorded", b"{not json")
    _insert_raw(store, "domain.future:Petition.Filed", b"{}")
    db = ProjectionDB(store.node, settings, hierarchy=hunan).open()
    with capture_logs() as logs:
        stats = Projector(store, db, batch=1000, hierarchy=hunan).run()
    assert stats.problems[("unknown", "domain.future:Petition.Filed")] == 2
    assert stats.problems[("undecodable", "domain.contacts:ContactActivity.Recorded")] == 1
    assert db.position() == store.max_position()
    state = db.state()
    assert {(s["reason"], s["topic"], s["count"]) for s in state["skips"]} == {
        ("unknown", "domain.future:Petition.Filed", 2),
        ("undecodable", "domain.contacts:ContactActivity.Recorded", 1),
    }
    assert state["unknown"] == 3
    warned = [e for e in logs if e["event"] == "projection.skipped"]
    assert {(e["reason"], e["count"]) for e in warned} == {("unknown", 2), ("undecodable", 1)}
    assert table_dump(db) == table_dump(clean)  # the rest projected as if they were not there


def test_a_newer_payload_of_a_known_event_is_projected(
    store: NodeStore, settings: StoreSettings, hunan: Hierarchy, nodes: list[NodeRef]
) -> None:
    """A child running newer code adds a field to an event: this version reads what it knows and ignores the rest."""
    by = Attribution("clerk", Role.RECORDER, datetime(2025, 1, 10, 10, tzinfo=UTC))
    county = nodes[2]
    deputy_id = uuid4()
    contact = ContactActivity.record_contact(
        county,
        by,
        kind=ContactKind.PRACTICAL_DEED,
        channel=Channel.VISIT,
        title="新版本记录的实事",
        held_on=date(2025, 1, 10),
        organiser_kind=OrganiserKind.DEPUTY,
        organiser="某代表",
        deputy_ids=[deputy_id],
    )
    stored = store.mapper.to_stored_event(contact.collect_events()[0])
    state = json.loads(stored.state)
    state["class_version"] = 7
    state["livestream_url"] = "https://example.org/live"
    store.recorder.insert_events(
        [StoredEvent(stored.originator_id, stored.originator_version, stored.topic, json.dumps(state).encode())]
    )
    db = ProjectionDB(store.node, settings, hierarchy=hunan).open()
    stats = Projector(store, db, hierarchy=hunan).run()
    assert stats.unknown == 0
    with db.connect() as conn:
        row = conn.execute(sa.select(schema.contacts).where(schema.contacts.c.contact_id == contact.id.hex)).one()
        marked = conn.execute(sa.select(schema.marks.c.mark).where(schema.marks.c.subject_id == deputy_id.hex)).scalars().all()
    assert row.title == "新版本记录的实事" and row.year == 2025 and sorted(marked) == ["active", "deed"]


def test_late_and_out_of_order_events_land_in_their_period(
    store: NodeStore, settings: StoreSettings, hunan: Hierarchy, nodes: list[NodeRef]
) -> None:
    """An office records in 2025 a practical deed and a station visit that happened in 2024, after the 2025 activity
    was projected: the 2024 views gain them, the 2025 views do not move, and the two as-of clocks tell them apart."""
    db = ProjectionDB(store.node, settings, hierarchy=hunan).open()
    Projector(store, db, hierarchy=hunan).run()
    county, township = nodes[2], nodes[5]
    with db.connect() as conn:
        deputy = conn.execute(
            sa.select(schema.deputies.c.deputy_id, schema.deputies.c.person_id)
            .join(schema.mandates, schema.mandates.c.deputy_id == schema.deputies.c.deputy_id)
            .where(schema.mandates.c.congress == "county", schema.mandates.c.passed.is_(True))
            .limit(1)
        ).one()
        station_id = conn.execute(
            sa.select(schema.stations.c.station_id).where(schema.stations.c.node_id == township.node_id.hex).limit(1)
        ).scalar()
    scope_2025 = queries.make_scope(db, year=2025, hierarchy=hunan)
    scope_2024 = queries.make_scope(db, year=2024, hierarchy=hunan)
    deed_2025 = _deed(db, scope_2025)
    deed_2024 = _deed(db, scope_2024)
    visits_2024 = queries.stations(db, scope_2024)["totals"]["visits"]
    recorded_before = datetime.now(UTC)

    happened = datetime(2024, 6, 18, 15, 0, tzinfo=UTC)
    by = Attribution("clerk-late", Role.RECORDER, happened)
    from uuid import UUID

    deed = ContactActivity.record_contact(
        county,
        by,
        kind=ContactKind.PRACTICAL_DEED,
        channel=Channel.FACE_TO_FACE,
        title="补录: 2024年为群众办实事",
        held_on=date(2024, 6, 18),
        organiser_kind=OrganiserKind.DEPUTY,
        organiser="补录",
        deputy_ids=[UUID(deputy.deputy_id)],
    )
    station: Station = store.get(UUID(station_id))
    enrolled = list(station.enrolled)
    visit = StationVisit.record_visit(
        township, by, station=station, visit_date=date(2024, 6, 18), deputy_ids=enrolled[:1], people_received=9
    )
    store.save_all([deed, visit])
    Projector(store, db, hierarchy=hunan).run()

    assert _deed(db, queries.make_scope(db, year=2025, hierarchy=hunan)) == deed_2025
    after_2024 = _deed(db, queries.make_scope(db, year=2024, hierarchy=hunan))
    assert after_2024["covered"] == deed_2024["covered"] + (0 if deputy.person_id in deed_2024["done"] else 1)
    assert deputy.person_id in after_2024["done"]
    assert queries.stations(db, queries.make_scope(db, year=2024, hierarchy=hunan))["totals"]["visits"] == visits_2024 + 1
    # as it stood at the end of 2024: by occurred time the deed had happened; by recorded time nobody knew yet
    end_2024 = "2024-12-31T23:59:59+08:00"
    by_occurred = _deed(db, queries.make_scope(db, as_of=end_2024, by="occurred", hierarchy=hunan))
    by_recorded = _deed(db, queries.make_scope(db, as_of=end_2024, by="recorded", hierarchy=hunan))
    assert deputy.person_id in by_occurred["done"] and deputy.person_id not in by_recorded["done"]
    before = _deed(db, queries.make_scope(db, year=2024, as_of=int(recorded_before.timestamp() * 1e6), hierarchy=hunan))
    assert before == deed_2024


def _deed(db: ProjectionDB, scope: queries.Scope) -> dict[str, Any]:
    t = queries.coverage(db, scope, targets=("practical_deed",), missing_limit=1_000_000)["targets"][0]
    with db.connect() as conn:
        persons = dict(conn.execute(sa.select(schema.deputies.c.deputy_id, schema.deputies.c.person_id)).all())
    missing = {persons[i["deputy_id"]] for i in t["missing_list"]["items"]}
    population = _population_persons(db, scope)
    return {"covered": t["covered"], "done": population - missing}


def _population_persons(db: ProjectionDB, scope: queries.Scope) -> set[str]:
    from projections.queries.context import Ctx
    from projections.queries.deputies import serving_deputies

    with db.connect() as conn:
        return {x[1] for x in serving_deputies(Ctx(db, scope, conn))[0]}


def test_two_writers_take_turns(store: NodeStore, settings: StoreSettings, hunan: Hierarchy) -> None:
    clean = fresh(store, settings, hunan, "clean")
    db = ProjectionDB(store.node, settings, hierarchy=hunan).open()
    errors: list[BaseException] = []

    def work(page: int) -> None:
        try:
            mine = ProjectionDB(store.node, settings, hierarchy=hunan)
            Projector(store, mine, batch=page, hierarchy=hunan).run()
            mine.dispose()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(p,)) for p in (300, 451, 1000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert db.position() == store.max_position()
    assert table_dump(db) == table_dump(clean)


def test_migrations_match_the_models_and_run_once(settings: StoreSettings, nodes: list[NodeRef], hunan: Hierarchy) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from projections.migrate import VERSION_TABLE, head

    db = ProjectionDB(nodes[0], settings, hierarchy=hunan).open()
    db.open()  # again: nothing to do
    with db.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert context.get_current_revision() == head()
        diffs = compare_metadata(context, schema.metadata)
        assert diffs == [], diffs
        nodes_count = conn.execute(sa.select(sa.func.count()).select_from(schema.nodes)).scalar()
    assert nodes_count == len(hunan.subtree(nodes[0].node_id)) == 2084


def test_a_database_of_an_older_release_is_projected_again_to_the_same_content(
    store: NodeStore, settings: StoreSettings, hunan: Hierarchy
) -> None:
    """Revision 0003 changes every fact table and adds the summaries: the database an older release left (0002's
    tables) is emptied to this revision's, at position 0, and the next update projects the log again to exactly what
    a fresh build holds (downgrading gives the older release an empty database of its own, which it projects)."""
    from alembic import command

    from projections.migrate import config, head

    db = fresh(store, settings, hunan, "older")
    projected = table_dump(db)
    with db.begin() as conn:
        command.downgrade(config(conn, db.schema), "0002")
        tables = set(sa.inspect(conn).get_table_names())
        assert {"opinion_steps", "open_opinions", "visit_issue_outcomes"} <= tables and "suggestion_cells" not in tables
    db.open()  # what a new release does to the database it finds
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM projection_version")).scalar() == head()
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.nodes)).scalar() == 2084
    assert db.position() == 0
    update(store, settings, hierarchy=hunan, db=db)
    assert db.position() == store.max_position()
    assert table_dump(db) == projected


@pytest.mark.parametrize(
    ("before", "table", "column"),
    [
        ("0006", "person_marks", None),  # 0007: each person's first marks, filled from the marks and deputies
        ("0008", "visits", "version"),  # 0009: visits keyed by (visit, version), the clocks at which rows stop holding
        ("0009", "opinions", "voided_rec"),  # 0010: a contact's rows get the clocks of its void
        ("0010", "mandates", "version"),  # 0011: a mandate names its grant's version (unset until a rebuild)
    ],
)
def test_the_projection_of_the_release_before_opens_as_a_fresh_build(
    store: NodeStore, settings: StoreSettings, hunan: Hierarchy, before: str, table: str, column: str | None
) -> None:
    """What each revision since 0007 adds is filled from what was projected: the rows a fresh build writes (but the
    mandates' grant versions, which only the log knows)."""
    from alembic import command

    from projections.migrate import config

    db = fresh(store, settings, hunan, f"before-{before}")
    assert len(table_dump(db)[table]) > 10
    with db.begin() as conn:
        command.downgrade(config(conn, db.schema), before)
        inspector = sa.inspect(conn)
        if column is None:
            assert table not in inspector.get_table_names(schema=db.schema)
        else:
            assert column not in {c["name"] for c in inspector.get_columns(table, schema=db.schema)}
    db.open()  # what the new release does to the projection it finds
    assert table_dump(db, grant_versions=False) == table_dump(fresh(store, settings, hunan, "again"), grant_versions=False)
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(schema.mandates.c.version.is_not(None))).scalar() == 0


def test_corrections_and_voids_no_family_handles_are_problems_not_skipped() -> None:
    """A kind of record the domain does not correct or void yet (an event of a newer release): counted as a problem."""
    from projections.projector.registry import KNOWN_TOPICS, NOT_FOLLOWED

    assert Station.Voided in NOT_FOLLOWED and StationVisit.Voided not in NOT_FOLLOWED
    assert not {ContactActivity.Voided, Deputy.Voided, Station.Corrected} & set(NOT_FOLLOWED)
    assert get_topic(Station.Voided) not in KNOWN_TOPICS and get_topic(ContactActivity.Voided) in KNOWN_TOPICS


def test_corrections_and_voids_page_by_page_equal_a_bulk_build(
    store: NodeStore, settings: StoreSettings, hunan: Hierarchy
) -> None:
    """Rounds of random corrections and voids (several of one record in a round, split over small pages), projected
    as they come: to the last row what a bulk build of the whole log writes (a corrected copy a page adds is not
    ended by an earlier snapshot of the same page)."""
    db = ProjectionDB(store.node, settings, hierarchy=hunan).open()
    Projector(store, db, batch=97, hierarchy=hunan).run()
    for round_ in range(3):
        assert write_corrections(store, 40 + round_) > 0
        Projector(store, db, batch=53, hierarchy=hunan).run()
    bulk = ProjectionDB(store.node, settings, variant="bulk", hierarchy=hunan).open()
    projector = Projector(store, bulk, batch=5000, hierarchy=hunan)
    projector.deferred = True
    projector.run()
    projector.materialize_current()
    assert table_dump(db) == table_dump(bulk)


def test_rebuild_while_writing_equals_the_incremental_build(
    settings: StoreSettings, nodes: list[NodeRef], hunan: Hierarchy
) -> None:
    from domain.simulation import simulate

    store = NodeStore(nodes[0], settings)
    batches = simulate(nodes, days=150, start=date(2025, 2, 1), seed=9, scale=0.3)

    def write(n_events: int) -> None:
        written = 0
        for batch in batches:
            written += batch.events
            store.save_all(batch.aggregates)
            if written >= n_events:
                return

    write(2500)
    live = ProjectionDB(store.node, settings, hierarchy=hunan).open()
    update(store, settings, hierarchy=hunan, db=live)
    write(1000)  # the live views fall behind…
    writer = threading.Thread(target=write, args=(1000,))
    result = rebuild(store, settings, hierarchy=hunan, before_swap=lambda: (writer.start(), writer.join()))
    assert result["caught_up"] >= 1000  # what was written during the rebuild was projected before the swap
    assert result["position"] == store.max_position()
    assert not Path(f"{settings.data_dir}/nodes/{store.node.node_id}.views.rebuild.sqlite").exists()
    write(1000)  # writes go on after the swap: the swapped-in views keep up incrementally
    update(store, settings, hierarchy=hunan, db=live)
    incremental = ProjectionDB(store.node, settings, variant="incremental", hierarchy=hunan).open()
    Projector(store, incremental, batch=333, hierarchy=hunan).run()
    assert table_dump(live) == table_dump(incremental)
    scope = queries.make_scope(live, hierarchy=hunan)
    scope_i = queries.make_scope(incremental, hierarchy=hunan)
    for view in ("coverage", "stations", "suggestions", "livelihood"):
        got = getattr(queries, view)(live, scope)
        want = getattr(queries, view)(incremental, scope_i)
        assert _strip(got) == _strip(want), view
    store.close()


def test_a_bulk_build_that_spills_its_memory_equals_the_incremental_build(
    store: NodeStore, settings: StoreSettings, hunan: Hierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bulk build keeps caches, held snapshots, marks and summaries in memory; past their limits it writes them out
    and reads back what it needs: with tiny limits every page does so, and the content is still the same."""
    from projections.projector import run

    incremental = fresh(store, settings, hunan, "incremental")
    monkeypatch.setattr(run, "_CACHE_LIMITS", dict.fromkeys(run._CACHE_LIMITS, 5))
    monkeypatch.setattr(run, "_DEFERRED_ROWS", 50)
    result = rebuild(store, settings, hierarchy=hunan, batch=400)
    assert result["position"] == store.max_position() and not result["problems"]
    live = ProjectionDB(store.node, settings, hierarchy=hunan)
    assert table_dump(live) == table_dump(incremental)


def _strip(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "scope"}
