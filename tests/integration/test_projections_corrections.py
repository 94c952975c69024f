"""Views follow corrections (更正) and voids (作废), on SQLite and PostgreSQL, projected page by page, in one page, and
rebuilt in bulk:

- now: the corrected values; a voided record counts nowhere;
- as of T by the recorded clock: what was believed at T (the old value before the correction was recorded; a voided
  record until the void was recorded); by the known clock likewise, from when this node came to hold them;
- as of T by the occurred clock: the corrected world (a corrected value from when its fact happened, a deputy's
  category from its ``effective_from``); a voided record never was.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from domain.base import Attribution, Role
from domain.deputies import Deputy
from domain.hierarchy import Hierarchy
from domain.livelihood import LivelihoodProject
from domain.stations import Station
from domain.store import NodeStore, StoreSettings
from domain.suggestions import Suggestion
from domain.timeline import SHANGHAI
from domain.visits import StationVisit
from projections import queries
from projections import schema as s
from projections.db import ProjectionDB
from projections.projector import Projector
from projections.rebuild import rebuild
from projections.timeutil import us

TOWN = "430582204"


@pytest.fixture(scope="module")
def hunan() -> Hierarchy:
    return Hierarchy.load()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    if request.param == "sqlite":
        return StoreSettings(store="sqlite", data_dir=tmp_path)
    return StoreSettings(store="postgres", pg_dsn=request.getfixturevalue("pg_database")["dsn"], data_dir=tmp_path)


def at(day: str) -> Attribution:
    return Attribution("clerk", Role.RECORDER, datetime.fromisoformat(day).replace(hour=10, tzinfo=SHANGHAI))


def implemented(town: Any, title: str, budget: int) -> LivelihoodProject:
    project = LivelihoodProject.propose(town, at("2025-01-10"), year=2025, title=title, category="民生")
    project.list_as_candidate(at("2025-01-20"), estimate_wan=Decimal(budget))
    project.deliberate(at("2025-02-01"), deputies_present=40)
    project.vote(at("2025-02-02"), session="第一次会议", yes=40, no=2, abstain=0, present=42, total_deputies=50)
    project.start_implementation(at("2025-03-01"), budget_wan=Decimal(budget), lead_unit="乡政府")
    project.report_progress(at("2025-04-01"), progress=90, spent_wan=Decimal(100))  # 9% typed as 90
    project.report_progress(at("2025-05-01"), progress=95, spent_wan=Decimal(110))
    return project


def replied(town: Any, deputy: Deputy) -> Suggestion:
    """A township suggestion assigned to 乡水利站 (due 2025-03-01) and replied B on 2025-02-10."""
    suggestion = Suggestion.submit(
        town,
        at("2025-01-15"),
        number="2025-001",
        congress="township",
        term=18,
        session=4,
        title="关于修缮灌溉渠的建议",
        content="……",
        category="农业农村",
        lead_deputy_id=deputy.id,
    )
    suggestion.assign(at("2025-01-20"), lead_unit="乡水利站", due_on=date(2025, 3, 1))
    suggestion.start_handling(at("2025-01-25"), contacted_on=date(2025, 1, 25))
    suggestion.reply(at("2025-02-10"), category="B", text="已列入计划", replied_on=date(2025, 2, 10))
    return suggestion


class World:
    def __init__(self, store: NodeStore, hunan: Hierarchy) -> None:
        self.store, self.hunan = store, hunan
        town = store.node
        self.kept = implemented(town, "村道路灯", 1500)
        self.voided = implemented(town, "集镇污水管网", 300)
        self.deputy = Deputy.register(town, at("2020-01-02"), person_id="T-1", name="李桂花", gender="女", grassroots=True)
        self.deputy.grant_mandate(town, at("2020-01-03"), congress="township", term=18, elected_by="第1选区")
        self.deputy.review_credentials(at("2020-01-04"), congress="township", term=18, passed=True)
        self.suggestion = replied(town, self.deputy)
        store.save(self.kept, self.voided, self.deputy, self.suggestion)
        self.believed = us(datetime.now(SHANGHAI))  # before any correction was recorded

    def correct(self) -> None:
        town, now = self.store.node, at(datetime.now(SHANGHAI).date().isoformat())
        self.kept.correct(town, now, fact="progress", number=1, changes={"progress": 9}, reason="9 录成了 90")
        self.kept.correct(town, now, fact="implementation", changes={"budget_wan": "150"}, reason="1500 应为 150")
        self.voided.void(town, now, reason="登记有误: 重复录入")
        self.deputy.correct(
            town,
            now,
            fact="category",
            changes={"grassroots": False, "leading_cadre": True},
            reason="误登记为基层代表",
            effective_from=date(2021, 1, 1),
        )
        assignment = {"lead_unit": "乡农业综合服务中心", "due_on": date(2025, 2, 1)}
        self.suggestion.correct(town, now, fact="assignment", changes=assignment, reason="主办单位、期限登记有误")
        self.suggestion.correct(town, now, fact="reply", changes={"category": "A"}, reason="答复类别应为 A")
        self.store.save(self.kept, self.voided, self.deputy, self.suggestion)


@pytest.fixture
def world(settings: StoreSettings, hunan: Hierarchy) -> Iterator[World]:
    store = NodeStore(hunan.ref(hunan.by_code(TOWN)), settings)
    yield World(store, hunan)
    store.close()


def livelihood(db: ProjectionDB, hunan: Hierarchy, as_of: int | None = None, by: str = "recorded") -> dict[str, Any]:
    scope = queries.make_scope(db, region=TOWN, year=2025, as_of=as_of, by=by, hierarchy=hunan)
    view = queries.livelihood(db, scope)
    projects = {p["title"]: (p["progress"], p["budget_wan"]) for p in view["implementing"]["items"]}
    return {"investment_wan": view["totals"].get("investment_wan", 0), "projects": projects}


def leading_cadres(db: ProjectionDB, hunan: Hierarchy, as_of: int | None = None, by: str = "recorded") -> int:
    """The deputies in the leading-cadre target's population (deputy-group activities)."""
    year = datetime.fromtimestamp(as_of / 1e6, SHANGHAI).year if as_of else 2025
    scope = queries.make_scope(db, region=TOWN, year=year, as_of=as_of, by=by, hierarchy=hunan)
    target = next(t for t in queries.coverage(db, scope)["targets"] if t["key"] == "leading_cadre_group")
    return int(target["population"])


def suggestion_facts(db: ProjectionDB, hunan: Hierarchy, as_of: int | None = None, by: str = "recorded") -> tuple[Any, ...]:
    """The suggestions view's reply categories, handling units and late replies."""
    scope = queries.make_scope(db, region=TOWN, year=2025, as_of=as_of, by=by, hierarchy=hunan)
    view = queries.suggestions(db, scope)
    categories = {c["category"]: c["count"] for c in view["by_category"]}
    return categories, [u["unit"] for u in view["by_unit"]], view["totals"]["replied_late"]


def occurred(day: str) -> int:
    return us(datetime.fromisoformat(day).replace(hour=12, tzinfo=SHANGHAI))


def check(db: ProjectionDB, world: World) -> None:
    hunan = world.hunan
    # now: corrected; the voided project is gone
    assert livelihood(db, hunan) == {"investment_wan": 150.0, "projects": {"村道路灯": (95, 150.0)}}
    # by the recorded clock, before the corrections were recorded: what was believed then
    assert livelihood(db, hunan, world.believed) == {
        "investment_wan": 1800.0,
        "projects": {"村道路灯": (95, 1500.0), "集镇污水管网": (95, 300.0)},
    }
    # by the occurred clock: the corrected world, between the two progress reports and after both
    assert livelihood(db, hunan, occurred("2025-04-15"), "occurred")["projects"] == {"村道路灯": (9, 150.0)}
    now = {"investment_wan": 150.0, "projects": {"村道路灯": (95, 150.0)}}
    assert livelihood(db, hunan, occurred("2025-06-01"), "occurred") == now
    assert livelihood(db, hunan, occurred("2025-03-15"), "occurred")["projects"] == {"村道路灯": (0, 150.0)}
    # a deputy's category: a leading cadre from 2021 on the occurred clock; before the correction was recorded, not
    assert leading_cadres(db, hunan) == 1
    assert leading_cadres(db, hunan, occurred("2020-06-01"), "occurred") == 0
    assert leading_cadres(db, hunan, occurred("2021-06-01"), "occurred") == 1
    assert leading_cadres(db, hunan, world.believed, "recorded") == 0
    # by the known clock likewise: what this node held before it came to hold the corrections (its own, recorded here)
    assert livelihood(db, hunan, world.believed, "known") == livelihood(db, hunan, world.believed)
    assert leading_cadres(db, hunan, world.believed, "known") == 0
    # a corrected copy is seen on neither the recorded nor the known clock (empty intervals on both; a snapshot saved
    # with the next one at once is unseen on the known clock alone: this node never held that state by itself)
    with db.connect() as conn:
        t = s.project_snapshots.c
        rows = conn.execute(sa.select(t.recorded_at == t.next_rec, t.known_at == t.next_known, t.event)).all()
    copies = [(known, event) for rec, known, event in rows if rec]  # the corrected copies
    assert copies and all(known for known, _ in copies), copies
    # a suggestion's assignment (lead unit, an earlier due date: the reply is late) and its reply's category (B → A)
    corrected = ({"A": 1}, ["乡农业综合服务中心"], 1)
    assert suggestion_facts(db, hunan) == corrected
    assert suggestion_facts(db, hunan, world.believed) == ({"B": 1}, ["乡水利站"], 0)
    assert suggestion_facts(db, hunan, world.believed, "known") == ({"B": 1}, ["乡水利站"], 0)
    assert suggestion_facts(db, hunan, occurred("2025-02-15"), "occurred") == corrected
    assert suggestion_facts(db, hunan, occurred("2025-01-22"), "occurred") == ({"": 1}, ["乡农业综合服务中心"], 0)


def test_views_follow_corrections_and_voids_page_by_page(world: World, settings: StoreSettings) -> None:
    db = ProjectionDB(world.store.node, settings, hierarchy=world.hunan).open()
    Projector(world.store, db, hierarchy=world.hunan).run()  # the originals, written in an earlier page
    world.correct()
    Projector(world.store, db, hierarchy=world.hunan).run()
    check(db, world)


def test_views_follow_corrections_and_voids_in_one_page_and_rebuilt(world: World, settings: StoreSettings) -> None:
    world.correct()
    db = ProjectionDB(world.store.node, settings, hierarchy=world.hunan).open()
    Projector(world.store, db, hierarchy=world.hunan).run()
    check(db, world)
    rebuild(world.store, settings, hierarchy=world.hunan)
    check(ProjectionDB(world.store.node, settings, hierarchy=world.hunan).open(), world)


def test_the_corrected_and_voided_project_as_of_just_before(world: World, settings: StoreSettings) -> None:
    """As of the recorded (and the known) clock a moment after the corrections: the corrected world, the voided project
    gone."""
    world.correct()
    db = ProjectionDB(world.store.node, settings, hierarchy=world.hunan).open()
    Projector(world.store, db, hierarchy=world.hunan).run()
    later = us(datetime.now(SHANGHAI) + timedelta(seconds=1))
    assert livelihood(db, world.hunan, later) == livelihood(db, world.hunan)
    assert livelihood(db, world.hunan, later, "known") == livelihood(db, world.hunan)


def test_a_visits_correction_and_void_are_counted_as_not_followed_yet(world: World, settings: StoreSettings) -> None:
    """The views do not follow a station visit's corrections and voids yet: counted as problems, never in silence."""
    town = world.store.node
    station = Station.establish(town, at("2025-01-02"), name="联络站")
    station.enrol(at("2025-01-02"), deputy_id=world.deputy.id, deputy_name="李桂花", congress="township")
    visit = StationVisit.record_visit(
        town, at("2025-03-08"), station=station, visit_date=date(2025, 3, 8), deputy_ids=[world.deputy.id], people_received=3
    )
    visit.correct(town, at("2025-03-09"), fact="visit", changes={"people_received": 30}, reason="x")
    visit.void(town, at("2025-03-09"), reason="登记有误")
    world.store.save(station, visit)
    db = ProjectionDB(world.store.node, settings, hierarchy=world.hunan).open()
    stats = Projector(world.store, db, hierarchy=world.hunan).run()
    assert {reason for reason, _ in stats.problems} == {"not_followed"} and stats.unknown == 2
